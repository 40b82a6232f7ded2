//! The rest of HTTP API v1 side by side with Debian's Prometheus scraping the same static
//! target (served by a tiny HTTP server in this test): `stats=all`, `query_exemplars`,
//! `parse_query`, `status/walreplay`, `scrape_pools`, `targets` filters, the metadata
//! endpoints and `admin/tsdb/clean_tombstones`. Shapes are compared with Prometheus wherever
//! its version has the endpoint.

mod server_harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use server_harness::{free_port, get, pharos_bin, request, wait_until, Proc};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// OpenMetrics, so that units and exemplars are exposed too.
const EXPOSITION: &str = "# HELP demo_requests Requests served.\n# TYPE demo_requests counter\ndemo_requests_total{code=\"200\"} 7 # {trace_id=\"abc123\"} 1.0\ndemo_requests_total{code=\"500\"} 1\n# HELP demo_temperature_celsius Current temperature.\n# TYPE demo_temperature_celsius gauge\n# UNIT demo_temperature_celsius celsius\ndemo_temperature_celsius 21.5\n# EOF\n";

/// Serves [`EXPOSITION`] to every request until dropped.
struct StaticTarget {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticTarget {
    fn start() -> StaticTarget {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind target");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 4096];
                        let _ = s.read(&mut buf);
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{EXPOSITION}",
                            EXPOSITION.len()
                        );
                        let _ = s.write_all(resp.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        StaticTarget {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for StaticTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn config(target: SocketAddr) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: static\n    static_configs:\n      - targets: ['{target}']\n  - job_name: unused\n    static_configs:\n      - targets: ['127.0.0.1:1']\n    relabel_configs:\n      - action: drop\n        source_labels: [__address__]\n        regex: '.*'\n"
    )
}

fn start(dir: &Path, name: &str, bin: &Path, extra: &[String], cfg: &str) -> (SocketAddr, Proc) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let file = dir.join(format!("{name}.yml"));
    std::fs::write(&file, cfg).expect("write config");
    let mut args = extra.to_vec();
    args.extend([
        format!("--config.file={}", file.display()),
        format!(
            "--storage.tsdb.path={}",
            dir.join(format!("{name}-data")).display()
        ),
        format!("--web.listen-address={addr}"),
        "--web.enable-admin-api".to_string(),
    ]);
    let p = Proc::start(bin, &args, &dir.join(format!("{name}.log")));
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    assert!(
        ready,
        "{name} did not become ready:\n{}",
        std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
    );
    (addr, p)
}

fn json(addr: SocketAddr, path: &str) -> (u16, Json) {
    let r = get(addr, path).unwrap_or_else(|| panic!("GET {path} on {addr} failed"));
    let j = serde_json::from_str(&r.body).unwrap_or(Json::Null);
    (r.status, j)
}

fn keys(v: &Json) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[test]
fn remaining_endpoints_match_prometheus() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = StaticTarget::start();
    let cfg = config(target.addr);
    let (ours, mut pharos) = start(
        dir.path(),
        "pharos",
        &pharos_bin(),
        &["server".to_string()],
        &cfg,
    );
    let theirs = if Path::new(PROMETHEUS).exists() {
        Some(start(
            dir.path(),
            "prometheus",
            Path::new(PROMETHEUS),
            &["--enable-feature=exemplar-storage".to_string()],
            &cfg,
        ))
    } else {
        println!("skipping the comparisons: {PROMETHEUS} not installed");
        None
    };
    let servers: Vec<SocketAddr> = std::iter::once(ours)
        .chain(theirs.as_ref().map(|t| t.0))
        .collect();
    for addr in &servers {
        assert!(
            wait_until(Duration::from_secs(30), || {
                json(*addr, "/api/v1/query?query=demo_temperature_celsius").1["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            }),
            "{addr} did not scrape the static target"
        );
    }

    // stats=all: the same stats object shape.
    let t = now();
    let stats: Vec<Json> = servers
        .iter()
        .map(|a| {
            let (status, j) = json(
                *a,
                &format!("/api/v1/query?query=demo_requests_total&time={t:.3}&stats=all"),
            );
            assert_eq!(status, 200, "{j}");
            j["data"]["stats"].clone()
        })
        .collect();
    assert_eq!(keys(&stats[0]), vec!["samples", "timings"], "{}", stats[0]);
    assert_eq!(
        keys(&stats[0]["timings"]),
        vec![
            "evalTotalTime",
            "execQueueTime",
            "execTotalTime",
            "innerEvalTime",
            "queryPreparationTime",
            "resultSortTime"
        ]
    );
    assert!(stats[0]["samples"]["totalQueryableSamples"]
        .as_u64()
        .is_some_and(|n| n >= 2));
    if let Some(theirs) = stats.get(1) {
        assert_eq!(keys(&stats[0]), keys(theirs));
        assert_eq!(keys(&stats[0]["timings"]), keys(&theirs["timings"]));
        assert_eq!(keys(&stats[0]["samples"]), keys(&theirs["samples"]));
    }
    let (_, range) = json(
        ours,
        &format!(
            "/api/v1/query_range?query=demo_requests_total&start={:.3}&end={t:.3}&step=1&stats=all",
            t - 3.0
        ),
    );
    assert!(range["data"]["stats"]["timings"].is_object(), "{range}");
    let (_, plain) = json(ours, "/api/v1/query?query=1");
    assert!(plain["data"].get("stats").is_none(), "{plain}");

    // query_exemplars: the scraped exemplar, the same series and exemplar on both (timestamps
    // are each server's scrape time, so they are not compared).
    let exemplars_path = format!(
        "/api/v1/query_exemplars?query=demo_requests_total&start={:.3}&end={:.3}",
        t - 60.0,
        t + 3600.0
    );
    for addr in &servers {
        let found = wait_until(Duration::from_secs(10), || {
            let (_, j) = json(*addr, &exemplars_path);
            j["data"][0]["exemplars"][0]["labels"]["trace_id"] == "abc123"
        });
        assert!(
            found,
            "{addr}: no exemplar: {}",
            json(*addr, &exemplars_path).1
        );
        let (status, j) = json(*addr, &exemplars_path);
        assert_eq!(status, 200, "{j}");
        let series = &j["data"][0];
        assert_eq!(keys(series), vec!["exemplars", "seriesLabels"], "{j}");
        assert_eq!(series["seriesLabels"]["code"], "200", "{j}");
        assert_eq!(series["seriesLabels"]["job"], "static", "{j}");
        let e = &series["exemplars"][0];
        assert_eq!(keys(e), vec!["labels", "timestamp", "value"], "{j}");
        assert_eq!(e["value"], "1", "{j}");
        assert!(e["timestamp"].is_number(), "{j}");
        let (_, none) = json(
            *addr,
            "/api/v1/query_exemplars?query=demo_temperature_celsius&start=0&end=1",
        );
        assert_eq!(none["data"], serde_json::json!([]), "{addr}: {none}");
    }
    let (status, j) = json(ours, "/api/v1/query_exemplars?query=up&start=10&end=5");
    assert_eq!(status, 400, "{j}");
    assert_eq!(j["errorType"], "bad_data");

    // parse_query: Prometheus 3's tree; compared exactly when the peer has the endpoint.
    let q = "/api/v1/parse_query?query=sum%20by%20(code)%20(rate(demo_requests_total%5B5m%5D))";
    let (status, tree) = json(ours, q);
    assert_eq!(status, 200, "{tree}");
    assert_eq!(tree["data"]["type"], "aggregation");
    assert_eq!(tree["data"]["expr"]["func"]["name"], "rate");
    if let Some((p, _)) = &theirs {
        let (status, other) = json(*p, q);
        if status == 200 {
            assert_eq!(tree["data"], other["data"]);
        }
    }
    let (status, bad) = json(ours, "/api/v1/parse_query?query=sum(");
    assert_eq!(status, 400, "{bad}");

    // status/walreplay: the same keys, replay complete.
    let replay: Vec<Json> = servers
        .iter()
        .map(|a| json(*a, "/api/v1/status/walreplay").1["data"].clone())
        .collect();
    assert_eq!(keys(&replay[0]), vec!["current", "max", "min"]);
    assert_eq!(replay[0]["current"], replay[0]["max"]);
    if let Some(theirs) = replay.get(1) {
        assert_eq!(keys(&replay[0]), keys(theirs));
    }

    // scrape_pools: compared when the peer has it.
    let (status, pools) = json(ours, "/api/v1/scrape_pools");
    assert_eq!(status, 200);
    assert_eq!(
        pools["data"],
        serde_json::json!({"scrapePools": ["static", "unused"]})
    );
    if let Some((p, _)) = &theirs {
        let (status, other) = json(*p, "/api/v1/scrape_pools");
        if status == 200 {
            assert_eq!(pools["data"], other["data"]);
        }
    }

    // targets filters: state and scrapePool.
    for addr in &servers {
        let (_, active) = json(*addr, "/api/v1/targets?state=active");
        assert_eq!(
            active["data"]["droppedTargets"],
            serde_json::json!([]),
            "{addr}: {active}"
        );
        assert_eq!(
            active["data"]["activeTargets"].as_array().map(Vec::len),
            Some(1),
            "{addr}: {active}"
        );
        let (_, dropped) = json(*addr, "/api/v1/targets?state=dropped");
        assert_eq!(
            dropped["data"]["activeTargets"],
            serde_json::json!([]),
            "{addr}: {dropped}"
        );
        assert_eq!(
            dropped["data"]["droppedTargets"].as_array().map(Vec::len),
            Some(1),
            "{addr}: {dropped}"
        );
        let (_, pool) = json(*addr, "/api/v1/targets?scrapePool=unused");
        assert_eq!(
            pool["data"]["activeTargets"].as_array().map(Vec::len),
            Some(0),
            "{addr}: {pool}"
        );
    }

    // Metadata from the scrapes: the same per metric and per target on both.
    let metadata: Vec<(Json, Json)> = servers
        .iter()
        .map(|a| {
            let (status, md) = json(*a, "/api/v1/metadata");
            assert_eq!(status, 200, "{md}");
            let (status, tmd) = json(
                *a,
                "/api/v1/targets/metadata?match_target=%7Bjob%3D%22static%22%7D",
            );
            assert_eq!(status, 200, "{tmd}");
            let mut rows: Vec<Json> = tmd["data"].as_array().cloned().unwrap_or_default();
            rows.sort_by_key(|r| r["metric"].to_string());
            (md["data"].clone(), Json::Array(rows))
        })
        .collect();
    assert_eq!(
        metadata[0].0["demo_requests"],
        serde_json::json!([{"type": "counter", "help": "Requests served.", "unit": ""}]),
        "{}",
        metadata[0].0
    );
    assert_eq!(
        metadata[0].1.as_array().map(Vec::len),
        Some(2),
        "{}",
        metadata[0].1
    );
    if let Some(theirs) = metadata.get(1) {
        assert_eq!(metadata[0].0, theirs.0);
        assert_eq!(metadata[0].1, theirs.1);
    }
    for addr in &servers {
        let (status, md) = json(*addr, "/api/v1/metadata?limit=0");
        assert_eq!(status, 200, "{md}");
        assert_eq!(md["data"], serde_json::json!({}), "{addr}: {md}");
        let (_, md) = json(*addr, "/api/v1/metadata?limit=1");
        assert_eq!(
            md["data"].as_object().map(|o| o.len()),
            Some(1),
            "{addr}: {md}"
        );
        let (_, md) = json(*addr, "/api/v1/metadata?metric=demo_temperature_celsius");
        assert_eq!(
            keys(&md["data"]),
            vec!["demo_temperature_celsius"],
            "{addr}: {md}"
        );
        let (_, all) = json(*addr, "/api/v1/metadata");
        let (_, per0) = json(*addr, "/api/v1/metadata?limit_per_metric=0");
        assert_eq!(all["data"], per0["data"], "{addr}");
        let (_, per1) = json(*addr, "/api/v1/metadata?limit_per_metric=1");
        assert!(
            per1["data"].as_object().is_some_and(
                |o| !o.is_empty() && o.values().all(|v| v.as_array().map(Vec::len) == Some(1))
            ),
            "{addr}: {per1}"
        );
        let (status, md) = json(*addr, "/api/v1/metadata?limit=x");
        assert_eq!(status, 400, "{addr}: {md}");
        let (_, md) = json(
            *addr,
            "/api/v1/targets/metadata?metric=demo_temperature_celsius",
        );
        assert_eq!(md["data"][0]["type"], "gauge", "{addr}: {md}");
        assert!(md["data"][0].get("metric").is_none(), "{addr}: {md}");
    }

    // clean_tombstones after a deletion: 204 on both, the data gone on ours.
    for addr in &servers {
        let r = request(
            *addr,
            "POST",
            "/api/v1/admin/tsdb/delete_series?match[]=demo_temperature_celsius",
            Some(""),
        )
        .expect("delete");
        assert_eq!(r.status, 204, "{}", r.body);
        let r = request(
            *addr,
            "POST",
            "/api/v1/admin/tsdb/clean_tombstones",
            Some(""),
        )
        .expect("clean");
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let (_, gone) = json(
        ours,
        &format!("/api/v1/query?query=demo_temperature_celsius&time={t:.3}"),
    );
    assert_eq!(gone["data"]["result"], serde_json::json!([]), "{gone}");

    if let Some((_, mut p)) = theirs {
        p.terminate();
    }
    pharos.terminate();
}
