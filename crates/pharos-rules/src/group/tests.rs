//! The group and alert state machines against an in-memory store at explicit timestamps.

use std::sync::{Arc, Mutex};

use pharos_model::sample::is_stale_nan;
use pharos_model::{Labels, Matcher};
use pharos_promql::{Engine, EngineOptions};
use pharos_tsdb::{MemStorage, Queryable, ValueKind};

use super::Group;
use crate::alert::AlertState;
use crate::context::EvalContext;
use crate::notify::AlertToSend;
use crate::rule::RuleHealth;
use crate::rule_file::parse_rule_file;

const MIN: i64 = 60_000;

struct Fixture {
    store: Arc<MemStorage>,
    ctx: EvalContext,
    sent: Arc<Mutex<Vec<AlertToSend>>>,
}

fn fixture() -> Fixture {
    let store = Arc::new(MemStorage::new());
    let mut ctx = EvalContext::new(
        Arc::new(Engine::new(EngineOptions::default())),
        store.clone(),
        store.clone(),
    );
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = sent.clone();
    ctx.notify = Arc::new(move |alerts| s.lock().unwrap().extend(alerts));
    ctx.external_url = "http://pharos:9090".into();
    Fixture { store, ctx, sent }
}

fn group(text: &str, restore_pending: bool) -> Group {
    let f = parse_rule_file("rules.yml", text).expect("valid rule file");
    let spec = f.groups.into_iter().next().expect("one group");
    Group::new(spec, MIN, 0, restore_pending)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Every sample of series matching `name` as (labels, t, v), in label then time order.
fn samples(store: &MemStorage, name: &str) -> Vec<(Labels, i64, f64)> {
    let q = store.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = Vec::new();
    for s in q.select(None, &[Matcher::equal("__name__", name)]).unwrap() {
        let mut it = s.iter();
        while it.next() == ValueKind::Float {
            let (t, v) = it.at();
            out.push((s.labels().clone(), t, v));
        }
    }
    out
}

#[test]
fn recording_rules_run_in_order_and_mark_vanished_series_stale() {
    let f = fixture();
    let a = labels(&[("__name__", "x"), ("i", "a")]);
    let b = labels(&[("__name__", "x"), ("i", "b")]);
    f.store.append(&a, 0, 1.0);
    f.store.append(&b, 0, 2.0);
    let g = group(
        "groups:\n- name: g\n  rules:\n  - record: x:doubled\n    expr: x * 2\n    labels:\n      src: r\n  - record: x:doubled:sum\n    expr: sum(x:doubled)\n",
        false,
    );
    g.eval(MIN, &f.ctx);
    let doubled = samples(&f.store, "x:doubled");
    assert_eq!(
        doubled,
        vec![
            (
                labels(&[("__name__", "x:doubled"), ("i", "a"), ("src", "r")]),
                MIN,
                2.0
            ),
            (
                labels(&[("__name__", "x:doubled"), ("i", "b"), ("src", "r")]),
                MIN,
                4.0
            ),
        ]
    );
    // The second rule saw the first rule's output of the same evaluation.
    assert_eq!(
        samples(&f.store, "x:doubled:sum"),
        vec![(labels(&[("__name__", "x:doubled:sum")]), MIN, 6.0)]
    );
    assert!(g.rules.iter().all(|r| r.state().health == RuleHealth::Good));

    // Series b disappears: its recorded series gets a staleness marker at the next evaluation.
    f.store.append(&b, MIN, pharos_model::sample::STALE_NAN);
    f.store.append(&a, MIN, 1.0);
    g.eval(2 * MIN, &f.ctx);
    let b_rec = labels(&[("__name__", "x:doubled"), ("i", "b"), ("src", "r")]);
    let last_b = samples(&f.store, "x:doubled")
        .into_iter()
        .filter(|(l, _, _)| *l == b_rec)
        .last()
        .unwrap();
    assert_eq!(last_b.1, 2 * MIN);
    assert!(is_stale_nan(last_b.2));
    let st = g.status();
    assert_eq!(st.rule_evaluations, 4);
    assert_eq!(st.rule_failures, 0);
}

#[test]
fn duplicate_output_and_limit_are_rule_errors() {
    let f = fixture();
    f.store
        .append(&labels(&[("__name__", "x"), ("i", "a")]), 0, 1.0);
    f.store
        .append(&labels(&[("__name__", "y"), ("i", "b")]), 0, 1.0);
    let g = group(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - record: dup\n    expr: 'label_replace({__name__=~\"x|y\"}, \"i\", \"z\", \"\", \"\")'\n  - record: ok\n    expr: x\n  - record: many\n    expr: x or y\n",
        false,
    );
    g.eval(MIN, &f.ctx);
    let dup = g.rules[0].state();
    assert_eq!(dup.health, RuleHealth::Bad);
    assert_eq!(
        dup.last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
    drop(dup);
    assert_eq!(g.rules[1].state().health, RuleHealth::Good);
    assert_eq!(
        g.rules[2].state().last_error.as_deref(),
        Some("exceeded limit of 1 with 2 series")
    );
    assert!(samples(&f.store, "dup").is_empty());
    assert_eq!(g.status().rule_failures, 2);
}

const ALERT_RULES: &str = "groups:\n- name: g\n  rules:\n  - alert: High\n    expr: x > 1\n    for: 2m\n    labels:\n      severity: page\n";

#[test]
fn alert_goes_pending_then_firing_then_resolved() {
    let f = fixture();
    let x = labels(&[("__name__", "x"), ("i", "a")]);
    let g = group(ALERT_RULES, false);
    let rule = &g.rules[0];
    for m in 0..=10 {
        f.store.append(&x, m * MIN, if m < 8 { 5.0 } else { 0.0 });
    }
    let alert_labels = labels(&[("alertname", "High"), ("i", "a"), ("severity", "page")]);

    g.eval(MIN, &f.ctx);
    assert_eq!(rule.alert_state(), AlertState::Pending);
    let a = rule.active_alerts().pop().unwrap();
    assert_eq!(a.labels, alert_labels);
    assert_eq!(a.active_at_ms, MIN);
    assert_eq!(a.value, 5.0);
    assert!(
        f.sent.lock().unwrap().is_empty(),
        "pending alerts are not sent"
    );

    g.eval(2 * MIN, &f.ctx);
    assert_eq!(rule.alert_state(), AlertState::Pending);
    g.eval(3 * MIN, &f.ctx);
    assert_eq!(rule.alert_state(), AlertState::Firing);
    {
        let sent = f.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].labels, alert_labels);
        assert_eq!(sent[0].starts_at_ms, 3 * MIN);
        // Valid for four times the larger of the resend delay and the interval.
        assert_eq!(sent[0].ends_at_ms, 3 * MIN + 4 * MIN);
        assert_eq!(
            sent[0].generator_url,
            "http://pharos:9090/graph?g0.expr=x+%3E+1&g0.tab=1"
        );
    }

    // ALERTS: pending at 1m and 2m, firing from 3m; ALERTS_FOR_STATE holds the active-since
    // time in seconds.
    let alerts = samples(&f.store, "ALERTS");
    let pending: Vec<i64> = alerts
        .iter()
        .filter(|(l, _, v)| l.get("alertstate") == Some("pending") && !is_stale_nan(*v))
        .map(|(_, t, _)| *t)
        .collect();
    assert_eq!(pending, vec![MIN, 2 * MIN]);
    let firing = labels(&[
        ("__name__", "ALERTS"),
        ("alertname", "High"),
        ("alertstate", "firing"),
        ("i", "a"),
        ("severity", "page"),
    ]);
    assert!(alerts.contains(&(firing.clone(), 3 * MIN, 1.0)));
    // The pending series went stale when the alert started firing.
    assert!(alerts
        .iter()
        .any(|(l, t, v)| l.get("alertstate") == Some("pending")
            && *t == 3 * MIN
            && is_stale_nan(*v)));
    let for_state = samples(&f.store, "ALERTS_FOR_STATE");
    assert!(for_state.contains(&(
        labels(&[
            ("__name__", "ALERTS_FOR_STATE"),
            ("alertname", "High"),
            ("i", "a"),
            ("severity", "page")
        ]),
        3 * MIN,
        60.0
    )));

    // Resent only after the resend delay (1m): not at 3m30s, yes at 5m.
    f.sent.lock().unwrap().clear();
    g.eval(3 * MIN + 30_000, &f.ctx);
    assert!(f.sent.lock().unwrap().is_empty());
    g.eval(5 * MIN, &f.ctx);
    assert_eq!(f.sent.lock().unwrap().len(), 1);

    // Resolved at 8m: sent with its resolution time, kept (inactive) but not listed as active.
    f.sent.lock().unwrap().clear();
    g.eval(8 * MIN, &f.ctx);
    assert_eq!(rule.alert_state(), AlertState::Inactive);
    assert!(rule.active_alerts().is_empty());
    {
        let sent = f.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].ends_at_ms, 8 * MIN);
        assert_eq!(sent[0].starts_at_ms, 3 * MIN);
    }
    let last_firing = samples(&f.store, "ALERTS")
        .into_iter()
        .filter(|(l, _, _)| *l == firing)
        .last()
        .unwrap();
    assert_eq!(last_firing.1, 8 * MIN);
    assert!(is_stale_nan(last_firing.2));
    // Resolved alerts are re-sent until 15 minutes after resolution, then forgotten.
    f.sent.lock().unwrap().clear();
    g.eval(10 * MIN, &f.ctx);
    assert_eq!(f.sent.lock().unwrap().len(), 1);
    g.eval(24 * MIN, &f.ctx);
    assert_eq!(rule.state().alerts.len(), 0);
}

