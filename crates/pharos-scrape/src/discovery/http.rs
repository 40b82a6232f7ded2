//! `http_sd_configs`: target groups fetched as JSON from an HTTP endpoint every
//! `refresh_interval`, with the endpoint contract Prometheus documents (status 200,
//! `Content-Type: application/json`, a list of `{targets, labels}` objects).

use std::time::Duration;

use pharos_http::reqwest::{self, Url};
use pharos_http::{ClientOptions, HttpClient, HttpClientConfig, PromDuration};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{DiscoveryUpdate, TargetGroup, TargetGroupSpec};
use pharos_http::with_http_client_fields;

/// The label that names the URL a target came from.
pub const META_URL: &str = "__meta_url";

/// Why a discovery request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpSdError {
    /// The request did not complete.
    #[error("HTTP service discovery request to {url} failed: {message}")]
    Request {
        /// The endpoint.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The endpoint answered something other than a JSON list of target groups.
    #[error("HTTP service discovery endpoint {url}: {message}")]
    Response {
        /// The endpoint.
        url: String,
        /// What is wrong with the answer.
        message: String,
    },
}

fn default_refresh() -> PromDuration {
    PromDuration::from_secs(60)
}

with_http_client_fields! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawHttpSdConfig {
        #[serde(default)]
        url: String,
        #[serde(default = "default_refresh")]
        refresh_interval: PromDuration,
    }
}

/// One `http_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawHttpSdConfig")]
pub struct HttpSdConfig {
    /// The endpoint.
    pub url: String,
    /// How often to fetch; 60s by default.
    pub refresh_interval: PromDuration,
    /// How to reach the endpoint.
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
}

impl TryFrom<RawHttpSdConfig> for HttpSdConfig {
    type Error = String;
    fn try_from(mut raw: RawHttpSdConfig) -> Result<Self, String> {
        let mut http_client = raw.take_http_client();
        if raw.url.is_empty() {
            return Err("URL is missing".into());
        }
        let url = Url::parse(&raw.url).map_err(|e| format!("invalid URL {:?}: {e}", raw.url))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err("URL scheme must be 'http' or 'https'".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("host is missing in URL".into());
        }
        http_client.validate().map_err(|e| e.to_string())?;
        Ok(HttpSdConfig {
            url: raw.url,
            refresh_interval: raw.refresh_interval,
            http_client,
        })
    }
}

/// Fetches the groups once; sources are `url:index` and every group carries `__meta_url`.
pub async fn fetch(
    client: &HttpClient,
    url: &str,
    refresh: PromDuration,
) -> Result<Vec<TargetGroup>, HttpSdError> {
    let req_err = |message: String| HttpSdError::Request {
        url: url.to_string(),
        message,
    };
    let resp_err = |message: String| HttpSdError::Response {
        url: url.to_string(),
        message,
    };
    let rb = client
        .inner()
        .get(url)
        .header("Accept", "application/json")
        .header(
            "X-Prometheus-Refresh-Interval-Seconds",
            refresh.as_duration().as_secs().to_string(),
        )
        .timeout(refresh.as_duration().max(Duration::from_secs(1)));
    let rb = client
        .authorize(rb)
        .await
        .map_err(|e| req_err(e.to_string()))?;
    let resp = rb
        .send()
        .await
        .map_err(|e| req_err(crate::scrape_error::describe_reqwest_error(&e)))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(resp_err(format!(
            "server returned HTTP status {}",
            resp.status()
        )));
    }
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mime = ctype.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(resp_err(format!("unsupported content type {ctype:?}")));
    }
    let body = resp.bytes().await.map_err(|e| req_err(e.to_string()))?;
    let specs: Vec<TargetGroupSpec> =
        serde_json::from_slice(&body).map_err(|e| resp_err(format!("invalid JSON: {e}")))?;
    Ok(specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.to_group(format!("{url}:{i}"), &[(META_URL, url)]))
        .collect())
}

