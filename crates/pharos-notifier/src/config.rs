//! What the notifier is told: process-wide options (from flags) and the configuration that a
//! reload may change (from the `alerting` block and the external labels).

use std::time::Duration;

use pharos_http::HttpClientConfig;
use pharos_model::Labels;
use pharos_scrape::discovery::dns::DnsSdConfig;
use pharos_scrape::discovery::file::FileSdConfig;
use pharos_scrape::discovery::http::HttpSdConfig;
use pharos_scrape::discovery::static_sd::StaticConfig;
use pharos_scrape::RelabelConfig;

/// Prometheus's `--alertmanager.notification-queue-capacity` default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// The largest number of alerts sent in one request, as in Prometheus.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 64;
/// The request timeout of an `alertmanagers` entry that sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings fixed for the life of the process.
#[derive(Clone, Debug)]
pub struct NotifierOptions {
    /// Most alerts waiting to be sent; older ones are dropped beyond it.
    pub queue_capacity: usize,
    /// Most alerts per request.
    pub max_batch_size: usize,
    /// Timeout of entries without their own `timeout`.
    pub default_timeout: Duration,
    /// How long shutdown may spend sending what is still queued.
    pub drain_timeout: Duration,
    /// `User-Agent` of notification requests.
    pub user_agent: String,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            default_timeout: DEFAULT_TIMEOUT,
            drain_timeout: Duration::from_secs(5),
            user_agent: format!("Pharos/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// One `alerting.alertmanagers` entry, validated and with defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerSetConfig {
    /// Per-request timeout; `None` uses [`NotifierOptions::default_timeout`].
    pub timeout: Option<Duration>,
    /// `http` or `https` (the initial `__scheme__`).
    pub scheme: String,
    /// Path prefix in front of `/api/v2/alerts`.
    pub path_prefix: String,
    /// Fixed Alertmanager addresses.
    pub static_configs: Vec<StaticConfig>,
    /// Addresses from files.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Addresses from DNS.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Addresses from an HTTP endpoint.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// Relabeling of discovered Alertmanagers.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabeling of alerts sent to this entry's Alertmanagers only.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// How to reach the Alertmanagers (validated).
    pub http_client: HttpClientConfig,
}

impl Default for AlertmanagerSetConfig {
    fn default() -> Self {
        AlertmanagerSetConfig {
            timeout: None,
            scheme: "http".into(),
            path_prefix: "/".into(),
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            dns_sd_configs: Vec::new(),
            http_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            alert_relabel_configs: Vec::new(),
            http_client: HttpClientConfig::default(),
        }
    }
}

/// Everything a configuration reload can change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NotifierConfig {
    /// Labels added to every alert that does not have them already.
    pub external_labels: Labels,
    /// Relabeling applied to every alert before it is queued.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// The Alertmanager sets alerts go to.
    pub alertmanagers: Vec<AlertmanagerSetConfig>,
}
