//! Side-by-side benchmark: the same data and the same queries in Pharos and in Debian's
//! `prometheus`. Prints median latency per query, the ratios, and peak memory of both servers.
//!
//! Data is generated deterministically and written once as OpenMetrics. That one file is turned
//! into Prometheus blocks with `promtool tsdb create-blocks-from openmetrics` and into Pharos
//! blocks with `pharos_tsdb::import` (what `pharos tsdb create-blocks-from openmetrics` runs).
//! Both data directories are then compacted the way each server does at start-up, so each side
//! reads its own real storage engine.
//!
//! Pharos is timed twice: in-process (`pharos_promql::Engine` over `pharos_tsdb::Db`, no HTTP)
//! and over HTTP as `pharos server` on the same directory. Prometheus is timed over HTTP. Both
//! servers are queried by the same client with the same parameters, so the HTTP columns compare
//! like with like; the in-process column shows how much of Pharos's time is HTTP and JSON.
//!
//! The `pharos` binary is taken from `PHAROS_BIN`, else from the target directory this bench was
//! built into (`cargo build --release -p pharos` first); without it the HTTP column is skipped.
//! Skips entirely with a message when the Debian programs are absent.
//!
//! Run: `cargo build --release -p pharos && cargo bench -p pharos-promql --bench promql_vs_prometheus`
//! (`BENCH_RUNS=n` sets the timed runs per query, default 5; `BENCH_ONLY=text` runs only the
//! queries whose name contains `text`.)

use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_promql::{Engine, EngineOptions, Value};
use pharos_tsdb::db::DEFAULT_BLOCK_RANGE;
use pharos_tsdb::{Db, Options};

/// Deterministic pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What [`generate`] wrote.
struct Dataset {
    /// Distinct series in the file.
    series: usize,
    /// Timestamp (ms) of the newest sample, on an hour boundary.
    end_ms: i64,
}

fn write_series(
    w: &mut impl Write,
    name: &str,
    labels: &[(String, String)],
    ts: &[i64],
    vs: &[f64],
) -> std::io::Result<()> {
    let mut l = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            l.push(',');
        }
        let _ = write!(l, "{k}=\"{v}\"");
    }
    for (t, v) in ts.iter().zip(vs) {
        writeln!(w, "{name}{{{l}}} {v} {}", *t as f64 / 1000.0)?;
    }
    Ok(())
}

/// Generates the data set and writes it as OpenMetrics to `om`.
fn generate(om: &Path) -> std::io::Result<Dataset> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let end = (now / 3600) * 3600 - 3600;
    let end_ms = end * 1000;
    let mut w = BufWriter::new(std::fs::File::create(om)?);
    let mut series = 0;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // 1,000 request counters over 1 hour at 15s.
    writeln!(w, "# TYPE http_requests counter")?;
    let ts: Vec<i64> = (0..=240).map(|i| end_ms - 3_600_000 + i * 15_000).collect();
    for s in 0..1000 {
        let labels = vec![
            ("job".to_string(), format!("job-{}", s % 10)),
            ("instance".to_string(), format!("inst-{s:04}")),
            ("method".to_string(), ["GET", "POST"][s % 2].to_string()),
        ];
        let mut v = 0.0;
        let vs: Vec<f64> = ts
            .iter()
            .map(|_| {
                v += (rng.next() * 100.0).floor();
                v
            })
            .collect();
        write_series(&mut w, "http_requests_total", &labels, &ts, &vs)?;
        series += 1;
    }

    // 100 buckets x 1,000 series over 150s at 15s.
    writeln!(w, "# TYPE request_duration_seconds histogram")?;
    let ts: Vec<i64> = (0..=10).map(|i| end_ms - 150_000 + i * 15_000).collect();
    for s in 0..1000 {
        let mut base = vec![0.0f64; ts.len()];
        for (k, b) in base.iter_mut().enumerate() {
            *b = (k as f64 + 1.0) * (50.0 + (s % 7) as f64);
        }
        for i in 0..100 {
            let le = if i == 99 {
                "+Inf".to_string()
            } else {
                format!("{}", 0.001 * 1.1f64.powi(i))
            };
            let labels = vec![
                ("instance".to_string(), format!("inst-{s:04}")),
                ("le".to_string(), le),
            ];
            let frac = ((i + 1) as f64 / 100.0).powf(0.5);
            let vs: Vec<f64> = base.iter().map(|b| (b * frac).floor()).collect();
            write_series(&mut w, "request_duration_seconds_bucket", &labels, &ts, &vs)?;
            series += 1;
        }
    }

    // 10 gauges over 7 days at 1m.
    writeln!(w, "# TYPE cpu_usage gauge")?;
    let ts: Vec<i64> = (0..=7 * 1440)
        .map(|i| end_ms - 7 * 86_400_000 + i * 60_000)
        .collect();
    for s in 0..10 {
        let labels = vec![("host".to_string(), format!("host-{s}"))];
        let vs: Vec<f64> = ts
            .iter()
            .map(|_| (rng.next() * 1000.0).round() / 10.0)
            .collect();
        write_series(&mut w, "cpu_usage", &labels, &ts, &vs)?;
        series += 1;
    }
    writeln!(w, "# EOF")?;
    w.flush()?;
    Ok(Dataset { series, end_ms })
}

