//! The `alerting` block of `prometheus.yml` and its translation into the notifier's settings.
//!
//! The block is parsed with Prometheus's field names and checks (unknown fields are errors,
//! as everywhere), then turned into a [`NotifierConfig`] together with the external labels,
//! which every alert sent to the Alertmanagers carries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pharos_http::{
    Authorization, BasicAuth, HttpClientConfig, OAuth2, PromDuration, Secret, TlsConfig,
};
use pharos_model::Labels;
use pharos_notifier::{Alert, AlertmanagerSetConfig, Notifier, NotifierConfig, NotifierOptions};
use pharos_scrape::discovery::dns::DnsSdConfig;
use pharos_scrape::discovery::file::FileSdConfig;
use pharos_scrape::discovery::http::HttpSdConfig;
use pharos_scrape::discovery::static_sd::StaticConfig;
use pharos_scrape::RelabelConfig;
use serde::{Deserialize, Serialize};

use crate::config::Config;

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

fn is_false(b: &bool) -> bool {
    !*b
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
    /// Legacy bearer token (becomes an `Authorization: Bearer` header).
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub bearer_token: Secret,
    /// Legacy bearer token file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// Proxy URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Hosts that bypass the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// Use the proxy environment variables.
    #[serde(default, skip_serializing_if = "is_false")]
    pub proxy_from_environment: bool,
    /// Whether to follow redirects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// Whether HTTP/2 may be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_http2: Option<bool>,
}

impl AlertmanagerConfig {
    /// The HTTP client settings of this entry, validated (legacy bearer tokens folded into
    /// `authorization`), with Prometheus's defaults for the unset ones.
    pub fn http_client(&self) -> Result<HttpClientConfig, String> {
        let mut c = HttpClientConfig {
            basic_auth: self.basic_auth.clone(),
            authorization: self.authorization.clone(),
            oauth2: self.oauth2.clone(),
            bearer_token: self.bearer_token.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
            tls_config: self.tls_config.clone().unwrap_or_default(),
            proxy_url: self.proxy_url.clone(),
            no_proxy: self.no_proxy.clone(),
            proxy_from_environment: self.proxy_from_environment,
            follow_redirects: self.follow_redirects.unwrap_or(true),
            enable_http2: self.enable_http2.unwrap_or(true),
        };
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// The notifier's view of this entry.
    pub fn to_set_config(&self) -> Result<AlertmanagerSetConfig, String> {
        Ok(AlertmanagerSetConfig {
            timeout: self.timeout.map(PromDuration::as_duration),
            scheme: self.scheme.clone().unwrap_or_else(|| "http".into()),
            path_prefix: self.path_prefix.clone().unwrap_or_else(|| "/".into()),
            static_configs: self.static_configs.clone(),
            file_sd_configs: self.file_sd_configs.clone(),
            dns_sd_configs: self.dns_sd_configs.clone(),
            http_sd_configs: self.http_sd_configs.clone(),
            relabel_configs: self.relabel_configs.clone(),
            alert_relabel_configs: self.alert_relabel_configs.clone(),
            http_client: self.http_client()?,
        })
    }
}

impl AlertingConfig {
    /// Checks what Prometheus checks when loading.
    pub fn validate(&self) -> Result<(), String> {
        for rc in &self.alert_relabel_configs {
            rc.validate().map_err(|e| e.to_string())?;
        }
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
            for rc in am.relabel_configs.iter().chain(&am.alert_relabel_configs) {
                rc.validate().map_err(|e| e.to_string())?;
            }
            am.http_client()?;
        }
        Ok(())
    }

    /// Makes relative file paths (credentials, certificates, `file_sd_configs`) relative to
    /// `dir`, the directory of the configuration file.
    pub fn set_directory(&mut self, dir: &Path) {
        let join = |p: &mut Option<PathBuf>| {
            if let Some(path) = p {
                if path.is_relative() {
                    *path = dir.join(&*path);
                }
            }
        };
        for am in &mut self.alertmanagers {
            if let Some(ba) = &mut am.basic_auth {
                join(&mut ba.username_file);
                join(&mut ba.password_file);
            }
            if let Some(a) = &mut am.authorization {
                join(&mut a.credentials_file);
            }
            if let Some(o) = &mut am.oauth2 {
                join(&mut o.client_secret_file);
                o.tls_config.set_directory(dir);
            }
            join(&mut am.bearer_token_file);
            if let Some(t) = &mut am.tls_config {
                t.set_directory(dir);
            }
            for sd in &mut am.file_sd_configs {
                sd.set_directory(dir);
            }
            for sd in &mut am.http_sd_configs {
                sd.http_client.set_directory(dir);
            }
        }
    }
}

