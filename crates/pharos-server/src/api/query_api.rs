//! `/api/v1/query`, `/api/v1/query_range` and `/api/v1/format_query`.

use std::sync::Arc;

use axum::extract::State;
use pharos_promql::{EvalError, QueryStats};

use super::params::{parse_duration, parse_time, Params};
use super::response::{ApiError, ApiResult, ApiSuccess, ErrorType, Payload};
use super::value_json::query_data;
use crate::fanout::FanoutStorage;
use crate::server::AppState;

fn eval_error(e: EvalError) -> ApiError {
    let kind = ErrorType::from_engine(e.error_type());
    let message = match &e {
        EvalError::Parse(_) => format!("invalid parameter \"query\": {e}"),
        _ => e.to_string(),
    };
    ApiError { kind, message }
}

fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(name) {
        None | Some("") => Ok(default),
        Some(v) => parse_time(v)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
    }
}

/// `GET|POST /api/v1/query`.
pub async fn instant_query(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let query = p.get("query").unwrap_or_default().to_string();
    let t = time_param(&p, "time", super::now_ms())?;
    let st2 = st.clone();
    let q = query.clone();
    let began = std::time::Instant::now();
    let (res, remote_warnings) = tokio::task::spawn_blocking(move || {
        let storage = FanoutStorage::for_state(&st2);
        let res = st2.engine.instant_query(&storage, &q, t);
        (res, storage.take_warnings())
    })
    .await
    .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?;
    let res = res.map_err(eval_error)?;
    let log_file = st.loaded_config().config.global.query_log_file;
    crate::query_log::record(&log_file, &query, t, t, 0, began.elapsed());
    let mut warnings = remote_warnings;
    warnings.extend(res.annotations.warnings(&query));
    let mut data = query_data(&res.value, t);
    if wants_stats(&p) {
        data = with_stats(data, &res.stats, began.elapsed());
    }
    Ok(ApiSuccess {
        data: Payload::Serialized(data),
        warnings,
        infos: res.annotations.infos(&query),
    })
}

/// `GET|POST /api/v1/query_range`.
pub async fn range_query(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let query = p.get("query").unwrap_or_default().to_string();
    let start = match p.get("start") {
        Some(v) => parse_time(v)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"start\": {e}")))?,
        None => {
            return Err(ApiError::bad_data(
                "invalid parameter \"start\": cannot parse \"\" to a valid timestamp",
            ))
        }
    };
    let end = match p.get("end") {
        Some(v) => parse_time(v)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"end\": {e}")))?,
        None => {
            return Err(ApiError::bad_data(
                "invalid parameter \"end\": cannot parse \"\" to a valid timestamp",
            ))
        }
    };
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = match p.get("step") {
        Some(v) => parse_duration(v)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?,
        None => {
            return Err(ApiError::bad_data(
                "invalid parameter \"step\": cannot parse \"\" to a valid duration",
            ))
        }
    };
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let st2 = st.clone();
    let q = query.clone();
    let began = std::time::Instant::now();
    let (res, remote_warnings) = tokio::task::spawn_blocking(move || {
        let storage = FanoutStorage::for_state(&st2);
        let res = st2.engine.range_query(&storage, &q, start, end, step);
        (res, storage.take_warnings())
    })
    .await
    .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?;
    let res = res.map_err(eval_error)?;
    let log_file = st.loaded_config().config.global.query_log_file;
    crate::query_log::record(&log_file, &query, start, end, step, began.elapsed());
    let mut warnings = remote_warnings;
    warnings.extend(res.annotations.warnings(&query));
    let mut data = query_data(&res.value, end);
    if wants_stats(&p) {
        data = with_stats(data, &res.stats, began.elapsed());
    }
    Ok(ApiSuccess {
        data: Payload::Serialized(data),
        warnings,
        infos: res.annotations.infos(&query),
    })
}

/// `GET|POST /api/v1/query_exemplars`: exemplars of the series the query's selectors match.
pub async fn query_exemplars(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let start = time_param(&p, "start", super::params::MIN_TIME)?;
    let end = time_param(&p, "end", super::params::MAX_TIME)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    let query = p.get("query").unwrap_or_default();
    let expr = st
        .engine
        .parse(query)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    let sets = super::ast_json::selectors(&expr);
    if sets.is_empty() {
        return Ok(ApiSuccess::new(serde_json::Value::Null));
    }
    let db = st.db.clone();
    let found = tokio::task::spawn_blocking(move || {
        let mut by_series = std::collections::BTreeMap::new();
        for set in &sets {
            for (labels, exemplars) in db.exemplars(set, start, end) {
                by_series.insert(labels, exemplars);
            }
        }
        by_series
    })
    .await
    .map_err(|e| ApiError::internal(format!("exemplar task failed: {e}")))?;
    let out: Vec<serde_json::Value> = found
        .iter()
        .map(|(labels, exemplars)| {
            serde_json::json!({
                "seriesLabels": super::value_json::labels_json(labels),
                "exemplars": exemplars.iter().map(|e| serde_json::json!({
                    "labels": super::value_json::labels_json(&e.labels),
                    "value": pharos_promql::value::format_float(e.value),
                    "timestamp": e.t as f64 / 1000.0,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(ApiSuccess::new(serde_json::Value::Array(out)))
}

/// `GET|POST /api/v1/parse_query`: the syntax tree as JSON, as Prometheus 3's UI reads it.
pub async fn parse_query(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let query = p.get("query").unwrap_or_default();
    let expr = st
        .engine
        .parse(query)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    Ok(ApiSuccess::new(super::ast_json::ast_json(&expr)))
}

/// Appends Prometheus's `stats` object to a serialised `data` object (`stats=<anything>`);
/// per-step sample counts are not kept, so `totalQueryableSamplesPerStep` is never present.
fn with_stats(mut data: String, stats: &QueryStats, total: std::time::Duration) -> String {
    if data.ends_with('}') {
        data.pop();
        let secs = |d: std::time::Duration| d.as_secs_f64();
        let stats = serde_json::json!({
            "timings": {
                "evalTotalTime": secs(stats.prepare_time + stats.eval_time),
                "resultSortTime": 0,
                "queryPreparationTime": secs(stats.prepare_time),
                "innerEvalTime": secs(stats.eval_time),
                "execQueueTime": secs(stats.queue_time),
                "execTotalTime": secs(total),
            },
            "samples": {
                "totalQueryableSamples": stats.total_queryable_samples,
                "peakSamples": stats.peak_samples,
            },
        });
        data.push_str(",\"stats\":");
        data.push_str(&stats.to_string());
        data.push('}');
    }
    data
}

fn wants_stats(p: &Params) -> bool {
    p.get("stats").is_some_and(|s| !s.is_empty())
}

/// `GET|POST /api/v1/format_query`: the query pretty-printed by the parser.
pub async fn format_query(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let query = p.get("query").unwrap_or_default();
    let expr = st
        .engine
        .parse(query)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    Ok(ApiSuccess::new(serde_json::Value::String(expr.to_string())))
}
