//! `/api/v1/query`, `/api/v1/query_range` and `/api/v1/format_query`.

use std::sync::Arc;

use axum::extract::State;
use pharos_promql::EvalError;

use super::params::{parse_duration, parse_time, Params};
use super::response::{ApiError, ApiResult, ApiSuccess, ErrorType, Payload};
use super::value_json::query_data;
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
    let res = tokio::task::spawn_blocking(move || st2.engine.instant_query(&*st2.db, &q, t))
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?
        .map_err(eval_error)?;
    let log_file = st.loaded_config().config.global.query_log_file;
    crate::query_log::record(&log_file, &query, t, t, 0, began.elapsed());
    Ok(ApiSuccess {
        data: Payload::Serialized(query_data(&res.value, t)),
        warnings: res.annotations.warnings(&query),
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
    let res =
        tokio::task::spawn_blocking(move || st2.engine.range_query(&*st2.db, &q, start, end, step))
            .await
            .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?
            .map_err(eval_error)?;
    let log_file = st.loaded_config().config.global.query_log_file;
    crate::query_log::record(&log_file, &query, start, end, step, began.elapsed());
    Ok(ApiSuccess {
        data: Payload::Serialized(query_data(&res.value, end)),
        warnings: res.annotations.warnings(&query),
        infos: res.annotations.infos(&query),
    })
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
