//! `prometheus.yml`: the server's configuration file, read with Prometheus's rules (unknown
//! fields are errors, scrape configs inherit the `global` block, job names are unique).
//!
//! Sections the server does not implement yet (`storage`, `tracing` and a few others)
//! are rejected with a clear message instead of being silently ignored, so a user never believes
//! data is being forwarded when it is not. `alerting` configures the notifier (see
//! [`crate::alerting`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pharos_http::PromDuration;
use pharos_scrape::config::check_unique_job_names_in;
use pharos_scrape::{ByteSize, GlobalScrapeDefaults, ScrapeConfig, ScrapeProtocol};
use serde::{Deserialize, Serialize};

use crate::alerting::AlertingConfig;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has unknown or mistyped fields (the message names the line).
    #[error("parsing YAML file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said, with its position.
        message: String,
    },
    /// The configuration parses but is inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// A section the server cannot honour yet.
    #[error("{0} is not supported yet by pharos server; remove it from the configuration")]
    Unsupported(&'static str),
}

/// The `global` block as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    #[serde(default)]
    scrape_interval: Option<PromDuration>,
    #[serde(default)]
    scrape_timeout: Option<PromDuration>,
    #[serde(default)]
    scrape_protocols: Vec<ScrapeProtocol>,
    #[serde(default)]
    evaluation_interval: Option<PromDuration>,
    #[serde(default)]
    rule_query_offset: Option<PromDuration>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    query_log_file: String,
    #[serde(default)]
    scrape_failure_log_file: String,
    #[serde(default)]
    body_size_limit: ByteSize,
    #[serde(default)]
    sample_limit: u64,
    #[serde(default)]
    label_limit: u64,
    #[serde(default)]
    label_name_length_limit: u64,
    #[serde(default)]
    label_value_length_limit: u64,
    #[serde(default)]
    target_limit: u64,
    #[serde(default)]
    keep_dropped_targets: u64,
}

/// The whole file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<RawGlobal>,
    // `Option` because `rule_files:` with nothing after it (as in Debian's default file) is
    // null, which Prometheus reads as an empty list.
    #[serde(default)]
    rule_files: Option<Vec<String>>,
    #[serde(default)]
    scrape_config_files: Option<Vec<String>>,
    #[serde(default)]
    scrape_configs: Option<Vec<ScrapeConfig>>,
    #[serde(default)]
    alerting: Option<AlertingConfig>,
    #[serde(default)]
    remote_write: Option<Vec<pharos_remote::RemoteWriteConfig>>,
    #[serde(default)]
    remote_read: Option<Vec<pharos_remote::read_config::RemoteReadConfig>>,
    #[serde(default)]
    storage: Option<serde_json::Value>,
    #[serde(default)]
    tracing: Option<serde_json::Value>,
    #[serde(default)]
    otlp: Option<serde_json::Value>,
    #[serde(default)]
    runtime: Option<serde_json::Value>,
}

/// The `global` block with Prometheus's defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalConfig {
    /// What scrape configs inherit.
    pub scrape: GlobalScrapeDefaults,
    /// How often rules are evaluated (1m by default).
    pub evaluation_interval: PromDuration,
    /// How far back rule evaluation is shifted.
    pub rule_query_offset: PromDuration,
    /// Labels added to series and alerts leaving this server.
    pub external_labels: BTreeMap<String, String>,
    /// Where to log every query; empty disables.
    pub query_log_file: String,
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The global block.
    pub global: GlobalConfig,
    /// Rule file globs, made absolute against the configuration file's directory; the rule
    /// manager expands them on every (re)load.
    pub rule_files: Vec<String>,
    /// Scrape configs with the global defaults applied and paths made absolute.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Where alerts go (see [`crate::alerting`]).
    pub alerting: AlertingConfig,
    /// Remote read endpoints that queries merge with local data.
    pub remote_read: Vec<pharos_remote::read_config::RemoteReadConfig>,
    /// Where the WAL is forwarded, one queue per entry.
    pub remote_write: Vec<pharos_remote::RemoteWriteConfig>,
}

