//! `POST /api/v1/write`: the remote write receiver, served only with
//! `--web.enable-remote-write-receiver` (404 otherwise, as Prometheus does).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::server::AppState;

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Decodes and stores one remote write request.
pub async fn write(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !st.options.enable_remote_write_receiver {
        return text(
            StatusCode::NOT_FOUND,
            "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n"
                .into(),
        );
    }
    let header_str = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header_str(header::CONTENT_TYPE);
    let content_encoding = header_str(header::CONTENT_ENCODING);
    let db = st.db.clone();
    // Decoding and the WAL write are CPU and disk work: keep them off the async workers.
    let outcome = tokio::task::spawn_blocking(move || {
        pharos_remote::handle_write(
            &db,
            content_type.as_deref(),
            content_encoding.as_deref(),
            &body,
        )
    })
    .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("remote write handler failed: {e}\n"),
            )
        }
    };
    if outcome.status >= 400 {
        tracing::warn!(status = outcome.status, error = %outcome.body.trim_end(), "remote write request refused");
    }
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if outcome.body.is_empty() {
        status.into_response()
    } else {
        text(status, outcome.body)
    };
    for (name, value) in outcome.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}
