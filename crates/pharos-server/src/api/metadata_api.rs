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
use crate::fanout::FanoutStorage;
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
    let (found, remote_warnings) = tokio::task::spawn_blocking(
        move || -> Result<(BTreeSet<Labels>, Vec<String>), ApiError> {
            let storage = FanoutStorage::for_state(&st);
            let q = storage.querier(mint, maxt).map_err(storage_err)?;
            let mut out = BTreeSet::new();
            for set in &sets {
                for s in q.select(None, set).map_err(storage_err)? {
                    out.insert(s.labels().clone());
                }
            }
            Ok((out, storage.take_warnings()))
        },
    )
    .await
    .map_err(|e| ApiError::internal(format!("series task failed: {e}")))??;
    let mut res = truncated(found.iter().map(labels_json).collect(), limit);
    res.warnings.splice(0..0, remote_warnings);
    Ok(res)
}

/// Label names or values over the union of the `match[]` sets (all series when none).
async fn label_query(st: Arc<AppState>, p: Params, name: Option<String>) -> ApiResult {
    let sets = matcher_sets(&p)?;
    let (mint, maxt) = range(&p)?;
    let limit = limit(&p)?;
    let (found, remote_warnings) = tokio::task::spawn_blocking(
        move || -> Result<(BTreeSet<String>, Vec<String>), ApiError> {
            let storage = FanoutStorage::for_state(&st);
            let q = storage.querier(mint, maxt).map_err(storage_err)?;
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
            drop(q);
            Ok((out, storage.take_warnings()))
        },
    )
    .await
    .map_err(|e| ApiError::internal(format!("label task failed: {e}")))??;
    let mut res = truncated(found.into_iter().map(Json::String).collect(), limit);
    res.warnings.splice(0..0, remote_warnings);
    Ok(res)
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

/// A metadata `limit`-style parameter: absent means unlimited (-1), as in Prometheus, where 0
/// returns nothing.
fn signed_limit(p: &Params, name: &str) -> Result<i64, ApiError> {
    match p.get(name) {
        None | Some("") => Ok(-1),
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| ApiError::bad_data(format!("{name} must be a number"))),
    }
}

fn under_limit(limit: i64, len: usize) -> bool {
    limit < 0 || (len as u64) < limit as u64
}

/// A metric type as the metadata APIs spell it (`unknown` for untyped, as Prometheus).
fn type_name(t: pharos_model::MetricType) -> &'static str {
    match t {
        pharos_model::MetricType::Untyped => "unknown",
        other => other.as_text(),
    }
}

/// `GET /api/v1/metadata`: HELP, TYPE and UNIT per metric name, from what the active targets
/// expose plus what arrived with remote-written samples, with `limit`, `limit_per_metric` and
/// `metric`.
pub async fn metadata(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let metric = p
        .get("metric")
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let limit = signed_limit(&p, "limit")?;
    let limit_per_metric = signed_limit(&p, "limit_per_metric")?;
    let mut found: Vec<(String, (String, String, String))> = Vec::new();
    let view = st.scrape.lock().await.targets();
    for pool in view.pools.values() {
        for t in &pool.active {
            for m in t.metadata.iter() {
                if metric.as_ref().is_none_or(|want| *want == m.metric) {
                    found.push((
                        m.metric.clone(),
                        (m.metric_type.clone(), m.help.clone(), m.unit.clone()),
                    ));
                }
            }
        }
    }
    for (labels, m) in st.db.metadata(metric.as_deref()) {
        if let Some(name) = labels.metric_name() {
            found.push((
                name.to_string(),
                (
                    type_name(m.metric_type).to_string(),
                    m.help.clone(),
                    m.unit.clone(),
                ),
            ));
        }
    }
    let mut by_name: BTreeMap<String, BTreeSet<(String, String, String)>> = BTreeMap::new();
    for (name, entry) in found {
        let entries = by_name.entry(name).or_default();
        // As in Prometheus, only a positive `limit_per_metric` limits anything.
        if limit_per_metric <= 0 || under_limit(limit_per_metric, entries.len()) {
            entries.insert(entry);
        }
    }
    let mut out = serde_json::Map::new();
    for (name, entries) in by_name {
        if !under_limit(limit, out.len()) {
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

/// `GET /api/v1/targets/metadata`: the metadata each active target exposes, filtered by
/// `match_target` (a selector over target labels) and `metric`, bounded by `limit`.
pub async fn targets_metadata(State(st): State<Arc<AppState>>, p: Params) -> ApiResult {
    let limit = signed_limit(&p, "limit")?;
    let target_matchers = match p.get("match_target").filter(|m| !m.is_empty()) {
        Some(m) => Some(
            pharos_promql::parser::parse_selector(m)
                .map_err(|e| ApiError::bad_data(e.to_string()))?
                .matchers,
        ),
        None => None,
    };
    let metric = p
        .get("metric")
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let view = st.scrape.lock().await.targets();
    let mut out = Vec::new();
    for pool in view.pools.values() {
        for t in &pool.active {
            if !under_limit(limit, out.len()) {
                break;
            }
            let target_value = |name: &str| t.labels.get(name).map_or("", String::as_str);
            if let Some(ms) = &target_matchers {
                if !ms.iter().all(|m| m.matches(target_value(&m.name))) {
                    continue;
                }
            }
            for m in t.metadata.iter() {
                let mut entry = serde_json::Map::new();
                entry.insert("target".into(), json!(t.labels));
                match &metric {
                    Some(want) if *want != m.metric => continue,
                    Some(_) => {}
                    None => {
                        entry.insert("metric".into(), json!(m.metric));
                    }
                }
                entry.insert("type".into(), json!(m.metric_type));
                entry.insert("help".into(), json!(m.help));
                entry.insert("unit".into(), json!(m.unit));
                out.push(Json::Object(entry));
            }
        }
    }
    Ok(ApiSuccess::new(Json::Array(out)))
}
