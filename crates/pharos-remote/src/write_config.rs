//! The `remote_write` entries of `prometheus.yml`: Prometheus's fields, defaults and checks.
//!
//! The HTTP client fields (`basic_auth`, `tls_config`, ...) sit directly in each entry as in
//! Prometheus. serde's `flatten` cannot be combined with `deny_unknown_fields`, so the raw
//! entry spells them out and [`RemoteWriteConfig`] keeps them as an [`HttpClientConfig`].

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;

use pharos_http::with_http_client_fields;
use pharos_http::{HttpClientConfig, PromDuration, Secret};
use pharos_scrape::relabel::RelabelConfig;
use serde::{Deserialize, Serialize, Serializer};

/// Why a `remote_write` entry cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WriteConfigError {
    /// The entry parses but is inconsistent; the message names the entry.
    #[error("{0}")]
    Invalid(String),
    /// A setting the sender cannot honour.
    #[error("remote_write {setting} is not supported yet by pharos server; remove it from the configuration")]
    Unsupported {
        /// The setting as written in the file.
        setting: &'static str,
    },
}

/// Which protobuf message requests carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtobufMessage {
    /// Remote write 1.0, `prometheus.WriteRequest` (the default).
    #[default]
    #[serde(rename = "prometheus.WriteRequest")]
    V1,
    /// Remote write 2.0, `io.prometheus.write.v2.Request`.
    #[serde(rename = "io.prometheus.write.v2.Request")]
    V2,
}

/// How samples are queued, batched and retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Samples buffered per shard before reading the WAL pauses.
    pub capacity: usize,
    /// Most concurrent senders.
    pub max_shards: usize,
    /// Fewest concurrent senders (and the number started with).
    pub min_shards: usize,
    /// Most samples in one request.
    pub max_samples_per_send: usize,
    /// Longest a sample waits for its batch to fill.
    pub batch_send_deadline: PromDuration,
    /// First retry delay; doubled on every retry.
    pub min_backoff: PromDuration,
    /// Largest retry delay.
    pub max_backoff: PromDuration,
    /// Retry on HTTP 429 instead of dropping the batch.
    pub retry_on_http_429: bool,
    /// Samples older than this are dropped instead of sent; zero disables.
    pub sample_age_limit: PromDuration,
}

impl Default for QueueConfig {
    /// Prometheus 3's defaults.
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: PromDuration::from_secs(5),
            min_backoff: PromDuration::from_millis(30),
            max_backoff: PromDuration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: PromDuration::from_secs(0),
        }
    }
}

/// Whether and how metric metadata is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// Send metadata at all.
    pub send: bool,
    /// How often all metadata is sent.
    pub send_interval: PromDuration,
    /// Most metadata entries in one request.
    pub max_samples_per_send: usize,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: PromDuration::from_secs(60),
            max_samples_per_send: 2_000,
        }
    }
}

fn serialize_headers<S: Serializer>(h: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    // Header values often carry tokens; show only that they are set.
    let redacted: BTreeMap<&str, Secret> =
        h.keys().map(|k| (k.as_str(), Secret::new("x"))).collect();
    redacted.serialize(s)
}

/// One validated `remote_write` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemoteWriteConfig {
    /// Where requests are POSTed.
    pub url: String,
    /// Per-request timeout.
    pub remote_timeout: PromDuration,
    /// Extra request headers (values are redacted when the configuration is shown).
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "serialize_headers"
    )]
    pub headers: BTreeMap<String, String>,
    /// Rules applied to every series before it is sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// The queue's name in metrics and logs; a hash of the entry when not given.
    pub name: String,
    /// Send the exemplars recorded in the WAL.
    pub send_exemplars: bool,
    /// Send native histogram samples.
    pub send_native_histograms: bool,
    /// Wire format.
    pub protobuf_message: ProtobufMessage,
    /// How to reach the receiver.
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
    /// Queue tuning.
    pub queue_config: QueueConfig,
    /// Metadata sending.
    pub metadata_config: MetadataConfig,
}

fn default_remote_timeout() -> PromDuration {
    PromDuration::from_secs(30)
}

with_http_client_fields! {
/// The entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemoteWrite {
    #[serde(default)]
    url: String,
    #[serde(default = "default_remote_timeout")]
    remote_timeout: PromDuration,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    write_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    send_exemplars: bool,
    #[serde(default)]
    send_native_histograms: bool,
    #[serde(default)]
    protobuf_message: ProtobufMessage,
    #[serde(default)]
    round_robin_dns: bool,
    #[serde(default)]
    sigv4: Option<serde_json::Value>,
    #[serde(default)]
    azuread: Option<serde_json::Value>,
    #[serde(default)]
    google_iam: Option<serde_json::Value>,
    #[serde(default)]
    queue_config: QueueConfig,
    #[serde(default)]
    metadata_config: MetadataConfig,
}
}

