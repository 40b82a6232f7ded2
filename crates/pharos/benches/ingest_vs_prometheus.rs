//! Ingestion cost of `pharos server` against Debian's Prometheus, measured in the same run on
//! the same machine with the same `prometheus.yml`.
//!
//! The bench serves synthetic targets from an in-process HTTP server: node-exporter-like
//! counters and gauges plus classic histograms, whose values change on every scrape. Each
//! program scrapes them every 5s for the measured period, one program after the other. The
//! first scrape (series creation) is a warm-up and is not measured. Per program it prints:
//!
//! - CPU seconds (utime+stime of `/proc/<pid>/stat`) per million samples appended, the samples
//!   counted by the program's own `prometheus_tsdb_head_samples_appended_total`;
//! - peak resident memory (`VmHWM` of `/proc/<pid>/status`) and resident memory at the end;
//! - disk bytes allocated by the data directory at the end of the run (WAL and head chunks,
//!   since no block is cut this early), and of a snapshot taken with the admin API with the
//!   head included, which writes the head as a block: the compacted size of the same data.
//!
//! `cargo bench -p pharos --bench ingest_vs_prometheus`. Environment:
//! `BENCH_SECS` (measured seconds per program, default 120), `BENCH_TARGETS` (default 4),
//! `BENCH_ONLY` (`pharos` or `prometheus`: measure one program only, e.g. while profiling),
//! `BENCH_SERIES` (series per target, default 25000), `PHAROS_BIN` (a `pharos` binary to use
//! instead of the one cargo built), `PROMETHEUS_BIN` (default `/usr/bin/prometheus`).

#[path = "../tests/server_harness/mod.rs"]
mod server_harness;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use server_harness::{free_port, get, request, wait_until, Proc};

const SCRAPE_INTERVAL_SECS: u64 = 5;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small, fast, deterministic hash: values depend only on (series, scrape), so the
/// synthetic targets need no state between scrapes.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// How one series' value evolves from scrape to scrape.
#[derive(Clone, Copy)]
enum Evolution {
    /// A counter growing by a per-series amount (fractional for CPU seconds).
    Counter { step: f64 },
    /// A gauge jittering around a per-series level, in whole units (bytes, files).
    Gauge { level: f64 },
    /// A cumulative histogram bucket: `share` of the series' observations.
    Bucket { rate: u64, share: f64 },
    /// A histogram's `_sum`.
    Sum { rate: u64 },
    /// A histogram's `_count`.
    Count { rate: u64 },
}

struct SyntheticSeries {
    /// `name{labels} `, ready to be followed by the value.
    prefix: String,
    evolution: Evolution,
}

/// One family of the synthetic exposition: its header and its series.
struct SyntheticFamily {
    header: String,
    series: Vec<SyntheticSeries>,
}

const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const NET_METRICS: [&str; 8] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
];
const FS_METRICS: [&str; 5] = [
    "avail_bytes",
    "size_bytes",
    "free_bytes",
    "files",
    "files_free",
];
const BUCKETS: [&str; 11] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
];
const HANDLERS: [&str; 10] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/targets",
    "/metrics",
    "/-/ready",
    "/-/healthy",
    "/federate",
    "/api/v1/write",
];

fn family(name: &str, kind: &str, help: &str) -> SyntheticFamily {
    SyntheticFamily {
        header: format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"),
        series: Vec::new(),
    }
}

