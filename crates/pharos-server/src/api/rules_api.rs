//! `/api/v1/rules`, `/api/v1/alerts` and `/api/v1/alertmanagers`.
//!
//! Rule evaluation and alerting are not implemented yet (the configuration refuses
//! `alerting`, and rule files are listed but not loaded, with a warning at startup), so these
//! endpoints truthfully report no rule groups, no alerts and no Alertmanagers. They exist
//! because dashboards (Grafana) call them and treat a 404 as a broken data source.

use axum::extract::State;
use serde_json::json;
use std::sync::Arc;

use super::response::{ApiResult, ApiSuccess};
use crate::server::AppState;

/// `GET /api/v1/rules`: no groups yet; a warning says when rule files are configured.
pub async fn rules(State(st): State<Arc<AppState>>) -> ApiResult {
    let mut r = ApiSuccess::new(json!({"groups": []}));
    if !st.loaded_config().config.rule_files.is_empty() {
        r.warnings.push(
            "rule evaluation is not implemented yet; configured rule_files are not loaded".into(),
        );
    }
    Ok(r)
}

/// `GET /api/v1/alerts`.
pub async fn alerts() -> ApiResult {
    Ok(ApiSuccess::new(json!({"alerts": []})))
}

/// `GET /api/v1/alertmanagers`.
pub async fn alertmanagers() -> ApiResult {
    Ok(ApiSuccess::new(
        json!({"activeAlertmanagers": [], "droppedAlertmanagers": []}),
    ))
}
