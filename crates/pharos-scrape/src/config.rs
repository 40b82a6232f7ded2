//! `scrape_configs` entries: field names, defaults, inheritance from `global`, and validation,
//! all as Prometheus defines them so existing `prometheus.yml` files load unchanged.
//!
//! Loading is two steps, like in Prometheus: deserializing checks each entry on its own (with
//! the YAML line of any mistake), then [`ScrapeConfig::apply_global`] fills in what the entry
//! leaves to the `global` block and checks what depends on it (timeout versus interval).

use std::collections::BTreeMap;
use std::fmt;

use pharos_http::{HttpClientConfig, PromDuration};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::byte_size::ByteSize;
use crate::discovery::dns::DnsSdConfig;
use crate::discovery::file::FileSdConfig;
use crate::discovery::http::HttpSdConfig;
use crate::discovery::static_sd::StaticConfig;
use crate::relabel::RelabelConfig;
use crate::unsupported_sd::{self, UnsupportedSd};
use pharos_http::with_http_client_fields;

/// Why a scrape config is unusable; messages match Prometheus's where it has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeConfigError {
    /// The entry is inconsistent.
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, ScrapeConfigError> {
    Err(ScrapeConfigError::Invalid(msg.into()))
}

/// An exposition format a scrape may ask for, named as in `scrape_protocols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    /// `PrometheusProto`: delimited protobuf `MetricFamily` messages.
    PrometheusProto,
    /// `PrometheusText0.0.4`: the classic text format.
    PrometheusText0_0_4,
    /// `PrometheusText1.0.0`: the text format with UTF-8 names (Prometheus 3).
    PrometheusText1_0_0,
    /// `OpenMetricsText0.0.1`.
    OpenMetricsText0_0_1,
    /// `OpenMetricsText1.0.0`.
    OpenMetricsText1_0_0,
}

const ALL_PROTOCOLS: [ScrapeProtocol; 5] = [
    ScrapeProtocol::PrometheusProto,
    ScrapeProtocol::PrometheusText0_0_4,
    ScrapeProtocol::PrometheusText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::OpenMetricsText1_0_0,
];

/// What Prometheus asks for when `scrape_protocols` is not set anywhere.
pub const DEFAULT_SCRAPE_PROTOCOLS: [ScrapeProtocol; 3] = [
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::PrometheusText0_0_4,
];

/// What Prometheus asks for when native histograms are enabled: protobuf first, since only it
/// carries them.
pub const NATIVE_HISTOGRAM_SCRAPE_PROTOCOLS: [ScrapeProtocol; 4] = [
    ScrapeProtocol::PrometheusProto,
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::PrometheusText0_0_4,
];

impl ScrapeProtocol {
    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
        }
    }

    /// The media type sent in the `Accept` header for this protocol, spelled as Prometheus
    /// spells it.
    pub fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
        }
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ScrapeProtocol {
    type Err = ScrapeConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_PROTOCOLS
            .into_iter()
            .find(|p| p.as_str() == s)
            .map_or_else(
                || {
                    let names: Vec<&str> = ALL_PROTOCOLS.iter().map(|p| p.as_str()).collect();
                    invalid(format!(
                        "unknown scrape protocol {s}, supported: [{}]",
                        names.join(" ")
                    ))
                },
                Ok,
            )
    }
}

impl Serialize for ScrapeProtocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ScrapeProtocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The `Accept` header for a list of protocols, built like Prometheus: descending `q` weights
/// in list order, then `*/*` at the lowest weight so any server still answers.
pub fn accept_header(protocols: &[ScrapeProtocol]) -> String {
    let mut weight = ALL_PROTOCOLS.len() + 1;
    let mut parts = Vec::with_capacity(protocols.len() + 1);
    for p in protocols {
        parts.push(format!("{};q=0.{weight}", p.media_type()));
        weight = weight.saturating_sub(1);
    }
    parts.push(format!("*/*;q=0.{weight}"));
    parts.join(",")
}

