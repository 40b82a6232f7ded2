//! `pharos server`: the Prometheus-compatible server, with Prometheus's flag names so that an
//! existing systemd unit works after changing only the binary name.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use pharos_http::PromDuration;
use pharos_promql::EngineOptions;
use pharos_scrape::ByteSize;
use pharos_server::ServerOptions;

use crate::cmd::node_exporter::logging;

/// Flags of `pharos server`, spelled as Prometheus spells them.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Prometheus configuration file path.
    #[arg(
        long = "config.file",
        value_name = "FILE",
        default_value = "prometheus.yml"
    )]
    pub config_file: PathBuf,

    /// Base path for metrics storage.
    #[arg(
        long = "storage.tsdb.path",
        value_name = "DIR",
        default_value = "data/"
    )]
    pub storage_path: PathBuf,

    /// How long to retain samples in storage (0 keeps them until the size limit applies).
    #[arg(
        long = "storage.tsdb.retention.time",
        value_name = "DURATION",
        default_value = "15d"
    )]
    pub retention_time: String,

    /// Maximum number of bytes of storage blocks to retain (e.g. 512MB); 0 disables.
    #[arg(
        long = "storage.tsdb.retention.size",
        value_name = "SIZE",
        default_value = "0B"
    )]
    pub retention_size: String,

    /// Maximum overall number of samples to return via the remote read interface, in a single
    /// query; 0 means no limit. Ignored for streamed responses.
    #[arg(
        long = "storage.remote.read-sample-limit",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    pub remote_read_sample_limit: usize,

    /// Maximum number of concurrent remote read calls; 0 means no limit.
    #[arg(
        long = "storage.remote.read-concurrent-limit",
        value_name = "N",
        default_value_t = 10
    )]
    pub remote_read_concurrent_limit: usize,

    /// Maximum number of bytes in a single frame of a streamed remote read response.
    #[arg(
        long = "storage.remote.read-max-bytes-in-frame",
        value_name = "BYTES",
        default_value_t = 1_048_576
    )]
    pub remote_read_max_bytes_in_frame: usize,

    /// How long to wait flushing samples to remote write endpoints on shutdown.
    #[arg(
        long = "storage.remote.flush-deadline",
        value_name = "DURATION",
        default_value = "1m"
    )]
    pub remote_flush_deadline: String,

    /// Address to listen on for the API and telemetry.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDRESS",
        default_value = "0.0.0.0:9090"
    )]
    pub listen_address: String,

    /// The URL under which the server is reachable from outside (behind a reverse proxy).
    #[arg(long = "web.external-url", value_name = "URL", default_value = "")]
    pub external_url: String,

    /// Prefix for the internal routes; defaults to the path of --web.external-url.
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    pub route_prefix: Option<String>,

    /// Enable shutdown and reload via HTTP request.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Enable the admin API endpoints (delete series, snapshots).
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,

    /// Accept remote write requests (1.0 and 2.0) on /api/v1/write.
    #[arg(long = "web.enable-remote-write-receiver")]
    pub enable_remote_write_receiver: bool,

    /// Path to a web configuration file (TLS, basic auth, headers) in the exporter-toolkit
    /// format, as Prometheus's --web.config.file.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Path to the console template directory (accepted for compatibility; consoles are not
    /// served).
    #[arg(long = "web.console.templates", value_name = "DIR")]
    pub console_templates: Option<String>,

    /// Path to the console library directory (accepted for compatibility; consoles are not
    /// served).
    #[arg(long = "web.console.libraries", value_name = "DIR")]
    pub console_libraries: Option<String>,

    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", value_name = "DURATION", default_value = "2m")]
    pub query_timeout: String,

    /// Maximum number of samples a single query can load into memory.
    #[arg(
        long = "query.max-samples",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    pub query_max_samples: usize,

    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", value_name = "N", default_value_t = 20)]
    pub query_max_concurrency: usize,

    /// The maximum lookback duration for retrieving metrics during expression evaluations.
    #[arg(
        long = "query.lookback-delta",
        value_name = "DURATION",
        default_value = "5m"
    )]
    pub query_lookback_delta: String,

    /// The capacity of the queue for pending Alertmanager notifications.
    #[arg(
        long = "alertmanager.notification-queue-capacity",
        value_name = "N",
        default_value_t = 10_000
    )]
    pub alertmanager_queue_capacity: usize,

    /// Timeout for sending alerts to Alertmanager (for `alertmanagers` entries without a
    /// `timeout` of their own).
    #[arg(
        long = "alertmanager.timeout",
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub alertmanager_timeout: String,

    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(
        long = "rules.alert.resend-delay",
        value_name = "DURATION",
        default_value = "1m"
    )]
    pub rules_alert_resend_delay: String,

    /// Max time to tolerate an outage for restoring the "for" state of alerts.
    #[arg(
        long = "rules.alert.for-outage-tolerance",
        value_name = "DURATION",
        default_value = "1h"
    )]
    pub rules_alert_for_outage_tolerance: String,

    /// Minimum duration between an alert and its restored "for" state; kept only for alerts
    /// whose "for" is longer than this grace period.
    #[arg(
        long = "rules.alert.for-grace-period",
        value_name = "DURATION",
        default_value = "10m"
    )]
    pub rules_alert_for_grace_period: String,

    /// Comma-separated feature names to enable (e.g. promql-experimental-functions).
    #[arg(long = "enable-feature", value_name = "FEATURE", value_delimiter = ',')]
    pub enable_feature: Vec<String>,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_name = "LEVEL", default_value = "info",
          value_parser = ["debug", "info", "warn", "error"])]
    pub log_level: String,

    /// Output format of log messages.
    #[arg(long = "log.format", value_name = "FORMAT", default_value = "logfmt",
          value_parser = ["logfmt", "json"])]
    pub log_format: String,
}