/// Fetches every `refresh_interval` and reports the groups until the receiver goes away.
/// Failed fetches keep the previous targets, as in Prometheus.
pub async fn run(cfg: HttpSdConfig, provider: String, tx: mpsc::Sender<DiscoveryUpdate>) {
    let client = match HttpClient::new(&cfg.http_client, &ClientOptions::default()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(provider = %provider, error = %e, "HTTP service discovery: unusable client settings");
            return;
        }
    };
    let mut last_len = 0usize;
    let mut ticker = tokio::time::interval(
        cfg.refresh_interval
            .as_duration()
            .max(Duration::from_millis(100)),
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match fetch(&client, &cfg.url, cfg.refresh_interval).await {
            Ok(mut groups) => {
                let n = groups.len();
                for i in n..last_len {
                    groups.push(TargetGroup {
                        source: format!("{}:{i}", cfg.url),
                        ..TargetGroup::default()
                    });
                }
                last_len = n;
                if tx
                    .send(DiscoveryUpdate {
                        provider: provider.clone(),
                        groups,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => tracing::error!(provider = %provider, error = %e, "HTTP service discovery"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;

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
        (format!("http://{addr}"), h)
    }

    fn client() -> HttpClient {
        match HttpClient::new(&HttpClientConfig::default(), &ClientOptions::default()) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn config_validation() {
        let load = |y: &str| {
            serde_saphyr::from_str::<HttpSdConfig>(y)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(load("refresh_interval: 1m\n").contains("URL is missing"));
        assert!(load("url: ftp://x/\n").contains("URL scheme must be 'http' or 'https'"));
        assert!(
            load("url: http://x/\nbearer_token: a\nbearer_token_file: b\n")
                .contains("at most one of bearer_token & bearer_token_file")
        );
        assert!(load("url: http://x/\nurll: 1\n").contains("unknown field `urll`"));
        let ok = serde_saphyr::from_str::<HttpSdConfig>("url: http://x/sd\n").ok();
        assert_eq!(
            ok.map(|c| c.refresh_interval),
            Some(PromDuration::from_secs(60))
        );
    }

    #[tokio::test]
    async fn fetches_groups_from_a_local_server() {
        let app = axum::Router::new()
            .route(
                "/sd",
                get(|headers: axum::http::HeaderMap| async move {
                    let refresh = headers.get("x-prometheus-refresh-interval-seconds").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    let body = format!(r#"[{{"targets": ["a:1", "b:2"], "labels": {{"refresh": "{refresh}"}}}}, {{"targets": ["c:3"]}}]"#);
                    ([(CONTENT_TYPE, "application/json")], body)
                }),
            )
            .route("/text", get(|| async { "[]" }))
            .route("/missing", get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }))
            .route("/bad", get(|| async { ([(CONTENT_TYPE, "application/json")], "[{\"targets\": 1}]") }));
        let (base, server) = serve(app).await;
        let c = client();
        let url = format!("{base}/sd");
        let groups = fetch(&c, &url, PromDuration::from_secs(30))
            .await
            .unwrap_or_default();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, format!("{url}:0"));
        assert_eq!(groups[0].labels.get("refresh"), Some("30"));
        assert_eq!(groups[0].labels.get(META_URL), Some(url.as_str()));
        assert_eq!(groups[1].targets[0].get("__address__"), Some("c:3"));

        let err = |path: &str| {
            let c = c.clone();
            let url = format!("{base}{path}");
            async move {
                fetch(&c, &url, PromDuration::from_secs(30))
                    .await
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            }
        };
        assert!(err("/text")
            .await
            .contains("unsupported content type \"text/plain; charset=utf-8\""));
        assert!(err("/missing")
            .await
            .contains("server returned HTTP status 404 Not Found"));
        assert!(err("/bad").await.contains("invalid JSON"));
        server.abort();
    }
}
