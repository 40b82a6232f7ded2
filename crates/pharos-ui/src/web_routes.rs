//! The routes that serve the embedded UI: redirects to the query page, `index.html` for every
//! page path of the single-page app, and the built files with their cache headers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::accept_encoding::accepts_gzip;
use crate::content_type;
use crate::embedded::{self, EmbeddedFile};

/// Page paths of the front end (history routing), each answered with `index.html`.
pub const PAGE_PATHS: &[&str] = &[
    "/query",
    "/alerts",
    "/rules",
    "/targets",
    "/service-discovery",
    "/status",
    "/tsdb-status",
    "/config",
    "/flags",
];

/// The placeholder in `index.html` replaced with the path prefix the browser sees.
pub const ROUTE_PREFIX_PLACEHOLDER: &str = "__PHAROS_ROUTE_PREFIX__";

/// Cache policy of content-hashed build output: a changed file gets a new name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy of files whose name stays the same across builds (favicon, manifest).
const SHORT_LIVED: &str = "public, max-age=3600";

/// Where the server is mounted, from its flags.
#[derive(Clone, Debug, Default)]
pub struct UiOptions {
    /// Prefix of every route on this server ("" or e.g. "/prometheus"), `--web.route-prefix`.
    pub route_prefix: String,
    /// `--web.external-url`, empty when not given.
    pub external_url: String,
}

impl UiOptions {
    /// The path prefix the browser sees, without a trailing '/': the path of the external URL
    /// when one is given (a reverse proxy may strip it before the request reaches the server,
    /// as Prometheus allows), else the route prefix.
    pub fn browser_prefix(&self) -> String {
        if self.external_url.is_empty() {
            return self.route_prefix.trim_end_matches('/').to_string();
        }
        let rest = self
            .external_url
            .split_once("://")
            .map_or(self.external_url.as_str(), |(_, r)| r);
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        let path = path.split(['?', '#']).next().unwrap_or("");
        path.trim_end_matches('/').to_string()
    }
}

/// `index.html` with the prefix filled in, ready in both encodings.
struct Index {
    raw: Vec<u8>,
    gzip: Vec<u8>,
}

impl Index {
    fn prepare(prefix: &str) -> Index {
        let template = embedded::file("index.html")
            .and_then(|f| f.decompressed().ok())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&template);
        let raw = text
            .replace(ROUTE_PREFIX_PLACEHOLDER, &escape_attribute(prefix))
            .into_bytes();
        let gzip = gzip(&raw).unwrap_or_default();
        Index { raw, gzip }
    }

    fn respond(&self, headers: &HeaderMap) -> Response {
        let mut resp = if accepts(headers) && !self.gzip.is_empty() {
            let mut r = Response::new(Body::from(self.gzip.clone()));
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        } else {
            Response::new(Body::from(self.raw.clone()))
        };
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        // Always revalidated, so a new binary's asset names are picked up at once.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        resp
    }
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    enc.finish()
}

fn escape_attribute(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

fn accepts(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .any(|v| v.to_str().is_ok_and(accepts_gzip))
}

/// A `302 Found` to `location`, as Prometheus answers its redirects.
fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => (StatusCode::BAD_REQUEST, "invalid redirect target").into_response(),
    }
}

