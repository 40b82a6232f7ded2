//! HTTP API v1: Prometheus's endpoints, JSON shapes, status codes and error types.

pub mod admin_api;
pub mod ast_json;
pub mod metadata_api;
pub mod params;
pub mod query_api;
pub mod remote_read_api;
pub mod remote_write_api;
pub mod response;
pub mod rules_api;
pub mod status_api;
pub mod value_json;

use axum::extract::{FromRequest, Request};

use params::Params;
use response::ApiError;

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes =
            axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
                .await
                .map_err(|e| ApiError::bad_data(format!("reading request body: {e}")))?;
        Params::from_request(&parts.uri, &parts.headers, &bytes)
    }
}

/// The current time in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
