//! `/api/v1/targets` and `/api/v1/status/*`.

use std::sync::Arc;

use axum::extract::State;
use serde_json::{json, Value as Json};

use super::params::Params;
use super::response::{ApiError, ApiResult, ApiSuccess};
use crate::server::AppState;

fn to_json<T: serde::Serialize>(v: &T) -> Result<Json, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(format!("encoding response: {e}")))
}

/// `GET /api/v1/targets` with the `state` and `scrapePool` filters.
pub async fn targets(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let state_filter = p.get("state").unwrap_or("any").to_ascii_lowercase();
    let pool_filter = p.get("scrapePool").filter(|s| !s.is_empty());
    let view = st.scrape.lock().await.targets();
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts = serde_json::Map::new();
    for (name, pool) in &view.pools {
        if pool_filter.is_some_and(|f| f != name) {
            continue;
        }
        dropped_counts.insert(name.clone(), json!(pool.dropped.len()));
        for t in &pool.active {
            active.push(to_json(t)?);
        }
        for t in &pool.dropped {
            dropped.push(to_json(t)?);
        }
    }
    // As in Prometheus, a filtered-out list is present and empty.
    let show_active = matches!(state_filter.as_str(), "any" | "active" | "");
    let show_dropped = matches!(state_filter.as_str(), "any" | "dropped" | "");
    if !show_active {
        active.clear();
    }
    if !show_dropped {
        dropped.clear();
    }
    let mut data = serde_json::Map::new();
    data.insert("activeTargets".into(), Json::Array(active));
    data.insert("droppedTargets".into(), Json::Array(dropped));
    if show_dropped {
        data.insert("droppedTargetCounts".into(), Json::Object(dropped_counts));
    }
    Ok(ApiSuccess::new(Json::Object(data)))
}

/// `GET /api/v1/scrape_pools`: the names of the configured scrape pools.
pub async fn scrape_pools(State(st): State<Arc<AppState>>) -> ApiResult {
    let view = st.scrape.lock().await.targets();
    let names: Vec<&String> = view.pools.keys().collect();
    Ok(ApiSuccess::new(json!({ "scrapePools": names })))
}

/// `GET /api/v1/status/walreplay`: replay runs before the listener opens, so it is always
/// complete here; the numbers are the first and last write-ahead log segments.
pub async fn wal_replay(State(st): State<Arc<AppState>>) -> ApiResult {
    let wal = st.options.storage_path.join("wal");
    let segments: Vec<u64> = std::fs::read_dir(&wal)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()))
                .collect()
        })
        .unwrap_or_default();
    let min = segments.iter().min().copied().unwrap_or(0);
    let max = segments.iter().max().copied().unwrap_or(0);
    Ok(ApiSuccess::new(
        json!({"min": min, "max": max, "current": max}),
    ))
}

/// `GET /api/v1/status/config`: the configuration in force, secrets redacted.
pub async fn config(State(st): State<Arc<AppState>>) -> ApiResult {
    let yaml = st
        .loaded_config()
        .config
        .to_yaml()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(ApiSuccess::new(json!({"yaml": yaml})))
}

/// `GET /api/v1/status/flags`.
pub async fn flags(State(st): State<Arc<AppState>>) -> ApiResult {
    to_json(&st.options.flags).map(ApiSuccess::new)
}

/// Formats a time as RFC 3339 with milliseconds, UTC.
pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    pharos_scrape::target_status::rfc3339(Some(t))
}

fn retention_text(st: &AppState) -> String {
    let mut parts = Vec::new();
    if st.options.retention_time_ms > 0 {
        let ms = u64::try_from(st.options.retention_time_ms).unwrap_or(0);
        parts.push(pharos_http::PromDuration::from_millis(ms).to_string());
    }
    if st.options.retention_bytes > 0 {
        parts.push(pharos_scrape::ByteSize(st.options.retention_bytes).to_string());
    }
    if parts.is_empty() {
        "unlimited".into()
    } else {
        parts.join(" or ")
    }
}

/// `GET /api/v1/status/runtimeinfo`. Go-runtime fields keep their names for clients that
/// read them and carry this process's nearest equivalents.
pub async fn runtime_info(State(st): State<Arc<AppState>>) -> ApiResult {
    let reload = st
        .reload_status
        .read()
        .map(|r| (r.last_success, r.last_success_time))
        .unwrap_or_else(|e| {
            let r = e.into_inner();
            (r.last_success, r.last_success_time)
        });
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Ok(ApiSuccess::new(json!({
        "startTime": rfc3339(st.start_time),
        "CWD": cwd,
        "reloadConfigSuccess": reload.0,
        "lastConfigTime": rfc3339(reload.1),
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": threads,
        "GOMEMLIMIT": 0,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": retention_text(&st),
    })))
}

/// `GET /api/v1/status/buildinfo`.
pub async fn build_info() -> ApiResult {
    Ok(ApiSuccess::new(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    })))
}

fn name_value(list: &[(String, u64)]) -> Json {
    Json::Array(
        list.iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect(),
    )
}

/// `GET /api/v1/status/tsdb`: head cardinality.
pub async fn tsdb(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let limit = match p.get("limit") {
        None | Some("") => 10,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(ApiError::bad_data(format!(
                    "limit must be a positive number: {v:?}"
                )))
            }
        },
    };
    let db = st.db.clone();
    let (stats, analysis) =
        tokio::task::spawn_blocking(move || (db.head_stats(), db.analyze_head(limit)))
            .await
            .map_err(|e| ApiError::internal(format!("tsdb status task failed: {e}")))?;
    let (min_t, max_t) = if stats.num_series == 0 || stats.min_time > stats.max_time {
        (json!(i64::MAX), json!(i64::MIN))
    } else {
        (json!(stats.min_time), json!(stats.max_time))
    };
    Ok(ApiSuccess::new(json!({
        "headStats": {
            "numSeries": stats.num_series,
            "numLabelPairs": analysis.label_pairs,
            "chunkCount": stats.num_chunks,
            "minTime": min_t,
            "maxTime": max_t,
        },
        "seriesCountByMetricName": name_value(&analysis.highest_cardinality_metrics),
        "labelValueCountByLabelName": name_value(&analysis.highest_cardinality_labels),
        "memoryInBytesByLabelName": name_value(&analysis.value_bytes_by_label),
        "seriesCountByLabelValuePair": name_value(&analysis.most_common_pairs),
    })))
}
