//! Side-by-side benchmark: the same data and the same queries in Pharos's engine and in Debian's
//! `prometheus`. Prints median latency per query, the ratio, and peak memory of both processes.
//!
//! Data is generated deterministically, written as OpenMetrics, turned into TSDB blocks with
//! `promtool tsdb create-blocks-from openmetrics`, and served by `prometheus` on a free
//! 127.0.0.1 port. Pharos evaluates the same samples held in a flat in-process store.
//! Prometheus is timed over its HTTP API (so its numbers include HTTP and JSON encoding);
//! Pharos is timed in-process. Skips with a message when the Debian programs are absent.
//!
//! Run: `cargo bench -p pharos-promql --bench promql_vs_prometheus`

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_model::{FloatHistogram, Labels, Matcher};
use pharos_promql::{Engine, EngineOptions, Value};
use pharos_tsdb::{
    Querier, Queryable, SelectHints, Series, SeriesIterator, StorageError, ValueKind,
};

/// Series held as flat timestamp and value arrays, with a postings index (label name ->
/// value -> series ids) so matchers are tested once per distinct value, as a TSDB does.
struct FlatStore {
    series: Vec<(Labels, Vec<i64>, Vec<f64>)>,
    postings: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl FlatStore {
    fn new() -> Self {
        FlatStore {
            series: Vec::new(),
            postings: HashMap::new(),
        }
    }
    fn add(&mut self, l: Labels, ts: Vec<i64>, vs: Vec<f64>) {
        let id = self.series.len();
        for lab in l.iter() {
            self.postings
                .entry(lab.name.to_string())
                .or_default()
                .entry(lab.value.to_string())
                .or_default()
                .push(id);
        }
        self.series.push((l, ts, vs));
    }
    /// Series ids matching every matcher that rejects the empty value, in id order.
    fn candidates(&self, ms: &[Matcher]) -> Vec<usize> {
        let mut result: Option<Vec<usize>> = None;
        for m in ms.iter().filter(|m| !m.matches("")) {
            let mut ids: Vec<usize> = self
                .postings
                .get(&m.name)
                .into_iter()
                .flatten()
                .filter(|(v, _)| m.matches(v))
                .flat_map(|(_, ids)| ids.iter().copied())
                .collect();
            ids.sort_unstable();
            result = Some(match result {
                None => ids,
                Some(prev) => {
                    let set: std::collections::HashSet<usize> = ids.into_iter().collect();
                    prev.into_iter().filter(|i| set.contains(i)).collect()
                }
            });
        }
        result.unwrap_or_else(|| (0..self.series.len()).collect())
    }
}

struct FlatQuerier<'a> {
    store: &'a FlatStore,
    mint: i64,
    maxt: i64,
}

struct FlatSeries<'a> {
    labels: &'a Labels,
    ts: &'a [i64],
    vs: &'a [f64],
}

struct FlatIter<'a> {
    ts: &'a [i64],
    vs: &'a [f64],
    pos: Option<usize>,
}

impl SeriesIterator for FlatIter<'_> {
    fn next(&mut self) -> ValueKind {
        let p = self.pos.map_or(0, |p| (p + 1).min(self.ts.len()));
        self.pos = Some(p);
        if p < self.ts.len() {
            ValueKind::Float
        } else {
            ValueKind::None
        }
    }
    fn seek(&mut self, t: i64) -> ValueKind {
        let start = self.pos.unwrap_or(0);
        let p = start + self.ts[start.min(self.ts.len())..].partition_point(|&x| x < t);
        self.pos = Some(p);
        if p < self.ts.len() {
            ValueKind::Float
        } else {
            ValueKind::None
        }
    }
    fn at(&self) -> (i64, f64) {
        let p = self.pos.unwrap_or(0);
        (
            self.ts.get(p).copied().unwrap_or(i64::MIN),
            self.vs.get(p).copied().unwrap_or(f64::NAN),
        )
    }
    fn at_histogram(&self) -> (i64, FloatHistogram) {
        (self.at_t(), FloatHistogram::default())
    }
    fn at_t(&self) -> i64 {
        self.ts
            .get(self.pos.unwrap_or(0))
            .copied()
            .unwrap_or(i64::MIN)
    }
}

impl Series for FlatSeries<'_> {
    fn labels(&self) -> &Labels {
        self.labels
    }
    fn iter(&self) -> Box<dyn SeriesIterator + '_> {
        Box::new(FlatIter {
            ts: self.ts,
            vs: self.vs,
            pos: None,
        })
    }
}

impl Querier for FlatQuerier<'_> {
    fn select(
        &self,
        _h: Option<&SelectHints>,
        ms: &[Matcher],
    ) -> Result<Vec<Box<dyn Series + '_>>, StorageError> {
        let mut out: Vec<Box<dyn Series + '_>> = Vec::new();
        for i in self.store.candidates(ms) {
            let (l, ts, vs) = &self.store.series[i];
            if !ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))) {
                continue;
            }
            let a = ts.partition_point(|&t| t < self.mint);
            let b = ts.partition_point(|&t| t <= self.maxt);
            if a < b {
                out.push(Box::new(FlatSeries {
                    labels: l,
                    ts: &ts[a..b],
                    vs: &vs[a..b],
                }));
            }
        }
        Ok(out)
    }
    fn label_values(&self, _n: &str, _m: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
    fn label_names(&self, _m: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

impl Queryable for FlatStore {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(FlatQuerier {
            store: self,
            mint,
            maxt,
        }))
    }
}

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

