//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values` and `/api/v1/metadata`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use pharos_model::{Labels, Matcher};
use pharos_tsdb::Queryable;
use serde_json::{json, Value as Json};

use super::params::{parse_time, Params, MAX_TIME, MIN_TIME};
use super::response::{ApiError, ApiResult, ApiSuccess};
use super::value_json::labels_json;
use crate::server::AppState;

fn matcher_sets(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    p.all("match[]")
        .into_iter()
        .map(|m| {
            let sel = pharos_promql::parser::parse_selector(m)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?;
            if sel.matchers.iter().all(|m| m.matches("")) {
                return Err(ApiError::bad_data(
                    "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher",
                ));
            }
            Ok(sel.matchers)
        })
        .collect()
}

fn range(p: &Params) -> Result<(i64, i64), ApiError> {
    let get = |name: &str, default: i64| -> Result<i64, ApiError> {
        match p.get(name) {
            None | Some("") => Ok(default),
            Some(v) => parse_time(v)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
        }
    };
    Ok((get("start", MIN_TIME)?, get("end", MAX_TIME)?))
}

fn limit(p: &Params) -> Result<usize, ApiError> {
    match p.get("limit") {
        None | Some("") => Ok(0),
        Some(v) => v.parse::<usize>().map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"limit\": cannot parse {v:?} to a valid limit"
            ))
        }),
    }
}

fn storage_err(e: pharos_tsdb::StorageError) -> ApiError {
    ApiError {
        kind: super::response::ErrorType::Execution,
        message: e.to_string(),
    }
}

fn truncated(mut items: Vec<Json>, limit: usize) -> ApiSuccess {
    let mut warnings = Vec::new();
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        warnings.push("results truncated due to limit".to_string());
    }
    ApiSuccess {
        data: Json::Array(items).into(),
        warnings,
        infos: Vec::new(),
    }
}

/// `GET|POST /api/v1/series`.
pub async fn series(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let sets = matcher_sets(&p)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let (mint, maxt) = range(&p)?;
    let limit = limit(&p)?;
    let found = tokio::task::spawn_blocking(move || -> Result<BTreeSet<Labels>, ApiError> {
        let q = st.db.querier(mint, maxt).map_err(storage_err)?;
        let mut out = BTreeSet::new();
        for set in &sets {
            for s in q.select(None, set).map_err(storage_err)? {
                out.insert(s.labels().clone());
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::internal(format!("series task failed: {e}")))??;
    Ok(truncated(found.iter().map(labels_json).collect(), limit))
}

/// Label names or values over the union of the `match[]` sets (all series when none).
async fn label_query(st: Arc<AppState>, p: Params, name: Option<String>) -> ApiResult {
    let sets = matcher_sets(&p)?;
    let (mint, maxt) = range(&p)?;
    let limit = limit(&p)?;
    let found = tokio::task::spawn_blocking(move || -> Result<BTreeSet<String>, ApiError> {
        let q = st.db.querier(mint, maxt).map_err(storage_err)?;
        let sets = if sets.is_empty() {
            vec![Vec::new()]
        } else {
            sets
        };
        let mut out = BTreeSet::new();
        for set in &sets {
            let r = match &name {
                Some(n) => q.label_values(n, set),
                None => q.label_names(set),
            };
            out.extend(r.map_err(storage_err)?);
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::internal(format!("label task failed: {e}")))??;
    Ok(truncated(
        found.into_iter().map(Json::String).collect(),
        limit,
    ))
}

/// `GET|POST /api/v1/labels`.
pub async fn label_names(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    label_query(st, p, None).await
}

/// `GET /api/v1/label/<name>/values`.
pub async fn label_values(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    p: Params,
) -> ApiResult {
    // Prometheus 3 accepts UTF-8 names escaped as `U__...`; plain names are the common case.
    if name.is_empty() || name.contains(char::is_control) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    label_query(st, p, Some(name)).await
}

/// `GET /api/v1/metadata`: HELP, TYPE and UNIT per metric name, from what scrapes reported.
pub async fn metadata(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let metric = p
        .get("metric")
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let limit = limit(&p)?;
    let mut by_name: BTreeMap<String, BTreeSet<(String, String, String)>> = BTreeMap::new();
    for (labels, m) in st.db.metadata(metric.as_deref()) {
        let Some(name) = labels.metric_name() else {
            continue;
        };
        by_name.entry(name.to_string()).or_default().insert((
            m.metric_type.as_text().to_string(),
            m.help.clone(),
            m.unit.clone(),
        ));
    }
    let mut out = serde_json::Map::new();
    for (name, entries) in by_name {
        if limit > 0 && out.len() >= limit {
            break;
        }
        let list: Vec<Json> = entries
            .into_iter()
            .map(|(t, help, unit)| json!({"type": t, "help": help, "unit": unit}))
            .collect();
        out.insert(name, Json::Array(list));
    }
    Ok(ApiSuccess::new(Json::Object(out)))
}
