//! A rule group: its rules evaluated in order at aligned times, the staleness of the series
//! they stop producing, and the group's figures.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use pharos_model::sample::STALE_NAN;
use pharos_model::Labels;

use crate::alert::Alert;
use crate::context::EvalContext;
use crate::rule::Rule;
use crate::rule_file::GroupSpec;
use crate::rule_storage::{RuleSample, RuleValue, SampleWriteError};

/// Counters and timings of a group, for the API and self-metrics.
#[derive(Clone, Debug, Default)]
pub struct GroupStatus {
    /// Wall-clock start of the last evaluation (ms since the epoch).
    pub last_evaluation_ms: Option<i64>,
    /// The aligned timestamp of the last evaluation (ms).
    pub last_eval_timestamp_ms: Option<i64>,
    /// Duration of the last evaluation (seconds).
    pub evaluation_seconds: f64,
    /// Rule evaluations so far.
    pub rule_evaluations: u64,
    /// Rule evaluations that failed.
    pub rule_failures: u64,
    /// Group evaluations so far (scheduled iterations, missed ones included).
    pub iterations: u64,
    /// Iterations skipped because an evaluation ran too long.
    pub iterations_missed: u64,
    /// Samples the last evaluation produced.
    pub last_samples: u64,
    /// Total seconds spent evaluating single rules (with `rule_evaluations`, a summary).
    pub rule_seconds_total: f64,
    /// Evaluations of the whole group.
    pub group_evaluations: u64,
    /// Total seconds spent evaluating the whole group.
    pub group_seconds_total: f64,
}

/// A rule group ready to be evaluated.
#[derive(Debug)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Evaluation interval (ms).
    pub interval_ms: i64,
    /// How far back expressions are evaluated (ms).
    pub query_offset_ms: i64,
    /// Most series or alerts per rule; 0 is unlimited.
    pub limit: i64,
    /// The rules in evaluation order.
    pub rules: Vec<Rule>,
    spec: GroupSpec,
    status: Mutex<GroupStatus>,
    /// Series of rules that a reload removed, to be marked stale at the next evaluation.
    stale_series: Mutex<Vec<Labels>>,
}

impl Group {
    /// Builds a group from its spec. `default_interval_ms` and `default_query_offset_ms` are
    /// the global `evaluation_interval` and `rule_query_offset`. `restore_pending` is true at
    /// startup, when alerting rules must first restore their for-state from storage (see
    /// [`Group::restore_for_state`]); otherwise they write `ALERTS` from the first evaluation.
    pub fn new(
        spec: GroupSpec,
        default_interval_ms: i64,
        default_query_offset_ms: i64,
        restore_pending: bool,
    ) -> Group {
        let rules = spec
            .rules
            .iter()
            .map(|r| Rule::new(r.clone(), !restore_pending))
            .collect();
        Group {
            name: spec.name.clone(),
            file: spec.file.clone(),
            interval_ms: spec.interval_ms.unwrap_or(default_interval_ms).max(1),
            query_offset_ms: spec
                .query_offset_ms
                .unwrap_or(default_query_offset_ms)
                .max(0),
            limit: spec.limit,
            rules,
            spec,
            status: Mutex::new(GroupStatus::default()),
            stale_series: Mutex::new(Vec::new()),
        }
    }

    /// `file;name`, the key Prometheus uses for a group in metrics and reloads.
    pub fn key(&self) -> String {
        group_key(&self.file, &self.name)
    }

    /// The group's figures.
    pub fn status(&self) -> GroupStatus {
        self.lock_status().clone()
    }