/// A child process killed and reaped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vm_hwm_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One HTTP GET; returns the body.
fn http_get(addr: &str, target: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(300)))?;
    write!(s, "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default())
}

fn free_addr() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    format!("127.0.0.1:{port}")
}

/// Waits (at most two minutes) until the server at `addr` answers `/-/ready`; false if it
/// exited or never became ready.
fn wait_ready(addr: &str, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while http_get(addr, "/-/ready").map_or(true, |b| !b.contains("Ready")) {
        if Instant::now() >= deadline || !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}

/// Starts a Prometheus-flag-compatible server binary on `data` and waits until it is ready.
fn start_server(bin: &Path, dir: &Path, name: &str, data: &Path) -> (Server, String, String) {
    let addr = free_addr();
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").expect("write config");
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("create log");
    let mut cmd = Command::new(bin);
    if name == "pharos" {
        cmd.arg("server");
    }
    let mut child = cmd
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=30d")
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let pid = child.id().to_string();
    if !wait_ready(&addr, &mut child) {
        let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
        panic!("{name} did not become ready; its log:\n{log}");
    }
    (Server(child), addr, pid)
}

/// The `pharos` binary: `PHAROS_BIN`, else `pharos` in the profile directory this bench runs
/// from (the bench executable lives in `<target>/<profile>/deps/`).
fn pharos_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PHAROS_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    Some(profile_dir.join("pharos")).filter(|p| p.is_file())
}

struct Query {
    name: &'static str,
    expr: &'static str,
    /// Range in ms before the data's end and step in ms; `None` for an instant query.
    range: Option<(i64, i64)>,
}

impl Query {
    fn http_target(&self, end: i64) -> String {
        match self.range {
            None => format!(
                "/api/v1/query?query={}&time={}",
                encode(self.expr),
                end / 1000
            ),
            Some((len, step)) => format!(
                "/api/v1/query_range?query={}&start={}&end={}&step={}",
                encode(self.expr),
                (end - len) / 1000,
                end / 1000,
                step / 1000
            ),
        }
    }
}