#[test]
fn pending_alert_that_clears_is_dropped_silently() {
    let f = fixture();
    let x = labels(&[("__name__", "x")]);
    f.store.append(&x, MIN, 5.0);
    f.store.append(&x, 2 * MIN, 0.0);
    let g = group(ALERT_RULES, false);
    g.eval(MIN, &f.ctx);
    assert_eq!(g.rules[0].alert_state(), AlertState::Pending);
    g.eval(2 * MIN, &f.ctx);
    assert!(g.rules[0].state().alerts.is_empty());
    assert!(f.sent.lock().unwrap().is_empty());
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let f = fixture();
    let x = labels(&[("__name__", "x")]);
    for m in 0..10 {
        f.store.append(&x, m * MIN, if m < 2 { 5.0 } else { 0.0 });
    }
    let g = group(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    keep_firing_for: 2m\n",
        false,
    );
    let rule = &g.rules[0];
    g.eval(MIN, &f.ctx);
    // Without `for` an alert fires at once.
    assert_eq!(rule.alert_state(), AlertState::Firing);
    g.eval(2 * MIN, &f.ctx);
    assert_eq!(rule.alert_state(), AlertState::Firing);
    let since = rule
        .state()
        .alerts
        .values()
        .next()
        .unwrap()
        .keep_firing_since_ms;
    assert_eq!(since, Some(2 * MIN));
    g.eval(3 * MIN, &f.ctx);
    assert_eq!(rule.alert_state(), AlertState::Firing);
    g.eval(4 * MIN, &f.ctx);
    assert_eq!(rule.alert_state(), AlertState::Inactive);
}

