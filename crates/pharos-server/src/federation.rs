//! `/federate`: the latest sample of every series matching `match[]`, in the text exposition
//! format, with the server's external labels added, so another server can scrape this one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use pharos_model::labels::escape_label_value;
use pharos_model::Labels;
use pharos_promql::value::format_float;
use pharos_tsdb::{Queryable, ValueKind};

use crate::api::params::Params;
use crate::api::response::ApiError;
use crate::server::AppState;

/// One line of output: labels (external ones merged in), time and value.
struct Latest {
    labels: BTreeMap<String, String>,
    t: i64,
    v: f64,
}

fn collect(
    st: &AppState,
    sets: &[Vec<pharos_model::Matcher>],
    now: i64,
) -> Result<Vec<Latest>, String> {
    let lookback = st.engine.options().lookback_delta;
    let external = st.loaded_config().config.global.external_labels;
    let q = st
        .db
        .querier(now - lookback, now)
        .map_err(|e| e.to_string())?;
    let mut seen: BTreeMap<Labels, Latest> = BTreeMap::new();
    for set in sets {
        for s in q.select(None, set).map_err(|e| e.to_string())? {
            let mut it = s.iter();
            let mut last = None;
            // Bounded by the querier's range; native histograms are not federated yet.
            loop {
                match it.next() {
                    ValueKind::Float => {
                        let (t, v) = it.at();
                        if t <= now {
                            last = Some((t, v));
                        }
                    }
                    ValueKind::Histogram => last = None,
                    ValueKind::None => break,
                }
            }
            let Some((t, v)) = last else { continue };
            if pharos_model::is_stale_nan(v) {
                continue;
            }
            let mut labels: BTreeMap<String, String> = s
                .labels()
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            for (k, val) in &external {
                labels.entry(k.clone()).or_insert_with(|| val.clone());
            }
            seen.insert(s.labels().clone(), Latest { labels, t, v });
        }
    }
    Ok(seen.into_values().collect())
}

/// `GET /federate?match[]=...`.
pub async fn federate(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let mut sets = Vec::new();
    for m in p.all("match[]") {
        let sel = pharos_promql::parser::parse_selector(m)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?;
        sets.push(sel.matchers);
    }
    let now = crate::api::now_ms();
    let lines = tokio::task::spawn_blocking(move || collect(&st, &sets, now))
        .await
        .map_err(|e| ApiError::internal(format!("federation task failed: {e}")))?
        .map_err(ApiError::internal)?;
    let mut by_name: BTreeMap<String, Vec<Latest>> = BTreeMap::new();
    for l in lines {
        let name = l.labels.get("__name__").cloned().unwrap_or_default();
        by_name.entry(name).or_default().push(l);
    }
    let mut out = String::new();
    for (name, series) in by_name {
        let _ = writeln!(out, "# TYPE {name} untyped");
        for s in series {
            out.push_str(&name);
            let mut first = true;
            for (k, v) in s.labels.iter().filter(|(k, _)| k.as_str() != "__name__") {
                out.push(if first { '{' } else { ',' });
                first = false;
                let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
            }
            if !first {
                out.push('}');
            }
            let _ = writeln!(out, " {} {}", format_float(s.v), s.t);
        }
    }
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