fn serve_file(file: &EmbeddedFile, cache: &'static str, headers: &HeaderMap) -> Response {
    let body = if file.gzipped && !accepts(headers) {
        match file.decompressed() {
            Ok(b) => Body::from(b),
            Err(e) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("embedded file {} is corrupt: {e}", file.path),
                )
                    .into_response()
            }
        }
    } else {
        Body::from(file.data)
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    if file.gzipped && accepts(headers) {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type::for_path(file.path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    resp
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

/// Whether a built file outside `assets/` can get its own route: one with an extension and
/// no characters the router treats specially, so it can never collide with a server route.
fn routable(path: &str) -> bool {
    path != "index.html"
        && !path.starts_with("assets/")
        && path.rsplit('/').next().is_some_and(|n| n.contains('.'))
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
}

/// The UI's routes, to be merged into the server's routes under the route prefix.
pub fn router<S: Clone + Send + Sync + 'static>(options: &UiOptions) -> Router<S> {
    let prefix = options.browser_prefix();
    let index = Arc::new(Index::prepare(&prefix));
    let home = format!("{prefix}/query");
    let mut r = Router::new();
    {
        let home = home.clone();
        r = r.route("/", get(move || async move { found(&home) }));
    }
    // As Prometheus 3 does, old `/graph?g0.expr=...` links (alert generator URLs) keep
    // working: the query string travels to the query page.
    r = r.route(
        "/graph",
        get(move |RawQuery(q): RawQuery| async move {
            match q.filter(|q| !q.is_empty()) {
                Some(q) => found(&format!("{home}?{q}")),
                None => found(&home),
            }
        }),
    );
    for page in PAGE_PATHS {
        let index = index.clone();
        r = r.route(
            page,
            get(move |headers: HeaderMap| async move { index.respond(&headers) }),
        );
    }
    r = r.route(
        "/assets/{*path}",
        get(|Path(path): Path<String>, headers: HeaderMap| async move {
            match embedded::file(&format!("assets/{path}")) {
                Some(f) => serve_file(f, IMMUTABLE, &headers),
                None => not_found(),
            }
        }),
    );
    for f in embedded::files().iter().filter(|f| routable(f.path)) {
        r = r.route(
            &format!("/{}", f.path),
            get(move |headers: HeaderMap| async move { serve_file(f, SHORT_LIVED, &headers) }),
        );
    }
    r
}

/// The routes outside a non-empty route prefix, beside which the caller nests its routes under
/// the prefix: `/` redirects into the prefix, as Prometheus does, and `<prefix>/` (which a
/// nested router does not match) to the query page.
pub fn root_redirect<S: Clone + Send + Sync + 'static>(options: &UiOptions) -> Router<S> {
    let route_prefix = options.route_prefix.trim_end_matches('/');
    let into_prefix = format!("{route_prefix}/");
    let home = format!("{}/query", options.browser_prefix());
    let mut r = Router::new();
    if !route_prefix.is_empty() {
        r = r.route(
            &into_prefix.clone(),
            get(move || async move { found(&home) }),
        );
    }
    r.route("/", get(move || async move { found(&into_prefix) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt as _;

    fn opts(route_prefix: &str, external_url: &str) -> UiOptions {
        UiOptions {
            route_prefix: route_prefix.into(),
            external_url: external_url.into(),
        }
    }

    async fn call(app: Router, uri: &str, accept_encoding: Option<&str>) -> Response {
        let mut req = Request::get(uri);
        if let Some(a) = accept_encoding {
            req = req.header(header::ACCEPT_ENCODING, a);
        }
        app.oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }

    async fn body(resp: Response) -> Vec<u8> {
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec()
    }

    fn header_of(resp: &Response, name: header::HeaderName) -> String {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    #[test]
    fn browser_prefix_prefers_the_external_url_path() {
        assert_eq!(opts("", "").browser_prefix(), "");
        assert_eq!(opts("/p/", "").browser_prefix(), "/p");
        assert_eq!(opts("", "http://h:9090/").browser_prefix(), "");
        assert_eq!(opts("/x", "https://h/prom/").browser_prefix(), "/prom");
        assert_eq!(opts("", "http://h/a/b?x=1").browser_prefix(), "/a/b");
    }

    #[tokio::test]
    async fn pages_get_index_with_the_prefix_and_no_cache() {
        let app: Router = router(&opts("/prom", ""));
        for page in PAGE_PATHS {
            let resp = call(app.clone(), page, None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{page}");
            assert_eq!(header_of(&resp, header::CACHE_CONTROL), "no-cache");
            assert_eq!(
                header_of(&resp, header::CONTENT_TYPE),
                "text/html; charset=utf-8"
            );
            let text = String::from_utf8(body(resp).await).expect("utf-8");
            assert!(!text.contains(ROUTE_PREFIX_PLACEHOLDER), "{text}");
            if text.contains("pharos-route-prefix") {
                assert!(text.contains("content=\"/prom\""), "{text}");
            }
        }
    }

    #[tokio::test]
    async fn index_is_gzipped_only_when_accepted() {
        let app: Router = router(&opts("", ""));
        let plain = body(call(app.clone(), "/query", None).await).await;
        let resp = call(app, "/query", Some("gzip, br")).await;
        assert_eq!(header_of(&resp, header::CONTENT_ENCODING), "gzip");
        let packed = body(resp).await;
        let mut unpacked = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(packed.as_slice()),
            &mut unpacked,
        )
        .expect("gunzip");
        assert_eq!(unpacked, plain);
    }

    #[tokio::test]
    async fn redirects_follow_prometheus() {
        let app: Router = router(&opts("/prom", "http://example.org/prom/"));
        let resp = call(app.clone(), "/", None).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(header_of(&resp, header::LOCATION), "/prom/query");
        let resp = call(app.clone(), "/graph?g0.expr=up&g0.tab=1", None).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(
            header_of(&resp, header::LOCATION),
            "/prom/query?g0.expr=up&g0.tab=1"
        );
        let resp = call(app, "/graph", None).await;
        assert_eq!(header_of(&resp, header::LOCATION), "/prom/query");
        let outer: Router = root_redirect(&opts("/prom", "http://example.org/prom/"));
        let resp = call(outer.clone(), "/", None).await;
        assert_eq!(header_of(&resp, header::LOCATION), "/prom/");
        let resp = call(outer, "/prom/", None).await;
        assert_eq!(header_of(&resp, header::LOCATION), "/prom/query");
    }

    #[tokio::test]
    async fn assets_are_served_with_long_cache_and_unknown_paths_are_404() {
        let app: Router = router(&opts("", ""));
        for f in embedded::files()
            .iter()
            .filter(|f| f.path.starts_with("assets/"))
        {
            let resp = call(app.clone(), &format!("/{}", f.path), None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{}", f.path);
            assert_eq!(header_of(&resp, header::CACHE_CONTROL), IMMUTABLE);
            assert_eq!(
                header_of(&resp, header::CONTENT_TYPE),
                content_type::for_path(f.path)
            );
            assert_eq!(body(resp).await.len(), f.raw_len, "{}", f.path);
        }
        for missing in [
            "/assets/nope.js",
            "/assets/",
            "/index.html",
            "/nope",
            "/graph/x",
        ] {
            let resp = call(app.clone(), missing, None).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{missing}");
        }
    }

    #[test]
    fn only_plain_file_names_get_routes() {
        assert!(routable("favicon.svg"));
        assert!(routable("img/logo.png"));
        assert!(!routable("index.html"));
        assert!(!routable("assets/index-1.js"));
        assert!(!routable("LICENSE"));
        assert!(!routable("weird{name}.js"));
        assert!(!routable("space name.js"));
    }
}
