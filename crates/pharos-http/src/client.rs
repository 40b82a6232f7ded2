//! An HTTP client built from [`HttpClientConfig`], attaching credentials to every request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder};

use crate::config::{HttpClientConfig, Secret};
use crate::error::{AuthError, HttpConfigError};
use crate::oauth2::TokenSource;
use crate::tls;

/// Settings that belong to the caller rather than to the configuration file.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The `User-Agent` header, e.g. `Prometheus/2.53.0` for scrapes.
    pub user_agent: String,
    /// How long to wait for a TCP connection; `None` leaves it to the request timeout.
    pub connect_timeout: Option<Duration>,
    /// Idle connections kept per host; scrapes reuse one connection per target.
    pub pool_max_idle_per_host: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            user_agent: format!("Pharos/{}", env!("CARGO_PKG_VERSION")),
            connect_timeout: None,
            pool_max_idle_per_host: 2,
        }
    }
}

/// How each request is authenticated.
enum Auth {
    None,
    Basic {
        username: String,
        username_file: Option<PathBuf>,
        password: Secret,
        password_file: Option<PathBuf>,
    },
    Header {
        kind: String,
        credentials: Secret,
        credentials_file: Option<PathBuf>,
    },
    OAuth2(Box<TokenSource>),
}

/// A configured HTTP client: connection pool, TLS, proxy, redirect policy and credentials.
///
/// Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Arc<Auth>,
}

/// Reads a credentials file, trimming the trailing newline editors add.
fn read_secret(what: &'static str, path: &Path) -> Result<String, AuthError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\r', '\n', ' ', '\t']).to_string())
        .map_err(|source| AuthError::ReadFile {
            what,
            path: path.to_path_buf(),
            source,
        })
}

fn base_client(
    tls_cfg: &crate::config::TlsConfig,
    proxy_url: &Option<String>,
    no_proxy: &Option<String>,
    from_env: bool,
    follow_redirects: bool,
    enable_http2: bool,
    opts: &ClientOptions,
) -> Result<reqwest::Client, HttpConfigError> {
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls::client_config(tls_cfg, enable_http2)?)
        .user_agent(opts.user_agent.clone())
        .pool_max_idle_per_host(opts.pool_max_idle_per_host)
        // Go's client follows at most 10 redirects; matching it keeps loops bounded the same way.
        .redirect(if follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        });
    if let Some(t) = opts.connect_timeout {
        b = b.connect_timeout(t);
    }
    if !enable_http2 {
        b = b.http1_only();
    }
    match proxy_url {
        Some(url) => {
            let mut proxy = reqwest::Proxy::all(url.as_str())?;
            if let Some(np) = no_proxy {
                proxy = proxy.no_proxy(reqwest::NoProxy::from_string(np));
            }
            b = b.proxy(proxy);
        }
        // Prometheus ignores proxy environment variables unless asked to use them; a scrape
        // that silently went through a proxy would be hard to debug.
        None if !from_env => b = b.no_proxy(),
        None => {}
    }
    Ok(b.build()?)
}

impl HttpClient {
    /// Builds a client from validated settings (call [`HttpClientConfig::validate`] first).
    ///
    /// Certificate and key files are read now, so a missing file is reported at load time;
    /// credentials files are read on every request so that rotated secrets take effect.
    pub fn new(cfg: &HttpClientConfig, opts: &ClientOptions) -> Result<Self, HttpConfigError> {
        let client = base_client(
            &cfg.tls_config,
            &cfg.proxy_url,
            &cfg.no_proxy,
            cfg.proxy_from_environment,
            cfg.follow_redirects,
            cfg.enable_http2,
            opts,
        )?;
        let auth = if let Some(ba) = &cfg.basic_auth {
            Auth::Basic {
                username: ba.username.clone(),
                username_file: ba.username_file.clone(),
                password: ba.password.clone(),
                password_file: ba.password_file.clone(),
            }
        } else if let Some(a) = &cfg.authorization {
            let kind = if a.auth_type.is_empty() {
                "Bearer".to_string()
            } else {
                a.auth_type.clone()
            };
            Auth::Header {
                kind,
                credentials: a.credentials.clone(),
                credentials_file: a.credentials_file.clone(),
            }
        } else if !cfg.bearer_token.is_empty() || cfg.bearer_token_file.is_some() {
            // Settings that skipped validation still get their legacy bearer token.
            Auth::Header {
                kind: "Bearer".into(),
                credentials: cfg.bearer_token.clone(),
                credentials_file: cfg.bearer_token_file.clone(),
            }
        } else if let Some(o) = &cfg.oauth2 {
            let token_client = base_client(
                &o.tls_config,
                &o.proxy_url,
                &o.no_proxy,
                o.proxy_from_environment,
                true,
                true,
                opts,
            )?;
            Auth::OAuth2(Box::new(TokenSource::new(o.clone(), token_client)))
        } else {
            Auth::None
        };
        Ok(HttpClient {
            client,
            auth: Arc::new(auth),
        })
    }