/// The parts of Prometheus's `global` block that scrape configs inherit.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalScrapeDefaults {
    /// `scrape_interval`, 1m by default.
    pub scrape_interval: PromDuration,
    /// `scrape_timeout`, 10s by default.
    pub scrape_timeout: PromDuration,
    /// `scrape_protocols`.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// `body_size_limit`; zero is unlimited.
    pub body_size_limit: ByteSize,
    /// `sample_limit`; zero is unlimited.
    pub sample_limit: u64,
    /// `label_limit`; zero is unlimited.
    pub label_limit: u64,
    /// `label_name_length_limit`; zero is unlimited.
    pub label_name_length_limit: u64,
    /// `label_value_length_limit`; zero is unlimited.
    pub label_value_length_limit: u64,
    /// `target_limit`; zero is unlimited.
    pub target_limit: u64,
    /// `keep_dropped_targets`; zero keeps all.
    pub keep_dropped_targets: u64,
}

impl Default for GlobalScrapeDefaults {
    fn default() -> Self {
        GlobalScrapeDefaults {
            scrape_interval: PromDuration::from_secs(60),
            scrape_timeout: PromDuration::from_secs(10),
            scrape_protocols: DEFAULT_SCRAPE_PROTOCOLS.to_vec(),
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            target_limit: 0,
            keep_dropped_targets: 0,
        }
    }
}

fn default_true() -> Option<bool> {
    Some(true)
}

with_http_client_fields! {
    /// The YAML mapping as written; converted to [`ScrapeConfig`] after checks.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawScrapeConfig {
        #[serde(default)]
        job_name: String,
        #[serde(default)]
        honor_labels: bool,
        #[serde(default = "default_true")]
        honor_timestamps: Option<bool>,
        #[serde(default)]
        track_timestamps_staleness: bool,
        #[serde(default)]
        params: BTreeMap<String, Vec<String>>,
        #[serde(default)]
        scrape_interval: Option<PromDuration>,
        #[serde(default)]
        scrape_timeout: Option<PromDuration>,
        #[serde(default)]
        scrape_protocols: Vec<ScrapeProtocol>,
        #[serde(default)]
        fallback_scrape_protocol: Option<ScrapeProtocol>,
        #[serde(default = "default_true")]
        enable_compression: Option<bool>,
        #[serde(default)]
        scrape_classic_histograms: bool,
        #[serde(default)]
        always_scrape_classic_histograms: bool,
        #[serde(default)]
        convert_classic_histograms_to_nhcb: bool,
        #[serde(default)]
        native_histogram_bucket_limit: u64,
        #[serde(default)]
        native_histogram_min_bucket_factor: f64,
        #[serde(default)]
        metric_name_validation_scheme: String,
        #[serde(default)]
        metric_name_escaping_scheme: String,
        #[serde(default)]
        scrape_failure_log_file: String,
        #[serde(default)]
        metrics_path: Option<String>,
        #[serde(default)]
        scheme: Option<String>,
        #[serde(default)]
        body_size_limit: ByteSize,
        #[serde(default)]
        sample_limit: u64,
        #[serde(default)]
        target_limit: u64,
        #[serde(default)]
        label_limit: u64,
        #[serde(default)]
        label_name_length_limit: u64,
        #[serde(default)]
        label_value_length_limit: u64,
        #[serde(default)]
        keep_dropped_targets: u64,
        #[serde(default)]
        static_configs: Vec<StaticConfig>,
        #[serde(default)]
        file_sd_configs: Vec<FileSdConfig>,
        #[serde(default)]
        http_sd_configs: Vec<HttpSdConfig>,
        #[serde(default)]
        dns_sd_configs: Vec<DnsSdConfig>,
        // Read only to be refused with a clear message; see `unsupported_sd`.
        #[serde(default, deserialize_with = "unsupported_sd::azure")]
        #[allow(dead_code)]
        azure_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::consul")]
        #[allow(dead_code)]
        consul_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::digitalocean")]
        #[allow(dead_code)]
        digitalocean_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::docker")]
        #[allow(dead_code)]
        docker_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::dockerswarm")]
        #[allow(dead_code)]
        dockerswarm_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::ec2")]
        #[allow(dead_code)]
        ec2_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::eureka")]
        #[allow(dead_code)]
        eureka_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::gce")]
        #[allow(dead_code)]
        gce_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::hetzner")]
        #[allow(dead_code)]
        hetzner_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::ionos")]
        #[allow(dead_code)]
        ionos_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::kubernetes")]
        #[allow(dead_code)]
        kubernetes_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::kuma")]
        #[allow(dead_code)]
        kuma_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::lightsail")]
        #[allow(dead_code)]
        lightsail_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::linode")]
        #[allow(dead_code)]
        linode_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::marathon")]
        #[allow(dead_code)]
        marathon_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::nerve")]
        #[allow(dead_code)]
        nerve_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::nomad")]
        #[allow(dead_code)]
        nomad_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::openstack")]
        #[allow(dead_code)]
        openstack_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::ovhcloud")]
        #[allow(dead_code)]
        ovhcloud_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::puppetdb")]
        #[allow(dead_code)]
        puppetdb_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::scaleway")]
        #[allow(dead_code)]
        scaleway_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::serverset")]
        #[allow(dead_code)]
        serverset_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::triton")]
        #[allow(dead_code)]
        triton_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::uyuni")]
        #[allow(dead_code)]
        uyuni_sd_configs: Option<UnsupportedSd>,
        #[serde(default, deserialize_with = "unsupported_sd::vultr")]
        #[allow(dead_code)]
        vultr_sd_configs: Option<UnsupportedSd>,
        #[serde(default)]
        relabel_configs: Vec<RelabelConfig>,
        #[serde(default)]
        metric_relabel_configs: Vec<RelabelConfig>,
    }
}