impl Config {
    /// Parses and validates YAML text. `name` appears in errors; `dir` resolves relative paths.
    pub fn parse(text: &str, name: &str, dir: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            // An empty file is a valid configuration with every default, as in Prometheus.
            RawConfig {
                global: None,
                rule_files: None,
                scrape_config_files: None,
                scrape_configs: None,
                alerting: None,
                remote_write: None,
                remote_read: None,
                storage: None,
                tracing: None,
                otlp: None,
                runtime: None,
            }
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
                path: name.to_string(),
                message: e.to_string(),
            })?
        };
        let unsupported = [
            (raw.storage.is_some(), "storage"),
            (raw.tracing.is_some(), "tracing"),
            (raw.otlp.is_some(), "otlp"),
            (raw.runtime.is_some(), "runtime"),
            (
                raw.scrape_config_files
                    .as_ref()
                    .is_some_and(|f| !f.is_empty()),
                "scrape_config_files",
            ),
            (
                raw.global
                    .as_ref()
                    .is_some_and(|g| !g.scrape_failure_log_file.is_empty()),
                "global.scrape_failure_log_file",
            ),
        ];
        if let Some((_, section)) = unsupported.iter().find(|(present, _)| *present) {
            return Err(ConfigError::Unsupported(section));
        }
        let global = build_global(raw.global.unwrap_or_default())?;
        let mut alerting = raw.alerting.unwrap_or_default();
        alerting.validate().map_err(ConfigError::Invalid)?;
        alerting.set_directory(dir);
        let mut scrape_configs = raw.scrape_configs.unwrap_or_default();
        for sc in &mut scrape_configs {
            sc.apply_global(&global.scrape)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
            sc.set_directory(dir);
        }
        check_unique_job_names_in(&scrape_configs, text)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let raw_rule_files = raw.rule_files.unwrap_or_default();
        for rf in &raw_rule_files {
            if rf.trim().is_empty() {
                return Err(ConfigError::Invalid("empty rule file path".into()));
            }
        }
        let rule_files = raw_rule_files
            .into_iter()
            .map(|f| {
                if Path::new(&f).is_absolute() {
                    f
                } else {
                    dir.join(f).to_string_lossy().into_owned()
                }
            })
            .collect();
        let mut remote_read = raw.remote_read.unwrap_or_default();
        for rr in &mut remote_read {
            rr.set_directory(dir);
        }
        pharos_remote::read_config::check_unique_names(&remote_read)
            .map_err(ConfigError::Invalid)?;
        let mut remote_write = raw.remote_write.unwrap_or_default();
        for rw in &mut remote_write {
            rw.set_directory(dir);
        }
        pharos_remote::write_config::check_unique_names(&remote_write)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(Config {
            global,
            rule_files,
            scrape_configs,
            alerting,
            remote_read,
            remote_write,
        })
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        Config::parse(&text, &path.display().to_string(), dir)
    }
}

/// The `global` block as `/api/v1/status/config` shows it.
#[derive(Serialize)]
struct GlobalDoc<'a> {
    scrape_interval: PromDuration,
    scrape_timeout: PromDuration,
    scrape_protocols: &'a [ScrapeProtocol],
    evaluation_interval: PromDuration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    external_labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    query_log_file: &'a str,
}

/// The whole configuration as `/api/v1/status/config` shows it.
#[derive(Serialize)]
struct ConfigDoc<'a> {
    global: GlobalDoc<'a>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    rule_files: &'a [String],
    #[serde(skip_serializing_if = "is_default_alerting")]
    alerting: &'a AlertingConfig,
    #[serde(skip_serializing_if = "<[ScrapeConfig]>::is_empty")]
    scrape_configs: &'a [ScrapeConfig],
    #[serde(skip_serializing_if = "<[pharos_remote::RemoteWriteConfig]>::is_empty")]
    remote_write: &'a [pharos_remote::RemoteWriteConfig],
    #[serde(skip_serializing_if = "<[pharos_remote::read_config::RemoteReadConfig]>::is_empty")]
    remote_read: &'a [pharos_remote::read_config::RemoteReadConfig],
}

fn is_default_alerting(a: &&AlertingConfig) -> bool {
    **a == AlertingConfig::default()
}

