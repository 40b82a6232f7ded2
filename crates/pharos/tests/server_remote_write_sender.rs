//! `remote_write` from `pharos server` scraping itself: to Debian's Prometheus (as a remote
//! write receiver) and VictoriaMetrics, where the same raw samples must land as Pharos stored;
//! across a receiver outage (and a Pharos restart during it), where nothing stored in the
//! window may be missing afterwards; and against a scripted receiver for retries on 500, 429
//! with `Retry-After`, and dropped batches on 400.

mod server_harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use server_harness::{free_port, get, pharos_bin, wait_until, Proc};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const VICTORIA_METRICS: &str = "/usr/bin/victoria-metrics";

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An instant query's raw result; `None` when the server is down or refuses.
fn query(addr: SocketAddr, q: &str, time: f64) -> Option<serde_json::Value> {
    let r = get(
        addr,
        &format!("/api/v1/query?query={}&time={time:.3}", url_encode(q)),
    )?;
    if r.status != 200 {
        return None;
    }
    let j: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    Some(j["data"]["result"].clone())
}

/// The raw samples of the single series selected by `selector` in `(time - window, time]`, as
/// (milliseconds, value text) pairs.
fn raw_samples(
    addr: SocketAddr,
    selector: &str,
    window_s: u64,
    time: f64,
) -> Option<Vec<(i64, String)>> {
    let res = query(addr, &format!("{selector}[{window_s}s]"), time)?;
    let series = res.as_array()?;
    if series.len() != 1 {
        return None;
    }
    series[0]["values"]
        .as_array()?
        .iter()
        .map(|p| {
            let t = (p[0].as_f64()? * 1000.0).round() as i64;
            Some((t, p[1].as_str()?.to_string()))
        })
        .collect()
}

/// A scalar-ish instant query: the first value of the result vector.
fn single_value(addr: SocketAddr, q: &str, time: f64) -> Option<f64> {
    let res = query(addr, q, time)?;
    res.as_array()?.first()?["value"][1].as_str()?.parse().ok()
}

fn write_pharos_config(dir: &Path, addr: SocketAddr, remote_write: &str) -> PathBuf {
    let config = dir.join("pharos.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels:\n    site: edge\n\
             scrape_configs:\n  - job_name: pharos\n    static_configs:\n      - targets: ['{addr}']\n\
             remote_write:\n{remote_write}"
        ),
    )
    .expect("write config");
    config
}

