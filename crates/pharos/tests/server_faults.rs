//! `pharos server` under faults: killed with SIGKILL in the middle of heavy ingestion and
//! restarted on the same data directory, and scraping targets that misbehave (garbage, endless
//! or huge bodies, slow answers) next to a healthy one.

mod server_harness;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use server_harness::{free_port, get, pharos_bin, request, wait_until, Proc};

/// What a fake target answers on one path.
#[derive(Clone)]
enum Behaviour {
    /// A normal exposition, fixed bytes.
    Body(Arc<Vec<u8>>),
    /// `count` gauge series whose values change with every scrape.
    Changing { prefix: &'static str, count: usize },
    /// Streams a never-ending exposition until the client goes away (or 1 GiB is sent).
    Endless,
    /// Answers only after this long.
    Slow(Duration),
}

/// Fake targets on one port, one behaviour per path; stopped and joined when dropped.
struct FakeTargets {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeTargets {
    fn start(routes: HashMap<&'static str, Behaviour>) -> FakeTargets {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake targets");
        let addr = listener.local_addr().expect("fake targets address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let routes = Arc::new(routes);
        let acceptor = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut scrapes = 0u64;
                let mut workers: Vec<JoinHandle<()>> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            scrapes += 1;
                            let (routes, stop) = (routes.clone(), stop.clone());
                            workers.push(std::thread::spawn(move || {
                                serve(conn, &routes, scrapes, &stop);
                            }));
                            workers.retain(|w| !w.is_finished());
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                for w in workers {
                    let _ = w.join();
                }
            })
        };
        FakeTargets {
            addr,
            stop,
            acceptor: Some(acceptor),
        }
    }
}