fn duration_flag(name: &str, v: &str) -> anyhow::Result<PromDuration> {
    v.parse::<PromDuration>()
        .map_err(|e| anyhow::anyhow!("invalid --{name} {v:?}: {e}"))
}

/// Resolves `host:port` or `:port` (all interfaces) to one address.
pub fn resolve_listen(addr: &str) -> anyhow::Result<SocketAddr> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    };
    full.to_socket_addrs()
        .with_context(|| format!("invalid --web.listen-address {addr:?}"))?
        .next()
        .with_context(|| format!("--web.listen-address {addr:?} resolves to no address"))
}

/// The path part of an external URL, without a trailing slash ("" for the root).
fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match rest.find('/') {
        Some(i) => rest[i..].trim_end_matches('/').to_string(),
        None => String::new(),
    }
}

impl Args {
    /// The server settings these flags describe.
    pub fn options(&self) -> anyhow::Result<ServerOptions> {
        let retention = duration_flag("storage.tsdb.retention.time", &self.retention_time)?;
        let retention_size: ByteSize = self.retention_size.parse().map_err(|e| {
            anyhow::anyhow!(
                "invalid --storage.tsdb.retention.size {:?}: {e}",
                self.retention_size
            )
        })?;
        let listen = resolve_listen(&self.listen_address)?;
        let route_prefix = match &self.route_prefix {
            Some(p) => p.trim_end_matches('/').to_string(),
            None => url_path(&self.external_url),
        };
        if !route_prefix.is_empty() && !route_prefix.starts_with('/') {
            anyhow::bail!("--web.route-prefix must start with '/': {route_prefix:?}");
        }
        let mut experimental = false;
        for f in &self.enable_feature {
            match f.trim() {
                "promql-experimental-functions" => experimental = true,
                "" => {}
                other => tracing::warn!(
                    feature = other,
                    "unknown or unsupported feature flag; ignored"
                ),
            }
        }
        let lookback = duration_flag("query.lookback-delta", &self.query_lookback_delta)?;
        let engine = EngineOptions {
            lookback_delta: i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX),
            timeout: duration_flag("query.timeout", &self.query_timeout)?.as_duration(),
            max_samples: self.query_max_samples,
            max_concurrency: self.query_max_concurrency,
            experimental_functions: experimental,
            ..EngineOptions::default()
        };
        let mut flags = self.flag_map();
        for (name, value) in [
            (
                "storage.remote.read-sample-limit",
                self.remote_read_sample_limit,
            ),
            (
                "storage.remote.read-concurrent-limit",
                self.remote_read_concurrent_limit,
            ),
            (
                "storage.remote.read-max-bytes-in-frame",
                self.remote_read_max_bytes_in_frame,
            ),
        ] {
            flags.insert(name.to_string(), value.to_string());
        }
        flags.insert(
            "alertmanager.notification-queue-capacity".into(),
            self.alertmanager_queue_capacity.to_string(),
        );
        flags.insert(
            "alertmanager.timeout".into(),
            self.alertmanager_timeout.clone(),
        );
        let alertmanager_timeout =
            duration_flag("alertmanager.timeout", &self.alertmanager_timeout)?.as_duration();
        flags.insert(
            "storage.remote.flush-deadline".into(),
            self.remote_flush_deadline.clone(),
        );
        let remote_flush_deadline =
            duration_flag("storage.remote.flush-deadline", &self.remote_flush_deadline)?
                .as_duration();
        let mut rule_ms = |name: &str, v: &str| -> anyhow::Result<i64> {
            flags.insert(name.to_string(), v.to_string());
            Ok(i64::try_from(duration_flag(name, v)?.as_millis()).unwrap_or(i64::MAX))
        };
        let rule_alert_timings = pharos_rules::AlertTimings {
            resend_delay_ms: rule_ms("rules.alert.resend-delay", &self.rules_alert_resend_delay)?,
            outage_tolerance_ms: rule_ms(
                "rules.alert.for-outage-tolerance",
                &self.rules_alert_for_outage_tolerance,
            )?,
            for_grace_period_ms: rule_ms(
                "rules.alert.for-grace-period",
                &self.rules_alert_for_grace_period,
            )?,
        };
        // A bad web config stops start-up, naming the problem, as in Prometheus.
        let web = match &self.web_config_file {
            Some(path) if !path.as_os_str().is_empty() => pharos_web::WebConfig::load(path)?,
            _ => pharos_web::WebConfig::default(),
        };
        Ok(ServerOptions {
            config_file: self.config_file.clone(),
            config_text: None,
            storage_path: self.storage_path.clone(),
            retention_time_ms: i64::try_from(retention.as_millis()).unwrap_or(i64::MAX),
            retention_bytes: retention_size.0,
            listen,
            external_url: self.external_url.clone(),
            route_prefix,
            enable_lifecycle: self.enable_lifecycle,
            enable_admin_api: self.enable_admin_api,
            enable_remote_write_receiver: self.enable_remote_write_receiver,
            remote_read_limits: pharos_server::fanout::ReadLimits {
                sample_limit: self.remote_read_sample_limit,
                max_bytes_in_frame: self.remote_read_max_bytes_in_frame,
            },
            remote_read_concurrent_limit: self.remote_read_concurrent_limit,
            engine,
            flags,
            alertmanager_queue_capacity: self.alertmanager_queue_capacity,
            alertmanager_timeout,
            rule_alert_timings,
            remote_flush_deadline,
            web,
        })
    }

    /// Every flag with its effective value, for `/api/v1/status/flags`.
    fn flag_map(&self) -> BTreeMap<String, String> {
        let pairs: [(&str, String); 20] = [
            ("config.file", self.config_file.display().to_string()),
            ("storage.tsdb.path", self.storage_path.display().to_string()),
            ("storage.tsdb.retention.time", self.retention_time.clone()),
            ("storage.tsdb.retention.size", self.retention_size.clone()),
            ("web.listen-address", self.listen_address.clone()),
            ("web.external-url", self.external_url.clone()),
            (
                "web.route-prefix",
                self.route_prefix.clone().unwrap_or_default(),
            ),
            (
                "web.config.file",
                self.web_config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("web.enable-lifecycle", self.enable_lifecycle.to_string()),
            ("web.enable-admin-api", self.enable_admin_api.to_string()),
            (
                "web.enable-remote-write-receiver",
                self.enable_remote_write_receiver.to_string(),
            ),
            (
                "web.console.templates",
                self.console_templates.clone().unwrap_or_default(),
            ),
            (
                "web.console.libraries",
                self.console_libraries.clone().unwrap_or_default(),
            ),
            ("query.timeout", self.query_timeout.clone()),
            ("query.max-samples", self.query_max_samples.to_string()),
            (
                "query.max-concurrency",
                self.query_max_concurrency.to_string(),
            ),
            ("query.lookback-delta", self.query_lookback_delta.clone()),
            ("enable-feature", self.enable_feature.join(",")),
            ("log.level", self.log_level.clone()),
            ("log.format", self.log_format.clone()),
        ];
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn log_options(&self) -> logging::LogOptions {
        logging::LogOptions {
            level: match self.log_level.as_str() {
                "debug" => tracing::Level::DEBUG,
                "warn" => tracing::Level::WARN,
                "error" => tracing::Level::ERROR,
                _ => tracing::Level::INFO,
            },
            format: if self.log_format == "json" {
                logging::LogFormat::Json
            } else {
                logging::LogFormat::Logfmt
            },
        }
    }

    /// Logs what the flags accept but the server does not do yet.
    pub fn log_compatibility_notes(&self) {
        if self.console_templates.is_some() || self.console_libraries.is_some() {
            tracing::info!("--web.console.templates and --web.console.libraries are accepted for compatibility; consoles are not served");
        }
    }
}

/// The port of a listen address such as `:9100` or `0.0.0.0:9100`.
fn port_of(addr: &str) -> anyhow::Result<u16> {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .with_context(|| format!("no port in listen address {addr:?}"))
}

/// The configuration `pharos up` runs the server with: scrape the embedded node exporter
/// (when it runs) and the server itself, every 15 seconds.
pub fn embedded_config(server_port: u16, node_exporter_port: Option<u16>) -> String {
    let mut text = String::from(
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs:\n",
    );
    text.push_str(&format!(
        "  - job_name: pharos\n    static_configs:\n      - targets: ['localhost:{server_port}']\n"
    ));
    if let Some(p) = node_exporter_port {
        text.push_str(&format!(
            "  - job_name: node\n    static_configs:\n      - targets: ['localhost:{p}']\n"
        ));
    }
    text
}

/// Server settings for `pharos up`: Prometheus's defaults plus the embedded configuration.
pub fn up_options(
    listen: &str,
    storage: &std::path::Path,
    node_exporter_listen: Option<&str>,
) -> anyhow::Result<ServerOptions> {
    let args = Args::try_parse_from_defaults()?;
    let mut options = args.options()?;
    options.listen = resolve_listen(listen)?;
    options.storage_path = storage.to_path_buf();
    let ne_port = node_exporter_listen.map(port_of).transpose()?;
    options.config_text = Some(embedded_config(options.listen.port(), ne_port));
    options.config_file = PathBuf::from("<embedded>");
    options
        .flags
        .insert("web.listen-address".into(), listen.to_string());
    options
        .flags
        .insert("storage.tsdb.path".into(), storage.display().to_string());
    Ok(options)
}

impl Args {
    /// Every flag at its default value.
    fn try_parse_from_defaults() -> anyhow::Result<Args> {
        use clap::{Args as _, FromArgMatches as _};
        let cmd = Args::augment_args(clap::Command::new("server"));
        let m = cmd
            .try_get_matches_from(["server"])
            .context("default server flags")?;
        Ok(Args::from_arg_matches(&m)?)
    }
}

/// Inserts the `server` subcommand when the binary is started with Prometheus server flags
/// and no subcommand (`pharos --config.file=...`), so units written for `prometheus` work.
pub fn implicit_server_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    const SERVER_FLAGS: [&str; 7] = [
        "--alertmanager.",
        "--config.",
        "--storage.",
        "--web.",
        "--query.",
        "--enable-feature",
        "--log.",
    ];
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let first_is_server_flag = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| SERVER_FLAGS.iter().any(|f| a.starts_with(f)));
    if first_is_server_flag {
        args.insert(1, "server".into());
    }
    args
}

