//! Side-by-side storage benchmark against Debian's `promtool`/`prometheus` and
//! `victoria-metrics` on the same generated data.
//!
//! Run: `cargo bench -p pharos-tsdb --bench compare_peers` (env `BENCH_SERIES`, default 2000,
//! and `BENCH_SAMPLES`, default 720 at a 15s interval). Peers that are not installed are
//! skipped with a message. Everything listens on 127.0.0.1 with ports picked at runtime.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pharos_model::{Labels, Matcher};
use pharos_tsdb::block::dir_size;
use pharos_tsdb::import::create_blocks_from_openmetrics;
use pharos_tsdb::{Db, Options, Queryable, ValueKind};

mod bench_data;
use bench_data::{env_usize, generate};

fn write_text(data: &[(Labels, Vec<(i64, f64)>)], openmetrics: bool) -> Vec<u8> {
    // Samples are written timestamp-major, the way scrapes produce them.
    let mut out = Vec::new();
    let n = data.first().map_or(0, |d| d.1.len());
    let names: Vec<String> = data
        .iter()
        .map(|(l, _)| {
            let inner: Vec<String> = l
                .iter()
                .filter(|l| &*l.name != "__name__")
                .map(|l| format!("{}=\"{}\"", l.name, l.value))
                .collect();
            format!("{}{{{}}}", l.metric_name().unwrap_or(""), inner.join(","))
        })
        .collect();
    for j in 0..n {
        for (k, (_, pts)) in data.iter().enumerate() {
            let (t, v) = pts[j];
            if openmetrics {
                let _ = writeln!(out, "{} {} {}.{:03}", names[k], v, t / 1000, t % 1000);
            } else {
                let _ = writeln!(out, "{} {} {}", names[k], v, t);
            }
        }
    }
    if openmetrics {
        out.extend_from_slice(b"# EOF\n");
    }
    out
}

fn cpu_seconds_self() -> f64 {
    rusage_seconds(libc::RUSAGE_SELF)
}

fn rusage_seconds(who: i32) -> f64 {
    // SAFETY: getrusage fills a zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn rss_bytes(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn proc_cpu_seconds(pid: u32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn http(port: u16, method: &str, path: &str, body: &[u8]) -> Option<String> {
    http_with(port, method, path, "", body)
}

/// A minimal HTTP/1.1 exchange (one request per connection); `extra` holds header lines.
fn http_with(port: u16, method: &str, path: &str, extra: &str, body: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(300))).ok()?;
    let hdr = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n", body.len());
    s.write_all(hdr.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut out).ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// A sample value from a Prometheus text exposition, e.g. `go_memstats_heap_inuse_bytes`.
