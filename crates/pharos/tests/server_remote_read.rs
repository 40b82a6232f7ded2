//! Remote read against Debian's real Prometheus, both ways: Prometheus configured with
//! `remote_read` pointing at `pharos server` answers queries for data only pharos holds exactly
//! as pharos does, and pharos with `remote_read` pointing at Prometheus answers queries for data
//! only Prometheus scraped, turning a dead remote into a warning rather than a failure.
//! Also the endpoint's HTTP behaviour on malformed bodies.

mod server_harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use server_harness::{free_port, get, pharos_bin, wait_until, Proc};

const PROMETHEUS: &str = "/usr/bin/prometheus";

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for f in ["pharos.log", "prometheus.log"] {
        out.push_str(&format!(
            "--- {f}:\n{}\n",
            std::fs::read_to_string(dir.join(f)).unwrap_or_default()
        ));
    }
    out
}

fn start_pharos(dir: &Path, config_text: &str) -> (SocketAddr, Proc) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.join("pharos.yml");
    std::fs::write(&config, config_text.replace("{self}", &addr.to_string()))
        .expect("write config");
    let args = vec![
        "server".to_string(),
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("pharos-data").display()),
        format!("--web.listen-address={addr}"),
    ];
    let proc = Proc::start(&pharos_bin(), &args, &dir.join("pharos.log"));
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    assert!(ready, "pharos did not become ready\n{}", logs(dir));
    (addr, proc)
}

