//! The HTTP client settings block that Prometheus configuration files embed wherever Prometheus
//! talks HTTP (scrape configs, remote write, alertmanager configs, HTTP service discovery).
//!
//! Field names, defaults and validation messages follow Prometheus's `common/config` package so
//! that existing files load unchanged and mistakes are reported in the words users search for.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

use crate::error::HttpConfigError;

/// A value that must never be echoed back: it prints and serializes as `<secret>`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for building a request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_true() -> bool {
    true
}

/// HTTP basic authentication.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// A file whose content (trailing whitespace trimmed) is the user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<PathBuf>,
    /// The password.
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    /// A file whose content (trailing whitespace trimmed) is the password; re-read per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// The `Authorization` header as `<type> <credentials>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme; `Bearer` when empty.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub auth_type: String,
    /// The credentials.
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    /// A file whose content (trailing whitespace trimmed) is the credentials; re-read per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

/// OAuth 2.0 client-credentials grant settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// The client id.
    #[serde(default)]
    pub client_id: String,
    /// The client secret.
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub client_secret: Secret,
    /// A file holding the client secret; re-read whenever a token is fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes to request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The token endpoint.
    #[serde(default)]
    pub token_url: String,
    /// Extra form parameters sent to the token endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    /// TLS settings for talking to the token endpoint.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Proxy for the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Hosts that bypass `proxy_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// Use `HTTP(S)_PROXY` / `NO_PROXY` from the environment.
    #[serde(default, skip_serializing_if = "is_false")]
    pub proxy_from_environment: bool,
}

/// The lowest TLS version to accept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.0; accepted in files for compatibility, but negotiates at least TLS 1.2 here.
    TLS10,
    /// TLS 1.1; accepted in files for compatibility, but negotiates at least TLS 1.2 here.
    TLS11,
    /// TLS 1.2, Prometheus's default.
    #[default]
    TLS12,
    /// TLS 1.3.
    TLS13,
}

/// TLS settings for the connection to the server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM CA certificates inline.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca: String,
    /// File with PEM CA certificates; the system roots are used when neither is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate inline.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert: String,
    /// File with the PEM client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM client key inline.
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub key: Secret,
    /// File with the PEM client key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The name the server certificate must be valid for, instead of the URL's host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    /// Accept any server certificate. Dangerous; for tests and broken setups only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// The lowest TLS version to negotiate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    /// The highest TLS version to negotiate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<TlsVersion>,
}

/// Everything about how to reach an HTTP server: authentication, TLS, proxies, redirects.
///
/// Scrape configs flatten these fields into their own mapping, exactly like Prometheus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// A custom `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// OAuth 2.0 client credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// Legacy: a bearer token; converted to `authorization` by [`HttpClientConfig::validate`].
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub bearer_token: Secret,
    /// Legacy: a file holding a bearer token; converted like `bearer_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// An HTTP proxy for every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Comma-separated hosts, domains, IPs and CIDRs that bypass `proxy_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// Use `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` from the environment.
    #[serde(default, skip_serializing_if = "is_false")]
    pub proxy_from_environment: bool,
    /// Follow HTTP redirects.
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Offer HTTP/2 during the TLS handshake.
    #[serde(default = "default_true")]
    pub enable_http2: bool,
}

impl Default for HttpClientConfig {
    /// Prometheus's defaults: follow redirects and allow HTTP/2.
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: Secret::default(),
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

fn invalid(msg: impl Into<String>) -> HttpConfigError {
    HttpConfigError::Invalid(msg.into())
}

fn resolve(dir: &Path, p: &mut Option<PathBuf>) {
    if let Some(path) = p {
        if path.is_relative() && !path.as_os_str().is_empty() {
            *path = dir.join(&*path);
        }
    }
}

impl TlsConfig {
    /// Checks the combinations Prometheus rejects.
    pub fn validate(&self) -> Result<(), HttpConfigError> {
        if !self.ca.is_empty() && self.ca_file.is_some() {
            return Err(invalid("at most one of ca and ca_file must be configured"));
        }
        if !self.cert.is_empty() && self.cert_file.is_some() {
            return Err(invalid(
                "at most one of cert and cert_file must be configured",
            ));
        }
        if !self.key.is_empty() && self.key_file.is_some() {
            return Err(invalid(
                "at most one of key and key_file must be configured",
            ));
        }
        let has_cert = !self.cert.is_empty() || self.cert_file.is_some();
        let has_key = !self.key.is_empty() || self.key_file.is_some();
        if has_cert && !has_key {
            return Err(invalid("exactly one of key or key_file must be configured when a client certificate is configured"));
        }
        if has_key && !has_cert {
            return Err(invalid("exactly one of cert or cert_file must be configured when a client key is configured"));
        }
        if let (Some(min), Some(max)) = (self.min_version, self.max_version) {
            if (min as u8) > (max as u8) {
                return Err(invalid(format!(
                    "tls_config.max_version {max:?} is lower than min_version {min:?}"
                )));
            }
        }
        Ok(())
    }