#[test]
fn alert_limit_and_duplicate_labels_fail_the_rule() {
    let f = fixture();
    f.store
        .append(&labels(&[("__name__", "x"), ("i", "a")]), 0, 5.0);
    f.store
        .append(&labels(&[("__name__", "x"), ("i", "b")]), 0, 5.0);
    let g = group(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - alert: A\n    expr: x > 1\n  - alert: B\n    expr: sum by (i) (x) > 1\n    labels:\n      i: same\n",
        false,
    );
    g.eval(MIN, &f.ctx);
    assert_eq!(
        g.rules[0].state().last_error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
    assert!(g.rules[0].state().alerts.is_empty());
    assert_eq!(
        g.rules[1].state().last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying alert labels")
    );
}

#[test]
fn for_state_is_restored_after_a_restart() {
    let f = fixture();
    let x = labels(&[("__name__", "x")]);
    for m in 0..=40 {
        f.store.append(&x, m * MIN, 5.0);
    }
    let text = "groups:\n- name: g\n  rules:\n  - alert: Long\n    expr: x > 1\n    for: 20m\n";
    // First life: active from 1m, firing at 21m, down after the 22m evaluation.
    let before = group(text, false);
    for m in 1..=22 {
        before.eval(m * MIN, &f.ctx);
    }
    assert_eq!(before.rules[0].alert_state(), AlertState::Firing);

    // Second life, 10 minutes later: the first two evaluations write no ALERTS and see the
    // alert as new; the restore brings back the original active time, so it fires at once.
    let after = group(text, true);
    after.eval(32 * MIN, &f.ctx);
    after.eval(33 * MIN, &f.ctx);
    assert!(samples(&f.store, "ALERTS")
        .iter()
        .all(|(_, t, _)| *t <= 22 * MIN));
    assert_eq!(after.rules[0].alert_state(), AlertState::Pending);
    after.restore_for_state(33 * MIN, &f.ctx);
    assert_eq!(after.rules[0].active_alerts()[0].active_at_ms, MIN);
    after.eval(34 * MIN, &f.ctx);
    assert_eq!(after.rules[0].alert_state(), AlertState::Firing);
}

#[test]
fn pending_time_before_an_outage_is_kept() {
    let f = fixture();
    let x = labels(&[("__name__", "x")]);
    for m in 0..=40 {
        f.store.append(&x, m * MIN, 5.0);
    }
    let text = "groups:\n- name: g\n  rules:\n  - alert: Long\n    expr: x > 1\n    for: 20m\n";
    let before = group(text, false);
    for m in 1..=6 {
        before.eval(m * MIN, &f.ctx);
    }
    // Down at 6m after 5 minutes pending; back at 16m: 15 minutes of `for` remain, so the
    // active time moves forward by the 10 minute outage.
    let after = group(text, true);
    after.eval(15 * MIN, &f.ctx);
    after.eval(16 * MIN, &f.ctx);
    after.restore_for_state(16 * MIN, &f.ctx);
    assert_eq!(after.rules[0].active_alerts()[0].active_at_ms, 11 * MIN);
}

#[test]
fn short_for_skips_restore_within_grace_period() {
    let f = fixture();
    let text = "groups:\n- name: g\n  rules:\n  - alert: Short\n    expr: vector(1)\n    for: 2m\n";
    let g = group(text, true);
    g.eval(MIN, &f.ctx);
    assert!(samples(&f.store, "ALERTS").is_empty());
    g.restore_for_state(MIN, &f.ctx);
    assert!(g.rules[0].state().restored);
    g.eval(2 * MIN, &f.ctx);
    assert_eq!(samples(&f.store, "ALERTS").len(), 1);
}

#[test]
fn reload_keeps_alert_state_and_marks_removed_rules_stale() {
    let f = fixture();
    f.store.append(&labels(&[("__name__", "x")]), 0, 5.0);
    let old = group(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    for: 5m\n  - record: gone\n    expr: x\n",
        false,
    );
    old.eval(MIN, &f.ctx);
    let new = group(
        "groups:\n- name: g\n  interval: 30s\n  rules:\n  - alert: A\n    expr: x > 1\n    for: 5m\n",
        false,
    );
    assert!(!new.same_definition(&old));
    new.copy_state_from(&old);
    assert_eq!(new.rules[0].active_alerts()[0].active_at_ms, MIN);
    new.eval(2 * MIN, &f.ctx);
    let gone = samples(&f.store, "gone");
    assert_eq!(gone.len(), 2);
    assert!(is_stale_nan(gone[1].2));
    assert_eq!(gone[1].1, 2 * MIN);
}

#[test]
fn eval_timestamps_are_aligned_per_group() {
    let g = group("groups:\n- name: g\n  interval: 10s\n  rules: []\n", false);
    let now = 1_700_000_123_456;
    let t = g.eval_timestamp(now);
    assert!(t <= now && now - t < 10_000, "{t} vs {now}");
    // The phase is fixed: later calls land on the same grid.
    let t2 = g.eval_timestamp(now + 25_000);
    assert_eq!((t2 - t) % 10_000, 0);
    let other = group("groups:\n- name: h\n  interval: 10s\n  rules: []\n", false);
    assert_ne!(other.eval_timestamp(now) % 10_000, t % 10_000);
}

#[test]
fn query_offset_shifts_evaluation_and_output_time() {
    let f = fixture();
    let x = labels(&[("__name__", "x")]);
    f.store.append(&x, 0, 1.0);
    f.store.append(&x, 50_000, 2.0);
    let g = group(
        "groups:\n- name: g\n  query_offset: 30s\n  rules:\n  - record: r\n    expr: x\n",
        false,
    );
    g.eval(60_000, &f.ctx);
    assert_eq!(
        samples(&f.store, "r"),
        vec![(labels(&[("__name__", "r")]), 30_000, 1.0)]
    );
}

#[test]
fn annotations_and_labels_are_expanded_with_templates() {
    let mut f = fixture();
    f.ctx.external_labels = labels(&[("site", "eu")]);
    f.store
        .append(&labels(&[("__name__", "x"), ("i", "a")]), 0, 5.0);
    let g = group(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    labels:\n      where: '{{ $labels.i }}-{{ $externalLabels.site }}'\n    annotations:\n      summary: '{{ $labels.i }} is {{ $value }} at {{ $externalURL }}'\n      broken: '{{ humanize \"abc\" }}'\n",
        false,
    );
    g.eval(MIN, &f.ctx);
    let a = g.rules[0].active_alerts().pop().expect("alert");
    assert_eq!(a.labels.get("where"), Some("a-eu"));
    assert_eq!(
        a.annotations.get("summary"),
        Some("a is 5 at http://pharos:9090")
    );
    let broken = a.annotations.get("broken").unwrap_or_default();
    assert!(
        broken.starts_with("<error expanding template: "),
        "{broken}"
    );
}

#[test]
fn absurd_for_state_values_are_clamped_not_overflowed() {
    for stored in [
        1e300,
        -1e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        9.3e15,
        -9.3e15,
    ] {
        let f = fixture();
        let x = labels(&[("__name__", "x")]);
        for m in 0..=40 {
            f.store.append(&x, m * MIN, 5.0);
        }
        // A for-state sample that no earlier run could have written (remote write or a
        // corrupt import can put any value there).
        let state = labels(&[
            ("__name__", crate::rule::ALERTS_FOR_STATE_METRIC),
            ("alertname", "Long"),
        ]);
        f.store.append(&state, 30 * MIN, stored);
        let text = "groups:\n- name: g\n  rules:\n  - alert: Long\n    expr: x > 1\n    for: 20m\n";
        let g = group(text, true);
        g.eval(32 * MIN, &f.ctx);
        g.eval(33 * MIN, &f.ctx);
        g.restore_for_state(33 * MIN, &f.ctx);
        let active_at = g.rules[0].active_alerts()[0].active_at_ms;
        assert!(
            (0..=33 * MIN).contains(&active_at),
            "{stored}: active at {active_at}"
        );
        g.eval(34 * MIN, &f.ctx);
        g.eval(60 * MIN, &f.ctx);
    }
}