/// Headers Prometheus sets itself and refuses in `headers`.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "authorization",
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
    "user-agent",
];

impl<'de> Deserialize<'de> for RemoteWriteConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawRemoteWrite::deserialize(d)?;
        RemoteWriteConfig::try_from(raw).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<RawRemoteWrite> for RemoteWriteConfig {
    type Error = WriteConfigError;

    fn try_from(mut raw: RawRemoteWrite) -> Result<Self, WriteConfigError> {
        let invalid = |m: String| Err(WriteConfigError::Invalid(m));
        if raw.sigv4.is_some() {
            return Err(WriteConfigError::Unsupported { setting: "sigv4" });
        }
        if raw.azuread.is_some() {
            return Err(WriteConfigError::Unsupported { setting: "azuread" });
        }
        if raw.google_iam.is_some() {
            return Err(WriteConfigError::Unsupported {
                setting: "google_iam",
            });
        }
        if raw.url.is_empty() {
            return invalid("url for remote_write is empty".into());
        }
        let scheme_ok = raw.url.starts_with("http://") || raw.url.starts_with("https://");
        let host_ok = raw
            .url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
        if !scheme_ok || !host_ok {
            return invalid(format!(
                "invalid remote_write url {:?}: expected an http or https URL with a host",
                raw.url
            ));
        }
        for name in raw.headers.keys() {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return invalid(format!(
                    "{name} is a reserved header. It must not be changed"
                ));
            }
        }
        for rc in &raw.write_relabel_configs {
            rc.validate()
                .map_err(|e| WriteConfigError::Invalid(format!("write_relabel_configs: {e}")))?;
        }
        let q = &raw.queue_config;
        if q.min_shards == 0 || q.max_shards == 0 || q.min_shards > q.max_shards {
            return invalid(format!(
                "queue_config: min_shards ({}) and max_shards ({}) must be positive with min_shards <= max_shards",
                q.min_shards, q.max_shards
            ));
        }
        if q.capacity == 0 || q.max_samples_per_send == 0 {
            return invalid(
                "queue_config: capacity and max_samples_per_send must be positive".into(),
            );
        }
        if q.min_backoff > q.max_backoff {
            return invalid("queue_config: min_backoff must not exceed max_backoff".into());
        }
        if raw.metadata_config.max_samples_per_send == 0 {
            return invalid("metadata_config: max_samples_per_send must be positive".into());
        }
        let _ = raw.round_robin_dns;
        let mut http_client = raw.take_http_client();
        http_client
            .validate()
            .map_err(|e| WriteConfigError::Invalid(format!("remote_write {}: {e}", raw.url)))?;
        let mut cfg = RemoteWriteConfig {
            url: raw.url,
            remote_timeout: raw.remote_timeout,
            headers: raw.headers,
            write_relabel_configs: raw.write_relabel_configs,
            name: raw.name,
            send_exemplars: raw.send_exemplars,
            send_native_histograms: raw.send_native_histograms,
            protobuf_message: raw.protobuf_message,
            http_client,
            queue_config: raw.queue_config,
            metadata_config: raw.metadata_config,
        };
        if cfg.name.is_empty() {
            cfg.name = cfg.content_hash()[..6].to_string();
        }
        Ok(cfg)
    }
}

impl RemoteWriteConfig {
    /// A hex digest of everything that defines the queue (secrets included, never shown), so
    /// that a reload can tell unchanged entries from changed ones.
    pub fn content_hash(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.url.hash(&mut h);
        format!("{:?}", self.remote_timeout).hash(&mut h);
        self.headers.hash(&mut h);
        format!("{:?}", self.write_relabel_configs).hash(&mut h);
        self.send_exemplars.hash(&mut h);
        self.send_native_histograms.hash(&mut h);
        format!("{:?}", self.protobuf_message).hash(&mut h);
        // Debug output hides secrets, so hash them explicitly.
        format!("{:?}", self.http_client).hash(&mut h);
        if let Some(b) = &self.http_client.basic_auth {
            b.password.expose().hash(&mut h);
        }
        if let Some(a) = &self.http_client.authorization {
            a.credentials.expose().hash(&mut h);
        }
        if let Some(o) = &self.http_client.oauth2 {
            o.client_secret.expose().hash(&mut h);
        }
        self.http_client.tls_config.key.expose().hash(&mut h);
        format!("{:?}", self.queue_config).hash(&mut h);
        format!("{:?}", self.metadata_config).hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// Makes relative file paths relative to `dir` (the configuration file's directory).
    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client.set_directory(dir);
    }
}

