//! Scrapes real processes: Debian's node exporter when installed, and a local HTTP server that
//! serves good metrics, garbage, huge bodies, too many series, errors and slow answers.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::header::{ACCEPT, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use pharos_http::{ClientOptions, HttpClient, PromDuration};
use pharos_model::{is_stale_nan, Labels};
use pharos_scrape::pool::{PoolOptions, RunningPool};
use pharos_scrape::target::{populate, Populated};
use pharos_scrape::{
    ByteSize, GlobalScrapeDefaults, Health, MemorySink, ScrapeConfig, ScrapeLoop, SinkValue, Target,
};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Kills and reaps the child process when the test ends, whatever happens.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    match StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

fn scrape_config(yaml: &str) -> ScrapeConfig {
    let mut c: ScrapeConfig = match serde_saphyr::from_str(yaml) {
        Ok(c) => c,
        Err(e) => panic!("{yaml}\n{e}"),
    };
    if let Err(e) = c.apply_global(&GlobalScrapeDefaults::default()) {
        panic!("{e}");
    }
    c
}

fn target_for(cfg: &ScrapeConfig, address: &str) -> Target {
    match populate(
        cfg,
        &Labels::from_pairs([("__address__", address)]),
        &Labels::empty(),
    ) {
        Populated::Active(t) => t,
        other => panic!("{other:?}"),
    }
}

fn new_loop(cfg: ScrapeConfig, address: &str, sink: Arc<MemorySink>) -> ScrapeLoop {
    let target = target_for(&cfg, address);
    let client = match HttpClient::new(&cfg.http_client, &ClientOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    ScrapeLoop::new(Arc::new(cfg), target, client, sink)
}

fn float(v: &SinkValue) -> f64 {
    match v {
        SinkValue::Float(f) => *f,
        SinkValue::Histogram(_) => f64::NAN,
    }
}

fn last_value(sink: &MemorySink, name: &str) -> Option<f64> {
    sink.series_named(name).last().map(|s| float(&s.value))
}

#[tokio::test]
async fn scrapes_debian_node_exporter() {
    if !std::path::Path::new(NODE_EXPORTER).exists() {
        println!("skipped: {NODE_EXPORTER} is not installed");
        return;
    }
    let port = free_port();
    let child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let _guard = match child {
        Ok(c) => ChildGuard(c),
        Err(e) => panic!("starting {NODE_EXPORTER}: {e}"),
    };
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "node exporter did not start listening on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sink = Arc::new(MemorySink::new());
    let mut sl = new_loop(
        scrape_config("job_name: node\nscrape_interval: 15s\n"),
        &addr,
        sink.clone(),
    );
    let report = sl.scrape_once().await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(last_value(&sink, "up"), Some(1.0));
    let cpu = sink.series_named("node_cpu_seconds_total");
    assert!(!cpu.is_empty(), "no node_cpu_seconds_total");
    assert_eq!(cpu[0].labels.get("job"), Some("node"));
    assert_eq!(cpu[0].labels.get("instance"), Some(addr.as_str()));
    let scraped = last_value(&sink, "scrape_samples_scraped").unwrap_or(0.0);
    assert!(scraped > 100.0, "only {scraped} samples");
    assert_eq!(last_value(&sink, "scrape_series_added"), Some(scraped));
    // A second scrape hits the cache: nothing new, same count.
    let report = sl.scrape_once().await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(last_value(&sink, "scrape_series_added"), Some(0.0));
    let health = sl.health().lock().map(|h| h.health).unwrap_or_default();
    assert_eq!(health, Health::Up);
}

/// What the local test server serves, switchable between scrapes.
#[derive(Default)]
struct Served {
    /// Which version of `/metrics` to serve.
    version: AtomicUsize,
    /// The Accept header of the last request.
    accept: Mutex<String>,
}

async fn serve(served: Arc<Served>) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new()
        .route(
            "/metrics",
            get({
                let served = served.clone();
                move |headers: HeaderMap| {
                    let served = served.clone();
                    async move {
                        let accept = headers
                            .get(ACCEPT)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        if let Ok(mut a) = served.accept.lock() {
                            *a = accept;
                        }
                        let body = if served.version.load(Ordering::SeqCst) == 0 {
                            "# TYPE a gauge\na 1\nb{x=\"1\"} 2\n"
                        } else {
                            "# TYPE a gauge\na 3\n"
                        };
                        ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body)
                    }
                }
            }),
        )
        .route(
            "/garbage",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4")],
                    "ok 1\nthis is { not metrics\n",
                )
            }),
        )
        .route(
            "/huge",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4")],
                    "a 1\n".repeat(600_000),
                )
            }),
        )
        .route(
            "/many",
            get(|| async {
                let body: String = (0..100).map(|i| format!("series_{i} {i}\n")).collect();
                ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body)
            }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "not here") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "a 1\n"
            }),
        )
        .route(
            "/gzip",
            get(|| async {
                use std::io::Write;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                let _ = enc.write_all(b"zipped_metric 42\n");
                let body = enc.finish().unwrap_or_default();
                (
                    [
                        (CONTENT_TYPE, "text/plain; version=0.0.4"),
                        (CONTENT_ENCODING, "gzip"),
                    ],
                    body,
                )
            }),
        );
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