    /// The underlying client, for requests that must not carry credentials.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// Starts a request with credentials attached.
    pub async fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, AuthError> {
        self.authorize(self.client.request(method, url)).await
    }

    /// Attaches this client's credentials to a request.
    pub async fn authorize(&self, rb: RequestBuilder) -> Result<RequestBuilder, AuthError> {
        Ok(match &*self.auth {
            Auth::None => rb,
            Auth::Basic {
                username,
                username_file,
                password,
                password_file,
            } => {
                let user = match username_file {
                    Some(p) => read_secret("basic_auth username", p)?,
                    None => username.clone(),
                };
                let pass = match password_file {
                    Some(p) => read_secret("basic_auth password", p)?,
                    None => password.expose().to_string(),
                };
                rb.basic_auth(user, Some(pass))
            }
            Auth::Header {
                kind,
                credentials,
                credentials_file,
            } => {
                let cred = match credentials_file {
                    Some(p) => read_secret("authorization credentials", p)?,
                    None => credentials.expose().to_string(),
                };
                rb.header(reqwest::header::AUTHORIZATION, format!("{kind} {cred}"))
            }
            Auth::OAuth2(source) => {
                rb.header(reqwest::header::AUTHORIZATION, source.header_value().await?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn header_of(rb: RequestBuilder) -> Option<String> {
        let req = rb.build().ok()?;
        req.headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    #[tokio::test]
    async fn bearer_file_is_read_per_request() {
        let mut f = match tempfile::NamedTempFile::new() {
            Ok(f) => f,
            Err(e) => panic!("temp file: {e}"),
        };
        let _ = writeln!(f, "tok1");
        let mut cfg = HttpClientConfig {
            bearer_token_file: Some(f.path().to_path_buf()),
            ..HttpClientConfig::default()
        };
        assert!(cfg.validate().is_ok());
        let client = match HttpClient::new(&cfg, &ClientOptions::default()) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let rb = client
            .request(Method::GET, "http://127.0.0.1:1/metrics")
            .await
            .ok();
        assert_eq!(rb.and_then(header_of).as_deref(), Some("Bearer tok1"));
        let _ = std::fs::write(f.path(), "tok2\n");
        let rb = client
            .request(Method::GET, "http://127.0.0.1:1/metrics")
            .await
            .ok();
        assert_eq!(rb.and_then(header_of).as_deref(), Some("Bearer tok2"));
    }

    #[tokio::test]
    async fn basic_auth_header() {
        let cfg = HttpClientConfig {
            basic_auth: Some(crate::config::BasicAuth {
                username: "u".into(),
                password: Secret::new("p"),
                ..Default::default()
            }),
            ..HttpClientConfig::default()
        };
        let client = HttpClient::new(&cfg, &ClientOptions::default()).ok();
        let rb = match client {
            Some(c) => c.request(Method::GET, "http://127.0.0.1:1/").await.ok(),
            None => None,
        };
        assert_eq!(rb.and_then(header_of).as_deref(), Some("Basic dTpw"));
    }

    #[tokio::test]
    async fn missing_credentials_file_is_a_clear_error() {
        let mut cfg = HttpClientConfig {
            bearer_token_file: Some("/nonexistent/token".into()),
            ..HttpClientConfig::default()
        };
        assert!(cfg.validate().is_ok());
        let client = HttpClient::new(&cfg, &ClientOptions::default()).ok();
        let err = match client {
            Some(c) => c
                .request(Method::GET, "http://127.0.0.1:1/")
                .await
                .err()
                .map(|e| e.to_string()),
            None => None,
        };
        let err = err.unwrap_or_default();
        assert!(
            err.contains("unable to read authorization credentials file /nonexistent/token"),
            "{err}"
        );
    }

    #[test]
    fn proxy_settings_build() {
        let cfg = HttpClientConfig {
            proxy_url: Some("http://127.0.0.1:3128".into()),
            no_proxy: Some("localhost,10.0.0.0/8".into()),
            ..HttpClientConfig::default()
        };
        assert!(HttpClient::new(&cfg, &ClientOptions::default()).is_ok());
    }
}
