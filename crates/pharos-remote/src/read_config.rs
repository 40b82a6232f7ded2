//! One `remote_read` entry of `prometheus.yml`, with Prometheus's defaults and checks.

use std::collections::BTreeMap;
use std::path::Path;

use pharos_http::with_http_client_fields;
use pharos_http::{HttpClientConfig, PromDuration};
use serde::{Deserialize, Serialize, Serializer};

/// Headers a remote read config may not set, because the protocol owns them.
const RESERVED_HEADERS: [&str; 6] = [
    "authorization",
    "host",
    "content-encoding",
    "content-type",
    "x-prometheus-remote-read-version",
    "user-agent",
];

/// A validated `remote_read` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRemoteReadConfig")]
pub struct RemoteReadConfig {
    /// The endpoint, e.g. `http://host:9090/api/v1/read`.
    pub url: String,
    /// Name used in logs and warnings; defaults to a hash of the entry.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Timeout of one read request (1m by default).
    pub remote_timeout: PromDuration,
    /// Extra request headers (their values are secrets).
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "redacted_headers"
    )]
    pub headers: BTreeMap<String, String>,
    /// Read from the remote also for time ranges local storage holds.
    pub read_recent: bool,
    /// Only queries with all these equality matchers go to this remote.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub required_matchers: BTreeMap<String, String>,
    /// Add the server's external labels as matchers (and strip them from results).
    pub filter_external_labels: bool,
    /// Authentication, TLS and proxy settings.
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
}

fn redacted_headers<S: Serializer>(h: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    let redacted: BTreeMap<&str, &str> = h.keys().map(|k| (k.as_str(), "<secret>")).collect();
    redacted.serialize(s)
}

fn default_true() -> bool {
    true
}

with_http_client_fields! {
/// The mapping as written, with the HTTP client fields embedded as Prometheus writes them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemoteReadConfig {
    #[serde(default)]
    url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    remote_timeout: Option<PromDuration>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    read_recent: bool,
    #[serde(default)]
    required_matchers: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    filter_external_labels: bool,
}
}

impl TryFrom<RawRemoteReadConfig> for RemoteReadConfig {
    type Error = String;

    fn try_from(mut raw: RawRemoteReadConfig) -> Result<Self, String> {
        if raw.url.is_empty() {
            return Err("url for remote_read is empty".into());
        }
        match url_scheme(&raw.url) {
            Some("http" | "https") => {}
            _ => {
                return Err(format!(
                    "invalid remote_read url {:?}: the scheme must be http or https",
                    raw.url
                ))
            }
        }
        for name in raw.headers.keys() {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "{name} is a reserved header. It must not be changed"
                ));
            }
        }
        let mut http_client = raw.take_http_client();
        http_client.validate().map_err(|e| e.to_string())?;
        Ok(RemoteReadConfig {
            url: raw.url,
            name: raw.name,
            remote_timeout: raw.remote_timeout.unwrap_or(PromDuration::from_secs(60)),
            headers: raw.headers,
            read_recent: raw.read_recent,
            required_matchers: raw.required_matchers,
            filter_external_labels: raw.filter_external_labels,
            http_client,
        })
    }
}

fn url_scheme(url: &str) -> Option<&str> {
    url.split_once("://").map(|(s, _)| s)
}

impl RemoteReadConfig {
    /// Makes relative file paths (TLS files, credentials) relative to the config's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client.set_directory(dir);
    }

    /// The name shown in warnings: the configured name, else the URL.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.url
        } else {
            &self.name
        }
    }
}

/// Checks what Prometheus checks across entries: configured names are unique.
pub fn check_unique_names(configs: &[RemoteReadConfig]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for c in configs {
        if !c.name.is_empty() && !seen.insert(c.name.as_str()) {
            return Err(format!(
                "found multiple remote read configs with job name {:?}",
                c.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<RemoteReadConfig>, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_prometheus() {
        let c = parse("- url: http://h:9090/api/v1/read\n").expect("valid");
        let c = &c[0];
        assert_eq!(c.remote_timeout, PromDuration::from_secs(60));
        assert!(!c.read_recent);
        assert!(c.filter_external_labels);
        assert!(c.http_client.follow_redirects);
        assert_eq!(c.display_name(), "http://h:9090/api/v1/read");
    }

    #[test]
    fn every_documented_field_loads() {
        let c = parse(
            "- url: https://h/api/v1/read\n  name: r1\n  remote_timeout: 5s\n  headers:\n    X-Scope-OrgID: t1\n  read_recent: true\n  required_matchers:\n    job: node\n  filter_external_labels: false\n  basic_auth:\n    username: u\n    password: p\n  tls_config:\n    insecure_skip_verify: true\n  proxy_url: http://proxy:3128\n",
        )
        .expect("valid");
        let c = &c[0];
        assert_eq!(c.name, "r1");
        assert!(c.read_recent && !c.filter_external_labels);
        assert_eq!(
            c.required_matchers.get("job").map(String::as_str),
            Some("node")
        );
        assert!(c.http_client.basic_auth.is_some());
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse("- name: x\n").unwrap_err();
        assert!(e.contains("url for remote_read is empty"), "{e}");
        let e = parse("- url: http://h/\n  bogus: 1\n").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let e = parse("- url: http://h/\n  headers:\n    Authorization: x\n").unwrap_err();
        assert!(e.contains("reserved header"), "{e}");
        let e = parse("- url: ftp://h/\n").unwrap_err();
        assert!(e.contains("scheme"), "{e}");
        let two = parse("- url: http://a/\n  name: x\n- url: http://b/\n  name: x\n").expect("ok");
        assert!(check_unique_names(&two)
            .unwrap_err()
            .contains("multiple remote read configs"));
    }
}
