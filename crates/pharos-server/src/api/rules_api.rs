//! `/api/v1/rules`, `/api/v1/alerts` and `/api/v1/alertmanagers`, with Prometheus's JSON
//! shapes.

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use pharos_model::Labels;
use pharos_rules::{Alert, Rule};
use serde_json::{json, Map, Value};
use std::sync::Arc;

use super::params::Params;
use super::response::{ApiError, ApiResult, ApiSuccess};
use crate::server::AppState;

/// Go's JSON time for a millisecond timestamp; `None` is Go's zero time.
fn time_json(ms: Option<i64>) -> String {
    pharos_scrape::target_status::rfc3339(
        ms.map(|ms| UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
    )
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, the alert `value` format.
fn value_json(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Milliseconds as seconds, written as Go writes a float64 (`60`, not `60.0`).
fn seconds_json(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|l| (l.name.to_string(), Value::String(l.value.to_string())))
            .collect::<Map<String, Value>>(),
    )
}

fn alert_json(a: &Alert) -> Value {
    let mut o = Map::new();
    o.insert("labels".into(), labels_json(&a.labels));
    o.insert("annotations".into(), labels_json(&a.annotations));
    o.insert("state".into(), json!(a.state.as_str()));
    o.insert("activeAt".into(), json!(time_json(Some(a.active_at_ms))));
    if let Some(since) = a.keep_firing_since_ms {
        o.insert("keepFiringSince".into(), json!(time_json(Some(since))));
    }
    o.insert("value".into(), json!(value_json(a.value)));
    Value::Object(o)
}

fn rule_json(rule: &Rule, with_alerts: bool) -> Value {
    let (health, last_error, last_eval, eval_seconds) = {
        let st = rule.state();
        (
            st.health,
            st.last_error.clone(),
            st.last_evaluation_ms,
            st.evaluation_seconds,
        )
    };
    let mut o = Map::new();
    if rule.is_alerting() {
        let alerts: Vec<Value> = if with_alerts {
            rule.active_alerts().iter().map(alert_json).collect()
        } else {
            Vec::new()
        };
        o.insert("state".into(), json!(rule.alert_state().as_str()));
        o.insert("name".into(), json!(rule.name()));
        o.insert("query".into(), json!(rule.query));
        o.insert("duration".into(), seconds_json(rule.spec.for_ms));
        o.insert(
            "keepFiringFor".into(),
            seconds_json(rule.spec.keep_firing_for_ms),
        );
        o.insert("labels".into(), labels_json(&rule.spec.labels));
        o.insert("annotations".into(), labels_json(&rule.spec.annotations));
        o.insert("alerts".into(), Value::Array(alerts));
    } else {
        o.insert("name".into(), json!(rule.name()));
        o.insert("query".into(), json!(rule.query));
        if !rule.spec.labels.is_empty() {
            o.insert("labels".into(), labels_json(&rule.spec.labels));
        }
    }
    o.insert("health".into(), json!(health.as_str()));
    if let Some(e) = last_error {
        o.insert("lastError".into(), json!(e));
    }
    o.insert("evaluationTime".into(), json!(eval_seconds));
    o.insert("lastEvaluation".into(), json!(time_json(last_eval)));
    o.insert(
        "type".into(),
        json!(if rule.is_alerting() {
            "alerting"
        } else {
            "recording"
        }),
    );
    Value::Object(o)
}

/// `GET /api/v1/rules` with the `type`, `rule_name[]`, `rule_group[]`, `file[]` and
/// `exclude_alerts` filters.
pub async fn rules(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let typ = p.get("type").unwrap_or_default().to_lowercase();
    if !typ.is_empty() && typ != "alert" && typ != "record" {
        return Err(ApiError::bad_data(format!("not supported value {typ:?}")));
    }
    let (want_alerting, want_recording) = (typ != "record", typ != "alert");
    let exclude_alerts = match p.get("exclude_alerts") {
        None | Some("") => false,
        Some(v) => v.parse::<bool>().map_err(|_| {
            ApiError::bad_data(format!("parsing exclude_alerts: invalid value {v:?}"))
        })?,
    };
    let set = |key: &str| -> HashSet<String> { p.all(key).into_iter().map(String::from).collect() };
    let (names, groups_wanted, files) = (set("rule_name[]"), set("rule_group[]"), set("file[]"));
    let mut groups = Vec::new();
    for g in st.rules.groups() {
        if !groups_wanted.is_empty() && !groups_wanted.contains(&g.name) {
            continue;
        }
        if !files.is_empty() && !files.contains(&g.file) {
            continue;
        }
        let rules: Vec<Value> = g
            .rules
            .iter()
            .filter(|r| names.is_empty() || names.contains(r.name()))
            .filter(|r| {
                if r.is_alerting() {
                    want_alerting
                } else {
                    want_recording
                }
            })
            .map(|r| rule_json(r, !exclude_alerts))
            .collect();
        // A group whose rules were all filtered out is left out, as in Prometheus.
        if rules.is_empty() {
            continue;
        }
        let status = g.status();
        groups.push(json!({
            "name": g.name,
            "file": g.file,
            "rules": rules,
            "interval": seconds_json(g.interval_ms),
            "limit": g.limit,
            "evaluationTime": status.evaluation_seconds,
            "lastEvaluation": time_json(status.last_evaluation_ms),
        }));
    }
    Ok(ApiSuccess::new(json!({ "groups": groups })))
}

/// `GET /api/v1/alerts`: pending and firing alerts of every alerting rule.
pub async fn alerts(State(st): State<Arc<AppState>>) -> ApiResult {
    let alerts: Vec<Value> = st
        .rules
        .groups()
        .iter()
        .flat_map(|g| g.active_alerts())
        .map(|a| alert_json(&a))
        .collect();
    Ok(ApiSuccess::new(json!({ "alerts": alerts })))
}

/// `GET /api/v1/alertmanagers`: the Alertmanagers alerts are sent to and the discovered ones
/// that relabeling dropped, each as its alerts URL.
pub async fn alertmanagers(State(st): State<Arc<AppState>>) -> ApiResult {
    let ams = st.notifier.alertmanagers();
    let urls = |v: Vec<String>| -> Vec<serde_json::Value> {
        v.into_iter().map(|url| json!({ "url": url })).collect()
    };
    Ok(ApiSuccess::new(json!({
        "activeAlertmanagers": urls(ams.active),
        "droppedAlertmanagers": urls(ams.dropped),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_like_go() {
        assert_eq!(value_json(1.0), "1e+00");
        assert_eq!(value_json(0.0), "0e+00");
        assert_eq!(value_json(123456.0), "1.23456e+05");
        assert_eq!(value_json(-0.25), "-2.5e-01");
        assert_eq!(value_json(1e-300), "1e-300");
        assert_eq!(value_json(f64::INFINITY), "+Inf");
    }
}