/// The notifier settings a configuration describes: its Alertmanagers, its alert relabeling
/// and its external labels.
pub fn notifier_config(cfg: &Config) -> Result<NotifierConfig, String> {
    let alertmanagers = cfg
        .alerting
        .alertmanagers
        .iter()
        .map(AlertmanagerConfig::to_set_config)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NotifierConfig {
        external_labels: Labels::from_pairs(
            cfg.global
                .external_labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        alert_relabel_configs: cfg.alerting.alert_relabel_configs.clone(),
        alertmanagers,
    })
}

/// Points the notifier at the Alertmanagers of `cfg`; on error the notifier keeps its
/// previous settings.
pub fn apply_to_notifier(notifier: &Notifier, cfg: &Config) -> Result<(), String> {
    let nc = notifier_config(cfg)?;
    notifier
        .apply_config(&nc)
        .map_err(|e| format!("alerting: {e}"))
}

/// Notifier settings from the `--alertmanager.*` flags.
pub fn notifier_options(queue_capacity: usize, timeout: Duration) -> NotifierOptions {
    NotifierOptions {
        queue_capacity,
        default_timeout: timeout,
        user_agent: format!("Pharos/{}", env!("CARGO_PKG_VERSION")),
        ..NotifierOptions::default()
    }
}

/// Converts one alert from the rule engine to the notifier's type.
pub fn to_notifier_alert(a: pharos_rules::AlertToSend) -> Alert {
    Alert {
        labels: a.labels,
        annotations: a.annotations,
        starts_at_ms: a.starts_at_ms,
        ends_at_ms: a.ends_at_ms,
        generator_url: a.generator_url,
    }
}

/// The rule engine's hand-off: every evaluation's alerts are queued on `notifier`.
pub fn notify_fn(notifier: Arc<Notifier>) -> pharos_rules::NotifyFn {
    Arc::new(move |alerts: Vec<pharos_rules::AlertToSend>| {
        notifier.send(alerts.into_iter().map(to_notifier_alert).collect());
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Config {
        match Config::parse(yaml, "test.yml", Path::new("/etc/prometheus")) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn entries_become_notifier_sets_with_defaults() {
        let c = parse(concat!(
            "global:\n  external_labels:\n    site: eu\n",
            "alerting:\n  alert_relabel_configs:\n    - action: labeldrop\n      regex: tmp\n",
            "  alertmanagers:\n",
            "    - static_configs:\n        - targets: ['am:9093']\n",
            "    - scheme: https\n      path_prefix: /am\n      timeout: 3s\n",
            "      bearer_token_file: token\n",
            "      file_sd_configs:\n        - files: ['ams.json']\n",
        ));
        let nc = match notifier_config(&c) {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(nc.external_labels.get("site"), Some("eu"));
        assert_eq!(nc.alert_relabel_configs.len(), 1);
        assert_eq!(nc.alertmanagers.len(), 2);
        let (first, second) = (&nc.alertmanagers[0], &nc.alertmanagers[1]);
        assert_eq!(first.scheme, "http");
        assert_eq!(first.path_prefix, "/");
        assert_eq!(first.timeout, None);
        assert_eq!(second.scheme, "https");
        assert_eq!(second.timeout, Some(Duration::from_secs(3)));
        let auth = second.http_client.authorization.as_ref();
        assert_eq!(
            auth.and_then(|a| a.credentials_file.clone()),
            Some(PathBuf::from("/etc/prometheus/token"))
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        for (yaml, want) in [
            (
                "alerting:\n  alertmanagers:\n  - api_version: v1\n",
                "api version",
            ),
            ("alerting:\n  alertmanagers:\n  - bogus: 1\n", "bogus"),
            (
                "alerting:\n  alertmanagers:\n  - basic_auth: {username: a}\n    bearer_token: b\n",
                "at most one of",
            ),
            (
                "alerting:\n  alertmanagers:\n  - relabel_configs:\n    - action: hashmod\n      target_label: x\n",
                "modulus",
            ),
        ] {
            let e = Config::parse(yaml, "t.yml", Path::new("."))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }
}
