//! The web-config layer: basic auth on every request and the configured security headers on
//! every response, for any axum `Router`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::basic_auth::Credentials;
use crate::web_config::WebConfig;

/// Wraps every route of `router` (including its fallback) in the layer `web` describes. With an
/// empty config the router is returned unchanged.
pub fn apply<S>(router: Router<S>, web: &WebConfig) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    if web.basic_auth.is_none() && web.headers.is_empty() {
        return router;
    }
    router.layer(axum::middleware::from_fn_with_state(web.clone(), web_layer))
}

/// Adds the configured security headers to every response and enforces basic auth.
async fn web_layer(State(web): State<WebConfig>, request: Request, next: Next) -> Response {
    let mut response = match &web.basic_auth {
        None => next.run(request).await,
        Some(auth) => {
            let creds = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(Credentials::from_header);
            let ok = match creds {
                None => false,
                Some(creds) => match auth.cached(&creds) {
                    Some(verdict) => verdict,
                    None => {
                        // bcrypt takes tens of milliseconds: keep it off the async workers.
                        let auth = Arc::clone(auth);
                        tokio::task::spawn_blocking(move || auth.verify(&creds))
                            .await
                            .unwrap_or(false)
                    }
                },
            };
            if ok {
                next.run(request).await
            } else {
                let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                r
            }
        }
    };
    for (name, value) in &web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use axum::body::Body;
    use axum::routing::get;
    use base64::Engine as _;

    use super::*;
    use crate::basic_auth::BasicAuth;

    /// Sends one request through the router in memory.
    async fn call(router: &Router, request: axum::http::Request<Body>) -> Response {
        use hyper::service::Service as _;
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        match service.call(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    fn config() -> WebConfig {
        // Cost 4 keeps the test fast; real configs use 10 or more.
        let hash = bcrypt::hash_with_salt("pw", 4, [3u8; 16])
            .map(|h| h.format_for_version(bcrypt::Version::TwoY))
            .unwrap_or_default();
        WebConfig {
            tls: None,
            basic_auth: BasicAuth::new(BTreeMap::from([("alice".to_string(), hash)]))
                .ok()
                .map(Arc::new),
            headers: vec![(header::X_FRAME_OPTIONS, HeaderValue::from_static("deny"))],
        }
    }

    fn request(auth: Option<&str>) -> axum::http::Request<Body> {
        let mut b = axum::http::Request::builder().uri("/anything");
        if let Some(creds) = auth {
            let encoded = base64::engine::general_purpose::STANDARD.encode(creds);
            b = b.header(header::AUTHORIZATION, format!("Basic {encoded}"));
        }
        b.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn auth_and_headers_cover_every_route_and_the_fallback() {
        let router = apply(
            Router::new()
                .route("/", get(|| async { "root" }))
                .fallback(|| async { (StatusCode::NOT_FOUND, "none") }),
            &config(),
        );
        let denied = call(&router, request(None)).await;
        assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(denied.headers()[header::WWW_AUTHENTICATE], "Basic");
        assert_eq!(denied.headers()[header::X_FRAME_OPTIONS], "deny");
        let wrong = call(&router, request(Some("alice:nope"))).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let ok = call(&router, request(Some("alice:pw"))).await;
        assert_eq!(ok.status(), StatusCode::NOT_FOUND);
        assert_eq!(ok.headers()[header::X_FRAME_OPTIONS], "deny");
    }
}