/// One `scrape_configs` entry.
///
/// Durations and limits read as zero until [`ScrapeConfig::apply_global`] has run; the server
/// always calls it right after loading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawScrapeConfig")]
pub struct ScrapeConfig {
    /// The job name, also the default `job` label; unique within a file.
    pub job_name: String,
    /// Keep the target's own labels when they clash with target labels.
    pub honor_labels: bool,
    /// Use the timestamps the target exposes (true by default).
    pub honor_timestamps: bool,
    /// Write staleness markers for series with explicit timestamps too.
    pub track_timestamps_staleness: bool,
    /// URL query parameters for every scrape.
    pub params: BTreeMap<String, Vec<String>>,
    /// How often to scrape.
    pub scrape_interval: PromDuration,
    /// How long a scrape may take.
    pub scrape_timeout: PromDuration,
    /// Formats to ask for, in order of preference.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// The format to assume when the target sends no usable `Content-Type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    /// Ask targets for gzip-compressed bodies (true by default).
    pub enable_compression: bool,
    /// Also keep classic histogram series when a target exposes a native histogram.
    pub always_scrape_classic_histograms: bool,
    /// Convert classic histograms to native histograms with custom buckets.
    pub convert_classic_histograms_to_nhcb: bool,
    /// Maximum buckets per native histogram; zero is unlimited.
    pub native_histogram_bucket_limit: u64,
    /// Minimum growth factor between native histogram buckets.
    pub native_histogram_min_bucket_factor: f64,
    /// Prometheus 3's `metric_name_validation_scheme` (`utf8` or `legacy`), kept as written.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metric_name_validation_scheme: String,
    /// Prometheus 3's `metric_name_escaping_scheme`, kept as written.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metric_name_escaping_scheme: String,
    /// A file that failed scrapes are logged to.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scrape_failure_log_file: String,
    /// The URL path scraped (`/metrics` by default).
    pub metrics_path: String,
    /// `http` (default) or `https`.
    pub scheme: String,
    /// Largest accepted uncompressed body; zero is unlimited.
    pub body_size_limit: ByteSize,
    /// Most samples accepted per scrape after metric relabeling; zero is unlimited.
    pub sample_limit: u64,
    /// Most targets per scrape pool after relabeling; zero is unlimited.
    pub target_limit: u64,
    /// Most labels per series; zero is unlimited.
    pub label_limit: u64,
    /// Longest label name; zero is unlimited.
    pub label_name_length_limit: u64,
    /// Longest label value; zero is unlimited.
    pub label_value_length_limit: u64,
    /// Most dropped targets remembered for the UI; zero keeps all.
    pub keep_dropped_targets: u64,
    /// Fixed target lists.
    pub static_configs: Vec<StaticConfig>,
    /// File-based discovery.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// HTTP-based discovery.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// DNS-based discovery.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Rules applied to discovered targets.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Rules applied to scraped series.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// How to reach the targets.
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
}

