//! `pharos server` end to end: scraping Debian's node exporter and itself, then the HTTP API
//! v1, promtool as a client, reloads and shutdown.

mod server_harness;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use server_harness::{
    free_port, get, healthy_targets, pharos_bin, request, up_count, wait_until, Proc,
};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const PROMTOOL: &str = "/usr/bin/promtool";

fn write_config(path: &Path, server: SocketAddr, node: Option<SocketAddr>) {
    let log = path.with_file_name("queries.log").display().to_string();
    let mut text = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  query_log_file: {log}\n  external_labels:\n    site: test\nscrape_configs:\n  - job_name: pharos\n    static_configs:\n      - targets: ['{server}']\n"
    );
    if let Some(n) = node {
        text.push_str(&format!(
            "  - job_name: node\n    static_configs:\n      - targets: ['{n}']\n"
        ));
    }
    std::fs::write(path, text).expect("write config");
}

#[test]
fn server_scrapes_and_answers_the_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node_addr: Option<SocketAddr> = if Path::new(NODE_EXPORTER).exists() {
        Some(([127, 0, 0, 1], free_port()).into())
    } else {
        println!("skipping the node exporter target: {NODE_EXPORTER} is not installed");
        None
    };
    let _node = node_addr.map(|a| {
        Proc::start(
            Path::new(NODE_EXPORTER),
            &[format!("--web.listen-address={a}")],
            &dir.path().join("node.log"),
        )
    });
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.path().join("prometheus.yml");
    write_config(&config, addr, node_addr);
    let data = dir.path().join("data");
    // The systemd spelling, console flags included, without the `server` word.
    let mut server = Proc::start(
        &pharos_bin(),
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={addr}"),
            "--web.console.templates=/etc/prometheus/consoles".into(),
            "--web.console.libraries=/etc/prometheus/console_libraries".into(),
            "--web.enable-lifecycle".into(),
        ],
        &dir.path().join("server.log"),
    );
    let want_up = 1 + usize::from(node_addr.is_some());
    let log = || std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(30), || {
            up_count(addr) == want_up && healthy_targets(addr) == want_up
        }),
        "targets did not come up within 30s; server log:\n{}",
        log()
    );

    // Instant query.
    let r = get(addr, "/api/v1/query?query=up").expect("query");
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["status"], "success");
    assert_eq!(j["data"]["resultType"], "vector");
    let jobs: Vec<&str> = j["data"]["result"]
        .as_array()
        .expect("result array")
        .iter()
        .filter_map(|s| s["metric"]["job"].as_str())
        .collect();
    assert!(jobs.contains(&"pharos"), "{jobs:?}");
    if node_addr.is_some() {
        assert!(jobs.contains(&"node"), "{jobs:?}");
    }

    // The same query as a POST form.
    let r = request(addr, "POST", "/api/v1/query", Some("query=sum(up)")).expect("post query");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["data"]["result"][0]["value"][1],
        want_up.to_string()
    );

    // Range query over the last few seconds.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let r = get(
        addr,
        &format!(
            "/api/v1/query_range?query=up&start={}&end={}&step=1",
            now - 5,
            now + 2
        ),
    )
    .expect("range query");
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["data"]["resultType"], "matrix");
    assert!(
        j["data"]["result"][0]["values"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "{j}"
    );

    // Series, label names and values.
    let r = get(addr, "/api/v1/series?match%5B%5D=up").expect("series");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(want_up));
    let r = get(addr, "/api/v1/series").expect("series without match");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errorType"], "bad_data");
    let r = get(addr, "/api/v1/labels").expect("labels");
    let names = r.json()["data"].clone();
    assert!(
        names
            .as_array()
            .is_some_and(|n| n.iter().any(|x| x == "job")),
        "{names}"
    );
    let r = get(addr, "/api/v1/label/job/values").expect("label values");
    assert!(r.json()["data"]
        .as_array()
        .is_some_and(|v| v.iter().any(|x| x == "pharos")));

    // Targets.
    let r = get(addr, "/api/v1/targets").expect("targets");
    let j = r.json();
    let active = j["data"]["activeTargets"]
        .as_array()
        .expect("active targets");
    assert_eq!(active.len(), want_up);
    assert!(active.iter().all(|t| t["health"] == "up"), "{j}");

    // Bad queries and parameters.
    let r = get(addr, "/api/v1/query?query=up%7B").expect("bad query");
    assert_eq!(r.status, 400);
    let j = r.json();
    assert_eq!(j["status"], "error");
    assert_eq!(j["errorType"], "bad_data");
    assert!(
        j["error"]
            .as_str()
            .is_some_and(|e| e.contains("parse error")),
        "{j}"
    );
    let r = get(addr, "/api/v1/query_range?query=up&start=1&end=2&step=0").expect("bad step");
    assert_eq!(r.status, 400);
    let r = get(addr, "/api/v1/query?query=up&time=yesterday").expect("bad time");
    assert_eq!(r.status, 400);

    // Status endpoints and self-metrics.
    for path in [
        "/api/v1/status/config",
        "/api/v1/status/flags",
        "/api/v1/status/runtimeinfo",
        "/api/v1/status/buildinfo",
        "/api/v1/status/tsdb",
        "/api/v1/metadata",
    ] {
        let r = get(addr, path).expect(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.json()["status"], "success", "{path}");
    }
    let r = get(addr, "/api/v1/status/config").expect("config");
    assert!(r.json()["data"]["yaml"]
        .as_str()
        .is_some_and(|y| y.contains("job_name: pharos")));
    let r = get(addr, "/metrics").expect("metrics");
    assert!(
        r.body.contains("prometheus_tsdb_head_series "),
        "{}",
        r.body
    );
    assert_eq!(get(addr, "/-/healthy").expect("healthy").status, 200);

    // Federation: the latest `up` samples with the external labels added.
    let r = get(addr, "/federate?match%5B%5D=up").expect("federate");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("# TYPE up untyped"), "{}", r.body);
    assert!(r.body.contains("site=\"test\""), "{}", r.body);
    assert_eq!(
        r.body.lines().filter(|l| l.starts_with("up{")).count(),
        want_up
    );

    // Every API query was logged.
    let qlog = std::fs::read_to_string(dir.path().join("queries.log")).expect("query log");
    assert!(
        qlog.lines().any(|l| l.contains("\"query\":\"sum(up)\"")),
        "{qlog}"
    );
    assert_eq!(get(addr, "/-/ready").expect("ready").status, 200);

    // promtool as a client.
    if Path::new(PROMTOOL).exists() {
        let out = std::process::Command::new(PROMTOOL)
            .args(["query", "instant", &format!("http://{addr}"), "up"])
            .output()
            .expect("run promtool");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "promtool failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("job=\"pharos\""), "{text}");
    } else {
        println!("skipping the promtool check: {PROMTOOL} is not installed");
    }

    // A broken config is refused on reload and the running one keeps working.
    std::fs::write(&config, "global:\n  bogus: 1\n").expect("write bad config");
    let r = request(addr, "POST", "/-/reload", None).expect("reload");
    assert_eq!(r.status, 500);
    assert!(r.body.contains("bogus"), "{}", r.body);
    assert_eq!(
        get(addr, "/api/v1/query?query=up")
            .expect("query after bad reload")
            .status,
        200
    );

    // A good config is applied: a new job appears in the targets.
    write_config(&config, addr, node_addr);
    let extra = format!(
        "  - job_name: extra\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        free_port()
    );
    let mut text = std::fs::read_to_string(&config).expect("read config");
    text.push_str(&extra);
    std::fs::write(&config, text).expect("write config");
    let r = request(addr, "POST", "/-/reload", None).expect("reload");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(addr, "/api/v1/targets?scrapePool=extra").expect("targets");
    assert_eq!(
        r.json()["data"]["activeTargets"].as_array().map(Vec::len),
        Some(1)
    );

    // Quit over HTTP.
    let r = request(addr, "POST", "/-/quit", None).expect("quit");
    assert_eq!(r.status, 200);
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "server did not stop cleanly: {status:?}\n{}",
        log()
    );
}

