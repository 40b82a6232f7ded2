//! OAuth 2.0 client-credentials tokens, fetched on first use and refreshed shortly before they
//! expire.

use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::OAuth2;
use crate::error::AuthError;

/// How long before expiry a token is considered stale; Go's oauth2 package uses the same margin,
/// so a token is never sent in the last seconds of its life.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// An access token and when it stops being usable.
#[derive(Clone)]
struct Token {
    token_type: String,
    access_token: String,
    expires: Option<Instant>,
}

/// The token endpoint's JSON answer (RFC 6749 section 5.1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Fetches and caches tokens for one `oauth2` block.
pub(crate) struct TokenSource {
    cfg: OAuth2,
    client: reqwest::Client,
    cached: Mutex<Option<Token>>,
}

/// Percent-encodes a form value (`application/x-www-form-urlencoded`).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl TokenSource {
    pub(crate) fn new(cfg: OAuth2, client: reqwest::Client) -> Self {
        TokenSource {
            cfg,
            client,
            cached: Mutex::new(None),
        }
    }

    /// The `Authorization` header value, fetching a new token when the cached one is stale.
    pub(crate) async fn header_value(&self) -> Result<String, AuthError> {
        let mut cached = self.cached.lock().await;
        let fresh = cached
            .as_ref()
            .filter(|t| t.expires.is_none_or(|e| Instant::now() + EXPIRY_MARGIN < e));
        let token = match fresh {
            Some(t) => t.clone(),
            None => {
                let t = self.fetch().await?;
                *cached = Some(t.clone());
                t
            }
        };
        let kind = if token.token_type.is_empty() || token.token_type.eq_ignore_ascii_case("bearer")
        {
            "Bearer"
        } else {
            &token.token_type
        };
        Ok(format!("{kind} {}", token.access_token))
    }

    async fn fetch(&self) -> Result<Token, AuthError> {
        let url = &self.cfg.token_url;
        let err = |message: String| AuthError::OAuth2 {
            url: url.clone(),
            message,
        };
        let secret = match &self.cfg.client_secret_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|source| AuthError::ReadFile {
                    what: "oauth2 client_secret",
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_string(),
            None => self.cfg.client_secret.expose().to_string(),
        };
        let mut form = vec![format!("grant_type=client_credentials")];
        if !self.cfg.scopes.is_empty() {
            form.push(format!("scope={}", form_encode(&self.cfg.scopes.join(" "))));
        }
        for (k, v) in &self.cfg.endpoint_params {
            form.push(format!("{}={}", form_encode(k), form_encode(v)));
        }
        // Client credentials go in the Authorization header (RFC 6749 section 2.3.1), each
        // part form-encoded first as the RFC requires.
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form_encode(&self.cfg.client_id),
            form_encode(&secret)
        ));
        let resp = self
            .client
            .post(url)
            .header("Authorization", format!("Basic {basic}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.join("&"))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| err(e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Err(err(format!("HTTP {status}: {text}")));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| err(format!("invalid token response: {e}")))?;
        if parsed.access_token.is_empty() {
            return Err(err("token response has an empty access_token".into()));
        }
        Ok(Token {
            token_type: parsed.token_type,
            access_token: parsed.access_token,
            expires: parsed
                .expires_in
                .filter(|s| *s > 0)
                .map(|s| Instant::now() + Duration::from_secs(s)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