fn metric_value(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn pb_uvarint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn pb_bytes(b: &mut Vec<u8>, tag: u8, data: &[u8]) {
    b.push(tag);
    pb_uvarint(b, data.len() as u64);
    b.extend_from_slice(data);
}

/// The protobuf `labels` fields of a remote-write `TimeSeries`.
fn pb_labels(l: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    for l in l {
        let mut lb = Vec::new();
        pb_bytes(&mut lb, 0x0a, l.name.as_bytes());
        pb_bytes(&mut lb, 0x12, l.value.as_bytes());
        pb_bytes(&mut out, 0x0a, &lb);
    }
    out
}

/// A remote-write `WriteRequest` with one sample per series, snappy-framed.
fn remote_write_body(labels: &[Vec<u8>], samples: impl Iterator<Item = (i64, f64)>) -> Vec<u8> {
    let mut req = Vec::new();
    let mut ts = Vec::new();
    let mut sample = Vec::new();
    for (l, (t, v)) in labels.iter().zip(samples) {
        sample.clear();
        sample.push(0x09);
        sample.extend_from_slice(&v.to_le_bytes());
        sample.push(0x10);
        pb_uvarint(&mut sample, t as u64);
        ts.clear();
        ts.extend_from_slice(l);
        pb_bytes(&mut ts, 0x12, &sample);
        pb_bytes(&mut req, 0x0a, &ts);
    }
    snappy_literals(&req)
}

/// Snappy block format using only literal elements: valid input for any snappy decoder and
/// free of a compression dependency (the bench measures the receiver, not the codec).
fn snappy_literals(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65536 * 3 + 16);
    pb_uvarint(&mut out, data.len() as u64);
    for part in data.chunks(65536) {
        let n = part.len() - 1;
        out.push(61 << 2);
        out.extend_from_slice(&(n as u16).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Median latency of `n` runs of an HTTP GET, or `None` if it failed.
fn http_median(port: u16, path: &str, n: usize) -> Option<Duration> {
    let mut lat = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let r = http(port, "GET", path, b"")?;
        if !r.starts_with("HTTP/1.1 200") {
            println!("  query failed: {}", r.lines().last().unwrap_or(""));
            return None;
        }
        lat.push(t.elapsed());
    }
    Some(median(lat))
}

fn wait_ready(port: u16, path: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http(port, "GET", path, b"").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn blocks_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("meta.json").exists())
                .map(|e| dir_size(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// One system's figures; `None` where it was not measured.
#[derive(Default)]
struct Row {
    name: String,
    bytes_per_sample: Option<f64>,
    append_cpu_s: Option<f64>,
    head_bytes_per_series: Option<f64>,
    select_ms: Option<f64>,
    note: String,
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

/// Pharos: one appender commit per scrape timestamp, like a scrape loop.
fn bench_pharos(work: &Path, data: &[(Labels, Vec<(i64, f64)>)], om: &[u8], rows: &mut Vec<Row>) {
    let series = data.len();
    let samples = data.first().map_or(0, |d| d.1.len());
    let total = (series * samples) as f64;
    let pdir = work.join("pharos");
    let (db, _) = Db::open(
        &pdir,
        Options {
            retention_time: 0,
            wal_fsync_interval: None,
            ..Default::default()
        },
    )
    .expect("open");
    let rss0 = rss_bytes("self");
    let cpu0 = cpu_seconds_self();
    let mut refs = vec![0u64; series];
    for j in 0..samples {
        let mut app = db.appender();
        for (k, (l, pts)) in data.iter().enumerate() {
            refs[k] = app.append(refs[k], l, pts[j].0, pts[j].1).expect("append");
        }
        app.commit().expect("commit");
    }
    let append_cpu = cpu_seconds_self() - cpu0;
    let head_rss = rss_bytes("self").saturating_sub(rss0);
    let stats = db.head_stats();
    let select = |db: &Db| {
        let mut lat = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let q = db.querier(i64::MIN, i64::MAX).expect("querier");
            let set = q
                .select(
                    None,
                    &[Matcher::equal("__name__", "node_memory_free_bytes")],
                )
                .expect("select");
            let mut n = 0;
            for s in &set {
                let mut it = s.iter();
                while it.next() != ValueKind::None {
                    n += 1;
                }
            }
            assert!(n > 0);
            lat.push(t.elapsed());
        }
        median(lat)
    };
    let head_select = select(&db);
    db.flush_head().expect("flush");
    let pharos_blocks = blocks_size(&pdir);
    let block_select = select(&db);
    drop(db);
    let import_dir = work.join("pharos-import");
    let c0 = cpu_seconds_self();
    create_blocks_from_openmetrics(om, &import_dir, 2 * 3600 * 1000).expect("import");
    let import_cpu = cpu_seconds_self() - c0;
    let pharos_import = blocks_size(&import_dir);
    println!(
        "pharos: append {append_cpu:.2} CPU-s ({:.2} M samples/CPU-s), head RSS growth {:.0} B/series (accounted {:.0} B/series; chunk bytes {:.0} B/series, of which mapped {:.0}), blocks {:.3} B/sample (head flush) {:.3} B/sample (import, {import_cpu:.2} CPU-s), select+iterate {} series: head {head_select:?}, blocks {block_select:?}",
        total / append_cpu / 1e6,
        head_rss as f64 / series as f64,
        stats.series_heap_bytes as f64 / series as f64,
        stats.chunk_bytes as f64 / series as f64,
        stats.chunk_bytes_mapped as f64 / series as f64,
        pharos_blocks as f64 / total,
        pharos_import as f64 / total,
        series / 3,
    );
    rows.push(Row {
        name: "pharos".into(),
        bytes_per_sample: Some(pharos_blocks as f64 / total),
        append_cpu_s: Some(append_cpu),
        head_bytes_per_series: Some(head_rss as f64 / series as f64),
        select_ms: Some(head_select.as_secs_f64() * 1e3),
        note: "in-process appender; select = in-process select+iterate on the head".into(),
    });
}

/// Prometheus: the real server ingesting over remote write, its head snapshotted to a block.
fn bench_prometheus(work: &Path, data: &[(Labels, Vec<(i64, f64)>)], rows: &mut Vec<Row>) {
    let bin = Path::new("/usr/bin/prometheus");
    if !bin.exists() {
        println!("prometheus: /usr/bin/prometheus not installed; skipped");
        return;
    }
    let series = data.len();
    let samples = data.first().map_or(0, |d| d.1.len());
    let total = (series * samples) as f64;
    let dir = work.join("prometheus");
    let _ = std::fs::create_dir_all(&dir);
    let cfg = dir.join("prometheus.yml");
    let _ = std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n");
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--web.enable-admin-api")
        .arg("--storage.tsdb.retention.time=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        println!("prometheus: could not start; skipped");
        return;
    };
    let pid = child.id();
    if !wait_ready(port, "/-/ready") {
        println!("prometheus: not ready within 60s; skipped");
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let labels: Vec<Vec<u8>> = data.iter().map(|(l, _)| pb_labels(l)).collect();
    let metrics = || http(port, "GET", "/metrics", b"").unwrap_or_default();
    let m0 = metrics();
    let rss0 = rss_bytes(&pid.to_string());
    let cpu0 = proc_cpu_seconds(pid);
    let mut failed = 0;
    for j in 0..samples {
        let body = remote_write_body(&labels, data.iter().map(|(_, p)| p[j]));
        let r = http_with(
            port,
            "POST",
            "/api/v1/write",
            "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n",
            &body,
        );
        if !r.as_deref().is_some_and(|r| r.starts_with("HTTP/1.1 204")) {
            failed += 1;
            if failed == 1 {
                println!(
                    "  remote write refused: {:?}",
                    r.map(|r| r.chars().take(300).collect::<String>())
                );
            }
        }
    }
    let cpu = proc_cpu_seconds(pid) - cpu0;
    // Give the background head-chunk writer a moment, then read memory.
    std::thread::sleep(Duration::from_secs(2));
    let rss = rss_bytes(&pid.to_string()).saturating_sub(rss0);
    let m1 = metrics();
    let heap = |m: &str| metric_value(m, "go_memstats_heap_inuse_bytes").unwrap_or(0.0);
    let head_series = metric_value(&m1, "prometheus_tsdb_head_series").unwrap_or(0.0);
    let head_samples = metric_value(&m1, "prometheus_tsdb_head_samples_appended_total")
        .or_else(|| {
            // 2.42 labels the counter by type.
            m1.lines()
                .find(|l| l.starts_with("prometheus_tsdb_head_samples_appended_total{"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0);
    let end_s = (data.first().and_then(|d| d.1.last()).map_or(0, |p| p.0)) as f64 / 1000.0;
    let range_s = samples * 15;
    let q = format!(
        "/api/v1/query?query=count_over_time(node_memory_free_bytes%5B{range_s}s%5D)&time={end_s}"
    );
    let select = http_median(port, &q, 20);
    let snap = http(port, "POST", "/api/v1/admin/tsdb/snapshot", b"");
    let snap_dir = dir.join("data").join("snapshots");
    let size: u64 = std::fs::read_dir(&snap_dir)
        .map(|rd| rd.flatten().map(|e| blocks_size(&e.path())).sum())
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "prometheus (server, remote write): {failed} failed requests, {head_samples} samples appended into {head_series} head series, append {cpu:.2} CPU-s, RSS growth {:.0} B/series, Go heap in use growth {:.0} B/series, snapshot block {:.3} B/sample{}, count_over_time query median {select:?}",
        rss as f64 / series as f64,
        (heap(&m1) - heap(&m0)) / series as f64,
        size as f64 / total,
        if snap.is_some_and(|s| s.starts_with("HTTP/1.1 200")) { "" } else { " (snapshot failed)" },
    );
    rows.push(Row {
        name: "prometheus 2.42".into(),
        bytes_per_sample: (size > 0).then_some(size as f64 / total),
        append_cpu_s: Some(cpu),
        head_bytes_per_series: Some(rss as f64 / series as f64),
        select_ms: select.map(|d| d.as_secs_f64() * 1e3),
        note: "remote write (CPU includes HTTP+protobuf decode); bytes = head snapshot block; select = HTTP count_over_time".into(),
    });
}

fn bench_promtool(work: &Path, om_path: &Path, total: f64) {
    if !Path::new("/usr/bin/promtool").exists() {
        println!("promtool: not installed; skipped");
        return;
    }
    let out = work.join("promtool");
    let before = rusage_seconds(libc::RUSAGE_CHILDREN);
    let status = Command::new("/usr/bin/promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(om_path)
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let cpu = rusage_seconds(libc::RUSAGE_CHILDREN) - before;
    if status.map(|s| s.success()).unwrap_or(false) {
        println!(
            "promtool import: blocks {:.3} B/sample, import CPU {cpu:.2}s",
            blocks_size(&out) as f64 / total
        );
    } else {
        println!("promtool: import failed; skipped");
    }
}

/// VictoriaMetrics: import the same samples over HTTP, flush, measure its data directory.
fn bench_victoria(work: &Path, data: &[(Labels, Vec<(i64, f64)>)], rows: &mut Vec<Row>) {
    let bin = Path::new("/usr/bin/victoria-metrics");
    if !bin.exists() {
        println!("victoria-metrics: not installed; skipped");
        return;
    }
    let series = data.len();
    let samples = data.first().map_or(0, |d| d.1.len());
    let total = (series * samples) as f64;
    let port = free_port();
    let vdir = work.join("vm");
    let child = Command::new(bin)
        .arg(format!("-storageDataPath={}", vdir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=100y")
        .arg("-search.disableCache")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        println!("victoria-metrics: could not start; skipped");
        return;
    };
    if !wait_ready(port, "/health") {
        println!("victoria-metrics: not ready within 60s; skipped");
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let text = write_text(data, false);
    let pid = child.id().to_string();
    let rss_before = rss_bytes(&pid);
    let cpu_before = proc_cpu_seconds(child.id());
    let resp = http(port, "POST", "/api/v1/import/prometheus", &text);
    let _ = http(port, "GET", "/internal/force_flush", b"");
    std::thread::sleep(Duration::from_secs(3));
    let _ = http(port, "GET", "/internal/force_merge", b"");
    std::thread::sleep(Duration::from_secs(5));
    let cpu = proc_cpu_seconds(child.id()) - cpu_before;
    let rss = rss_bytes(&pid).saturating_sub(rss_before);
    let size = dir_size(&vdir);
    let end_s = (data.first().and_then(|d| d.1.last()).map_or(0, |p| p.0)) as f64 / 1000.0;
    let q = format!(
        "/api/v1/query?query=count_over_time(node_memory_free_bytes%5B{}s%5D)&time={end_s}",
        samples * 15
    );
    let select = http_median(port, &q, 20);
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "victoria-metrics: data dir {:.3} B/sample, import CPU {cpu:.2}s (text parse included), RSS growth {:.0} B/series, count_over_time query median {select:?} (import {})",
        size as f64 / total,
        rss as f64 / series as f64,
        resp.map_or("failed".into(), |r| r.lines().next().unwrap_or("").to_string())
    );
    rows.push(Row {
        name: "victoria-metrics".into(),
        bytes_per_sample: Some(size as f64 / total),
        append_cpu_s: Some(cpu),
        head_bytes_per_series: None,
        select_ms: select.map(|d| d.as_secs_f64() * 1e3),
        note: "text import (CPU includes parsing and merges); bytes = whole data dir".into(),
    });
}

fn main() {
    let series = env_usize("BENCH_SERIES", 2000);
    let samples = env_usize("BENCH_SAMPLES", 720);
    let total = (series * samples) as f64;
    println!("data: {series} series x {samples} samples = {total} samples (counters, gauges, histogram buckets; 15s step)");
    let data = generate(series, samples);
    let om = write_text(&data, true);
    let work = tempfile::tempdir().expect("temp dir");
    let om_path = work.path().join("data.om");
    std::fs::write(&om_path, &om).expect("write input");
    let mut rows: Vec<Row> = Vec::new();
    bench_pharos(work.path(), &data, &om, &mut rows);
    // BENCH_PEERS=0 measures Pharos alone (quick iterations).
    if std::env::var("BENCH_PEERS").as_deref() != Ok("0") {
        bench_prometheus(work.path(), &data, &mut rows);
        bench_promtool(work.path(), &om_path, total);
        bench_victoria(work.path(), &data, &mut rows);
    }

    println!("\n| system | bytes/sample on disk | append CPU s | head RSS B/series | select ms | notes |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.name,
            fmt(r.bytes_per_sample, 3),
            fmt(r.append_cpu_s, 2),
            fmt(r.head_bytes_per_series, 0),
            fmt(r.select_ms, 1),
            r.note
        );
    }
    if let Some(p) = rows.first() {
        println!("\n| pharos / peer | bytes/sample | append CPU | head memory | select |");
        println!("| --- | --- | --- | --- | --- |");
        for r in rows.iter().skip(1) {
            println!(
                "| pharos / {} | {} | {} | {} | {} |",
                r.name,
                ratio(p.bytes_per_sample, r.bytes_per_sample),
                ratio(p.append_cpu_s, r.append_cpu_s),
                ratio(p.head_bytes_per_series, r.head_bytes_per_series),
                ratio(p.select_ms, r.select_ms),
            );
        }
    }
}