/// Runs the server until SIGTERM, Ctrl-C or `/-/quit`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    logging::init(&args.log_options())?;
    let options = args.options()?;
    args.log_compatibility_notes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(pharos_server::run(options, std::future::pending::<()>()))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_prefix_comes_from_the_external_url() {
        assert_eq!(url_path("http://example.com/prometheus/"), "/prometheus");
        assert_eq!(url_path("http://example.com"), "");
        assert_eq!(url_path(""), "");
    }

    #[test]
    fn prometheus_style_invocations_get_the_server_subcommand() {
        let args = |v: &[&str]| -> Vec<String> {
            implicit_server_args(v.iter().map(std::ffi::OsString::from))
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            args(&["pharos", "--config.file=/etc/prometheus/prometheus.yml"]),
            [
                "pharos",
                "server",
                "--config.file=/etc/prometheus/prometheus.yml"
            ]
        );
        assert_eq!(args(&["pharos", "up"]), ["pharos", "up"]);
        assert_eq!(args(&["pharos", "--help"]), ["pharos", "--help"]);
    }

    #[test]
    fn embedded_config_is_valid() {
        let text = embedded_config(9090, Some(9100));
        let cfg = pharos_server::Config::parse(&text, "embedded", std::path::Path::new("."))
            .expect("embedded config parses");
        let jobs: Vec<&str> = cfg
            .scrape_configs
            .iter()
            .map(|c| c.job_name.as_str())
            .collect();
        assert_eq!(jobs, ["pharos", "node"]);
    }

    #[test]
    fn listen_addresses_like_prometheus() {
        assert_eq!(resolve_listen(":9090").unwrap().port(), 9090);
        assert_eq!(resolve_listen("127.0.0.1:1").unwrap().port(), 1);
        assert!(resolve_listen("nonsense").is_err());
    }
}
