//! Head-to-head, in one run: Debian's Prometheus and a Pharos scrape loop both scrape the same
//! Debian node exporter every second for 20 seconds. Prints each side's mean scrape duration
//! (as each reports it in `scrape_duration_seconds`) and the CPU time each process spent.
//!
//! Run with `cargo bench -p pharos-scrape --bench scrape_vs_prometheus`. Skips with a message
//! when the Debian packages are not installed.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pharos_http::{ClientOptions, HttpClient};
use pharos_model::Labels;
use pharos_scrape::target::{populate, Populated};
use pharos_scrape::{
    GlobalScrapeDefaults, ScrapeConfig, ScrapeLoop, ScrapeSink, SinkError, SinkSample,
};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const WINDOW: Duration = Duration::from_secs(20);

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Counts samples and drops them, so the measurement is the scrape itself.
#[derive(Default)]
struct CountingSink(AtomicU64);

impl ScrapeSink for CountingSink {
    fn append_batch(&self, samples: &[SinkSample]) -> Result<(), SinkError> {
        self.0.fetch_add(samples.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn wait_listening(addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// CPU seconds (user + system) used so far by process `pid`, from /proc.
fn process_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    // Linux reports these in USER_HZ, which is 100 on every mainstream architecture.
    ticks / 100.0
}

async fn prometheus_query(port: u16, query: &str) -> Option<f64> {
    let client = pharos_http::reqwest::Client::new();
    let resp = client
        .get(format!("http://127.0.0.1:{port}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .await
        .ok()?;
    let body = resp.bytes().await.ok()?;
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

fn main() {
    for bin in [PROMETHEUS, NODE_EXPORTER] {
        if !std::path::Path::new(bin).exists() {
            println!("skipped: {bin} is not installed");
            return;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => panic!("runtime: {e}"),
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    };
    let ne_addr = format!("127.0.0.1:{}", free_port());
    let _node_exporter = match Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address={ne_addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => ChildGuard(c),
        Err(e) => panic!("starting node exporter: {e}"),
    };
    if !wait_listening(&ne_addr) {
        panic!("node exporter did not start on {ne_addr}");
    }
    let prom_port = free_port();
    let config = dir.path().join("prometheus.yml");
    let yaml = format!("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{ne_addr}']\n");
    if let Err(e) = std::fs::write(&config, yaml) {
        panic!("{e}");
    }
    let prometheus = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let prometheus = match prometheus {
        Ok(c) => ChildGuard(c),
        Err(e) => panic!("starting prometheus: {e}"),
    };
    if !wait_listening(&format!("127.0.0.1:{prom_port}")) {
        panic!("prometheus did not start");
    }
    let prom_pid = prometheus.0.id().to_string();

    let mut cfg: ScrapeConfig =
        match serde_saphyr::from_str("job_name: node\nscrape_interval: 1s\nscrape_timeout: 1s\n") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
    if let Err(e) = cfg.apply_global(&GlobalScrapeDefaults::default()) {
        panic!("{e}");
    }
    let target = match populate(
        &cfg,
        &Labels::from_pairs([("__address__", ne_addr.as_str())]),
        &Labels::empty(),
    ) {
        Populated::Active(t) => t,
        other => panic!("{other:?}"),
    };
    let client = match HttpClient::new(&cfg.http_client, &ClientOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let sink = Arc::new(CountingSink::default());
    let mut sl = ScrapeLoop::new(Arc::new(cfg), target, client, sink.clone());

    let (durations, samples, our_cpu, prom_cpu) = runtime.block_on(async {
        // Let Prometheus settle (WAL, first scrapes) before measuring its CPU.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let our_start = process_cpu_seconds("self");
        let prom_start = process_cpu_seconds(&prom_pid);
        let start = Instant::now();
        let mut durations = Vec::new();
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        while start.elapsed() < WINDOW {
            ticker.tick().await;
            let report = sl.scrape_once().await;
            if let Some(e) = report.error {
                panic!("pharos scrape failed: {e}");
            }
            durations.push(report.duration.as_secs_f64());
        }
        let our_cpu = process_cpu_seconds("self") - our_start;
        let prom_cpu = process_cpu_seconds(&prom_pid) - prom_start;
        (durations, sink.0.load(Ordering::Relaxed), our_cpu, prom_cpu)
    });
    let window = format!("{}s", WINDOW.as_secs());
    let (prom_mean, prom_count, prom_samples) = runtime.block_on(async {
        (
            prometheus_query(
                prom_port,
                &format!("avg_over_time(scrape_duration_seconds{{job=\"node\"}}[{window}])"),
            )
            .await,
            prometheus_query(
                prom_port,
                &format!("count_over_time(up{{job=\"node\"}}[{window}])"),
            )
            .await,
            prometheus_query(prom_port, "scrape_samples_scraped{job=\"node\"}").await,
        )
    });
    let n = durations.len().max(1) as f64;
    let mean = durations.iter().sum::<f64>() / n;
    let mut sorted = durations.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    println!("scrape of Debian node exporter ({ne_addr}), 1s interval, {window} window");
    println!("  pharos     : {} scrapes, mean {:.2} ms, median {:.2} ms, {} samples stored, process CPU {:.3} s", durations.len(), mean * 1e3, median * 1e3, samples, our_cpu);
    match (prom_mean, prom_count) {
        (Some(m), Some(c)) => println!(
            "  prometheus : {c} scrapes, mean {:.2} ms ({} samples per scrape), process CPU {:.3} s (whole server)",
            m * 1e3,
            prom_samples.unwrap_or(0.0),
            prom_cpu
        ),
        _ => println!("  prometheus : no scrape_duration_seconds returned (query failed)"),
    }
}