/// Node-exporter-like and instrumented-service-like families with exactly `want` series in
/// total, added round-robin so every kind is represented at any size.
fn synthetic_families(want: usize) -> Vec<SyntheticFamily> {
    let mut cpu = family(
        "node_cpu_seconds_total",
        "counter",
        "Seconds the CPUs spent in each mode.",
    );
    let mut net: Vec<SyntheticFamily> = NET_METRICS
        .iter()
        .map(|m| {
            family(
                &format!("node_network_{m}_total"),
                "counter",
                "Network device statistic.",
            )
        })
        .collect();
    let mut fs: Vec<SyntheticFamily> = FS_METRICS
        .iter()
        .map(|m| {
            family(
                &format!("node_filesystem_{m}"),
                "gauge",
                "Filesystem statistic.",
            )
        })
        .collect();
    let mut mem = family(
        "container_memory_working_set_bytes",
        "gauge",
        "Current working set in bytes.",
    );
    let mut hist = family(
        "http_request_duration_seconds",
        "histogram",
        "Latency of HTTP requests.",
    );
    let mut total = 0usize;
    let mut i = 0u64;
    while total < want {
        let h = mix(i);
        match i % 6 {
            0 => {
                let (c, m) = (i / 6 / 8, CPU_MODES[(i / 6 % 8) as usize]);
                cpu.series.push(SyntheticSeries {
                    prefix: format!("node_cpu_seconds_total{{cpu=\"{c}\",mode=\"{m}\"}} "),
                    evolution: Evolution::Counter {
                        step: (h % 500) as f64 / 100.0,
                    },
                });
                total += 1;
            }
            1 => {
                let dev = format!("veth{:07x}", h & 0xfff_ffff);
                for (f, m) in net.iter_mut().zip(NET_METRICS) {
                    if total >= want {
                        break;
                    }
                    f.series.push(SyntheticSeries {
                        prefix: format!("node_network_{m}_total{{device=\"{dev}\"}} "),
                        evolution: Evolution::Counter {
                            step: if m.ends_with("bytes") {
                                (h % 1_000_000) as f64
                            } else {
                                (h % 50) as f64
                            },
                        },
                    });
                    total += 1;
                }
            }
            2 => {
                let n = i / 6;
                for (f, m) in fs.iter_mut().zip(FS_METRICS) {
                    if total >= want {
                        break;
                    }
                    f.series.push(SyntheticSeries {
                        prefix: format!(
                            "node_filesystem_{m}{{device=\"/dev/mapper/vg0-lv{n}\",fstype=\"ext4\",mountpoint=\"/srv/volumes/{n}\"}} "
                        ),
                        evolution: Evolution::Gauge {
                            level: ((h % 1000) + 1) as f64 * 1e7,
                        },
                    });
                    total += 1;
                }
            }
            3 | 4 => {
                let n = i / 6;
                mem.series.push(SyntheticSeries {
                    prefix: format!(
                        "container_memory_working_set_bytes{{container=\"app-{}\",id=\"/kubepods/burstable/pod{:016x}\",namespace=\"team-{}\",pod=\"app-{}-{:05x}\"}} ",
                        n % 40,
                        h,
                        n % 12,
                        n % 40,
                        h & 0xfffff
                    ),
                    evolution: Evolution::Gauge {
                        level: ((h % 4000) + 10) as f64 * 1e5,
                    },
                });
                total += 1;
            }
            _ => {
                let n = i / 6;
                let labels = format!(
                    "code=\"{}\",handler=\"{}\",method=\"{}\"",
                    [200, 201, 304, 400, 500][(n % 5) as usize],
                    HANDLERS[(n / 5 % 10) as usize],
                    ["GET", "POST"][(n / 50 % 2) as usize]
                );
                let labels = format!("{labels},shard=\"{}\"", n / 100);
                let rate = 1 + h % 40;
                for (k, le) in BUCKETS.iter().chain(["+Inf"].iter()).enumerate() {
                    hist.series.push(SyntheticSeries {
                        prefix: format!(
                            "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} "
                        ),
                        evolution: Evolution::Bucket {
                            rate,
                            share: ((k + 1) as f64 / (BUCKETS.len() + 1) as f64).sqrt(),
                        },
                    });
                }
                hist.series.push(SyntheticSeries {
                    prefix: format!("http_request_duration_seconds_sum{{{labels}}} "),
                    evolution: Evolution::Sum { rate },
                });
                hist.series.push(SyntheticSeries {
                    prefix: format!("http_request_duration_seconds_count{{{labels}}} "),
                    evolution: Evolution::Count { rate },
                });
                total += BUCKETS.len() + 3;
                // Trim overshoot from the last histogram so the total is exact.
                while total > want {
                    hist.series.pop();
                    total -= 1;
                }
            }
        }
        i += 1;
    }
    let mut all = vec![cpu];
    all.extend(net);
    all.extend(fs);
    all.push(mem);
    all.push(hist);
    all.retain(|f| !f.series.is_empty());
    all
}

/// The exposition of one target at scrape number `scrape`.
fn render(families: &[SyntheticFamily], target: u64, scrape: u64, out: &mut String) {
    out.clear();
    let mut idx = target << 40;
    for f in families {
        out.push_str(&f.header);
        for s in &f.series {
            idx += 1;
            out.push_str(&s.prefix);
            let n = scrape + 1000;
            let _ = match s.evolution {
                Evolution::Counter { step } => {
                    let v = step * n as f64 + (mix(idx) % 1000) as f64;
                    write!(out, "{}", (v * 100.0).round() / 100.0)
                }
                Evolution::Gauge { level } => {
                    let jitter = (mix(idx ^ (scrape << 20)) % 2000) as f64 / 100_000.0;
                    write!(out, "{}", (level * (0.99 + jitter)).round())
                }
                Evolution::Bucket { rate, share } => {
                    write!(out, "{}", ((rate * n) as f64 * share).floor())
                }
                Evolution::Sum { rate } => {
                    write!(
                        out,
                        "{}",
                        ((rate * n) as f64 * 0.173 * 1000.0).round() / 1000.0
                    )
                }
                Evolution::Count { rate } => write!(out, "{}", rate * n),
            };
            out.push('\n');
        }
    }
}