/// Checks what Prometheus checks across entries: names are unique.
pub fn check_unique_names(cfgs: &[RemoteWriteConfig]) -> Result<(), WriteConfigError> {
    for (i, c) in cfgs.iter().enumerate() {
        if cfgs[..i].iter().any(|p| p.name == c.name) {
            return Err(WriteConfigError::Invalid(format!(
                "found multiple remote write configs with job name {:?}",
                c.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<RemoteWriteConfig>, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_prometheus() {
        let c = parse("- url: http://r:9090/api/v1/write\n").unwrap();
        let c = &c[0];
        assert_eq!(c.remote_timeout, PromDuration::from_secs(30));
        assert_eq!(c.queue_config, QueueConfig::default());
        assert_eq!(c.queue_config.max_samples_per_send, 2000);
        assert!(c.metadata_config.send);
        assert_eq!(c.name.len(), 6);
        assert!(c.http_client.follow_redirects && c.http_client.enable_http2);
        assert_eq!(c.protobuf_message, ProtobufMessage::V1);
    }

    #[test]
    fn full_entry_parses_and_redacts() {
        let c = parse(
            "- url: https://r/api/v1/write\n  name: main\n  remote_timeout: 10s\n  headers:\n    X-Scope-OrgID: tenant-secret\n  basic_auth:\n    username: u\n    password: hunter2\n  write_relabel_configs:\n    - source_labels: [__name__]\n      regex: go_.*\n      action: drop\n  queue_config:\n    capacity: 100\n    max_shards: 4\n    max_samples_per_send: 10\n    batch_send_deadline: 1s\n    retry_on_http_429: true\n  metadata_config:\n    send: false\n",
        )
        .unwrap();
        let c = &c[0];
        assert_eq!(c.name, "main");
        assert_eq!(c.queue_config.capacity, 100);
        assert!(c.queue_config.retry_on_http_429);
        assert_eq!(c.queue_config.min_backoff, PromDuration::from_millis(30));
        assert!(!c.metadata_config.send);
        let y = serde_saphyr::to_string(c).unwrap();
        assert!(!y.contains("hunter2"), "{y}");
        assert!(!y.contains("tenant-secret"), "{y}");
        assert!(y.contains("X-Scope-OrgID"), "{y}");
        assert!(y.contains("retry_on_http_429: true"), "{y}");
    }

    #[test]
    fn shown_configuration_parses_back() {
        let c = parse(
            "- url: http://r/w\n  write_relabel_configs:\n    - source_labels: [job]\n      regex: x\n      action: keep\n  queue_config:\n    sample_age_limit: 1h\n",
        )
        .unwrap();
        let y = serde_saphyr::to_string(&c).unwrap();
        assert_eq!(parse(&y).unwrap(), c, "{y}");
    }

    #[test]
    fn bad_entries_are_refused_with_reasons() {
        let e = parse("- url: http://r/\n  sigv4:\n    region: x\n").unwrap_err();
        assert!(e.contains("sigv4") && e.contains("not supported"), "{e}");
        let e = parse("- url: ftp://r/\n").unwrap_err();
        assert!(e.contains("invalid remote_write url"), "{e}");
        let e = parse("- url: http://r/\n  headers:\n    User-Agent: x\n").unwrap_err();
        assert!(e.contains("reserved header"), "{e}");
        let e = parse("- url: http://r/\n  queue_config:\n    min_shards: 5\n    max_shards: 2\n")
            .unwrap_err();
        assert!(e.contains("min_shards"), "{e}");
        let e = parse("- url: http://r/\n  bogus: 1\n").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let c = parse("- url: http://r/\n  protobuf_message: io.prometheus.write.v2.Request\n")
            .unwrap();
        assert_eq!(c[0].protobuf_message, ProtobufMessage::V2);
    }

    #[test]
    fn names_are_unique_and_hashes_see_changes() {
        let c = parse("- url: http://a/\n- url: http://a/\n").unwrap();
        assert!(check_unique_names(&c).is_err());
        let d = parse("- url: http://a/\n- url: http://b/\n").unwrap();
        assert!(check_unique_names(&d).is_ok());
        assert_ne!(d[0].content_hash(), d[1].content_hash());
        assert_eq!(c[0].content_hash(), c[1].content_hash());
    }
}
