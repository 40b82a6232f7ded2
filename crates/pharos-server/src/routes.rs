//! The URL map of the server: API v1, lifecycle endpoints, `/metrics` and the web UI, under the
//! route prefix.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::oneshot;

use crate::api::{admin_api, metadata_api, query_api, remote_write_api, rules_api, status_api};
use crate::server::AppState;

/// Builds the router for `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route(
            "/query",
            get(query_api::instant_query).post(query_api::instant_query),
        )
        .route(
            "/query_range",
            get(query_api::range_query).post(query_api::range_query),
        )
        .route(
            "/parse_query",
            get(query_api::parse_query).post(query_api::parse_query),
        )
        .route(
            "/query_exemplars",
            get(query_api::query_exemplars).post(query_api::query_exemplars),
        )
        .route("/scrape_pools", get(status_api::scrape_pools))
        .route("/status/walreplay", get(status_api::wal_replay))
        .route(
            "/format_query",
            get(query_api::format_query).post(query_api::format_query),
        )
        .route(
            "/series",
            get(metadata_api::series).post(metadata_api::series),
        )
        .route(
            "/labels",
            get(metadata_api::label_names).post(metadata_api::label_names),
        )
        .route("/label/{name}/values", get(metadata_api::label_values))
        .route("/metadata", get(metadata_api::metadata))
        .route("/targets/metadata", get(metadata_api::targets_metadata))
        .route("/rules", get(rules_api::rules))
        .route("/alerts", get(rules_api::alerts))
        .route("/alertmanagers", get(rules_api::alertmanagers))
        .route("/targets", get(status_api::targets))
        .route("/status/config", get(status_api::config))
        .route("/status/flags", get(status_api::flags))
        .route("/status/runtimeinfo", get(status_api::runtime_info))
        .route("/status/buildinfo", get(status_api::build_info))
        .route("/status/tsdb", get(status_api::tsdb))
        .route(
            "/admin/tsdb/delete_series",
            post(admin_api::delete_series).put(admin_api::delete_series),
        )
        .route(
            "/admin/tsdb/snapshot",
            post(admin_api::snapshot).put(admin_api::snapshot),
        )
        .route(
            "/admin/tsdb/clean_tombstones",
            post(admin_api::clean_tombstones).put(admin_api::clean_tombstones),
        )
        .route(
            "/write",
            post(remote_write_api::write).layer(axum::extract::DefaultBodyLimit::max(
                pharos_remote::MAX_DECODED_BYTES,
            )),
        )
        .route(
            "/read",
            post(crate::api::remote_read_api::read).layer(axum::extract::DefaultBodyLimit::max(
                pharos_remote::MAX_DECODED_BYTES,
            )),
        );
    let routes = Router::new()
        .nest("/api/v1", api)
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/-/quit", post(quit).put(quit))
        .route("/metrics", get(metrics))
        .route("/federate", get(crate::federation::federate))
        .with_state(state.clone());
    let ui = pharos_ui::UiOptions {
        route_prefix: state.options.route_prefix.clone(),
        external_url: state.options.external_url.clone(),
    };
    let routes = routes.merge(pharos_ui::router(&ui));
    let prefix = state.options.route_prefix.trim_end_matches('/');
    if prefix.is_empty() {
        routes
    } else {
        pharos_ui::root_redirect(&ui).nest(prefix, routes)
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

async fn healthy() -> Response {
    text(StatusCode::OK, "Prometheus Server is Healthy.\n")
}

async fn ready() -> Response {
    text(StatusCode::OK, "Prometheus Server is Ready.\n")
}

async fn reload(State(st): State<Arc<AppState>>) -> Response {
    if !st.options.enable_lifecycle {
        return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.");
    }
    let (tx, rx) = oneshot::channel();
    if st.reload_tx.send(tx).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down");
    }
    match rx.await {
        Ok(Ok(())) => text(StatusCode::OK, ""),
        Ok(Err(e)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        ),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down"),
    }
}

async fn quit(State(st): State<Arc<AppState>>) -> Response {
    if !st.options.enable_lifecycle {
        return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.");
    }
    let _ = st.quit_tx.try_send(());
    text(StatusCode::OK, "Requesting termination... Goodbye!")
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::self_metrics::render(&st).await,
    )
        .into_response()
}