/// The in-process targets: one listener per target, counting the scrapes it serves.
struct Targets {
    addrs: Vec<SocketAddr>,
    served: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

fn start_targets(count: usize, series: usize) -> Targets {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let families = Arc::new(synthetic_families(series));
    let served = Arc::new(AtomicU64::new(0));
    let mut addrs = Vec::new();
    for t in 0..count {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind a target port");
        addrs.push(listener.local_addr().expect("target address"));
        let families = families.clone();
        let served = served.clone();
        let scrapes = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let families = families.clone();
                let served = served.clone();
                let n = scrapes.fetch_add(1, Ordering::Relaxed);
                async move {
                    let mut body = String::with_capacity(4 << 20);
                    render(&families, t as u64, n, &mut body);
                    served.fetch_add(1, Ordering::Relaxed);
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        body,
                    )
                }
            }),
        );
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    Targets {
        addrs,
        served,
        _runtime: runtime,
    }
}

fn write_config(path: &Path, targets: &[SocketAddr]) {
    let list: Vec<String> = targets.iter().map(|a| format!("'{a}'")).collect();
    let text = format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL_SECS}s\n  scrape_timeout: 4s\nscrape_configs:\n  - job_name: synthetic\n    static_configs:\n      - targets: [{}]\n",
        list.join(", ")
    );
    std::fs::write(path, text).expect("write prometheus.yml");
}

/// utime+stime in seconds, and (VmRSS, VmHWM) in bytes.
fn cpu_and_memory(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (num(11) + num(12)) / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (cpu, kb("VmRSS:"), kb("VmHWM:"))
}

/// Bytes allocated on disk under `dir` (blocks, not apparent sizes), skipping `skip`.
fn disk_bytes(dir: &Path, skip: Option<&Path>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in rd.flatten() {
        let p = e.path();
        if Some(p.as_path()) == skip {
            continue;
        }
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            total += disk_bytes(&p, skip);
        } else {
            total += m.blocks() * 512;
        }
    }
    total
}

/// The sum of every sample of `name` in the program's own `/metrics`.
fn self_metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let r = get(addr, "/metrics")?;
    if r.status != 200 {
        return None;
    }
    let mut found = None;
    for line in r.body.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let v = rest
            .rsplit_once([' ', '}'])
            .and_then(|(_, v)| v.trim().parse::<f64>().ok());
        if let Some(v) = v {
            found = Some(found.unwrap_or(0.0) + v);
        }
    }
    found
}

struct Measured {
    name: &'static str,
    seconds: f64,
    samples: f64,
    scrapes: u64,
    cpu_seconds: f64,
    rss: u64,
    hwm: u64,
    disk: u64,
    snapshot: u64,
}

