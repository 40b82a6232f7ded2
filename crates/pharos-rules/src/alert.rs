//! One alert of an alerting rule and its life cycle: pending, firing, resolved.

use pharos_model::Labels;

/// How long a resolved alert is kept (and re-sent) after it resolved, as in Prometheus.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of an alert, or of a rule (the most severe state of its alerts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Not active (resolved alerts, rules without active alerts).
    Inactive,
    /// Active, waiting for `for` to pass.
    Pending,
    /// Active for at least `for`.
    Firing,
}

impl AlertState {
    /// The name the API and the `alertstate` label use.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// An alert of an alerting rule (Prometheus's rules.Alert).
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Current state.
    pub state: AlertState,
    /// Identifying labels: the result's labels without `__name__`, the rule's expanded labels
    /// and `alertname`.
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: Labels,
    /// The value of the result sample that made the alert active.
    pub value: f64,
    /// When the alert became active (ms).
    pub active_at_ms: i64,
    /// When the alert started firing (ms), if it did.
    pub fired_at_ms: Option<i64>,
    /// When the alert resolved (ms), if it did.
    pub resolved_at_ms: Option<i64>,
    /// When the alert was last handed to the notifier (ms).
    pub last_sent_at_ms: Option<i64>,
    /// Until when the last notification is valid (ms).
    pub valid_until_ms: i64,
    /// Since when the alert keeps firing without matching the expression (ms).
    pub keep_firing_since_ms: Option<i64>,
}

impl Alert {
    /// Whether the notifier should get this alert at `ts` (Prometheus's needsSending).
    pub fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        // A resolution since the last send is always sent.
        if let Some(resolved) = self.resolved_at_ms {
            match self.last_sent_at_ms {
                Some(sent) if resolved <= sent => {}
                _ => return true,
            }
        }
        match self.last_sent_at_ms {
            None => true,
            Some(sent) => sent + resend_delay_ms < ts,
        }
    }
}
