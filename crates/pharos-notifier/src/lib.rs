//! Sending alerts to Alertmanagers, as Prometheus's notifier does: alerts from rule evaluation
//! get the external labels and `alert_relabel_configs`, wait in a bounded queue (the oldest are
//! dropped when it is full), and go out in batches of at most 64 to every Alertmanager of
//! every `alerting.alertmanagers` entry with API v2 (`POST .../api/v2/alerts`).
//!
//! Alertmanagers are found with the scrape crate's discovery (static, file, HTTP, DNS) and
//! relabeled through `__scheme__`, `__address__` and `__alerts_path__`. A batch counts as
//! delivered when any Alertmanager accepts it; otherwise it is counted as dropped. The
//! `prometheus_notifications_*` self-metrics come from [`Notifier::write_metrics`].
//!
//! This crate knows nothing of rules: the server converts the rule engine's alerts into
//! [`Alert`]s.

pub mod alert;
pub mod alertmanager_set;
pub mod config;
pub mod error;
pub mod metrics;
pub mod notifier;
pub mod queue;

pub use alert::Alert;
pub use alertmanager_set::DiscoveredAlertmanagers;
pub use config::{AlertmanagerSetConfig, NotifierConfig, NotifierOptions};
pub use error::NotifierError;
pub use notifier::{relabel_alerts, Notifier};
