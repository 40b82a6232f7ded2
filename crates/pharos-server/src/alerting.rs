//! The `alerting` block of `prometheus.yml`: where alerts would be sent.
//!
//! It is parsed and validated (unknown fields are errors, as everywhere) so that existing
//! configurations, Debian's default included, load unchanged. Nothing is sent yet: rule
//! evaluation and the notifier are not implemented, so no alert can exist to be sent, and
//! the server logs a warning when Alertmanagers are configured.

use pharos_http::{Authorization, BasicAuth, OAuth2, PromDuration, TlsConfig};
use pharos_scrape::discovery::dns::DnsSdConfig;
use pharos_scrape::discovery::file::FileSdConfig;
use pharos_scrape::discovery::http::HttpSdConfig;
use pharos_scrape::discovery::static_sd::StaticConfig;
use pharos_scrape::RelabelConfig;
use serde::{Deserialize, Serialize};

/// `alerting`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Relabeling applied to alerts before sending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// The Alertmanagers to send to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One `alertmanagers` entry.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Per-request timeout (10s by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<PromDuration>,
    /// Alertmanager API version (`v2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Path prefix of the Alertmanager API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// `http` or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Fixed Alertmanager addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    /// Addresses from files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Addresses from DNS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Addresses from an HTTP endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// Relabeling of discovered Alertmanagers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabeling of alerts for this Alertmanager only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// OAuth 2 client credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// Proxy URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Whether to follow redirects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// Whether HTTP/2 may be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_http2: Option<bool>,
}

impl AlertingConfig {
    /// Checks what Prometheus checks when loading.
    pub fn validate(&self) -> Result<(), String> {
        for am in &self.alertmanagers {
            if let Some(v) = &am.api_version {
                if v != "v2" {
                    return Err(format!(
                        "expected Alertmanager api version to be one of [v2] but got {v}"
                    ));
                }
            }
            if let Some(s) = &am.scheme {
                if s != "http" && s != "https" {
                    return Err(format!("invalid scheme {s:?} for Alertmanager"));
                }
            }
        }
        Ok(())
    }
}
