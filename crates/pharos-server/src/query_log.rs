//! `global.query_log_file`: one JSON line per API query, in Prometheus's shape, so existing
//! log tooling can read it.

use std::io::Write as _;

use serde_json::json;

/// Appends a record of one query to `path` (a no-op when `path` is empty). Failures are
/// logged, never returned: a full disk must not fail queries.
pub fn record(
    path: &str,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    took: std::time::Duration,
) {
    if path.is_empty() {
        return;
    }
    let secs = |ms: i64| {
        pharos_scrape::target_status::rfc3339(Some(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
        ))
    };
    let mut params = json!({"query": query, "start": secs(start_ms), "end": secs(end_ms), "step": step_ms / 1000});
    if step_ms == 0 {
        params["step"] = json!(0);
    }
    let line = json!({
        "params": params,
        "stats": {"timings": {"evalTotalTime": took.as_secs_f64()}},
        "ts": secs(crate::api::now_ms()),
    });
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = result {
        tracing::error!(file = path, error = %e, "writing the query log failed");
    }
}