#[tokio::test]
async fn samples_staleness_and_accept_header() {
    let served = Arc::new(Served::default());
    let (addr, server) = serve(served.clone()).await;
    let sink = Arc::new(MemorySink::new());
    let mut sl = new_loop(scrape_config("job_name: local\n"), &addr, sink.clone());
    let first = sl.scrape_once().await;
    assert!(first.error.is_none(), "{:?}", first.error);
    let accept = served.accept.lock().map(|a| a.clone()).unwrap_or_default();
    assert_eq!(
        accept,
        "application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
    );
    assert_eq!(last_value(&sink, "scrape_samples_scraped"), Some(2.0));
    let b = sink.series_named("b");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].labels.get("x"), Some("1"));
    assert_eq!(b[0].labels.get("job"), Some("local"));

    // `b` disappears: it gets exactly one staleness marker.
    served.version.store(1, Ordering::SeqCst);
    let second = sl.scrape_once().await;
    assert!(second.error.is_none(), "{:?}", second.error);
    let b = sink.series_named("b");
    assert_eq!(b.len(), 2);
    assert!(is_stale_nan(float(&b[1].value)));
    assert_eq!(last_value(&sink, "a"), Some(3.0));
    let _ = sl.scrape_once().await;
    assert_eq!(
        sink.series_named("b").len(),
        2,
        "staleness marker written twice"
    );

    // The target goes away: every series and the report series get a marker.
    sl.end_of_run();
    assert!(last_value(&sink, "a").is_some_and(is_stale_nan));
    assert!(last_value(&sink, "up").is_some_and(is_stale_nan));
    assert!(last_value(&sink, "scrape_duration_seconds").is_some_and(is_stale_nan));
    server.abort();
}

#[tokio::test]
async fn failures_read_like_sentences() {
    let served = Arc::new(Served::default());
    let (addr, server) = serve(served).await;
    let cases: Vec<(String, String, String)> = vec![
        (
            "/garbage".into(),
            String::new(),
            "parse error at line 2, column ".into(),
        ),
        (
            "/huge".into(),
            "body_size_limit: 1MB\n".into(),
            "body size limit exceeded: the response is larger than body_size_limit 1MB".into(),
        ),
        (
            "/many".into(),
            "sample_limit: 10\n".into(),
            "sample limit exceeded: 100 samples, sample_limit is 10".into(),
        ),
        (
            "/missing".into(),
            String::new(),
            format!("HTTP 404 Not Found from http://{addr}/missing"),
        ),
        (
            "/slow".into(),
            "scrape_timeout: 500ms\n".into(),
            "context deadline exceeded after 500ms".into(),
        ),
    ];
    for (path, extra, want) in cases {
        let sink = Arc::new(MemorySink::new());
        let cfg = scrape_config(&format!("job_name: j\nmetrics_path: {path}\n{extra}"));
        let mut sl = new_loop(cfg, &addr, sink.clone());
        let report = sl.scrape_once().await;
        let err = report.error.map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with(&want), "{path}: got {err:?}, want {want:?}");
        assert_eq!(last_value(&sink, "up"), Some(0.0), "{path}");
        let health = sl
            .health()
            .lock()
            .map(|h| (h.health, h.last_error.clone()))
            .unwrap_or_default();
        assert_eq!(health, (Health::Down, err));
        // A failed scrape stores no samples from the body.
        assert!(
            sink.series_named("a").is_empty() && sink.series_named("series_1").is_empty(),
            "{path}"
        );
    }

    let closed = format!("127.0.0.1:{}", free_port());
    let sink = Arc::new(MemorySink::new());
    let mut sl = new_loop(scrape_config("job_name: j\n"), &closed, sink);
    let err = sl
        .scrape_once()
        .await
        .error
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        format!("connection refused: nothing listens on {closed}")
    );
    server.abort();
}