impl Drop for FakeTargets {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers one connection: one request, then close.
fn serve(
    conn: TcpStream,
    routes: &HashMap<&'static str, Behaviour>,
    scrape: u64,
    stop: &AtomicBool,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    // Skip the rest of the request head.
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(n) if n > 2 => {}
            _ => break,
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/");
    let mut conn = conn;
    let Some(behaviour) = routes.get(path) else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let head = |len: Option<usize>| {
        let mut h =
            format!("HTTP/1.1 200 OK\r\nContent-Type: {TEXT_FORMAT}\r\nConnection: close\r\n");
        if let Some(l) = len {
            h.push_str(&format!("Content-Length: {l}\r\n"));
        }
        h.push_str("\r\n");
        h
    };
    match behaviour {
        Behaviour::Body(b) => {
            let _ = conn.write_all(head(Some(b.len())).as_bytes());
            let _ = conn.write_all(b);
        }
        Behaviour::Changing { prefix, count } => {
            let mut body = String::with_capacity(count * 40);
            body.push_str(&format!("# TYPE {prefix}_gauge gauge\n"));
            for i in 0..*count {
                body.push_str(&format!(
                    "{prefix}_gauge{{instance_id=\"{i}\",zone=\"z{}\"}} {}\n",
                    i % 3,
                    scrape * 7 + i as u64
                ));
            }
            let _ = conn.write_all(head(Some(body.len())).as_bytes());
            let _ = conn.write_all(body.as_bytes());
        }
        Behaviour::Endless => {
            if conn.write_all(head(None).as_bytes()).is_err() {
                return;
            }
            let chunk: String = (0..1000)
                .map(|i| format!("endless_series{{i=\"{i}\"}} 1\n"))
                .collect();
            let mut sent = 0usize;
            while sent < (1 << 30) && !stop.load(Ordering::Relaxed) {
                if conn.write_all(chunk.as_bytes()).is_err() {
                    return;
                }
                sent += chunk.len();
            }
        }
        Behaviour::Slow(after) => {
            let until = Instant::now() + *after;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let body = b"slow_metric 1\n";
            let _ = conn.write_all(head(Some(body.len())).as_bytes());
            let _ = conn.write_all(body);
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn start_server(dir: &Path, config: &Path, extra: &[&str], log_name: &str) -> (SocketAddr, Proc) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut args = vec![
        "server".to_string(),
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address={addr}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let proc = Proc::start(&pharos_bin(), &args, &dir.join(log_name));
    (addr, proc)
}

/// An instant query's vector result as (labels, value) pairs; `None` on any failure.
fn query_at(addr: SocketAddr, q: &str, time_ms: i64) -> Option<Vec<(serde_json::Value, f64)>> {
    let form = format!(
        "query={}&time={}.{:03}",
        urlencode(q),
        time_ms / 1000,
        time_ms % 1000
    );
    let r = request(addr, "POST", "/api/v1/query", Some(&form))?;
    if r.status != 200 {
        return None;
    }
    let j = r.json();
    let result = j["data"]["result"].as_array()?;
    Some(
        result
            .iter()
            .filter_map(|s| {
                let v = s["value"][1].as_str()?.parse().ok()?;
                Some((s["metric"].clone(), v))
            })
            .collect(),
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The single value of a one-element vector result.
fn scalar_at(addr: SocketAddr, q: &str, time_ms: i64) -> Option<f64> {
    query_at(addr, q, time_ms)?.first().map(|(_, v)| *v)
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// SIGKILL, then reap.
fn kill_hard(p: &mut Proc) {
    let _ = p.child.kill();
    let _ = p.child.wait();
}

// --- remote write 1.0, encoded by hand: protobuf fields and uncompressed snappy ---

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_bytes(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A `WriteRequest` with one sample for each of `series` series named `name`.
fn write_request(name: &str, series: usize, t_ms: i64, value: f64) -> Vec<u8> {
    let mut req = Vec::new();
    for i in 0..series {
        let mut ts = Vec::new();
        let id = i.to_string();
        for (n, v) in [("__name__", name), ("job", "rw"), ("series", id.as_str())] {
            let mut label = Vec::new();
            field_bytes(1, n.as_bytes(), &mut label);
            field_bytes(2, v.as_bytes(), &mut label);
            field_bytes(1, &label, &mut ts);
        }
        let mut sample = Vec::new();
        varint(1 << 3 | 1, &mut sample);
        sample.extend_from_slice(&value.to_le_bytes());
        varint(2 << 3, &mut sample);
        varint(t_ms as u64, &mut sample);
        field_bytes(2, &sample, &mut ts);
        field_bytes(1, &ts, &mut req);
    }
    req
}

/// Snappy block format with literals only: valid, just not compressed.
fn snappy_literal(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(data.len() as u64, &mut out);
    for chunk in data.chunks(65536) {
        let n = chunk.len() - 1;
        if n < 60 {
            out.push((n as u8) << 2);
        } else if n < 256 {
            out.push(60 << 2);
            out.push(n as u8);
        } else {
            out.push(61 << 2);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        out.extend_from_slice(chunk);
    }
    out
}

fn remote_write(addr: SocketAddr, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let head = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut raw);
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace().nth(1)?.parse().ok()
}

const HEAVY_SERIES: usize = 4000;
const RW_SERIES: usize = 200;

#[test]
fn sigkill_during_ingestion_then_restart_keeps_the_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = FakeTargets::start(HashMap::from([
        (
            "/a",
            Behaviour::Changing {
                prefix: "heavy_a",
                count: HEAVY_SERIES,
            },
        ),
        (
            "/b",
            Behaviour::Changing {
                prefix: "heavy_b",
                count: HEAVY_SERIES,
            },
        ),
    ]));
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 500ms\nscrape_configs:\n  - job_name: heavy_a\n    metrics_path: /a\n    static_configs: [{{targets: ['{t}']}}]\n  - job_name: heavy_b\n    metrics_path: /b\n    static_configs: [{{targets: ['{t}']}}]\n",
            t = targets.addr
        ),
    )
    .expect("write config");
    let flags = ["--web.enable-remote-write-receiver"];
    let rounds = 3;
    let mut killed_at = 0i64;
    for round in 0..rounds {
        let log_name = format!("server-{round}.log");
        let log = || std::fs::read_to_string(dir.path().join(&log_name)).unwrap_or_default();
        let started = Instant::now();
        let (addr, mut server) = start_server(dir.path(), &config, &flags, &log_name);
        let ready = wait_until(Duration::from_secs(60), || {
            get(addr, "/-/ready").is_some_and(|r| r.status == 200)
        });
        assert!(
            ready,
            "round {round}: not ready within 60s; log:\n{}",
            log()
        );
        println!("round {round}: ready after {:?}", started.elapsed());
        if round > 0 {
            // Everything stored up to shortly before the previous kill is back.
            for job in ["heavy_a", "heavy_b"] {
                let q = format!("count({job}_gauge)");
                let n = scalar_at(addr, &q, killed_at).unwrap_or(0.0);
                assert_eq!(
                    n as usize,
                    HEAVY_SERIES,
                    "round {round}: {q} at the kill time; log:\n{}",
                    log()
                );
                let q = format!("max(timestamp({job}_gauge))");
                let newest = scalar_at(addr, &q, killed_at).unwrap_or(0.0);
                let lag = killed_at as f64 / 1000.0 - newest;
                assert!(
                    lag < 3.0,
                    "round {round}: newest {job} sample is {lag:.1}s older than the kill; log:\n{}",
                    log()
                );
            }
            let q = "count(rw_series)";
            assert_eq!(
                scalar_at(addr, q, killed_at).map(|v| v as usize),
                Some(RW_SERIES),
                "round {round}: remote-written series; log:\n{}",
                log()
            );
            let newest = scalar_at(addr, "max(timestamp(rw_series))", killed_at).unwrap_or(0.0);
            let lag = killed_at as f64 / 1000.0 - newest;
            assert!(
                lag < 3.0,
                "round {round}: newest remote-written sample is {lag:.1}s older than the kill"
            );
        }
        // Ingest for a while: scrapes every 500ms plus a remote write every 100ms.
        let began = Instant::now();
        let mut wrote = 0;
        while began.elapsed() < Duration::from_secs(4) {
            let body = snappy_literal(&write_request(
                "rw_series",
                RW_SERIES,
                now_ms(),
                wrote as f64,
            ));
            if remote_write(addr, &body) == Some(204) {
                wrote += 1;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            wrote > 10,
            "round {round}: only {wrote} remote writes accepted"
        );
        assert!(
            wait_until(Duration::from_secs(10), || {
                scalar_at(addr, "count(heavy_a_gauge)", now_ms())
                    .is_some_and(|n| n as usize == HEAVY_SERIES)
            }),
            "round {round}: scraped series never all stored; log:\n{}",
            log()
        );
        // One more remote write right before the kill, so the newest data is fresh.
        let body = snappy_literal(&write_request("rw_series", RW_SERIES, now_ms(), -1.0));
        assert_eq!(remote_write(addr, &body), Some(204));
        killed_at = now_ms();
        kill_hard(&mut server);
        let text = log();
        assert!(
            !text.to_ascii_lowercase().contains("corrupt") && !text.contains("panicked"),
            "round {round}: log:\n{text}"
        );
    }
    // A last clean start: the data directory still opens without complaint.
    let (addr, mut server) = start_server(dir.path(), &config, &flags, "server-final.log");
    let ready = wait_until(Duration::from_secs(60), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    let text = std::fs::read_to_string(dir.path().join("server-final.log")).unwrap_or_default();
    assert!(ready, "final start not ready; log:\n{text}");
    let status = server.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let text = std::fs::read_to_string(dir.path().join("server-final.log")).unwrap_or_default();
    assert!(
        !text.to_ascii_lowercase().contains("corrupt") && !text.contains("panicked"),
        "{text}"
    );
}

/// One body with `n` distinct series.
fn many_series(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n * 24);
    for i in 0..n {
        s.push_str(&format!("flood_series{{n=\"{i}\"}} {i}\n"));
    }
    s.into_bytes()
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn misbehaving_targets_fail_clearly_while_a_good_one_stays_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good: String = (0..100)
        .map(|i| format!("good_metric{{n=\"{i}\"}} {i}\n"))
        .collect();
    let targets = FakeTargets::start(HashMap::from([
        ("/good", Behaviour::Body(Arc::new(good.into_bytes()))),
        ("/random", Behaviour::Body(Arc::new(random_bytes(64 << 10)))),
        (
            "/truncated",
            Behaviour::Body(Arc::new(b"ok_metric 1\ncut_metric{path=\"/var/l".to_vec())),
        ),
        (
            "/utf8",
            Behaviour::Body(Arc::new(b"bad_utf8{label=\"\xff\xfe\xfd\"} 1\n".to_vec())),
        ),
        ("/endless", Behaviour::Endless),
        ("/flood", Behaviour::Body(Arc::new(many_series(1_000_000)))),
        ("/slow", Behaviour::Slow(Duration::from_secs(5))),
        (
            "/labels",
            Behaviour::Body(Arc::new(
                b"wide{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\"} 1\n".to_vec(),
            )),
        ),
    ]));
    let t = targets.addr;
    let job = |name: &str, path: &str, extra: &str| {
        format!("  - job_name: {name}\n    metrics_path: {path}\n{extra}    static_configs: [{{targets: ['{t}']}}]\n")
    };
    let mut config =
        String::from("global:\n  scrape_interval: 2s\n  scrape_timeout: 1s\nscrape_configs:\n");
    config.push_str(&job("good", "/good", ""));
    config.push_str(&job("random", "/random", ""));
    config.push_str(&job("truncated", "/truncated", ""));
    config.push_str(&job("utf8", "/utf8", ""));
    config.push_str(&job("endless", "/endless", "    body_size_limit: 1MB\n"));
    config.push_str(&job(
        "flood",
        "/flood",
        "    sample_limit: 10000\n    scrape_timeout: 2s\n",
    ));
    config.push_str(&job("slow", "/slow", ""));
    config.push_str(&job("labels", "/labels", "    label_limit: 4\n"));
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write config");
    let (addr, mut server) = start_server(dir.path(), &config_path, &[], "server.log");
    let log = || std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let pid = server.child.id();

    let expected: [(&str, &str); 7] = [
        ("random", "parse error"),
        ("truncated", "parse error at line 2"),
        ("utf8", "UTF-8"),
        ("endless", "body size limit exceeded"),
        ("flood", "sample limit exceeded"),
        ("slow", "deadline exceeded"),
        ("labels", "label_limit exceeded"),
    ];
    let mut last: Vec<serde_json::Value> = Vec::new();
    let settled = wait_until(Duration::from_secs(60), || {
        let Some(r) = get(addr, "/api/v1/targets") else {
            return false;
        };
        if r.status != 200 {
            return false;
        }
        last = r.json()["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let health = |job: &str| {
            last.iter()
                .find(|x| x["labels"]["job"] == job)
                .map(|x| x["health"].as_str().unwrap_or("").to_string())
        };
        health("good").as_deref() == Some("up")
            && expected
                .iter()
                .all(|(job, _)| health(job).as_deref() == Some("down"))
    });
    assert!(
        settled,
        "targets did not settle within 60s: {last:#?}\nlog:\n{}",
        log()
    );
    for (job, want) in expected {
        let t = last
            .iter()
            .find(|x| x["labels"]["job"] == job)
            .unwrap_or_else(|| panic!("no target for {job}"));
        let err = t["lastError"].as_str().unwrap_or("");
        assert!(
            err.contains(want),
            "{job}: lastError {err:?} does not mention {want:?}"
        );
        println!("{job}: {err}");
    }
    // The good target's samples are stored; nothing of the failed ones is.
    let n = scalar_at(addr, "count(good_metric)", now_ms()).unwrap_or(0.0);
    assert_eq!(n as usize, 100, "log:\n{}", log());
    for bad in ["flood_series", "endless_series", "ok_metric", "wide"] {
        let q = format!("count({bad})");
        assert_eq!(scalar_at(addr, &q, now_ms()), None, "{bad} was stored");
    }
    let down = scalar_at(addr, "count(up == 0)", now_ms()).unwrap_or(0.0);
    assert_eq!(down as usize, expected.len());
    // A few more rounds of every failure, then memory must still be bounded.
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        get(addr, "/-/healthy").is_some_and(|r| r.status == 200),
        "server stopped answering; log:\n{}",
        log()
    );
    let rss = rss_bytes(pid);
    println!("server VmRSS after the faulty scrapes: {} MiB", rss >> 20);
    assert!(rss > 0 && rss < 1 << 30, "VmRSS {rss} bytes");
    let status = server.terminate();
    let text = log();
    assert!(!text.contains("panicked"), "{text}");
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{text}");
}