impl TryFrom<RawScrapeConfig> for ScrapeConfig {
    type Error = ScrapeConfigError;

    fn try_from(mut raw: RawScrapeConfig) -> Result<Self, Self::Error> {
        if raw.job_name.is_empty() {
            return invalid("job_name is empty");
        }
        let job = raw.job_name.clone();
        let mut http_client = raw.take_http_client();
        http_client.validate().map_err(|e| {
            ScrapeConfigError::Invalid(format!("{e} (scrape config with job name {job:?})"))
        })?;
        let scheme = raw.scheme.unwrap_or_else(|| "http".into());
        if scheme != "http" && scheme != "https" {
            return invalid(format!("invalid scheme {scheme:?} for scrape config with job name {job:?}: must be \"http\" or \"https\""));
        }
        let metrics_path = raw.metrics_path.unwrap_or_else(|| "/metrics".into());
        for (i, p) in raw.scrape_protocols.iter().enumerate() {
            if raw.scrape_protocols[..i].contains(p) {
                return invalid(format!(
                    "duplicated protocol in scrape_protocols, got [{}]",
                    join(&raw.scrape_protocols)
                ));
            }
        }
        for rc in raw
            .relabel_configs
            .iter()
            .chain(&raw.metric_relabel_configs)
        {
            rc.validate()
                .map_err(|e| ScrapeConfigError::Invalid(e.to_string()))?;
        }
        Ok(ScrapeConfig {
            job_name: raw.job_name,
            honor_labels: raw.honor_labels,
            honor_timestamps: raw.honor_timestamps.unwrap_or(true),
            track_timestamps_staleness: raw.track_timestamps_staleness,
            params: raw.params,
            scrape_interval: raw.scrape_interval.unwrap_or_default(),
            scrape_timeout: raw.scrape_timeout.unwrap_or_default(),
            scrape_protocols: raw.scrape_protocols,
            fallback_scrape_protocol: raw.fallback_scrape_protocol,
            enable_compression: raw.enable_compression.unwrap_or(true),
            always_scrape_classic_histograms: raw.always_scrape_classic_histograms
                || raw.scrape_classic_histograms,
            convert_classic_histograms_to_nhcb: raw.convert_classic_histograms_to_nhcb,
            native_histogram_bucket_limit: raw.native_histogram_bucket_limit,
            native_histogram_min_bucket_factor: raw.native_histogram_min_bucket_factor,
            metric_name_validation_scheme: raw.metric_name_validation_scheme,
            metric_name_escaping_scheme: raw.metric_name_escaping_scheme,
            scrape_failure_log_file: raw.scrape_failure_log_file,
            metrics_path,
            scheme,
            body_size_limit: raw.body_size_limit,
            sample_limit: raw.sample_limit,
            target_limit: raw.target_limit,
            label_limit: raw.label_limit,
            label_name_length_limit: raw.label_name_length_limit,
            label_value_length_limit: raw.label_value_length_limit,
            keep_dropped_targets: raw.keep_dropped_targets,
            static_configs: raw.static_configs,
            file_sd_configs: raw.file_sd_configs,
            http_sd_configs: raw.http_sd_configs,
            dns_sd_configs: raw.dns_sd_configs,
            relabel_configs: raw.relabel_configs,
            metric_relabel_configs: raw.metric_relabel_configs,
            http_client,
        })
    }
}