const QUERIES: [Query; 7] = [
    Query {
        name: "rate + sum by",
        expr: "sum by (job) (rate(http_requests_total[5m]))",
        range: None,
    },
    Query {
        name: "rate + sum by, 1h range 15s",
        expr: "sum by (job) (rate(http_requests_total[5m]))",
        range: Some((3_600_000, 15_000)),
    },
    Query {
        name: "histogram_quantile 100x1000",
        expr: "histogram_quantile(0.9, rate(request_duration_seconds_bucket[1m]))",
        range: None,
    },
    Query {
        name: "topk",
        expr: "topk(10, rate(http_requests_total[5m]))",
        range: None,
    },
    Query {
        name: "regex over 100k series",
        expr: "count(request_duration_seconds_bucket{instance=~\"inst-0[0-4].*5\"})",
        range: None,
    },
    Query {
        name: "7d range at 1m step",
        expr: "avg_over_time(cpu_usage[5m])",
        range: Some((7 * 86_400_000 - 600_000, 60_000)),
    },
    Query {
        name: "subquery",
        expr: "max_over_time(sum by (job) (rate(http_requests_total[5m]))[30m:1m])",
        range: None,
    },
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Median of `runs` timed calls after one untimed warm-up, with the last call's series count.
fn time_runs(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut count = f();
    for _ in 0..runs {
        let t = Instant::now();
        count = f();
        times.push(t.elapsed());
    }
    (median(times), count)
}

/// Times `q` in-process on `db`; returns the median and the result's series count.
fn time_in_process(
    engine: &Engine,
    db: &Db,
    q: &Query,
    end: i64,
    runs: usize,
) -> (Duration, usize) {
    time_runs(runs, || {
        let r = match q.range {
            None => engine.instant_query(db, q.expr, end),
            Some((len, step)) => engine.range_query(db, q.expr, end - len, end, step),
        };
        match r {
            Ok(r) => match r.value {
                Value::Vector(v) => v.len(),
                Value::Matrix(m) => m.len(),
                _ => 1,
            },
            Err(e) => panic!("{}: {e}", q.name),
        }
    })
}

/// Times `q` over HTTP against `addr`; returns the median and the result's series count.
fn time_http(addr: &str, q: &Query, end: i64, runs: usize) -> (Duration, usize) {
    let target = q.http_target(end);
    time_runs(runs, || {
        let body = http_get(addr, &target).expect("query server");
        assert!(
            body.contains("\"status\":\"success\""),
            "{} on {addr}: {body}",
            q.name
        );
        body.matches("\"metric\":").count()
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    for p in ["/usr/bin/prometheus", "/usr/bin/promtool"] {
        if !Path::new(p).exists() {
            println!("skipping: {p} is not installed");
            return;
        }
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let dir = std::env::temp_dir().join(format!("pharos-promql-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create bench dir");
    let om = dir.join("data.om");
    let t0 = Instant::now();
    let data = generate(&om).expect("generate data");
    println!("generated {} series in {:.1?}", data.series, t0.elapsed());

    let t0 = Instant::now();
    let prom_data = dir.join("prometheus-data");
    let st = Command::new("/usr/bin/promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&om)
        .arg(&prom_data)
        .status()
        .expect("run promtool");
    assert!(st.success(), "promtool create-blocks failed");
    println!("promtool created blocks in {:.1?}", t0.elapsed());

    let t0 = Instant::now();
    let pharos_data = dir.join("pharos-data");
    let input = std::fs::read(&om).expect("read OpenMetrics file");
    let metas = pharos_tsdb::import::create_blocks_from_openmetrics(
        &input,
        &pharos_data,
        DEFAULT_BLOCK_RANGE,
    )
    .expect("pharos import");
    drop(input);
    let _ = std::fs::remove_file(&om);
    println!(
        "pharos import created {} blocks in {:.1?}",
        metas.len(),
        t0.elapsed()
    );

    let opts = Options {
        retention_time: 30 * 86_400_000,
        ..Options::default()
    };
    let (db, _) = Db::open(&pharos_data, opts).expect("open pharos data dir");
    // A server compacts imported blocks on its first compaction tick, as Prometheus does
    // at start-up; doing it here makes both sides read compacted data from the first query.
    let t0 = Instant::now();
    db.compact().expect("compact pharos blocks");
    println!(
        "pharos compacted to {} blocks in {:.1?}",
        db.blocks().len(),
        t0.elapsed()
    );

    let engine = Engine::new(EngineOptions::default());
    let end = data.end_ms;
    // Profiling aid: `BENCH_ONLY=<part of a query name>` runs just the matching queries.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let queries: Vec<&Query> = QUERIES.iter().filter(|q| q.name.contains(&only)).collect();
    let in_process: Vec<(Duration, usize)> = queries
        .iter()
        .map(|q| time_in_process(&engine, &db, q, end, runs))
        .collect();
    // The server must own the directory alone.
    drop(db);

    let pharos = pharos_bin().map(|bin| start_server(&bin, &dir, "pharos", &pharos_data));
    if pharos.is_none() {
        println!("no pharos binary (set PHAROS_BIN or `cargo build --release -p pharos`): skipping the HTTP column");
    }
    let (_prom, prom_addr, prom_pid) = start_server(
        Path::new("/usr/bin/prometheus"),
        &dir,
        "prometheus",
        &prom_data,
    );
    // Let Prometheus's start-up compaction settle before timing.
    std::thread::sleep(Duration::from_secs(10));

    println!();
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>9} {:>9}  series",
        "query", "pharos", "pharos", "prometh.", "ratio", "ratio"
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "", "in-proc ms", "HTTP ms", "HTTP ms", "in-proc", "HTTP"
    );
    for (q, (p_in, count)) in queries.iter().zip(&in_process) {
        let (r, prom_count) = time_http(&prom_addr, q, end, runs);
        let http = pharos
            .as_ref()
            .map(|(_, addr, _)| time_http(addr, q, end, runs));
        let (http_ms, http_ratio, http_count) = match http {
            Some((d, c)) => (
                format!("{:.2}", ms(d)),
                format!("{:.2}", ms(d) / ms(r)),
                c.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<28} {:>10.2} {:>10} {:>10.2} {:>9.2} {:>9}  {count}/{http_count}/{prom_count}",
            q.name,
            ms(*p_in),
            http_ms,
            ms(r),
            ms(*p_in) / ms(r),
            http_ratio,
        );
    }
    println!();
    println!(
        "median over {runs} runs after one warm-up; ratio = pharos / prometheus (below 1 means pharos is faster)"
    );
    println!("series columns: pharos in-process / pharos HTTP / prometheus");
    let pharos_hwm = pharos.as_ref().map_or("-".to_string(), |(_, _, pid)| {
        format!("{} MiB", vm_hwm_kb(pid) / 1024)
    });
    println!(
        "peak RSS (VmHWM) after the query set: pharos server {pharos_hwm}, prometheus {} MiB (bench process, which also imported the data: {} MiB)",
        vm_hwm_kb(&prom_pid) / 1024,
        vm_hwm_kb("self") / 1024
    );
    drop(pharos);
    drop(_prom);
    let _ = std::fs::remove_dir_all(&dir);
}
