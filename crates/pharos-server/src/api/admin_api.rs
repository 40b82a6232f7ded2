//! `/api/v1/admin/tsdb/*`, served only with `--web.enable-admin-api`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::params::{parse_time, Params, MAX_TIME, MIN_TIME};
use super::response::{ApiError, ApiSuccess, ErrorType};
use crate::server::AppState;

fn check_enabled(st: &AppState) -> Result<(), ApiError> {
    if st.options.enable_admin_api {
        Ok(())
    } else {
        Err(ApiError {
            kind: ErrorType::Unavailable,
            message: "admin APIs disabled".into(),
        })
    }
}

/// `POST|PUT /api/v1/admin/tsdb/delete_series`: deletes matching samples in a time range.
pub async fn delete_series(
    State(st): State<Arc<AppState>>,
    p: Params,
) -> Result<Response, ApiError> {
    check_enabled(&st)?;
    let mut sets = Vec::new();
    for m in p.all("match[]") {
        let sel = pharos_promql::parser::parse_selector(m)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?;
        sets.push(sel.matchers);
    }
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let time = |name: &str, default: i64| match p.get(name) {
        None | Some("") => Ok(default),
        Some(v) => parse_time(v)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
    };
    let (start, end) = (time("start", MIN_TIME)?, time("end", MAX_TIME)?);
    let db = st.db.clone();
    tokio::task::spawn_blocking(move || sets.iter().try_for_each(|set| db.delete(set, start, end)))
        .await
        .map_err(|e| ApiError::internal(format!("delete task failed: {e}")))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST|PUT /api/v1/admin/tsdb/snapshot`: a copy of the data under `<data>/snapshots/<name>`.
pub async fn snapshot(State(st): State<Arc<AppState>>, p: Params) -> Result<ApiSuccess, ApiError> {
    check_enabled(&st)?;
    let skip_head = matches!(p.get("skip_head"), Some("true" | "1"));
    let name = format!("{}-{:016x}", super::now_ms(), std::process::id());
    let dir = st.options.storage_path.join("snapshots").join(&name);
    let db = st.db.clone();
    tokio::task::spawn_blocking(move || db.snapshot(&dir, !skip_head))
        .await
        .map_err(|e| ApiError::internal(format!("snapshot task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("create snapshot: {e}")))?;
    Ok(ApiSuccess::new(json!({"name": name})))
}

/// `POST|PUT /api/v1/admin/tsdb/clean_tombstones`: rewrites blocks with deletions so the
/// deleted data leaves the disk.
pub async fn clean_tombstones(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    check_enabled(&st)?;
    let db = st.db.clone();
    tokio::task::spawn_blocking(move || db.clean_tombstones())
        .await
        .map_err(|e| ApiError::internal(format!("clean tombstones task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("clean tombstones: {e}")))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