fn join(ps: &[ScrapeProtocol]) -> String {
    ps.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" ")
}

impl ScrapeConfig {
    /// A config for `job_name` with every setting at Prometheus's default, for code that builds
    /// configs rather than reading them; fails only for an empty name.
    pub fn new(job_name: &str) -> Result<Self, ScrapeConfigError> {
        ScrapeConfig::try_from(RawScrapeConfig {
            job_name: job_name.to_string(),
            ..RawScrapeConfig::empty()
        })
    }

    /// Fills in what this entry leaves to `global` and checks what depends on it, with
    /// Prometheus's messages.
    pub fn apply_global(&mut self, global: &GlobalScrapeDefaults) -> Result<(), ScrapeConfigError> {
        if self.scrape_interval.is_zero() {
            self.scrape_interval = global.scrape_interval;
        }
        if self.scrape_timeout > self.scrape_interval {
            return invalid(format!(
                "scrape timeout greater than scrape interval for scrape config with job name {:?}",
                self.job_name
            ));
        }
        if self.scrape_timeout.is_zero() {
            self.scrape_timeout = if global.scrape_timeout > self.scrape_interval {
                self.scrape_interval
            } else {
                global.scrape_timeout
            };
        }
        if self.scrape_protocols.is_empty() {
            self.scrape_protocols = if global.scrape_protocols.is_empty() {
                DEFAULT_SCRAPE_PROTOCOLS.to_vec()
            } else {
                global.scrape_protocols.clone()
            };
        }
        if self.body_size_limit.0 == 0 {
            self.body_size_limit = global.body_size_limit;
        }
        let inherit = |v: &mut u64, g: u64| {
            if *v == 0 {
                *v = g;
            }
        };
        inherit(&mut self.sample_limit, global.sample_limit);
        inherit(&mut self.label_limit, global.label_limit);
        inherit(
            &mut self.label_name_length_limit,
            global.label_name_length_limit,
        );
        inherit(
            &mut self.label_value_length_limit,
            global.label_value_length_limit,
        );
        inherit(&mut self.target_limit, global.target_limit);
        inherit(&mut self.keep_dropped_targets, global.keep_dropped_targets);
        Ok(())
    }

    /// Makes relative file paths (credentials, certificates, `file_sd_configs`) relative to
    /// `dir`, the directory of the configuration file.
    pub fn set_directory(&mut self, dir: &std::path::Path) {
        self.http_client.set_directory(dir);
        for sd in &mut self.file_sd_configs {
            sd.set_directory(dir);
        }
        for sd in &mut self.http_sd_configs {
            sd.http_client.set_directory(dir);
        }
    }
}