#[tokio::test]
async fn gzip_bodies_are_decoded() {
    let (addr, server) = serve(Arc::new(Served::default())).await;
    let sink = Arc::new(MemorySink::new());
    let mut sl = new_loop(
        scrape_config("job_name: j\nmetrics_path: /gzip\n"),
        &addr,
        sink.clone(),
    );
    let report = sl.scrape_once().await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(last_value(&sink, "zipped_metric"), Some(42.0));
    server.abort();
}

#[tokio::test]
async fn running_pool_scrapes_and_cleans_up() {
    let (addr, server) = serve(Arc::new(Served::default())).await;
    let cfg = scrape_config(&format!(
        "job_name: pool\nscrape_interval: 1s\nscrape_timeout: 500ms\nstatic_configs:\n  - targets: ['{addr}']\n    labels: {{env: test}}\n  - targets: ['drop-me:1']\nrelabel_configs:\n  - source_labels: [__address__]\n    regex: 'drop-me.*'\n    action: drop\n"
    ));
    assert_eq!(cfg.body_size_limit, ByteSize(0));
    assert_eq!(cfg.scrape_interval, PromDuration::from_secs(1));
    let sink = Arc::new(MemorySink::new());
    let pool = match RunningPool::start(cfg, sink.clone(), PoolOptions::default()) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = pool.state();
        if state.active.first().is_some_and(|t| t.health == Health::Up) {
            assert_eq!(state.active.len(), 1);
            assert_eq!(
                state.active[0].labels.get("env").map(String::as_str),
                Some("test")
            );
            assert_eq!(state.dropped.len(), 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "target never became healthy: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.stop().await;
    assert!(
        last_value(&sink, "up").is_some_and(is_stale_nan),
        "no end-of-run staleness marker for up"
    );
    assert!(
        last_value(&sink, "a").is_some_and(is_stale_nan),
        "no end-of-run staleness marker for a"
    );
    server.abort();
}

#[tokio::test]
async fn manager_reloads_only_what_changed() {
    let (addr, server) = serve(Arc::new(Served::default())).await;
    let sink = Arc::new(MemorySink::new());
    let mut manager = pharos_scrape::ScrapeManager::new(sink.clone(), PoolOptions::default());
    let job = |name: &str, interval: &str| {
        scrape_config(&format!("job_name: {name}\nscrape_interval: {interval}\nscrape_timeout: 500ms\nstatic_configs:\n  - targets: ['{addr}']\n"))
    };
    let errors = manager
        .apply_config(&[job("a", "1s"), job("b", "1s")])
        .await;
    assert!(errors.is_empty());
    assert_eq!(manager.pool_names(), ["a", "b"]);
    let errors = manager
        .apply_config(&[job("b", "2s"), job("c", "1s")])
        .await;
    assert!(errors.is_empty());
    assert_eq!(manager.pool_names(), ["b", "c"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let view = manager.targets();
        let healthy = view
            .pools
            .values()
            .all(|p| p.active.first().is_some_and(|t| t.health == Health::Up));
        if healthy {
            assert_eq!(view.pools["b"].active[0].scrape_interval, "2s");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pools never became healthy: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    manager.stop().await;
    server.abort();
}