impl Config {
    /// The configuration in force as YAML, defaults filled in and secrets shown as
    /// `<secret>`, like Prometheus's `/api/v1/status/config` (never the raw file, which may
    /// hold passwords).
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        let doc = ConfigDoc {
            global: GlobalDoc {
                scrape_interval: self.global.scrape.scrape_interval,
                scrape_timeout: self.global.scrape.scrape_timeout,
                scrape_protocols: &self.global.scrape.scrape_protocols,
                evaluation_interval: self.global.evaluation_interval,
                external_labels: &self.global.external_labels,
                query_log_file: &self.global.query_log_file,
            },
            rule_files: &self.rule_files,
            alerting: &self.alerting,
            scrape_configs: &self.scrape_configs,
            remote_write: &self.remote_write,
            remote_read: &self.remote_read,
        };
        serde_saphyr::to_string(&doc)
            .map_err(|e| ConfigError::Invalid(format!("writing configuration as YAML: {e}")))
    }
}

fn build_global(g: RawGlobal) -> Result<GlobalConfig, ConfigError> {
    let defaults = GlobalScrapeDefaults::default();
    let scrape_interval = g.scrape_interval.unwrap_or(defaults.scrape_interval);
    let scrape_timeout = match g.scrape_timeout {
        Some(t) => t,
        // Prometheus lowers the default timeout to a shorter interval rather than failing.
        None if defaults.scrape_timeout > scrape_interval => scrape_interval,
        None => defaults.scrape_timeout,
    };
    if scrape_interval.is_zero() {
        return Err(ConfigError::Invalid(
            "global scrape interval must be greater than zero".into(),
        ));
    }
    if scrape_timeout > scrape_interval {
        return Err(ConfigError::Invalid(
            "global scrape timeout greater than scrape interval".into(),
        ));
    }
    for name in g.external_labels.keys() {
        if !pharos_scrape::label_name::is_valid_label_name(name) {
            return Err(ConfigError::Invalid(format!(
                "{name:?} is not a valid label name"
            )));
        }
    }
    Ok(GlobalConfig {
        scrape: GlobalScrapeDefaults {
            scrape_interval,
            scrape_timeout,
            scrape_protocols: if g.scrape_protocols.is_empty() {
                defaults.scrape_protocols
            } else {
                g.scrape_protocols
            },
            body_size_limit: g.body_size_limit,
            sample_limit: g.sample_limit,
            label_limit: g.label_limit,
            label_name_length_limit: g.label_name_length_limit,
            label_value_length_limit: g.label_value_length_limit,
            target_limit: g.target_limit,
            keep_dropped_targets: g.keep_dropped_targets,
        },
        evaluation_interval: g.evaluation_interval.unwrap_or(PromDuration::from_secs(60)),
        rule_query_offset: g.rule_query_offset.unwrap_or(PromDuration::from_secs(0)),
        external_labels: g.external_labels,
        query_log_file: g.query_log_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "test.yml", Path::new("/etc/prometheus"))
    }

    #[test]
    fn globals_flow_into_scrape_configs() {
        let c = parse(
            "global:\n  scrape_interval: 15s\n  evaluation_interval: 30s\n  external_labels:\n    site: a\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n  - job_name: fast\n    scrape_interval: 5s\n",
        )
        .unwrap();
        assert_eq!(c.global.evaluation_interval, PromDuration::from_secs(30));
        assert_eq!(
            c.scrape_configs[0].scrape_interval,
            PromDuration::from_secs(15)
        );
        assert_eq!(
            c.scrape_configs[0].scrape_timeout,
            PromDuration::from_secs(10)
        );
        assert_eq!(
            c.scrape_configs[1].scrape_interval,
            PromDuration::from_secs(5)
        );
        assert_eq!(
            c.scrape_configs[1].scrape_timeout,
            PromDuration::from_secs(5)
        );
        assert_eq!(
            c.global.external_labels.get("site").map(String::as_str),
            Some("a")
        );
    }

    #[test]
    fn remote_read_loads_and_shows_redacted() {
        let c = parse(
            "remote_read:\n  - url: http://r:9090/api/v1/read\n    name: r\n    read_recent: true\n    headers:\n      X-Scope-OrgID: tenant\n    basic_auth:\n      username: u\n      password: hunter2\n",
        )
        .unwrap();
        assert_eq!(c.remote_read.len(), 1);
        assert!(c.remote_read[0].read_recent);
        let y = c.to_yaml().unwrap();
        assert!(y.contains("remote_read:"), "{y}");
        assert!(!y.contains("hunter2") && !y.contains("tenant"), "{y}");
        assert_eq!(parse(&y).unwrap().remote_read.len(), 1);
        let e = parse(
            "remote_read:\n  - url: http://a/\n    name: x\n  - url: http://b/\n    name: x\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("multiple remote read configs"),
            "{e}"
        );
    }

    #[test]
    fn yaml_output_redacts_secrets_and_parses_back() {
        let c = parse(
            "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: hunter2\n    static_configs:\n      - targets: ['h:1']\n",
        )
        .unwrap();
        let y = c.to_yaml().unwrap();
        assert!(!y.contains("hunter2"), "{y}");
        assert!(y.contains("<secret>"), "{y}");
        assert!(y.contains("job_name: a"), "{y}");
        let again = parse(&y).unwrap();
        assert_eq!(again.scrape_configs.len(), 1);
    }

    #[test]
    fn debian_default_file_loads() {
        // The shape of the file Debian installs as /etc/prometheus/prometheus.yml.
        let c = parse(
            "global:\n  scrape_interval:     15s\n  evaluation_interval: 15s\n  external_labels:\n      monitor: 'example'\nalerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['localhost:9093']\nrule_files:\nscrape_configs:\n  - job_name: 'prometheus'\n    scrape_interval: 5s\n    scrape_timeout: 5s\n    static_configs:\n      - targets: ['localhost:9090']\n",
        )
        .unwrap();
        assert_eq!(c.alerting.alertmanagers.len(), 1);
        assert!(c.rule_files.is_empty());
        let y = c.to_yaml().unwrap();
        assert_eq!(parse(&y).unwrap(), c);
    }

    #[test]
    fn alerting_is_checked() {
        let e = parse("alerting:\n  alertmanagers:\n  - api_version: v1\n").unwrap_err();
        assert!(e.to_string().contains("api version"), "{e}");
        let e = parse("alerting:\n  alertmanagers:\n  - bogus: 1\n").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn empty_file_is_valid() {
        let c = parse("").unwrap();
        assert!(c.scrape_configs.is_empty());
        assert_eq!(c.global.scrape.scrape_interval, PromDuration::from_secs(60));
    }

    #[test]
    fn unknown_field_names_its_line() {
        let e = parse("global:\n  scrape_interval: 15s\n  bogus: 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        assert!(e.contains('3'), "{e}");
    }

    #[test]
    fn unsupported_sections_are_refused() {
        let e = parse("storage:\n  tsdb: {}\n").unwrap_err().to_string();
        assert!(e.contains("storage is not supported yet"), "{e}");
        let c = parse("remote_write:\n  - url: http://x/\n    basic_auth:\n      username: u\n      password: hunter2\n").unwrap();
        assert_eq!(c.remote_write.len(), 1);
        let y = c.to_yaml().unwrap();
        assert!(y.contains("remote_write") && !y.contains("hunter2"), "{y}");
        let e = parse("remote_write:\n  - url: http://x/\n    sigv4: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sigv4"), "{e}");
    }

    #[test]
    fn duplicate_jobs_and_bad_timeouts_are_errors() {
        let e = parse("scrape_configs:\n  - job_name: a\n  - job_name: a\n").unwrap_err();
        assert!(e.to_string().contains("multiple scrape configs"), "{e}");
        let e = parse("global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n").unwrap_err();
        assert!(e.to_string().contains("timeout greater"), "{e}");
    }

    #[test]
    fn rule_files_are_kept_relative_to_the_config() {
        let c = parse("rule_files:\n  - 'rules/*.yml'\n").unwrap();
        assert_eq!(
            c.rule_files,
            vec!["/etc/prometheus/rules/*.yml".to_string()]
        );
    }
}
