//! `pharos server --web.enable-remote-write-receiver` fed by Debian's real Prometheus: the
//! same instant queries on both must give identical answers. Also the endpoint's HTTP
//! behaviour: 404 without the flag, 400 for malformed bodies, 415 for foreign encodings.

mod server_harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use server_harness::{free_port, get, pharos_bin, wait_until, Proc};

const PROMETHEUS: &str = "/usr/bin/prometheus";

fn start_pharos(dir: &Path, receiver: bool) -> (SocketAddr, Proc) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.join("pharos.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1s\nscrape_configs: []\n",
    )
    .expect("write config");
    let mut args = vec![
        "server".to_string(),
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("pharos-data").display()),
        format!("--web.listen-address={addr}"),
    ];
    if receiver {
        args.push("--web.enable-remote-write-receiver".into());
    }
    let proc = Proc::start(&pharos_bin(), &args, &dir.join("pharos.log"));
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    assert!(
        ready,
        "pharos did not become ready; log:\n{}",
        std::fs::read_to_string(dir.join("pharos.log")).unwrap_or_default()
    );
    (addr, proc)
}

/// Status and body of a POST with a binary body and the given extra headers.
fn post_bytes(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let (status, _, body) = post_bytes_with_head(addr, path, headers, body);
    (status, body)
}

/// Status, lower-cased response head and body of a POST with a binary body.
fn post_bytes_with_head(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), rest.to_string())
}

#[test]
fn write_endpoint_is_404_without_the_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, mut pharos) = start_pharos(dir.path(), false);
    let (status, body) = post_bytes(
        addr,
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
        ],
        b"",
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("--web.enable-remote-write-receiver"),
        "{body}"
    );
    pharos.terminate();
}

#[test]
fn write_endpoint_refuses_bad_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, mut pharos) = start_pharos(dir.path(), true);
    let v1 = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
    ];
    // An empty snappy block is an empty request: nothing to store, success.
    let (status, body) = post_bytes(addr, "/api/v1/write", &v1, &[0]);
    assert_eq!(status, 204, "{body}");
    let (status, body) = post_bytes(addr, "/api/v1/write", &v1, &[0x05, 0xff, 0xff]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    let gzip = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "gzip"),
    ];
    let (status, body) = post_bytes(addr, "/api/v1/write", &gzip, &[0]);
    assert_eq!(status, 415, "{body}");
    let json = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "snappy"),
    ];
    let (status, body) = post_bytes(addr, "/api/v1/write", &json, &[0]);
    assert_eq!(status, 415, "{body}");
    // 2.0 answers with the written counts, even for an empty request.
    let v2 = [
        (
            "Content-Type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        ),
        ("Content-Encoding", "snappy"),
    ];
    let (status, head, body) = post_bytes_with_head(addr, "/api/v1/write", &v2, &[0]);
    assert_eq!(status, 204, "{body}");
    assert!(
        head.contains("x-prometheus-remote-write-samples-written: 0"),
        "{head}"
    );
    assert!(
        head.contains("x-prometheus-remote-write-histograms-written: 0"),
        "{head}"
    );
    // Still healthy after all that.
    assert!(get(addr, "/-/healthy").is_some_and(|r| r.status == 200));
    pharos.terminate();
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// An instant query's result vector, sorted, as comparable JSON text; `None` on failure.
fn instant(addr: SocketAddr, query: &str, time: f64) -> Option<Vec<String>> {
    let q: String = query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let r = get(addr, &format!("/api/v1/query?query={q}&time={time:.3}"))?;
    if r.status != 200 {
        return None;
    }
    let j: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    let mut rows: Vec<String> = j["data"]["result"]
        .as_array()?
        .iter()
        .map(|s| s.to_string())
        .collect();
    rows.sort();
    Some(rows)
}

#[test]
fn prometheus_remote_write_lands_in_pharos() {
    if !Path::new(PROMETHEUS).exists() {
        println!("skipping: {PROMETHEUS} is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (pharos_addr, mut pharos) = start_pharos(dir.path(), true);
    let prom_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['{prom_addr}']\n\
             remote_write:\n  - url: http://{pharos_addr}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n"
        ),
    )
    .expect("write prometheus config");
    let mut prometheus = Proc::start(
        Path::new(PROMETHEUS),
        &[
            format!("--config.file={}", prom_config.display()),
            format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom-data").display()
            ),
            format!("--web.listen-address={prom_addr}"),
        ],
        &dir.path().join("prometheus.log"),
    );
    let logs = || {
        format!(
            "prometheus log:\n{}\npharos log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("pharos.log")).unwrap_or_default()
        )
    };
    let arrived = wait_until(Duration::from_secs(60), || {
        instant(pharos_addr, "prometheus_build_info", now_secs())
            .is_some_and(|rows| !rows.is_empty())
    });
    assert!(
        arrived,
        "no remote-written data in pharos within 60s\n{}",
        logs()
    );

    // Let a few scrapes flow, then compare at a time both have fully received: a few seconds
    // back, so batches still in flight cannot make the two differ. Retried (bounded) because
    // a slow machine can delay a batch past that margin.
    std::thread::sleep(Duration::from_secs(5));
    let queries = [
        "count(up)",
        "up",
        "prometheus_build_info",
        "count by (__name__) ({job=\"prometheus\"})",
        "prometheus_target_interval_length_seconds{quantile=\"0.5\"}",
        "sum(prometheus_tsdb_head_samples_appended_total)",
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_difference = String::new();
    let mut matched = false;
    while Instant::now() < deadline {
        let t = (now_secs() - 4.0).floor();
        let mut all_same = true;
        let mut compared = Vec::new();
        for q in queries {
            let ours = instant(pharos_addr, q, t);
            let theirs = instant(prom_addr, q, t);
            if ours.is_none() || ours != theirs || theirs.as_ref().is_some_and(Vec::is_empty) {
                all_same = false;
                last_difference =
                    format!("{q} at {t}:\n pharos:     {ours:?}\n prometheus: {theirs:?}");
                break;
            }
            compared.push(format!("{q}: {} rows", theirs.map_or(0, |r| r.len())));
        }
        if all_same {
            println!("identical answers at {t}: {compared:?}");
            matched = true;
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(matched, "answers differ: {last_difference}\n{}", logs());

    // Prometheus saw every send succeed.
    let failed = instant(
        prom_addr,
        "sum(prometheus_remote_storage_samples_failed_total)",
        now_secs(),
    )
    .unwrap_or_default();
    assert!(
        failed.iter().all(|row| row.contains("\"0\"")),
        "prometheus reports failed remote write samples: {failed:?}\n{}",
        logs()
    );
    prometheus.terminate();
    pharos.terminate();
}