fn start_pharos(dir: &Path, data: &Path, addr: SocketAddr, remote_write: &str) -> Proc {
    let config = write_pharos_config(dir, addr, remote_write);
    let log = dir.join(format!(
        "pharos-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    ));
    let proc = Proc::start(
        &pharos_bin(),
        &[
            "server".into(),
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={addr}"),
        ],
        &log,
    );
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    assert!(
        ready,
        "pharos did not become ready; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    proc
}

fn start_prometheus_receiver(dir: &Path, data: &Path, addr: SocketAddr, log: &Path) -> Proc {
    let config = dir.join("receiver.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    )
    .expect("write receiver config");
    let proc = Proc::start(
        Path::new(PROMETHEUS),
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={addr}"),
            "--web.enable-remote-write-receiver".into(),
        ],
        log,
    );
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    assert!(
        ready,
        "prometheus receiver did not become ready; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    proc
}

fn start_victoria_metrics(dir: &Path, addr: SocketAddr) -> Proc {
    let log = dir.join("vm.log");
    let proc = Proc::start(
        Path::new(VICTORIA_METRICS),
        &[
            format!("-httpListenAddr={addr}"),
            format!("-storageDataPath={}", dir.join("vm-data").display()),
            // Answer queries about the last seconds too, and never from a stale cache.
            "-search.latencyOffset=0s".into(),
            "-search.disableCache".into(),
        ],
        &log,
    );
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/health").is_some_and(|r| r.status == 200)
    });
    assert!(
        ready,
        "victoria-metrics did not become ready; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    proc
}

/// How many lines of all logs in `dir` contain `needle`.
fn log_lines_with(dir: &Path, needle: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .map(|p| {
                    std::fs::read_to_string(p)
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| l.contains(needle))
                        .count()
                })
                .sum()
        })
        .unwrap_or(0)
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("==> {} <==\n", f.display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

/// A counter from Pharos's own `/metrics`, summed over its label sets.
fn self_metric(addr: SocketAddr, name: &str) -> f64 {
    let Some(r) = get(addr, "/metrics") else {
        return 0.0;
    };
    r.body
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn forwards_identical_samples_to_prometheus_and_victoria_metrics() {
    let have_prom = Path::new(PROMETHEUS).exists();
    let have_vm = Path::new(VICTORIA_METRICS).exists();
    if !have_prom {
        println!("skipping: prometheus not installed ({PROMETHEUS})");
    }
    if !have_vm {
        println!("skipping: victoria-metrics not installed ({VICTORIA_METRICS})");
    }
    if !have_prom && !have_vm {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let prom_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let vm_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _prom = have_prom.then(|| {
        start_prometheus_receiver(d, &d.join("prom-data"), prom_addr, &d.join("prom.log"))
    });
    let _vm = have_vm.then(|| start_victoria_metrics(d, vm_addr));
    // Both entries drop one metric family with write_relabel_configs.
    let relabel = "    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: prometheus_build_info\n        action: drop\n";
    let queue = "    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n";
    let mut rw = String::new();
    if have_prom {
        rw.push_str(&format!(
            "  - url: http://{prom_addr}/api/v1/write\n    name: prom\n{relabel}{queue}"
        ));
    }
    if have_vm {
        rw.push_str(&format!(
            "  - url: http://{vm_addr}/api/v1/write\n    name: vm\n{relabel}{queue}"
        ));
    }
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut pharos = start_pharos(d, &d.join("pharos-data"), addr, &rw);

    let receivers: Vec<(&str, SocketAddr)> = [
        ("prometheus", prom_addr, have_prom),
        ("victoria-metrics", vm_addr, have_vm),
    ]
    .into_iter()
    .filter(|r| r.2)
    .map(|r| (r.0, r.1))
    .collect();
    // External labels are added on the way out; the local series do not carry them.
    for (name, raddr) in &receivers {
        let arrived = wait_until(Duration::from_secs(60), || {
            single_value(
                *raddr,
                "count(up{job=\"pharos\",site=\"edge\"})",
                now_secs(),
            )
            .is_some()
        });
        assert!(arrived, "no samples reached {name} within 60s\n{}", logs(d));
    }
    std::thread::sleep(Duration::from_secs(8));

    // A fixed past window, comfortably older than the batch deadline.
    let series = [
        "up{job=\"pharos\"}",
        "prometheus_tsdb_head_samples_appended_total{job=\"pharos\"}",
        "scrape_samples_scraped{job=\"pharos\"}",
    ];
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut problems = Vec::new();
    loop {
        problems.clear();
        let t = (now_secs() - 4.0).floor();
        for sel in series {
            let ours = raw_samples(addr, sel, 10, t);
            match &ours {
                Some(v) if v.len() >= 5 => {}
                other => problems.push(format!("pharos has too few samples of {sel}: {other:?}")),
            }
            for (name, raddr) in &receivers {
                let theirs = raw_samples(*raddr, sel, 10, t);
                if theirs != ours {
                    problems.push(format!(
                        "{name} differs for {sel} at {t}:\n  pharos: {ours:?}\n  {name}: {theirs:?}"
                    ));
                }
            }
        }
        let q = "count_over_time(up{job=\"pharos\"}[10s])";
        let ours = single_value(addr, q, t);
        for (name, raddr) in &receivers {
            let theirs = single_value(*raddr, q, t);
            if theirs != ours || ours.is_none() {
                problems.push(format!("{name}: {q} = {theirs:?}, pharos {ours:?}"));
            }
        }
        if problems.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(problems.is_empty(), "{}\n{}", problems.join("\n"), logs(d));

    // The relabeled-away family exists locally and nowhere downstream.
    let t = now_secs() - 3.0;
    assert!(single_value(addr, "count(prometheus_build_info)", t).is_some());
    for (name, raddr) in &receivers {
        let res = query(*raddr, "prometheus_build_info", t).expect("query receiver");
        assert_eq!(res.as_array().map(Vec::len), Some(0), "{name}: {res}");
    }

    // The queue metrics are exposed with Prometheus's names and labels.
    let metrics = get(addr, "/metrics").expect("metrics").body;
    for name in ["prom", "vm"].iter().take(2) {
        let wanted = (*name == "prom" && have_prom) || (*name == "vm" && have_vm);
        if wanted {
            assert!(
                metrics.contains(&format!(
                    "prometheus_remote_storage_samples_total{{remote_name=\"{name}\""
                )),
                "{metrics}"
            );
        }
    }
    assert!(self_metric(addr, "prometheus_remote_storage_samples_total") > 0.0);
    assert!(self_metric(addr, "prometheus_remote_storage_samples_dropped_total") > 0.0);
    // Metadata from the scrapes goes out too (first round a few seconds after start).
    assert!(
        wait_until(Duration::from_secs(20), || self_metric(
            addr,
            "prometheus_remote_storage_metadata_total"
        ) > 0.0),
        "no metadata sent\n{}",
        logs(d)
    );
    // The configuration endpoint shows the entries.
    let cfg = get(addr, "/api/v1/status/config").expect("config").body;
    assert!(cfg.contains("remote_write"), "{cfg}");
    pharos.terminate();
}

#[test]
fn outage_and_restart_lose_nothing() {
    if !Path::new(PROMETHEUS).exists() {
        println!("skipping: prometheus not installed ({PROMETHEUS})");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let prom_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let prom_data = d.join("prom-data");
    let mut prom = start_prometheus_receiver(d, &prom_data, prom_addr, &d.join("prom-1.log"));
    let rw = format!(
        "  - url: http://{prom_addr}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 2s\n    metadata_config:\n      send: false\n"
    );
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let pharos_data = d.join("pharos-data");
    let mut pharos = start_pharos(d, &pharos_data, addr, &rw);
    let sel = "up{job=\"pharos\"}";
    let arrived = wait_until(Duration::from_secs(60), || {
        single_value(prom_addr, &format!("count({sel})"), now_secs()).is_some()
    });
    assert!(arrived, "no samples reached the receiver\n{}", logs(d));
    std::thread::sleep(Duration::from_secs(3));
    let window_start = now_secs().floor();

    // Receiver down; Pharos keeps scraping, and restarts halfway through the outage.
    prom.terminate();
    drop(prom);
    std::thread::sleep(Duration::from_secs(25));
    pharos.terminate();
    drop(pharos);
    let mut pharos = start_pharos(d, &pharos_data, addr, &rw);
    std::thread::sleep(Duration::from_secs(30));
    let mut prom = start_prometheus_receiver(d, &prom_data, prom_addr, &d.join("prom-2.log"));
    std::thread::sleep(Duration::from_secs(3));
    let window_end = now_secs().floor();

    // Catch-up: every sample Pharos stored in the window reaches the receiver.
    let window = (window_end - window_start) as u64;
    let mut ours = None;
    let mut theirs = None;
    let caught_up = wait_until(Duration::from_secs(40), || {
        ours = raw_samples(addr, sel, window, window_end);
        theirs = raw_samples(prom_addr, sel, window, window_end);
        ours.is_some() && ours == theirs
    });
    let n = ours.as_ref().map_or(0, Vec::len);
    assert!(
        caught_up,
        "after the outage the receiver has {} samples of {sel} in the window, pharos {n}\n  pharos: {ours:?}\n  receiver: {theirs:?}\n{}",
        theirs.as_ref().map_or(0, Vec::len),
        logs(d)
    );
    // About one per second minus the restart gap.
    assert!(n as u64 >= window / 2, "only {n} samples in {window}s");
    assert!(self_metric(addr, "prometheus_remote_storage_samples_total") > 0.0);
    // The restarted server picked up where the stopped one had delivered up to.
    assert_eq!(log_lines_with(d, "resumed=true"), 1, "{}", logs(d));
    pharos.terminate();
    prom.terminate();
}

/// One request as the scripted receiver saw it.
struct Seen {
    at: Instant,
    head: String,
    body: Vec<u8>,
    status: u16,
}

/// A tiny HTTP receiver answering each request with the next status of a script (200 once
/// the script is used up) and recording what it received.
struct ScriptedReceiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScriptedReceiver {
    fn start(script: Vec<(u16, Option<&'static str>)>) -> ScriptedReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut script = script.into_iter();
            while !stop2.load(Ordering::Relaxed) {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let Some((head, body)) = read_request(conn.try_clone().ok()) else {
                    continue;
                };
                let (status, retry_after) = script.next().unwrap_or((200, None));
                answer(conn, status, retry_after);
                if let Ok(mut s) = seen2.lock() {
                    s.push(Seen {
                        at: Instant::now(),
                        head,
                        body,
                        status,
                    });
                }
            }
        });
        ScriptedReceiver {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }
}

impl Drop for ScriptedReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(conn: Option<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut conn = conn?;
    conn.set_nonblocking(false).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((head, buf[head_end..head_end + len].to_vec()))
}

fn answer(mut conn: TcpStream, status: u16, retry_after: Option<&str>) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let body = if status == 200 {
        ""
    } else {
        "scripted failure"
    };
    let mut resp = format!(
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(r) = retry_after {
        resp.push_str(&format!("Retry-After: {r}\r\n"));
    }
    resp.push_str("\r\n");
    resp.push_str(body);
    let _ = conn.write_all(resp.as_bytes());
}

#[test]
fn retries_5xx_and_429_and_drops_on_400() {
    let script = vec![
        (500, None),
        (503, None),
        (200, None),
        (429, Some("2")),
        (200, None),
        (400, None),
        (200, None),
    ];
    let receiver = ScriptedReceiver::start(script);
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let rw = format!(
        "  - url: http://{}/api/v1/write\n    name: scripted\n    headers:\n      X-Scope-OrgID: tenant-1\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 200ms\n      max_backoff: 1s\n      retry_on_http_429: true\n    metadata_config:\n      send: false\n",
        receiver.addr
    );
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut pharos = start_pharos(d, &d.join("data"), addr, &rw);
    let done = wait_until(Duration::from_secs(60), || receiver.count() >= 8);
    assert!(
        done,
        "only {} requests arrived\n{}",
        receiver.count(),
        logs(d)
    );
    let seen = receiver.seen.lock().expect("lock");
    let first = &seen[0];
    for h in [
        "content-encoding: snappy",
        "content-type: application/x-protobuf",
        "x-prometheus-remote-write-version: 0.1.0",
        "user-agent: pharos/",
        "x-scope-orgid: tenant-1",
    ] {
        assert!(first.head.contains(h), "missing {h:?} in\n{}", first.head);
    }
    // 500 and 503 are retried with the same batch until it is accepted.
    assert_eq!(seen[0].status, 500);
    assert_eq!(seen[1].body, seen[0].body, "a 5xx retry resends the batch");
    assert_eq!(seen[2].body, seen[0].body, "a 5xx retry resends the batch");
    // 429 is retried (retry_on_http_429) after the receiver's Retry-After.
    assert_eq!(seen[3].status, 429);
    assert_eq!(seen[4].body, seen[3].body, "a 429 retry resends the batch");
    let waited = seen[4].at.duration_since(seen[3].at);
    assert!(
        waited >= Duration::from_millis(1800),
        "retried after {waited:?} despite Retry-After: 2"
    );
    // 400 drops the batch: the next request carries newer data.
    assert_eq!(seen[5].status, 400);
    assert_ne!(seen[6].body, seen[5].body, "a 400 batch must not be resent");
    drop(seen);
    let retried = self_metric(addr, "prometheus_remote_storage_samples_retried_total");
    let failed = self_metric(addr, "prometheus_remote_storage_samples_failed_total");
    assert!(retried > 0.0, "samples_retried_total = {retried}");
    assert!(failed > 0.0, "samples_failed_total = {failed}");

    // The configuration endpoint shows the entry with its header value redacted.
    let cfg = get(addr, "/api/v1/status/config").expect("config").body;
    assert!(
        cfg.contains("X-Scope-OrgID") && !cfg.contains("tenant-1"),
        "{cfg}"
    );

    // A reload with the same entry keeps the queue running; a changed entry replaces it.
    let started = || log_lines_with(d, "remote write queue started");
    assert_eq!(started(), 1, "{}", logs(d));
    let hup = |p: &Proc| {
        let pid = libc::pid_t::try_from(p.child.id()).expect("pid fits");
        // SAFETY: signalling a child we started and have not reaped.
        unsafe { libc::kill(pid, libc::SIGHUP) };
    };
    hup(&pharos);
    assert!(wait_until(Duration::from_secs(10), || log_lines_with(
        d,
        "configuration reloaded"
    ) == 1));
    assert_eq!(
        started(),
        1,
        "an unchanged entry was restarted\n{}",
        logs(d)
    );
    write_pharos_config(
        d,
        addr,
        &rw.replace("batch_send_deadline: 1s", "batch_send_deadline: 2s"),
    );
    hup(&pharos);
    assert!(
        wait_until(Duration::from_secs(20), || started() == 2),
        "a changed entry was not restarted\n{}",
        logs(d)
    );
    assert_eq!(log_lines_with(d, "remote write queue stopped"), 1);
    pharos.terminate();
}

#[test]
fn protocol_2_0_reaches_a_pharos_receiver() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let receiver_dir = d.join("receiver");
    std::fs::create_dir_all(&receiver_dir).expect("mkdir");
    let raddr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let rconfig = receiver_dir.join("receiver.yml");
    std::fs::write(
        &rconfig,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    )
    .expect("write receiver config");
    let rlog = d.join("receiver.log");
    let _receiver = Proc::start(
        &pharos_bin(),
        &[
            "server".into(),
            format!("--config.file={}", rconfig.display()),
            format!(
                "--storage.tsdb.path={}",
                receiver_dir.join("data").display()
            ),
            format!("--web.listen-address={raddr}"),
            "--web.enable-remote-write-receiver".into(),
        ],
        &rlog,
    );
    assert!(
        wait_until(Duration::from_secs(30), || {
            get(raddr, "/-/ready").is_some_and(|r| r.status == 200)
        }),
        "receiver not ready\n{}",
        logs(d)
    );
    let rw = format!(
        "  - url: http://{raddr}/api/v1/write\n    protobuf_message: io.prometheus.write.v2.Request\n    queue_config:\n      batch_send_deadline: 1s\n"
    );
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut pharos = start_pharos(d, &d.join("data"), addr, &rw);
    let sel = "up{job=\"pharos\"}";
    let arrived = wait_until(Duration::from_secs(60), || {
        single_value(raddr, "count(up{site=\"edge\"})", now_secs()).is_some()
    });
    assert!(arrived, "nothing arrived over 2.0\n{}", logs(d));
    std::thread::sleep(Duration::from_secs(6));
    let mut ours = None;
    let mut theirs = None;
    let same = wait_until(Duration::from_secs(30), || {
        let t = (now_secs() - 3.0).floor();
        ours = raw_samples(addr, sel, 5, t);
        theirs = raw_samples(raddr, sel, 5, t);
        ours.as_ref().is_some_and(|v| v.len() >= 3) && ours == theirs
    });
    assert!(same, "pharos {ours:?}\nreceiver {theirs:?}\n{}", logs(d));
    // 2.0 series carry their metadata; the receiver stores it.
    let has_metadata = wait_until(Duration::from_secs(30), || {
        get(raddr, "/api/v1/metadata?metric=prometheus_tsdb_head_series").is_some_and(|r| {
            r.status == 200
                && serde_json::from_str::<serde_json::Value>(&r.body)
                    .is_ok_and(|j| j["data"]["prometheus_tsdb_head_series"].is_array())
        })
    });
    assert!(has_metadata, "no metadata at the receiver\n{}", logs(d));
    pharos.terminate();
}