impl Measured {
    fn cpu_per_million(&self) -> f64 {
        if self.samples > 0.0 {
            self.cpu_seconds / (self.samples / 1e6)
        } else {
            f64::NAN
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn measure(
    name: &'static str,
    bin: &Path,
    leading_args: &[&str],
    config: &Path,
    work: &Path,
    targets: &Targets,
    expected_first: f64,
    secs: u64,
) -> Option<Measured> {
    let data = work.join(format!("data-{name}"));
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut args: Vec<String> = leading_args.iter().map(|s| s.to_string()).collect();
    args.extend([
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", data.display()),
        format!("--web.listen-address={addr}"),
        "--web.enable-admin-api".to_string(),
    ]);
    let log = work.join(format!("{name}.log"));
    let mut proc = Proc::start(bin, &args, &log);
    let pid = proc.child.id();
    let show_log = || std::fs::read_to_string(&log).unwrap_or_default();
    if !wait_until(Duration::from_secs(60), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    }) {
        println!(
            "{name} did not become ready within 60s; log:\n{}",
            show_log()
        );
        return None;
    }
    // Warm-up: the first scrape of every target, which creates the series.
    let appended = "prometheus_tsdb_head_samples_appended_total";
    let warm_limit = Duration::from_secs(SCRAPE_INTERVAL_SECS * 4 + 60);
    if !wait_until(warm_limit, || {
        self_metric(addr, appended).is_some_and(|v| v >= expected_first)
    }) {
        println!(
            "{name}: the first scrape of every target was not stored within {warm_limit:?}; log:\n{}",
            show_log()
        );
        return None;
    }
    let samples_before = self_metric(addr, appended).unwrap_or(0.0);
    let served_before = targets.served.load(Ordering::Relaxed);
    let (cpu_before, _, _) = cpu_and_memory(pid);
    let began = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    if let Ok(Some(status)) = proc.child.try_wait() {
        let text = show_log();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        println!(
            "{name} exited during the measurement ({status}); last log lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        return None;
    }
    let (cpu_after, rss, hwm) = cpu_and_memory(pid);
    let seconds = began.elapsed().as_secs_f64();
    let samples_after = self_metric(addr, appended).unwrap_or(0.0);
    let scrapes = targets.served.load(Ordering::Relaxed) - served_before;
    let disk = disk_bytes(&data, None);
    let snapshot_dir = data.join("snapshots");
    let snapshot = match request(addr, "POST", "/api/v1/admin/tsdb/snapshot", Some("")) {
        Some(r) if r.status == 200 => disk_bytes(&snapshot_dir, None),
        other => {
            println!(
                "{name}: snapshot failed: {:?}",
                other.map(|r| (r.status, r.body))
            );
            0
        }
    };
    let status = proc.terminate();
    if !status.is_some_and(|s| s.success()) {
        println!("{name}: exit status after SIGTERM: {status:?}");
    }
    let _ = std::fs::remove_dir_all(&data);
    Some(Measured {
        name,
        seconds,
        samples: samples_after - samples_before,
        scrapes,
        cpu_seconds: cpu_after - cpu_before,
        rss,
        hwm,
        disk,
        snapshot,
    })
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

fn main() {
    let secs: u64 = env_or("BENCH_SECS", 120);
    let target_count: usize = env_or("BENCH_TARGETS", 4);
    let series: usize = env_or("BENCH_SERIES", 25_000);
    let prometheus = PathBuf::from(
        std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "/usr/bin/prometheus".into()),
    );
    let pharos = std::env::var("PHAROS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| server_harness::pharos_bin());
    if !prometheus.exists() {
        println!("skipping: prometheus not installed");
        return;
    }
    let targets = start_targets(target_count, series);
    let work = tempfile::tempdir().expect("temp dir");
    let config = work.path().join("prometheus.yml");
    write_config(&config, &targets.addrs);
    // Each scrape stores its series plus the five report series.
    let per_round = (target_count * (series + 5)) as f64;
    println!(
        "ingestion benchmark: {target_count} targets x {series} series, scraped every {SCRAPE_INTERVAL_SECS}s, {secs}s measured per program after the first scrape"
    );
    println!("pharos: {}", pharos.display());
    let mut results = Vec::new();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (name, bin, lead) in [
        ("pharos", pharos.as_path(), &["server"][..]),
        ("prometheus", prometheus.as_path(), &[][..]),
    ] {
        if !only.is_empty() && only != name {
            continue;
        }
        if let Some(m) = measure(
            name,
            bin,
            lead,
            &config,
            work.path(),
            &targets,
            per_round,
            secs,
        ) {
            results.push(m);
        }
    }
    println!(
        "{:<11} {:>8} {:>10} {:>8} {:>9} {:>15} {:>10} {:>10} {:>10} {:>13}",
        "program",
        "seconds",
        "samples",
        "scrapes",
        "CPU s",
        "CPU s/M samples",
        "VmHWM MiB",
        "VmRSS MiB",
        "disk MiB",
        "snapshot MiB"
    );
    for m in &results {
        println!(
            "{:<11} {:>8.1} {:>10.0} {:>8} {:>9.2} {:>15.3} {:>10.1} {:>10.1} {:>10.1} {:>13.1}",
            m.name,
            m.seconds,
            m.samples,
            m.scrapes,
            m.cpu_seconds,
            m.cpu_per_million(),
            mib(m.hwm),
            mib(m.rss),
            mib(m.disk),
            mib(m.snapshot)
        );
    }
    if let [p, q] = &results[..] {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        println!(
            "pharos/prometheus: CPU per sample {:.2}x, VmHWM {:.2}x, VmRSS {:.2}x, disk {:.2}x, snapshot {:.2}x",
            ratio(p.cpu_per_million(), q.cpu_per_million()),
            ratio(p.hwm as f64, q.hwm as f64),
            ratio(p.rss as f64, q.rss as f64),
            ratio(p.disk as f64, q.disk as f64),
            ratio(p.snapshot as f64, q.snapshot as f64),
        );
    }
}
