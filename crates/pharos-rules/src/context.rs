//! What rule evaluation needs from its surroundings: the engine, storage to read and write,
//! the notifier and the settings that shape alerts.

use std::sync::Arc;

use pharos_model::Labels;
use pharos_promql::Engine;
use pharos_tsdb::Queryable;

use crate::notify::NotifyFn;
use crate::rule_storage::RuleAppendable;

/// Prometheus's default `--rules.alert.for-outage-tolerance` (1h).
pub const DEFAULT_OUTAGE_TOLERANCE_MS: i64 = 3_600_000;
/// Prometheus's default `--rules.alert.for-grace-period` (10m).
pub const DEFAULT_FOR_GRACE_PERIOD_MS: i64 = 600_000;
/// Prometheus's default `--rules.alert.resend-delay` (1m).
pub const DEFAULT_RESEND_DELAY_MS: i64 = 60_000;

/// Everything a group evaluation reads and writes, shared by all groups of a manager.
#[derive(Clone)]
pub struct EvalContext {
    /// Evaluates the rules' expressions.
    pub engine: Arc<Engine>,
    /// Storage the expressions read.
    pub queryable: Arc<dyn Queryable>,
    /// Storage the results are written to.
    pub appendable: Arc<dyn RuleAppendable>,
    /// Receives alerts to send after each evaluation.
    pub notify: NotifyFn,
    /// The server's external URL (no trailing slash), for `$externalURL` and generator URLs.
    pub external_url: String,
    /// Path prefix of the web UI, for the templates' `pathPrefix`.
    pub path_prefix: String,
    /// `global.external_labels`, for `$externalLabels`.
    pub external_labels: Labels,
    /// `--rules.alert.resend-delay` in milliseconds.
    pub resend_delay_ms: i64,
    /// `--rules.alert.for-outage-tolerance` in milliseconds.
    pub outage_tolerance_ms: i64,
    /// `--rules.alert.for-grace-period` in milliseconds.
    pub for_grace_period_ms: i64,
}

impl EvalContext {
    /// A context with Prometheus's default alert settings, no external URL and a notifier that
    /// drops alerts; tests and tools adjust the fields they need.
    pub fn new(
        engine: Arc<Engine>,
        queryable: Arc<dyn Queryable>,
        appendable: Arc<dyn RuleAppendable>,
    ) -> EvalContext {
        EvalContext {
            engine,
            queryable,
            appendable,
            notify: Arc::new(|_| {}),
            external_url: String::new(),
            path_prefix: String::new(),
            external_labels: Labels::empty(),
            resend_delay_ms: DEFAULT_RESEND_DELAY_MS,
            outage_tolerance_ms: DEFAULT_OUTAGE_TOLERANCE_MS,
            for_grace_period_ms: DEFAULT_FOR_GRACE_PERIOD_MS,
        }
    }
}

/// The `--rules.alert.*` flags, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertTimings {
    /// `--rules.alert.resend-delay`.
    pub resend_delay_ms: i64,
    /// `--rules.alert.for-outage-tolerance`.
    pub outage_tolerance_ms: i64,
    /// `--rules.alert.for-grace-period`.
    pub for_grace_period_ms: i64,
}

impl Default for AlertTimings {
    fn default() -> Self {
        AlertTimings {
            resend_delay_ms: DEFAULT_RESEND_DELAY_MS,
            outage_tolerance_ms: DEFAULT_OUTAGE_TOLERANCE_MS,
            for_grace_period_ms: DEFAULT_FOR_GRACE_PERIOD_MS,
        }
    }
}

impl EvalContext {
    /// Applies the `--rules.alert.*` settings.
    pub fn set_timings(&mut self, t: AlertTimings) {
        self.resend_delay_ms = t.resend_delay_ms;
        self.outage_tolerance_ms = t.outage_tolerance_ms;
        self.for_grace_period_ms = t.for_grace_period_ms;
    }
}
