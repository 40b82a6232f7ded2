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

const START_MS: i64 = 1_700_006_400_000; // a multiple of two hours
const STEP_MS: i64 = 15_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic pseudo-random numbers (no dependency needed for a benchmark's data).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// One third counters, one third gauges, one third classic histogram buckets.
fn generate(series: usize, samples: usize) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut rng = Lcg(42);
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    (0..series)
        .map(|i| {
            let kind = i % 3;
            let inst = format!("host-{}:9100", i / 30);
            let labels = match kind {
                0 => Labels::from_pairs([
                    ("__name__", "http_requests_total".to_string()),
                    ("instance", inst),
                    ("path", format!("/api/{}", i % 17)),
                    ("code", ["200", "404", "500"][i % 3].to_string()),
                ]),
                1 => Labels::from_pairs([
                    ("__name__", "node_memory_free_bytes".to_string()),
                    ("instance", inst),
                    ("slot", (i % 97).to_string()),
                ]),
                _ => Labels::from_pairs([
                    ("__name__", "request_duration_seconds_bucket".to_string()),
                    ("instance", inst),
                    ("le", les[i % les.len()].to_string()),
                    ("handler", (i % 13).to_string()),
                ]),
            };
            let mut v: f64 = match kind {
                1 => 8e9 + (rng.next() % 1_000_000) as f64,
                _ => (rng.next() % 1000) as f64,
            };
            let pts = (0..samples)
                .map(|j| {
                    match kind {
                        0 => v += (rng.next() % 50) as f64,
                        1 => v += ((rng.next() % 8192) as f64 - 4096.0) * 4096.0,
                        _ => v += (rng.next() % (1 + (i % 10) as u64 * 3)) as f64,
                    }
                    (START_MS + j as i64 * STEP_MS, v)
                })
                .collect();
            (labels, pts)
        })
        .collect()
}

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
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(300))).ok()?;
    let hdr = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    s.write_all(hdr.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).ok()?;
    Some(out)
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
    let mut rows: Vec<(String, String, String, String)> = Vec::new();

    // Pharos: appends through the appender (one commit per scrape timestamp), head memory, flush.
    let pdir = work.path().join("pharos");
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
    db.flush_head().expect("flush");
    let pharos_blocks = blocks_size(&pdir);
    let q0 = Instant::now();
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
    lat.sort();
    let _ = q0;
    drop(db);
    let import_dir = work.path().join("pharos-import");
    let c0 = cpu_seconds_self();
    create_blocks_from_openmetrics(&om, &import_dir, 2 * 3600 * 1000).expect("import");
    let pharos_import_cpu = cpu_seconds_self() - c0;
    let pharos_import = blocks_size(&import_dir);
    println!(
        "pharos: append {:.2} M samples/CPU-s, head RSS {:.0} B/series (chunk bytes {:.0} B/series), blocks {:.3} B/sample (head flush) {:.3} B/sample (import), import CPU {:.2}s, select {} series median {:?}",
        total / append_cpu / 1e6,
        head_rss as f64 / series as f64,
        stats.chunk_bytes as f64 / series as f64,
        pharos_blocks as f64 / total,
        pharos_import as f64 / total,
        pharos_import_cpu,
        series / 3,
        lat.get(lat.len() / 2).copied().unwrap_or_default()
    );
    rows.push((
        "pharos".into(),
        format!("{:.3}", pharos_import as f64 / total),
        format!("{pharos_import_cpu:.2}"),
        "-".into(),
    ));

    // Prometheus: promtool's importer goes through the Prometheus TSDB appender and block writer.
    if Path::new("/usr/bin/promtool").exists() {
        let out = work.path().join("prom");
        let before = rusage_seconds(libc::RUSAGE_CHILDREN);
        let status = Command::new("/usr/bin/promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om_path)
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let cpu = rusage_seconds(libc::RUSAGE_CHILDREN) - before;
        if status.map(|s| s.success()).unwrap_or(false) {
            let size = blocks_size(&out);
            println!(
                "prometheus (promtool 2.x): blocks {:.3} B/sample, import CPU {cpu:.2}s",
                size as f64 / total
            );
            rows.push((
                "prometheus".into(),
                format!("{:.3}", size as f64 / total),
                format!("{cpu:.2}"),
                "-".into(),
            ));
        } else {
            println!("prometheus: promtool import failed; skipped");
        }
    } else {
        println!("prometheus: /usr/bin/promtool not installed; skipped");
    }

    // VictoriaMetrics: import the same samples over HTTP, flush, measure its data directory.
    if Path::new("/usr/bin/victoria-metrics").exists() {
        let port = free_port();
        let vdir = work.path().join("vm");
        let child = Command::new("/usr/bin/victoria-metrics")
            .arg(format!("-storageDataPath={}", vdir.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=100y")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = child {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && http(port, "GET", "/health", b"").is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            let text = write_text(&data, false);
            let rss_before = rss_bytes(&child.id().to_string());
            let cpu_before = proc_cpu_seconds(child.id());
            let resp = http(port, "POST", "/api/v1/import/prometheus", &text);
            let _ = http(port, "GET", "/internal/force_flush", b"");
            std::thread::sleep(Duration::from_secs(3));
            let _ = http(port, "GET", "/internal/force_merge", b"");
            std::thread::sleep(Duration::from_secs(5));
            let cpu = proc_cpu_seconds(child.id()) - cpu_before;
            let rss = rss_bytes(&child.id().to_string()).saturating_sub(rss_before);
            let size = dir_size(&vdir);
            let _ = child.kill();
            let _ = child.wait();
            println!(
                "victoria-metrics: data dir {:.3} B/sample, import CPU {cpu:.2}s, RSS growth {:.0} B/series (import {})",
                size as f64 / total,
                rss as f64 / series as f64,
                resp.map_or("failed".into(), |r| r.lines().next().unwrap_or("").to_string())
            );
            rows.push((
                "victoria-metrics".into(),
                format!("{:.3}", size as f64 / total),
                format!("{cpu:.2}"),
                "-".into(),
            ));
        }
    } else {
        println!("victoria-metrics: not installed; skipped");
    }

    println!("\n| system | bytes/sample on disk | import CPU s | ratio to pharos (bytes) |");
    println!("| --- | --- | --- | --- |");
    let base: f64 = rows.first().and_then(|r| r.1.parse().ok()).unwrap_or(1.0);
    for (name, b, cpu, _) in &rows {
        let ratio = b.parse::<f64>().map(|v| v / base).unwrap_or(0.0);
        println!("| {name} | {b} | {cpu} | {ratio:.2}x |");
    }
}
