//! A loaded rule with its run-time state, and the evaluation of recording and alerting rules.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use pharos_model::{Labels, Matcher};
use pharos_promql::value::Sample;
use pharos_promql::{Engine, Value};
use pharos_tsdb::{Queryable, ValueKind};

use crate::alert::{Alert, AlertState, RESOLVED_RETENTION_MS};
use crate::context::EvalContext;
use crate::notify::{generator_url, AlertToSend};
use crate::rule_file::{RuleKind, RuleSpec};
use crate::rule_storage::{RuleSample, RuleValue};

/// The metric name of the series alerting rules write for their active alerts.
pub const ALERTS_METRIC: &str = "ALERTS";
/// The metric name of the series that remember when alerts became active.
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";

/// Whether a rule's last evaluation succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleHealth {
    /// Not evaluated yet.
    Unknown,
    /// The last evaluation succeeded.
    Good,
    /// The last evaluation failed.
    Bad,
}

impl RuleHealth {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleHealth::Unknown => "unknown",
            RuleHealth::Good => "ok",
            RuleHealth::Bad => "err",
        }
    }
}

/// A rule's run-time state.
#[derive(Debug)]
pub struct RuleState {
    /// Health of the last evaluation.
    pub health: RuleHealth,
    /// The last evaluation's error.
    pub last_error: Option<String>,
    /// Wall-clock time the last evaluation started (ms since the epoch).
    pub last_evaluation_ms: Option<i64>,
    /// How long the last evaluation took (seconds).
    pub evaluation_seconds: f64,
    /// Active and recently resolved alerts by their labels (alerting rules).
    pub alerts: BTreeMap<Labels, Alert>,
    /// False until the alerts' for-state has been restored at startup; until then the rule
    /// writes no `ALERTS` series, so the restore reads what was written before the restart.
    pub restored: bool,
    /// Series the last evaluation wrote, to mark the ones that disappear as stale.
    pub(crate) series_in_previous_eval: HashSet<Labels>,
}

/// A rule of a group.
#[derive(Debug)]
pub struct Rule {
    /// What the file says.
    pub spec: RuleSpec,
    /// The normalised expression (shown by the API and in generator URLs).
    pub query: String,
    state: Mutex<RuleState>,
}

impl Rule {
    /// A rule that has not been evaluated yet. `restored` is false when the alerts' for-state
    /// is still to be restored from storage (the first load after startup).
    pub fn new(spec: RuleSpec, restored: bool) -> Rule {
        let query = spec.parsed.to_string();
        Rule {
            spec,
            query,
            state: Mutex::new(RuleState {
                health: RuleHealth::Unknown,
                last_error: None,
                last_evaluation_ms: None,
                evaluation_seconds: 0.0,
                alerts: BTreeMap::new(),
                restored,
                series_in_previous_eval: HashSet::new(),
            }),
        }
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        self.spec.name()
    }

    /// True for alerting rules.
    pub fn is_alerting(&self) -> bool {
        matches!(self.spec.kind, RuleKind::Alerting(_))
    }

