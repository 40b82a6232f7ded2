//! The hand-off from alerting rules to the notifier.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// An alert as handed to the notifier (Prometheus's notifier.Alert).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertToSend {
    /// Identifying labels, `alertname` included.
    pub labels: pharos_model::Labels,
    /// Expanded annotations.
    pub annotations: pharos_model::Labels,
    /// When the alert started firing (ms).
    pub starts_at_ms: i64,
    /// When the alert resolved, or until when it is valid without being re-sent (ms).
    pub ends_at_ms: i64,
    /// Link back to the expression in the web UI.
    pub generator_url: String,
}

/// Where alerts go after each evaluation of a group (Prometheus's rules.NotifyFunc).
pub type NotifyFn = std::sync::Arc<dyn Fn(Vec<AlertToSend>) + Send + Sync>;

/// Characters Go's `url.QueryEscape` leaves alone: letters, digits and `-_.~`; a space
/// becomes `+`, handled separately.
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b' ');

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    utf8_percent_encode(s, QUERY_ESCAPE)
        .to_string()
        .replace(' ', "+")
}

/// `external_url` + `/graph?g0.expr=...&g0.tab=1`, Prometheus's link to an expression's table
/// view.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        external_url.trim_end_matches('/'),
        query_escape(expr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_escapes_like_go() {
        assert_eq!(
            generator_url("http://h:9090/", "rate(a{b=\"c d\"}[5m]) > 0"),
            "http://h:9090/graph?g0.expr=rate%28a%7Bb%3D%22c+d%22%7D%5B5m%5D%29+%3E+0&g0.tab=1"
        );
    }
}