fn start_prometheus(dir: &Path, config_text: &str) -> (SocketAddr, Proc) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, config_text.replace("{self}", &addr.to_string()))
        .expect("write prometheus config");
    let proc = Proc::start(
        Path::new(PROMETHEUS),
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address={addr}"),
        ],
        &dir.join("prometheus.log"),
    );
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    assert!(ready, "prometheus did not become ready\n{}", logs(dir));
    (addr, proc)
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn escape(query: &str) -> String {
    query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A query's `data.result` rows, sorted, as comparable JSON text, plus the warnings;
/// `None` on failure.
fn query(addr: SocketAddr, path_and_query: &str) -> Option<(Vec<String>, Vec<String>)> {
    let r = get(addr, path_and_query)?;
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
    let warnings = j["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some((rows, warnings))
}

fn instant(addr: SocketAddr, q: &str, t: f64) -> Option<(Vec<String>, Vec<String>)> {
    query(
        addr,
        &format!("/api/v1/query?query={}&time={t:.3}", escape(q)),
    )
}

fn range(addr: SocketAddr, q: &str, start: f64, end: f64) -> Option<(Vec<String>, Vec<String>)> {
    query(
        addr,
        &format!(
            "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step=1",
            escape(q)
        ),
    )
}

/// Compares `queries` on both servers (bounded retries while data settles); panics with the
/// last difference.
fn assert_same_answers(
    dir: &Path,
    ours: SocketAddr,
    theirs: SocketAddr,
    queries: &[&str],
    expect_warning: bool,
) {
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut last = String::new();
    while Instant::now() < deadline {
        let t = (now_secs() - 3.0).floor();
        let mut all_same = true;
        for q in queries {
            let a = instant(ours, q, t);
            let b = instant(theirs, q, t);
            let ar = range(ours, q, t - 10.0, t);
            let br = range(theirs, q, t - 10.0, t);
            let same = match (&a, &b, &ar, &br) {
                (Some(a), Some(b), Some(ar), Some(br)) => {
                    !b.0.is_empty()
                        && a.0 == b.0
                        && ar.0 == br.0
                        && (!expect_warning || (!a.1.is_empty() && !ar.1.is_empty()))
                }
                _ => false,
            };
            if !same {
                all_same = false;
                last = format!("{q} at {t}:\n pharos:     {a:?}\n prometheus: {b:?}\n pharos range: {ar:?}\n prometheus range: {br:?}");
                break;
            }
        }
        if all_same {
            return;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    panic!("answers differ: {last}\n{}", logs(dir));
}

#[test]
fn prometheus_reads_what_only_pharos_has() {
    if !Path::new(PROMETHEUS).exists() {
        println!("skipping: {PROMETHEUS} not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (pharos, mut pharos_proc) = start_pharos(
        dir.path(),
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels:\n    site: edge\nscrape_configs:\n  - job_name: pharos\n    static_configs:\n      - targets: ['{self}']\n",
    );
    let arrived = wait_until(Duration::from_secs(30), || {
        instant(pharos, "up{job=\"pharos\"}", now_secs()).is_some_and(|r| !r.0.is_empty())
    });
    assert!(
        arrived,
        "pharos did not scrape itself\n{}",
        logs(dir.path())
    );
    let (prom, mut prom_proc) = start_prometheus(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    site: edge\nscrape_configs: []\nremote_read:\n  - url: http://{pharos}/api/v1/read\n    read_recent: true\n"
        ),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_same_answers(
        dir.path(),
        pharos,
        prom,
        &[
            "up{job=\"pharos\"}",
            "scrape_samples_scraped",
            "sum by (job) (scrape_duration_seconds >= 0)",
            "count({job=\"pharos\"})",
        ],
        false,
    );
    // Both servers share the external label `site`: Prometheus asks for `site="edge"`, pharos
    // answers series without it stored (adding it on the way out) and Prometheus strips it
    // again, so the answers above matched label for label.
    // The series API of Prometheus goes through remote read too.
    let series = get(prom, "/api/v1/series?match[]=up%7Bjob%3D%22pharos%22%7D").expect("series");
    assert_eq!(series.status, 200, "{}", series.body);
    assert!(
        series.body.contains("\"job\":\"pharos\""),
        "{}",
        series.body
    );
    prom_proc.terminate();
    pharos_proc.terminate();
}

#[test]
fn pharos_reads_what_only_prometheus_has() {
    if !Path::new(PROMETHEUS).exists() {
        println!("skipping: {PROMETHEUS} not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (prom, mut prom_proc) = start_prometheus(
        dir.path(),
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['{self}']\n",
    );
    let arrived = wait_until(Duration::from_secs(30), || {
        instant(prom, "up{job=\"prometheus\"}", now_secs()).is_some_and(|r| !r.0.is_empty())
    });
    assert!(
        arrived,
        "prometheus did not scrape itself\n{}",
        logs(dir.path())
    );
    // The second remote is dead: queries must still answer, with a warning.
    let dead: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (pharos, mut pharos_proc) = start_pharos(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs: []\nremote_read:\n  - url: http://{prom}/api/v1/read\n    read_recent: true\n  - url: http://{dead}/api/v1/read\n    name: dead\n    read_recent: true\n    remote_timeout: 2s\n"
        ),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_same_answers(
        dir.path(),
        pharos,
        prom,
        &[
            "up{job=\"prometheus\"}",
            "prometheus_build_info",
            "sum(rate(prometheus_http_requests_total[5s]))",
        ],
        true,
    );
    let (_, warnings) = instant(pharos, "prometheus_build_info", now_secs()).expect("query");
    assert!(
        warnings.iter().any(|w| w.contains("remote_read")),
        "{warnings:?}"
    );
    let series = get(pharos, "/api/v1/series?match[]=prometheus_build_info").expect("series");
    assert_eq!(series.status, 200, "{}", series.body);
    assert!(
        series.body.contains("\"job\":\"prometheus\""),
        "{}",
        series.body
    );
    let values = get(
        pharos,
        "/api/v1/label/job/values?match[]=prometheus_build_info",
    )
    .expect("label values");
    assert!(values.body.contains("\"prometheus\""), "{}", values.body);
    pharos_proc.terminate();
    prom_proc.terminate();
}

/// Status and body of a POST with a binary body.
fn post_bytes(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, rest.to_string())
}

#[test]
fn read_endpoint_refuses_malformed_bodies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, mut pharos) = start_pharos(dir.path(), "scrape_configs: []\n");
    let (status, body) = post_bytes(addr, "/api/v1/read", b"\x05\xff\xff");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    // Valid snappy (a literal of 3 bytes) around a truncated protobuf message.
    let (status, body) = post_bytes(addr, "/api/v1/read", &[3, 8, 0x0a, 0x05, 0x01]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("decoding remote read request"), "{body}");
    // An empty request is answered with an empty response.
    let (status, body) = post_bytes(addr, "/api/v1/read", &[0]);
    assert_eq!(status, 200, "{body}");
    assert!(get(addr, "/-/healthy").is_some_and(|r| r.status == 200));
    pharos.terminate();
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len_field(out: &mut Vec<u8>, field: u8, body: &[u8]) {
    out.push((field << 3) | 2);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// A snappy block holding `data` as literals (valid snappy, just not compressed).
fn snappy_literal(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, data.len() as u64);
    for chunk in data.chunks(60) {
        out.push(((chunk.len() - 1) as u8) << 2);
        out.extend_from_slice(chunk);
    }
    out
}

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0x82F6_3B78 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn streamed_chunks_are_framed_and_checksummed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, mut pharos) = start_pharos(
        dir.path(),
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: pharos\n    static_configs:\n      - targets: ['{self}']\n",
    );
    assert!(
        wait_until(Duration::from_secs(30), || {
            instant(addr, "up", now_secs()).is_some_and(|r| !r.0.is_empty())
        }),
        "no data\n{}",
        logs(dir.path())
    );
    // ReadRequest{queries: [{start, end, matchers: [__name__="up"]}], accepted: [STREAMED]}.
    let end = (now_secs() * 1000.0) as u64 + 1000;
    let mut matcher = Vec::new();
    put_len_field(&mut matcher, 2, b"__name__");
    put_len_field(&mut matcher, 3, b"up");
    let mut query = vec![0x08];
    put_varint(&mut query, end - 600_000);
    query.push(0x10);
    put_varint(&mut query, end);
    put_len_field(&mut query, 3, &matcher);
    let mut req = Vec::new();
    put_len_field(&mut req, 1, &query);
    put_len_field(&mut req, 2, &[1]);
    let body = snappy_literal(&req);

    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "POST /api/v1/read HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    head.extend_from_slice(&body);
    s.write_all(&head).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(
            "content-type: application/x-streamed-protobuf; proto=prometheus.chunkedreadresponse"
        ),
        "{head}"
    );
    // The body is chunked transfer encoding around the frames; undo it.
    let mut rest = &raw[split + 4..];
    let mut payload = Vec::new();
    if head.contains("transfer-encoding: chunked") {
        loop {
            let nl = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16)
                .expect("hex size");
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            payload.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    } else {
        payload.extend_from_slice(rest);
    }
    let mut frames = 0;
    let mut p = &payload[..];
    while !p.is_empty() {
        let (mut len, mut shift, mut i) = (0usize, 0, 0);
        loop {
            let b = p[i];
            len |= usize::from(b & 0x7f) << shift;
            i += 1;
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        let crc = u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        let msg = &p[i + 4..i + 4 + len];
        assert_eq!(crc32c(msg), crc, "frame {frames} checksum");
        let text = String::from_utf8_lossy(msg);
        assert!(text.contains("__name__") && text.contains("up"), "{text:?}");
        p = &p[i + 4 + len..];
        frames += 1;
    }
    assert!(frames >= 1, "no frames in {} bytes", payload.len());
    pharos.terminate();
}
