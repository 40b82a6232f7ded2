//! An alert as the notifier sends it, and its Alertmanager API v2 JSON encoding.

use std::time::{Duration, UNIX_EPOCH};

use pharos_model::Labels;
use serde_json::{Map, Value};

/// One alert on its way to the Alertmanagers.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Identifying labels (`alertname` and the rest).
    pub labels: Labels,
    /// Descriptive annotations (`summary`, `description`, ...).
    pub annotations: Labels,
    /// When the alert started firing, in milliseconds since the epoch; 0 when unknown.
    pub starts_at_ms: i64,
    /// When the alert stops being valid (or was resolved), in milliseconds since the epoch;
    /// 0 when unknown.
    pub ends_at_ms: i64,
    /// A link back to the expression that produced the alert.
    pub generator_url: String,
}

impl Alert {
    /// The `alertname` label, if any.
    pub fn name(&self) -> Option<&str> {
        self.labels.get("alertname")
    }
}

/// Formats milliseconds since the epoch as RFC 3339 in UTC with exactly three fractional
/// digits, as Go's `strfmt.DateTime` does in the Alertmanager client; times before the epoch
/// are clamped to it.
pub fn rfc3339_millis(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    let whole = UNIX_EPOCH + Duration::from_secs(ms / 1000);
    let base = pharos_scrape::target_status::rfc3339(Some(whole));
    let stem = base.strip_suffix('Z').unwrap_or(&base);
    format!("{stem}.{:03}Z", ms % 1000)
}

fn label_object(labels: &Labels) -> Value {
    let mut m = Map::new();
    for l in labels {
        m.insert(l.name.to_string(), Value::String(l.value.to_string()));
    }
    Value::Object(m)
}

/// One alert as an API v2 `postableAlert`, with the field order and omissions of the Go
/// client: `annotations`, `endsAt`, `startsAt`, `generatorURL` only when set; `labels` always.
pub fn to_json(alert: &Alert) -> Value {
    let mut m = Map::new();
    if !alert.annotations.is_empty() {
        m.insert("annotations".into(), label_object(&alert.annotations));
    }
    if alert.ends_at_ms != 0 {
        m.insert(
            "endsAt".into(),
            Value::String(rfc3339_millis(alert.ends_at_ms)),
        );
    }
    if alert.starts_at_ms != 0 {
        m.insert(
            "startsAt".into(),
            Value::String(rfc3339_millis(alert.starts_at_ms)),
        );
    }
    if !alert.generator_url.is_empty() {
        m.insert(
            "generatorURL".into(),
            Value::String(alert.generator_url.clone()),
        );
    }
    m.insert("labels".into(), label_object(&alert.labels));
    Value::Object(m)
}

/// The body of `POST /api/v2/alerts`: a JSON array of alerts.
pub fn encode_v2(alerts: &[Alert]) -> String {
    Value::Array(alerts.iter().map(to_json).collect()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_milliseconds() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(rfc3339_millis(-5), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn payload_has_the_api_v2_shape() {
        let a = Alert {
            labels: Labels::from_pairs([("alertname", "Down"), ("job", "node")]),
            annotations: Labels::from_pairs([("summary", "it \"broke\"")]),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms: 1_700_000_060_500,
            generator_url: "http://p:9090/graph?g0.expr=up".into(),
        };
        let body = encode_v2(std::slice::from_ref(&a));
        assert_eq!(
            body,
            r#"[{"annotations":{"summary":"it \"broke\""},"endsAt":"2023-11-14T22:14:20.500Z","startsAt":"2023-11-14T22:13:20.000Z","generatorURL":"http://p:9090/graph?g0.expr=up","labels":{"alertname":"Down","job":"node"}}]"#
        );
        let bare = Alert {
            labels: Labels::from_pairs([("alertname", "X")]),
            annotations: Labels::empty(),
            starts_at_ms: 0,
            ends_at_ms: 0,
            generator_url: String::new(),
        };
        assert_eq!(encode_v2(&[bare]), r#"[{"labels":{"alertname":"X"}}]"#);
        assert_eq!(encode_v2(&[]), "[]");
    }
}