struct Dataset {
    store: FlatStore,
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

fn labels_of(name: &str, labels: &[(String, String)]) -> Labels {
    let mut pairs: Vec<(String, String)> = labels.to_vec();
    pairs.push(("__name__".into(), name.into()));
    Labels::from_pairs(pairs)
}

/// Generates the data set, writes it as OpenMetrics to `om`, and keeps it in a flat store.
fn generate(om: &Path) -> std::io::Result<Dataset> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let end = (now / 3600) * 3600 - 3600;
    let end_ms = end * 1000;
    let mut w = BufWriter::new(std::fs::File::create(om)?);
    let mut store = FlatStore::new();
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
        store.add(labels_of("http_requests_total", &labels), ts.clone(), vs);
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
            store.add(
                labels_of("request_duration_seconds_bucket", &labels),
                ts.clone(),
                vs,
            );
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
        store.add(labels_of("cpu_usage", &labels), ts.clone(), vs);
    }
    writeln!(w, "# EOF")?;
    w.flush()?;
    Ok(Dataset { store, end_ms })
}

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

struct Query {
    name: &'static str,
    expr: &'static str,
    /// Range in ms before the data's end and step in ms; `None` for an instant query.
    range: Option<(i64, i64)>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
        .unwrap_or(5);
    let dir = std::env::temp_dir().join(format!("pharos-promql-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create bench dir");
    let om = dir.join("data.om");
    let t0 = Instant::now();
    let data = generate(&om).expect("generate data");
    println!(
        "generated {} series in {:.1?}",
        data.store.series.len(),
        t0.elapsed()
    );
    let pharos_rss_after_load = vm_hwm_kb("self");
    if std::env::var("BENCH_PHAROS_ONLY").is_ok() {
        // Profiling aid: run only Pharos's side.
        let engine = Engine::new(EngineOptions::default());
        let expr = std::env::var("BENCH_QUERY")
            .unwrap_or_else(|_| "sum by (job) (rate(http_requests_total[5m]))".into());
        for _ in 0..runs {
            let t = Instant::now();
            let r = engine.range_query(
                &data.store,
                &expr,
                data.end_ms - 3_600_000,
                data.end_ms,
                15_000,
            );
            println!("{:?} {}", t.elapsed(), r.is_ok());
        }
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    let t0 = Instant::now();
    let blocks = dir.join("tsdb");
    let st = Command::new("/usr/bin/promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&om)
        .arg(&blocks)
        .status()
        .expect("run promtool");
    assert!(st.success(), "promtool create-blocks failed");
    println!("promtool created blocks in {:.1?}", t0.elapsed());
    let _ = std::fs::remove_file(&om);

    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let addr = format!("127.0.0.1:{port}");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").expect("write config");
    let child = Command::new("/usr/bin/prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", blocks.display()))
        .arg("--storage.tsdb.retention.time=30d")
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let prom_pid = child.id().to_string();
    let _server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while http_get(&addr, "/-/ready").map_or(true, |b| !b.contains("Ready")) {
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let start-up compaction settle before timing.
    std::thread::sleep(Duration::from_secs(10));

    let engine = Engine::new(EngineOptions::default());
    let queries = [
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
    println!();
    println!(
        "{:<30} {:>12} {:>14} {:>8}  series (pharos/prometheus)",
        "query", "pharos ms", "prometheus ms", "ratio"
    );
    for q in &queries {
        let end = data.end_ms;
        let mut pt = Vec::new();
        let mut count = 0;
        for _ in 0..=runs {
            let t = Instant::now();
            let r = match q.range {
                None => engine.instant_query(&data.store, q.expr, end),
                Some((len, step)) => engine.range_query(&data.store, q.expr, end - len, end, step),
            };
            pt.push(t.elapsed());
            count = match r {
                Ok(r) => match r.value {
                    Value::Vector(v) => v.len(),
                    Value::Matrix(m) => m.len(),
                    _ => 1,
                },
                Err(e) => panic!("{}: {e}", q.name),
            };
        }
        pt.remove(0);
        let target = match q.range {
            None => format!("/api/v1/query?query={}&time={}", encode(q.expr), end / 1000),
            Some((len, step)) => format!(
                "/api/v1/query_range?query={}&start={}&end={}&step={}",
                encode(q.expr),
                (end - len) / 1000,
                end / 1000,
                step / 1000
            ),
        };
        let mut rt = Vec::new();
        let mut prom_count = 0;
        for _ in 0..=runs {
            let t = Instant::now();
            let body = http_get(&addr, &target).expect("query prometheus");
            rt.push(t.elapsed());
            assert!(
                body.contains("\"status\":\"success\""),
                "{}: {body}",
                q.name
            );
            prom_count = body.matches("\"metric\":").count();
        }
        rt.remove(0);
        let (p, r) = (median(pt), median(rt));
        println!(
            "{:<30} {:>12.2} {:>14.2} {:>8.2}  {count}/{prom_count}",
            q.name,
            p.as_secs_f64() * 1e3,
            r.as_secs_f64() * 1e3,
            p.as_secs_f64() / r.as_secs_f64()
        );
    }
    println!();
    println!(
        "ratio = pharos / prometheus median latency over {runs} runs (lower is better for pharos)"
    );
    println!(
        "peak RSS: pharos process {} MiB ({} MiB after building its in-memory copy of the data); prometheus {} MiB",
        vm_hwm_kb("self") / 1024,
        pharos_rss_after_load / 1024,
        vm_hwm_kb(&prom_pid) / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
}