impl RawScrapeConfig {
    fn empty() -> Self {
        RawScrapeConfig {
            job_name: String::new(),
            honor_labels: false,
            honor_timestamps: Some(true),
            track_timestamps_staleness: false,
            params: BTreeMap::new(),
            scrape_interval: None,
            scrape_timeout: None,
            scrape_protocols: Vec::new(),
            fallback_scrape_protocol: None,
            enable_compression: Some(true),
            scrape_classic_histograms: false,
            always_scrape_classic_histograms: false,
            convert_classic_histograms_to_nhcb: false,
            native_histogram_bucket_limit: 0,
            native_histogram_min_bucket_factor: 0.0,
            metric_name_validation_scheme: String::new(),
            metric_name_escaping_scheme: String::new(),
            scrape_failure_log_file: String::new(),
            metrics_path: None,
            scheme: None,
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            keep_dropped_targets: 0,
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            http_sd_configs: Vec::new(),
            dns_sd_configs: Vec::new(),
            azure_sd_configs: None,
            consul_sd_configs: None,
            digitalocean_sd_configs: None,
            docker_sd_configs: None,
            dockerswarm_sd_configs: None,
            ec2_sd_configs: None,
            eureka_sd_configs: None,
            gce_sd_configs: None,
            hetzner_sd_configs: None,
            ionos_sd_configs: None,
            kubernetes_sd_configs: None,
            kuma_sd_configs: None,
            lightsail_sd_configs: None,
            linode_sd_configs: None,
            marathon_sd_configs: None,
            nerve_sd_configs: None,
            nomad_sd_configs: None,
            openstack_sd_configs: None,
            ovhcloud_sd_configs: None,
            puppetdb_sd_configs: None,
            scaleway_sd_configs: None,
            serverset_sd_configs: None,
            triton_sd_configs: None,
            uyuni_sd_configs: None,
            vultr_sd_configs: None,
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: pharos_http::Secret::default(),
            bearer_token_file: None,
            tls_config: pharos_http::TlsConfig::default(),
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            follow_redirects: None,
            enable_http2: None,
        }
    }
}

/// Checks that job names are unique across a file's scrape configs, with Prometheus's message.
pub fn check_unique_job_names(configs: &[ScrapeConfig]) -> Result<(), ScrapeConfigError> {
    let mut seen = std::collections::HashSet::new();
    for c in configs {
        if !seen.insert(c.job_name.as_str()) {
            return invalid(format!(
                "found multiple scrape configs with job name {:?}",
                c.job_name
            ));
        }
    }
    Ok(())
}