    /// Locks the rule's state (for reading by the API and tests).
    pub fn state(&self) -> MutexGuard<'_, RuleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most severe state of the rule's alerts.
    pub fn alert_state(&self) -> AlertState {
        self.state()
            .alerts
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Pending and firing alerts (resolved ones are left out, as in Prometheus's API).
    pub fn active_alerts(&self) -> Vec<Alert> {
        self.state()
            .alerts
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .cloned()
            .collect()
    }

    /// Takes over another rule's alerts and written series (a reload replacing this rule's
    /// group).
    pub(crate) fn copy_state_from(&self, other: &Rule) {
        let from = other.state();
        let mut to = self.state();
        to.series_in_previous_eval = from.series_in_previous_eval.clone();
        if self.is_alerting() && other.is_alerting() {
            to.alerts = from.alerts.clone();
        }
    }

    /// Series written by the last evaluation.
    pub(crate) fn previous_series(&self) -> Vec<Labels> {
        self.state()
            .series_in_previous_eval
            .iter()
            .cloned()
            .collect()
    }

    /// Evaluates the rule: `ts` is the group's evaluation time, `query_ts` the time the
    /// expression is evaluated at (`ts` minus the query offset). Returns the samples to write.
    pub(crate) fn eval(
        &self,
        ts: i64,
        query_ts: i64,
        limit: i64,
        ctx: &EvalContext,
    ) -> Result<Vec<RuleSample>, String> {
        match &self.spec.kind {
            RuleKind::Recording(name) => eval_recording(&self.spec, name, query_ts, limit, ctx),
            RuleKind::Alerting(name) => self.eval_alerting(name, ts, query_ts, limit, ctx),
        }
    }

    fn eval_alerting(
        &self,
        name: &str,
        ts: i64,
        query_ts: i64,
        limit: i64,
        ctx: &EvalContext,
    ) -> Result<Vec<RuleSample>, String> {
        let result = run_query(&ctx.engine, &*ctx.queryable, &self.spec.expr, query_ts)?;
        let env = pharos_template::Env {
            external_url: ctx.external_url.clone(),
            path_prefix: ctx.path_prefix.clone(),
            query: Some(Arc::new(TemplateQuery {
                engine: ctx.engine.clone(),
                queryable: ctx.queryable.clone(),
                t: query_ts,
            })),
            now_ms: Some(ts),
        };
        let external_labels = label_map(&ctx.external_labels);
        let template_name = format!("__alert_{name}");
        let mut fresh: BTreeMap<Labels, Alert> = BTreeMap::new();
        for s in &result {
            let data_labels = label_map(&s.metric);
            let expand = |text: &str| {
                pharos_template::expand_alert_text(
                    &template_name,
                    text,
                    &data_labels,
                    &external_labels,
                    &ctx.external_url,
                    s.f,
                    &env,
                )
                .unwrap_or_else(|e| {
                    tracing::warn!(rule = name, error = %e, "expanding alert template failed");
                    format!("<error expanding template: {e}>")
                })
            };
            let mut lb = s.metric.builder();
            lb.del("__name__");
            for l in self.spec.labels.iter() {
                lb.set(l.name.clone(), expand(&l.value));
            }
            lb.set("alertname", name);
            let labels = lb.build();
            let annotations = Labels::from_pairs(
                self.spec
                    .annotations
                    .iter()
                    .map(|a| (a.name.clone(), expand(&a.value))),
            );
            if fresh.contains_key(&labels) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            fresh.insert(
                labels.clone(),
                Alert {
                    state: AlertState::Pending,
                    labels,
                    annotations,
                    value: s.f,
                    active_at_ms: ts,
                    fired_at_ms: None,
                    resolved_at_ms: None,
                    last_sent_at_ms: None,
                    valid_until_ms: 0,
                    keep_firing_since_ms: None,
                },
            );
        }

        let mut st = self.state();
        for (labels, a) in &fresh {
            match st.alerts.get_mut(labels) {
                Some(existing) if existing.state != AlertState::Inactive => {
                    existing.value = a.value;
                    existing.annotations = a.annotations.clone();
                }
                _ => {
                    st.alerts.insert(labels.clone(), a.clone());
                }
            }
        }
        let hold = self.spec.for_ms;
        let keep_firing_for = self.spec.keep_firing_for_ms;
        let restored = st.restored;
        let mut out = Vec::new();
        let mut active = 0i64;
        let mut remove = Vec::new();
        for (labels, a) in st.alerts.iter_mut() {
            if !fresh.contains_key(labels) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_firing_for > 0 {
                    let since = *a.keep_firing_since_ms.get_or_insert(ts);
                    keep_firing = ts - since < keep_firing_for;
                }
                // Pending alerts that disappear are dropped; resolved ones are kept (and
                // re-sent) for a while so that a lost resolution still reaches Alertmanager.
                if a.state == AlertState::Pending
                    || a.resolved_at_ms
                        .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(labels.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at_ms = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since_ms = None;
            }
            active += 1;
            if a.state == AlertState::Pending && ts - a.active_at_ms >= hold {
                a.state = AlertState::Firing;
                a.fired_at_ms = Some(ts);
            }
            if restored {
                out.push(alerts_sample(name, a, query_ts));
                out.push(for_state_sample(
                    a,
                    query_ts,
                    (a.active_at_ms / 1000) as f64,
                ));
            }
        }
        for l in remove {
            st.alerts.remove(&l);
        }
        if limit > 0 && active > limit {
            st.alerts.clear();
            return Err(format!("exceeded limit of {limit} with {active} alerts"));
        }
        Ok(out)
    }

    /// Hands the alerts that need sending at `ts` to the notifier (Prometheus's sendAlerts).
    pub(crate) fn send_alerts(&self, ts: i64, interval_ms: i64, ctx: &EvalContext) {
        let mut out = Vec::new();
        {
            let mut st = self.state();
            for a in st.alerts.values_mut() {
                if !a.needs_sending(ts, ctx.resend_delay_ms) {
                    continue;
                }
                a.last_sent_at_ms = Some(ts);
                // Valid for two missed evaluations or sends.
                let delta = ctx.resend_delay_ms.max(interval_ms);
                a.valid_until_ms = ts + 4 * delta;
                out.push(AlertToSend {
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at_ms: a.fired_at_ms.unwrap_or(a.active_at_ms),
                    ends_at_ms: a.resolved_at_ms.unwrap_or(a.valid_until_ms),
                    generator_url: generator_url(&ctx.external_url, &self.query),
                });
            }
        }
        if !out.is_empty() {
            (ctx.notify)(out);
        }
    }

    /// Restores when each active alert became active from the `ALERTS_FOR_STATE` series
    /// (Prometheus's RestoreForState for one rule). `ts` is now (ms).
    pub(crate) fn restore_for_state(&self, ts: i64, ctx: &EvalContext) {
        let hold = self.spec.for_ms;
        if hold < ctx.for_grace_period_ms {
            // Waiting for the grace period would be longer than `for` itself.
            self.state().restored = true;
            return;
        }
        let mint = ts - ctx.outage_tolerance_ms;
        let querier = match ctx.queryable.querier(mint, ts) {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(rule = self.name(), error = %e, "opening storage to restore alert state failed");
                self.state().restored = true;
                return;
            }
        };
        let mut st = self.state();
        for a in st.alerts.values_mut() {
            let mut matchers = vec![Matcher::equal("__name__", ALERTS_FOR_STATE_METRIC)];
            matchers.extend(a.labels.iter().map(|l| Matcher::equal(&*l.name, &*l.value)));
            let series = match querier.select(None, &matchers) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(rule = self.name(), error = %e, "reading alert for-state failed");
                    continue;
                }
            };
            let Some(s) = series.iter().find(|s| s.labels().len() == matchers.len()) else {
                continue;
            };
            let mut it = s.iter();
            let mut last = None;
            while it.next() == ValueKind::Float {
                last = Some(it.at());
            }
            let Some((down_at, v)) = last else { continue };
            if v.is_nan() {
                // Stale: the alert was not active when the server stopped.
                continue;
            }
            // Prometheus keeps whole seconds for both times.
            let down_at = down_at.div_euclid(1000) * 1000;
            // The value should be a Unix time in seconds between 1970 and the sample itself;
            // anything else (a foreign or corrupt sample, e.g. 1e300 or -Inf) is clamped into
            // that range so that the arithmetic here and in later evaluations cannot overflow.
            let secs = v.min(down_at as f64 / 1000.0);
            let secs = if secs.is_finite() {
                secs.max(down_at.min(0) as f64 / 1000.0)
            } else {
                down_at as f64 / 1000.0
            };
            let mut restored_active_at = (secs as i64).saturating_mul(1000);
            let spent_pending = down_at - restored_active_at;
            let remaining = hold - spent_pending;
            if remaining <= 0 {
                // It was firing: the next evaluation makes it fire again if still true.
            } else if remaining < ctx.for_grace_period_ms {
                restored_active_at = ts + ctx.for_grace_period_ms - hold;
            } else {
                restored_active_at += ts - down_at;
            }
            a.active_at_ms = restored_active_at;
        }
        st.restored = true;
    }

    /// Records the outcome of an evaluation.
    pub(crate) fn set_result(&self, started_wall_ms: i64, took: Instant, error: Option<String>) {
        let mut st = self.state();
        st.last_evaluation_ms = Some(started_wall_ms);
        st.evaluation_seconds = took.elapsed().as_secs_f64();
        st.health = if error.is_some() {
            RuleHealth::Bad
        } else {
            RuleHealth::Good
        };
        st.last_error = error;
    }

    /// Marks the rule bad without touching timing (a write failure after evaluation).
    pub(crate) fn set_error(&self, error: String) {
        let mut st = self.state();
        st.health = RuleHealth::Bad;
        st.last_error = Some(error);
    }

    pub(crate) fn set_previous_series(&self, series: HashSet<Labels>) {
        self.state().series_in_previous_eval = series;
    }
}