    fn lock_status(&self) -> MutexGuard<'_, GroupStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `other` has the same settings and rules, so a reload can keep this group as is.
    pub fn same_definition(&self, other: &Group) -> bool {
        self.name == other.name
            && self.file == other.file
            && self.interval_ms == other.interval_ms
            && self.query_offset_ms == other.query_offset_ms
            && self.limit == other.limit
            && self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.spec.same_as(&b.spec))
    }

    /// The spec the group was built from.
    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }

    /// Prometheus's EvalTimestamp: the latest time `<= now_ms` that is a multiple of the interval shifted by an offset derived
    /// from a hash of the group's name and file, so that groups spread over the interval and
    /// keep their phase across restarts.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval_ns = i128::from(self.interval_ms) * 1_000_000;
        let offset = i128::from(self.hash() % (interval_ns as u64).max(1));
        let start = i128::from(now_ms) * 1_000_000 - offset;
        let base = start - start.rem_euclid(interval_ns);
        i64::try_from((base + offset).div_euclid(1_000_000)).unwrap_or(now_ms)
    }

    /// Prometheus's group hash: xxhash64 of the label set `{file, name}`.
    fn hash(&self) -> u64 {
        let mut b = Vec::with_capacity(self.file.len() + self.name.len() + 12);
        for (n, v) in [("file", &self.file), ("name", &self.name)] {
            b.extend_from_slice(n.as_bytes());
            b.push(0xff);
            b.extend_from_slice(v.as_bytes());
            b.push(0xff);
        }
        xxhash_rust::xxh64::xxh64(&b, 0)
    }

    /// Evaluates every rule in order at the aligned time `ts` (ms): later rules see what earlier
    /// ones wrote. Results are written through `ctx.appendable`, series that disappeared get
    /// staleness markers, and alerting rules hand their alerts to `ctx.notify`.
    pub fn eval(&self, ts: i64, ctx: &EvalContext) {
        let began = Instant::now();
        let wall = now_ms();
        let query_ts = ts - self.query_offset_ms;
        let mut samples_total = 0u64;
        let mut rule_seconds = 0.0;
        let mut evaluations = 0u64;
        let mut failures = 0u64;
        for rule in &self.rules {
            evaluations += 1;
            let rule_began = Instant::now();
            let rule_wall = now_ms();
            let result = rule.eval(ts, query_ts, self.limit, ctx);
            rule_seconds += rule_began.elapsed().as_secs_f64();
            let samples = match result {
                Ok(s) => s,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(group = %self.name, rule = rule.name(), error = %e, "evaluating rule failed");
                    rule.set_result(rule_wall, rule_began, Some(e));
                    continue;
                }
            };
            rule.set_result(rule_wall, rule_began, None);
            samples_total += samples.len() as u64;
            if rule.is_alerting() {
                rule.send_alerts(ts, self.interval_ms, ctx);
            }
            if !self.write_rule_output(rule, samples, query_ts, ctx) {
                failures += 1;
            }
        }
        self.cleanup_stale_series(query_ts, ctx);
        let mut st = self.lock_status();
        st.last_evaluation_ms = Some(wall);
        st.last_eval_timestamp_ms = Some(ts);
        st.evaluation_seconds = began.elapsed().as_secs_f64();
        st.group_evaluations += 1;
        st.group_seconds_total += st.evaluation_seconds;
        st.rule_seconds_total += rule_seconds;
        st.rule_evaluations += evaluations;
        st.rule_failures += failures;
        st.last_samples = samples_total;
    }

    /// Writes a rule's samples and stale markers for the series it no longer produces. Returns
    /// false when the batch could not be committed.
    fn write_rule_output(
        &self,
        rule: &Rule,
        mut samples: Vec<RuleSample>,
        query_ts: i64,
        ctx: &EvalContext,
    ) -> bool {
        let produced = samples.len();
        let returned: HashSet<Labels> = samples.iter().map(|s| s.labels.clone()).collect();
        for prev in rule.previous_series() {
            if !returned.contains(&prev) {
                samples.push(RuleSample {
                    labels: prev,
                    t: query_ts,
                    value: RuleValue::Float(STALE_NAN),
                });
            }
        }
        let outcome = ctx.appendable.write(&samples);
        if let Some(e) = outcome.commit_error {
            tracing::warn!(group = %self.name, rule = rule.name(), error = %e, "rule sample appending failed");
            rule.set_error(e);
            return false;
        }
        let mut written = returned;
        for (i, err) in outcome.rejected {
            if i < produced {
                if let Some(s) = samples.get(i) {
                    written.remove(&s.labels);
                }
                rule.set_error(err.to_string());
                tracing::warn!(group = %self.name, rule = rule.name(), error = %err, "rule sample rejected by storage");
            } else if !matches!(
                err,
                SampleWriteError::OutOfOrder | SampleWriteError::Duplicate
            ) {
                // Out of order or duplicate stale markers are expected when another rule
                // writes the same series.
                tracing::warn!(group = %self.name, rule = rule.name(), error = %err, "adding stale marker failed");
            }
        }
        rule.set_previous_series(written);
        true
    }

    fn cleanup_stale_series(&self, query_ts: i64, ctx: &EvalContext) {
        let stale =
            std::mem::take(&mut *self.stale_series.lock().unwrap_or_else(|e| e.into_inner()));
        if stale.is_empty() {
            return;
        }
        let samples: Vec<RuleSample> = stale
            .into_iter()
            .map(|labels| RuleSample {
                labels,
                t: query_ts,
                value: RuleValue::Float(STALE_NAN),
            })
            .collect();
        if let Some(e) = ctx.appendable.write(&samples).commit_error {
            tracing::warn!(group = %self.name, error = %e, "writing stale markers for removed rules failed");
        }
    }

    /// Marks every series the group wrote as stale at `ts` (the group was removed).
    pub fn mark_stale(&self, ts: i64, ctx: &EvalContext) {
        let mut samples = Vec::new();
        for rule in &self.rules {
            for labels in rule.previous_series() {
                samples.push(RuleSample {
                    labels,
                    t: ts,
                    value: RuleValue::Float(STALE_NAN),
                });
            }
        }
        if !samples.is_empty() {
            if let Some(e) = ctx.appendable.write(&samples).commit_error {
                tracing::warn!(group = %self.name, error = %e, "writing stale markers for a removed group failed");
            }
        }
    }

    /// Takes over the state of the group this one replaces on reload: rules are matched by
    /// name and labels in order (Prometheus's CopyState); series of old rules that have no
    /// match are marked stale at the next evaluation.
    pub fn copy_state_from(&self, old: &Group) {
        {
            let from = old.lock_status();
            let mut to = self.lock_status();
            to.last_evaluation_ms = from.last_evaluation_ms;
            to.last_eval_timestamp_ms = from.last_eval_timestamp_ms;
            to.evaluation_seconds = from.evaluation_seconds;
        }
        let key = |r: &Rule| format!("{}{}", r.name(), r.spec.labels);
        let mut unmatched: Vec<Option<&Rule>> = old.rules.iter().map(Some).collect();
        for rule in &self.rules {
            let k = key(rule);
            if let Some(slot) = unmatched
                .iter_mut()
                .find(|r| r.is_some_and(|r| key(r) == k))
            {
                if let Some(from) = slot.take() {
                    rule.copy_state_from(from);
                }
            }
        }
        let mut stale = self.stale_series.lock().unwrap_or_else(|e| e.into_inner());
        stale.extend(
            old.stale_series
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..),
        );
        for r in unmatched.into_iter().flatten() {
            stale.extend(r.previous_series());
        }
    }

    /// Restores the for-state of every alerting rule's active alerts from storage
    /// (Prometheus's RestoreForState); `ts` is now (ms).
    pub fn restore_for_state(&self, ts: i64, ctx: &EvalContext) {
        for rule in self.rules.iter().filter(|r| r.is_alerting()) {
            rule.restore_for_state(ts, ctx);
        }
    }

    /// Pending and firing alerts of all alerting rules.
    pub fn active_alerts(&self) -> Vec<Alert> {
        self.rules.iter().flat_map(|r| r.active_alerts()).collect()
    }

    pub(crate) fn add_iterations(&self, iterations: u64, missed: u64) {
        let mut st = self.lock_status();
        st.iterations += iterations;
        st.iterations_missed += missed;
    }
}

/// `file;name`.
pub fn group_key(file: &str, name: &str) -> String {
    format!("{file};{name}")
}

/// Wall-clock time in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