/// Like [`check_unique_job_names`], and the error names the line of the repeated `job_name`
/// in `text` (the YAML the configs were read from) when it is written in block style, so the
/// mistake can be found in a long file.
pub fn check_unique_job_names_in(
    configs: &[ScrapeConfig],
    text: &str,
) -> Result<(), ScrapeConfigError> {
    let Err(e) = check_unique_job_names(configs) else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    let Some(dup) = configs
        .iter()
        .map(|c| c.job_name.as_str())
        .find(|n| !seen.insert(*n))
    else {
        return Err(e);
    };
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start();
            let l = l.strip_prefix('-').unwrap_or(l).trim_start();
            l.strip_prefix("job_name:").is_some_and(|v| {
                let v = v.split(" #").next().unwrap_or("").trim();
                v.trim_matches('"') == dup || v.trim_matches('\'') == dup
            })
        })
        .nth(1)
        .map(|(i, _)| i + 1);
    match line {
        Some(n) => invalid(format!("line {n}: {e}")),
        None => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        scrape_configs: Vec<ScrapeConfig>,
    }

    fn load(yaml: &str) -> Result<Vec<ScrapeConfig>, String> {
        let f: File = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        let mut out = f.scrape_configs;
        for c in &mut out {
            c.apply_global(&GlobalScrapeDefaults::default())
                .map_err(|e| e.to_string())?;
        }
        check_unique_job_names(&out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn load_ok(yaml: &str) -> Vec<ScrapeConfig> {
        match load(yaml) {
            Ok(c) => c,
            Err(e) => panic!("{yaml}\n{e}"),
        }
    }

    fn load_err(yaml: &str) -> String {
        match load(yaml) {
            Ok(_) => panic!("accepted:\n{yaml}"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_like_prometheus() {
        let c = load_ok("scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n");
        let c = &c[0];
        assert_eq!(c.scrape_interval, PromDuration::from_secs(60));
        assert_eq!(c.scrape_timeout, PromDuration::from_secs(10));
        assert_eq!(c.metrics_path, "/metrics");
        assert_eq!(c.scheme, "http");
        assert!(c.honor_timestamps && !c.honor_labels && c.enable_compression);
        assert!(c.http_client.follow_redirects && c.http_client.enable_http2);
        assert_eq!(c.scrape_protocols, DEFAULT_SCRAPE_PROTOCOLS.to_vec());
        assert_eq!(
            c.static_configs[0].targets,
            vec!["localhost:9100".to_string()]
        );
        assert_eq!(
            ScrapeConfig::new("x")
                .map(|c| c.metrics_path)
                .ok()
                .as_deref(),
            Some("/metrics")
        );
    }

    #[test]
    fn timeout_inherits_and_is_capped_by_interval() {
        let c = load_ok("scrape_configs:\n  - job_name: fast\n    scrape_interval: 5s\n");
        assert_eq!(c[0].scrape_timeout, PromDuration::from_secs(5));
        let mut c = load_ok("scrape_configs:\n  - job_name: j\n")[0].clone();
        c.scrape_interval = PromDuration::default();
        c.scrape_timeout = PromDuration::default();
        let g = GlobalScrapeDefaults {
            scrape_interval: PromDuration::from_secs(30),
            sample_limit: 7,
            ..Default::default()
        };
        assert!(c.apply_global(&g).is_ok());
        assert_eq!(
            (c.scrape_interval, c.scrape_timeout, c.sample_limit),
            (PromDuration::from_secs(30), PromDuration::from_secs(10), 7)
        );
    }

    #[test]
    fn prometheus_documentation_example() {
        // The example configuration shipped with Prometheus, plus the usual extras.
        let yaml = r#"
scrape_configs:
  - job_name: "prometheus"
    static_configs:
      - targets: ["localhost:9090"]
  - job_name: node
    scrape_interval: 15s
    scrape_timeout: 10s
    metrics_path: /metrics
    scheme: https
    params:
      collect[]: [cpu, meminfo]
    basic_auth:
      username: prom
      password: secret
    tls_config:
      insecure_skip_verify: true
    sample_limit: 5000
    body_size_limit: 10MB
    scrape_protocols: [PrometheusProto, PrometheusText0.0.4]
    file_sd_configs:
      - files: ['targets/*.json', 'more.yml']
        refresh_interval: 1m
    http_sd_configs:
      - url: http://sd.example.org/targets
        refresh_interval: 30s
        authorization:
          credentials: abc
    dns_sd_configs:
      - names: ['_node._tcp.example.org']
      - names: ['nodes.example.org']
        type: A
        port: 9100
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.*):\d+'
        target_label: host
        replacement: '$1'
      - regex: '__meta_(.+)'
        action: labelmap
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
"#;
        let c = load_ok(yaml);
        assert_eq!(c.len(), 2);
        let node = &c[1];
        assert_eq!(node.scheme, "https");
        assert_eq!(node.params.get("collect[]").map(Vec::len), Some(2));
        assert_eq!(node.body_size_limit, ByteSize(10 << 20));
        assert_eq!(
            node.scrape_protocols,
            vec![
                ScrapeProtocol::PrometheusProto,
                ScrapeProtocol::PrometheusText0_0_4
            ]
        );
        assert_eq!(
            node.file_sd_configs[0].refresh_interval,
            PromDuration::from_secs(60)
        );
        assert_eq!(node.dns_sd_configs.len(), 2);
        assert_eq!(node.relabel_configs.len(), 2);
        assert!(node.http_client.tls_config.insecure_skip_verify);
        assert_eq!(
            node.http_sd_configs[0]
                .http_client
                .authorization
                .as_ref()
                .map(|a| a.auth_type.as_str()),
            Some("Bearer")
        );
    }

    #[test]
    fn errors_like_prometheus() {
        let cases = [
            ("scrape_configs:\n  - job_name: x\n    scrape_interval: 5s\n    scrape_timeout: 10s\n", "scrape timeout greater than scrape interval for scrape config with job name \"x\""),
            ("scrape_configs:\n  - job_name: x\n  - job_name: x\n", "found multiple scrape configs with job name \"x\""),
            ("scrape_configs:\n  - scrape_interval: 5s\n", "job_name is empty"),
            ("scrape_configs:\n  - job_name: x\n    scrape_protocols: [Foo]\n", "unknown scrape protocol Foo, supported: ["),
            (
                "scrape_configs:\n  - job_name: x\n    scrape_protocols: [PrometheusProto, PrometheusProto]\n",
                "duplicated protocol in scrape_protocols, got [PrometheusProto PrometheusProto]",
            ),
            ("scrape_configs:\n  - job_name: x\n    scheme: ftp\n", "invalid scheme \"ftp\""),
            (
                "scrape_configs:\n  - job_name: x\n    kubernetes_sd_configs:\n      - role: pod\n",
                "line 4 column 7: kubernetes_sd_configs is not supported yet by pharos; supported service discovery: static_configs, file_sd_configs, http_sd_configs, dns_sd_configs",
            ),
            ("scrape_configs:\n  - job_name: x\n    scrape_interval: 5\n", "not a valid duration string: \"5\""),
            ("scrape_configs:\n  - job_name: x\n    bearer_token: a\n    bearer_token_file: b\n", "at most one of bearer_token & bearer_token_file must be configured"),
            ("scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - action: hashmod\n        target_label: a\n", "relabel configuration for hashmod requires non-zero modulus"),
        ];
        for (yaml, want) in cases {
            let err = load_err(yaml);
            assert!(err.contains(want), "{yaml}\nwant {want:?}\ngot  {err}");
        }
    }

    #[test]
    fn duplicate_job_names_are_located() {
        let text = "scrape_configs:\n  - job_name: a\n  - job_name: \"b\"\n  # job_name: b\n  -   job_name: 'b' # again\n";
        let configs = load(text).err();
        assert!(configs.is_some_and(|e| e.contains("multiple scrape configs")));
        let configs: Vec<ScrapeConfig> = ["a", "b", "b"]
            .iter()
            .filter_map(|n| ScrapeConfig::new(n).ok())
            .collect();
        let err = check_unique_job_names_in(&configs, text)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("line 5: found multiple scrape configs with job name \"b\"")
        );
        let flow = "scrape_configs: [{job_name: a}, {job_name: a}]\n";
        let configs: Vec<ScrapeConfig> = ["a", "a"]
            .iter()
            .filter_map(|n| ScrapeConfig::new(n).ok())
            .collect();
        let err = check_unique_job_names_in(&configs, flow)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("found multiple scrape configs with job name \"a\"")
        );
    }

    #[test]
    fn unknown_fields_are_named_with_their_line() {
        let err = load_err("scrape_configs:\n  - job_name: x\n    scrape_intervall: 5s\n");
        assert!(err.contains("unknown field `scrape_intervall`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        let err = load_err("scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: [a]\n        lables: {a: b}\n");
        assert!(
            err.contains("unknown field `lables`") && err.contains("line 5"),
            "{err}"
        );
    }

    #[test]
    fn serializes_without_secrets() {
        let c = load_ok("scrape_configs:\n  - job_name: x\n    basic_auth: {username: u, password: hunter2}\n    scrape_interval: 90s\n");
        let json = serde_json::to_string(&c[0]).unwrap_or_default();
        assert!(json.contains("\"password\":\"<secret>\""), "{json}");
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains("\"scrape_interval\":\"1m30s\""), "{json}");
    }

    #[test]
    fn accept_header_like_prometheus() {
        assert_eq!(
            accept_header(&DEFAULT_SCRAPE_PROTOCOLS),
            "application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
        );
    }
}