fn eval_recording(
    spec: &RuleSpec,
    name: &str,
    t: i64,
    limit: i64,
    ctx: &EvalContext,
) -> Result<Vec<RuleSample>, String> {
    let result = run_query(&ctx.engine, &*ctx.queryable, &spec.expr, t)?;
    let mut seen = HashSet::with_capacity(result.len());
    let mut out = Vec::with_capacity(result.len());
    for s in result {
        let mut lb = s.metric.builder();
        lb.set("__name__", name);
        for l in spec.labels.iter() {
            lb.set(l.name.clone(), l.value.clone());
        }
        let labels = lb.build();
        if !seen.insert(labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push(RuleSample {
            labels,
            t,
            value: match s.h {
                Some(h) => RuleValue::Histogram(h),
                None => RuleValue::Float(s.f),
            },
        });
    }
    if limit > 0 && out.len() as i64 > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

/// Runs an instant query for a rule; a scalar becomes one sample without labels.
pub(crate) fn run_query(
    engine: &Engine,
    queryable: &dyn Queryable,
    expr: &str,
    t: i64,
) -> Result<Vec<Sample>, String> {
    let res = engine
        .instant_query(queryable, expr, t)
        .map_err(|e| e.to_string())?;
    match res.value {
        Value::Vector(v) => Ok(v),
        Value::Scalar(f) => Ok(vec![Sample {
            metric: Labels::empty(),
            t,
            f,
            h: None,
            drop_name: false,
        }]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

fn label_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

/// The `ALERTS` sample of an active alert.
fn alerts_sample(name: &str, a: &Alert, t: i64) -> RuleSample {
    let mut lb = a.labels.builder();
    lb.set("__name__", ALERTS_METRIC);
    lb.set("alertname", name);
    lb.set("alertstate", a.state.as_str());
    RuleSample {
        labels: lb.build(),
        t,
        value: RuleValue::Float(1.0),
    }
}

/// The `ALERTS_FOR_STATE` sample of an active alert.
fn for_state_sample(a: &Alert, t: i64, v: f64) -> RuleSample {
    let mut lb = a.labels.builder();
    lb.set("__name__", ALERTS_FOR_STATE_METRIC);
    RuleSample {
        labels: lb.build(),
        t,
        value: RuleValue::Float(v),
    }
}

/// The `query` template function, evaluated at the rule's evaluation time.
struct TemplateQuery {
    engine: Arc<Engine>,
    queryable: Arc<dyn Queryable>,
    t: i64,
}

impl pharos_template::QueryFn for TemplateQuery {
    fn query(&self, expr: &str) -> Result<Vec<pharos_template::QueryResultSample>, String> {
        let samples = run_query(&self.engine, &*self.queryable, expr, self.t)?;
        Ok(samples
            .into_iter()
            .map(|s| pharos_template::QueryResultSample {
                labels: label_map(&s.metric),
                value: s.f,
            })
            .collect())
    }
}