#[test]
fn lifecycle_off_by_default_route_prefix_and_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "").expect("write config");
    let mut server = Proc::start(
        &pharos_bin(),
        &[
            "server".into(),
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={addr}"),
            format!("--web.external-url=http://{addr}/prom/"),
        ],
        &dir.path().join("server.log"),
    );
    assert!(wait_until(Duration::from_secs(20), || get(
        addr, "/-/ready"
    )
    .is_some()));
    assert_eq!(
        request(addr, "POST", "/prom/-/reload", None)
            .expect("reload")
            .status,
        403
    );
    assert_eq!(
        request(addr, "POST", "/prom/-/quit", None)
            .expect("quit")
            .status,
        403
    );
    // Routes live under the external URL's path.
    let r = get(addr, "/prom/api/v1/query?query=1%2B1").expect("prefixed query");
    assert_eq!(r.json()["data"]["result"][1], "2");
    assert_eq!(
        get(addr, "/api/v1/query?query=1")
            .expect("unprefixed")
            .status,
        404
    );
    let status = server.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[test]
fn unsupported_config_sections_stop_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "storage:\n  tsdb: {}\n").expect("write");
    let out = std::process::Command::new(pharos_bin())
        .args([
            "server".to_string(),
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{}", free_port()),
        ])
        .output()
        .expect("run pharos server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("storage is not supported yet"), "{err}");
}
