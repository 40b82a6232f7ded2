//! `proxy_url`, `no_proxy` and `follow_redirects` against local servers.

use std::time::Duration;

use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use pharos_http::reqwest::Method;
use pharos_http::{ClientOptions, HttpClient, HttpClientConfig};

async fn serve(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let h = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, h)
}

async fn fetch(cfg: &HttpClientConfig, url: &str) -> (u16, String) {
    let client = match HttpClient::new(cfg, &ClientOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let rb = match client.request(Method::GET, url).await {
        Ok(rb) => rb.timeout(Duration::from_secs(10)),
        Err(e) => panic!("{e}"),
    };
    match rb.send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => panic!("request to {url} failed: {e}"),
    }
}

#[tokio::test]
async fn proxy_and_no_proxy() {
    // A forward proxy sees the absolute URL in the request line.
    let (proxy, proxy_server) =
        serve(axum::Router::new().fallback(|uri: Uri| async move { format!("proxied {uri}") }))
            .await;
    let (direct, direct_server) = serve(axum::Router::new().fallback(|| async { "direct" })).await;
    let mut cfg = HttpClientConfig {
        proxy_url: Some(format!("http://{proxy}")),
        ..HttpClientConfig::default()
    };
    assert!(cfg.validate().is_ok());
    let (_, body) = fetch(&cfg, "http://metrics.example.invalid:9100/metrics").await;
    assert_eq!(body, "proxied http://metrics.example.invalid:9100/metrics");

    cfg.no_proxy = Some("127.0.0.1".into());
    assert!(cfg.validate().is_ok());
    let (_, body) = fetch(&cfg, &format!("http://{direct}/metrics")).await;
    assert_eq!(body, "direct");

    // Without proxy settings the environment is ignored unless asked for.
    let plain = HttpClientConfig::default();
    let (_, body) = fetch(&plain, &format!("http://{direct}/metrics")).await;
    assert_eq!(body, "direct");
    proxy_server.abort();
    direct_server.abort();
}

#[tokio::test]
async fn redirects_follow_the_setting() {
    let app = axum::Router::new()
        .route(
            "/old",
            get(|| async { (StatusCode::FOUND, [("location", "/new")]).into_response() }),
        )
        .route("/new", get(|| async { "moved here" }));
    let (addr, server) = serve(app).await;
    let url = format!("http://{addr}/old");
    let follow = HttpClientConfig::default();
    assert_eq!(fetch(&follow, &url).await, (200, "moved here".to_string()));
    let stay = HttpClientConfig {
        follow_redirects: false,
        ..HttpClientConfig::default()
    };
    assert_eq!(fetch(&stay, &url).await.0, 302);
    server.abort();
}