    /// Makes relative file paths relative to `dir` (the configuration file's directory).
    pub fn set_directory(&mut self, dir: &Path) {
        resolve(dir, &mut self.ca_file);
        resolve(dir, &mut self.cert_file);
        resolve(dir, &mut self.key_file);
    }
}

fn validate_proxy(
    proxy_url: &Option<String>,
    no_proxy: &Option<String>,
    from_env: bool,
) -> Result<(), HttpConfigError> {
    if from_env && proxy_url.is_some() {
        return Err(invalid(
            "if proxy_from_environment is configured, proxy_url must not be configured",
        ));
    }
    if from_env && no_proxy.is_some() {
        return Err(invalid(
            "if proxy_from_environment is configured, no_proxy must not be configured",
        ));
    }
    if no_proxy.is_some() && proxy_url.is_none() {
        return Err(invalid(
            "if no_proxy is configured, proxy_url must also be configured",
        ));
    }
    if let Some(url) = proxy_url {
        let ok = url.starts_with("http://")
            || url.starts_with("https://")
            || url.starts_with("socks5://");
        if !ok || url.len() <= "http://".len() {
            return Err(invalid(format!(
                "invalid proxy_url {url:?}: expected a URL such as http://proxy:3128"
            )));
        }
    }
    Ok(())
}

impl HttpClientConfig {
    /// Checks the combinations Prometheus rejects and folds the legacy `bearer_token` fields
    /// into `authorization`, as Prometheus does when it loads a file.
    pub fn validate(&mut self) -> Result<(), HttpConfigError> {
        let has_bearer = !self.bearer_token.is_empty() || self.bearer_token_file.is_some();
        if !self.bearer_token.is_empty() && self.bearer_token_file.is_some() {
            return Err(invalid(
                "at most one of bearer_token & bearer_token_file must be configured",
            ));
        }
        if let Some(ba) = &self.basic_auth {
            if !ba.username.is_empty() && ba.username_file.is_some() {
                return Err(invalid(
                    "at most one of basic_auth username & username_file must be configured",
                ));
            }
            if !ba.password.is_empty() && ba.password_file.is_some() {
                return Err(invalid(
                    "at most one of basic_auth password & password_file must be configured",
                ));
            }
        }
        let auth_count = [self.basic_auth.is_some(), self.oauth2.is_some(), has_bearer]
            .iter()
            .filter(|b| **b)
            .count();
        if auth_count > 1 {
            return Err(invalid("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"));
        }
        if let Some(auth) = &mut self.authorization {
            if has_bearer {
                return Err(invalid(
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            if !auth.credentials.is_empty() && auth.credentials_file.is_some() {
                return Err(invalid("at most one of authorization credentials & credentials_file must be configured"));
            }
            auth.auth_type = auth.auth_type.trim().to_string();
            if auth.auth_type.is_empty() {
                auth.auth_type = "Bearer".to_string();
            }
            if auth.auth_type.eq_ignore_ascii_case("basic") {
                return Err(invalid(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                ));
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(invalid(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
        } else if has_bearer {
            self.authorization = Some(Authorization {
                auth_type: "Bearer".to_string(),
                credentials: std::mem::take(&mut self.bearer_token),
                credentials_file: self.bearer_token_file.take(),
            });
        }
        if let Some(o) = &self.oauth2 {
            if o.client_id.is_empty() {
                return Err(invalid("oauth2 client_id must be configured"));
            }
            if !o.client_secret.is_empty() && o.client_secret_file.is_some() {
                return Err(invalid(
                    "at most one of oauth2 client_secret & client_secret_file must be configured",
                ));
            }
            if o.token_url.is_empty() {
                return Err(invalid("oauth2 token_url must be configured"));
            }
            o.tls_config.validate()?;
            validate_proxy(&o.proxy_url, &o.no_proxy, o.proxy_from_environment)?;
        }
        validate_proxy(&self.proxy_url, &self.no_proxy, self.proxy_from_environment)?;
        self.tls_config.validate()
    }

    /// Makes every relative file path relative to `dir`, as Prometheus does with paths in a
    /// configuration file.
    pub fn set_directory(&mut self, dir: &Path) {
        if let Some(ba) = &mut self.basic_auth {
            resolve(dir, &mut ba.username_file);
            resolve(dir, &mut ba.password_file);
        }
        if let Some(a) = &mut self.authorization {
            resolve(dir, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            resolve(dir, &mut o.client_secret_file);
            o.tls_config.set_directory(dir);
        }
        resolve(dir, &mut self.bearer_token_file);
        self.tls_config.set_directory(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<HttpClientConfig, String> {
        let mut c: HttpClientConfig = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn defaults_follow_prometheus() {
        let c = load("{}").unwrap_or_default();
        assert!(c.follow_redirects);
        assert!(c.enable_http2);
        assert_eq!(c, HttpClientConfig::default());
    }

    #[test]
    fn full_block_parses() {
        let c = load(
            "basic_auth:\n  username: u\n  password_file: /etc/pw\n\
             tls_config:\n  ca_file: ca.pem\n  server_name: example.org\n  insecure_skip_verify: true\n  min_version: TLS13\n\
             proxy_url: http://proxy:3128\nno_proxy: localhost,10.0.0.0/8\nfollow_redirects: false\nenable_http2: false\n",
        );
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            c.basic_auth.as_ref().map(|b| b.username.as_str()),
            Some("u")
        );
        assert_eq!(c.tls_config.min_version, Some(TlsVersion::TLS13));
        assert!(!c.follow_redirects && !c.enable_http2);
    }

    #[test]
    fn legacy_bearer_becomes_authorization() {
        let c = load("bearer_token: abc\n").unwrap_or_default();
        let auth = c.authorization.unwrap_or_default();
        assert_eq!(auth.auth_type, "Bearer");
        assert_eq!(auth.credentials.expose(), "abc");
        assert!(format!("{:?}", auth.credentials).contains("<secret>"));
    }

    #[test]
    fn rejects_conflicts_with_prometheus_messages() {
        let cases = [
            ("bearer_token: a\nbearer_token_file: b\n", "at most one of bearer_token & bearer_token_file must be configured"),
            ("basic_auth: {username: a}\nbearer_token: x\n", "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"),
            ("basic_auth: {username: a, password: b, password_file: c}\n", "at most one of basic_auth password & password_file must be configured"),
            ("authorization: {credentials: a}\nbearer_token: x\n", "authorization is not compatible with bearer_token & bearer_token_file"),
            ("authorization: {type: Basic, credentials: a}\n", "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"),
            ("authorization: {credentials: a}\nbasic_auth: {username: u}\n", "at most one of basic_auth, oauth2 & authorization must be configured"),
            ("oauth2: {token_url: http://x}\n", "oauth2 client_id must be configured"),
            ("oauth2: {client_id: a}\n", "oauth2 token_url must be configured"),
            ("no_proxy: localhost\n", "if no_proxy is configured, proxy_url must also be configured"),
            ("proxy_from_environment: true\nproxy_url: http://p:1\n", "if proxy_from_environment is configured, proxy_url must not be configured"),
            ("tls_config: {cert_file: c.pem}\n", "exactly one of key or key_file must be configured when a client certificate is configured"),
            ("tls_config: {ca: x, ca_file: y}\n", "at most one of ca and ca_file must be configured"),
        ];
        for (yaml, want) in cases {
            match load(yaml) {
                Ok(_) => panic!("accepted {yaml:?}"),
                Err(e) => assert!(e.contains(want), "{yaml:?}: got {e:?}"),
            }
        }
    }

    #[test]
    fn unknown_field_is_named() {
        match load("basic_auth:\n  usernme: a\n") {
            Ok(_) => panic!("accepted a misspelt field"),
            Err(e) => assert!(e.contains("usernme"), "{e}"),
        }
    }

    #[test]
    fn relative_paths_follow_the_config_directory() {
        let mut c =
            load("bearer_token_file: tok\ntls_config: {ca_file: ca.pem}\n").unwrap_or_default();
        c.set_directory(Path::new("/etc/pharos"));
        assert_eq!(
            c.tls_config.ca_file.as_deref(),
            Some(Path::new("/etc/pharos/ca.pem"))
        );
        let file = c.authorization.and_then(|a| a.credentials_file);
        assert_eq!(file.as_deref(), Some(Path::new("/etc/pharos/tok")));
    }
}
