//! Our writers' output must be accepted by the Go parsers the real tools use: `promtool check
//! metrics` for the text format, and a real Prometheus scraping OpenMetrics from us. Each test
//! skips, saying so, when its peer is not installed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pharos_model::write::{write_openmetrics, write_text, OPENMETRICS_CONTENT_TYPE};
use pharos_model::{negotiate, Metric, MetricFamily, MetricType, MetricValue};

fn families() -> Vec<MetricFamily> {
    let mut counter = MetricFamily::new(
        "pharos_test_requests_total",
        "Requests with \"quotes\" and \\.",
        MetricType::Counter,
    );
    counter.metrics.push(Metric {
        labels: vec![
            ("path".into(), "/a\"b\\c\nd".into()),
            ("code".into(), "200".into()),
        ],
        value: MetricValue::Simple(1027.0),
        timestamp_ms: None,
        created_ms: Some(1_700_000_000_123),
        native_histogram: None,
    });
    let mut gauge = MetricFamily::new(
        "pharos_test_temperature_celsius",
        "Temperature.",
        MetricType::Gauge,
    );
    gauge.unit = Some("celsius".into());
    gauge.push([("room", "kitchen")], -3.25);
    gauge.push([("room", "ünïcode")], 1e21);
    let mut hist = MetricFamily::new(
        "pharos_test_duration_seconds",
        "Durations.",
        MetricType::Histogram,
    );
    hist.metrics.push(Metric::new(
        vec![("stage".into(), "parse".into())],
        MetricValue::Histogram {
            count: 10.0,
            sum: 2.5,
            buckets: vec![(0.1, 2.0), (1.0, 8.0)],
        },
    ));
    let mut summary = MetricFamily::new("pharos_test_rpc_seconds", "RPC.", MetricType::Summary);
    summary.metrics.push(Metric::new(
        vec![],
        MetricValue::Summary {
            count: 5.0,
            sum: 1.25,
            quantiles: vec![(0.5, 0.2), (0.99, f64::NAN)],
        },
    ));
    let mut info = MetricFamily::new("pharos_test_build_info", "Build.", MetricType::Info);
    info.push([("version", "1.2.3")], 1.0);
    let untyped = MetricFamily::single(
        "pharos_test_untyped",
        "U.",
        MetricType::Untyped,
        f64::INFINITY,
    );
    vec![counter, gauge, hist, summary, info, untyped]
}

#[test]
fn promtool_parses_our_text() {
    let promtool = "/usr/bin/promtool";
    if !Path::new(promtool).exists() {
        println!("skipping: {promtool} is not installed");
        return;
    }
    let mut text = String::new();
    write_text(&families(), &mut text);
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn promtool: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("write: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("promtool: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit code 3 means lint findings only; 1 means the text did not parse.
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "promtool rejected our text:\n{stderr}\n{text}"
    );
    assert!(!stderr.contains("parsing error"), "{stderr}");
}

/// Kills and reaps Prometheus however the test ends, and removes its data directory.
struct Prometheus(Child, PathBuf);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Serves one exposition body on `listener`, negotiating like an exporter, until `stop`.
fn serve(listener: TcpListener, stop: Arc<AtomicBool>, text: String, openmetrics: String) {
    let _ = listener.set_nonblocking(true);
    while !stop.load(Ordering::Relaxed) {
        let Ok((stream, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(&stream);
        let mut accept = String::new();
        let mut line = String::new();
        for _ in 0..100 {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("accept") {
                    accept = v.trim().to_string();
                }
            }
        }
        let format = negotiate(&accept);
        let body = if format.is_openmetrics() {
            &openmetrics
        } else {
            &text
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            format.content_type(),
            body.len()
        );
        let mut stream = stream;
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body.as_bytes());
    }
}

fn get(port: u16, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

#[test]
fn prometheus_scrapes_our_openmetrics() {
    let binary = "/usr/bin/prometheus";
    if !Path::new(binary).exists() {
        println!("skipping: {binary} is not installed");
        return;
    }
    let fams = families();
    let mut text = String::new();
    write_text(&fams, &mut text);
    let mut om = String::new();
    write_openmetrics(&fams, &mut om);
    assert!(OPENMETRICS_CONTENT_TYPE.contains("1.0.0"));

    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let target_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || serve(listener, stop, text, om))
    };

    let dir = std::env::temp_dir().join(format!(
        "pharos-model-om-{}-{target_port}",
        std::process::id()
    ));
    let _ = std::fs::create_dir_all(&dir);
    let config = dir.join("prometheus.yml");
    let _ = std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: om\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        ),
    );
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn prometheus: {e}"));
    let _prometheus = Prometheus(child, dir);

    // Poll until the scrape has landed; a failed OpenMetrics parse would leave up at 0.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut last = String::new();
    let mut ok = false;
    while Instant::now() < deadline {
        last = get(port, "/api/v1/query?query=pharos_test_requests_total");
        let up = get(port, "/api/v1/query?query=up");
        if last.contains("\"1027\"") && up.contains("\"1\"]") {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Metadata only OpenMetrics carries proves the OpenMetrics parser was the one used.
    let mut metadata = String::new();
    while Instant::now() < deadline + Duration::from_secs(10) {
        metadata = get(
            port,
            "/api/v1/targets/metadata?match_target=%7Bjob%3D%22om%22%7D",
        );
        if metadata.contains("\"unit\":\"celsius\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let targets = get(port, "/api/v1/targets");
    stop.store(true, Ordering::Relaxed);
    let _ = server.join();
    assert!(
        ok,
        "Prometheus did not ingest our OpenMetrics: {last}\ntargets: {targets}"
    );
    assert!(
        metadata.contains("\"unit\":\"celsius\""),
        "no unit in metadata: {metadata}"
    );
    assert!(
        metadata.contains("\"type\":\"info\""),
        "no info type in metadata: {metadata}"
    );
    assert!(
        !targets.contains("\"lastError\":\"") || targets.contains("\"lastError\":\"\""),
        "{targets}"
    );
    for query in [
        "pharos_test_duration_seconds_bucket{le=\"1.0\"}",
        "pharos_test_build_info",
        "pharos_test_temperature_celsius",
        "pharos_test_rpc_seconds_count",
    ] {
        let encoded: String = query
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let resp = get(port, &format!("/api/v1/query?query={encoded}"));
        assert!(resp.contains("\"result\":[{"), "{query}: {resp}");
    }
}
