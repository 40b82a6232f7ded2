//! Scrape cost of `pharos node-exporter` against Debian's node_exporter 1.5, measured in the
//! same run on the same machine with the same collectors.
//!
//! Both exporters are scraped alternately, the way Prometheus would (its `Accept` header and
//! gzip), and the bench prints median and p90 latency, CPU seconds per scrape (utime+stime
//! deltas from /proc/<pid>/stat) and resident memory (VmRSS, peak VmHWM), plus the ratios.
//!
//! `cargo bench -p pharos --bench node_exporter`; `PHAROS_BENCH_SCRAPES` changes the count
//! (default 200). Skips with a message when node_exporter is not installed.

#[path = "../tests/node_exporter_harness/mod.rs"]
mod node_exporter_harness;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use node_exporter_harness::{cpu_and_memory, free_port, get, pharos_bin, start, Running};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
/// Prometheus 2.x's scrape `Accept` header.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// The whole measurement stops after this long even if fewer scrapes were done.
const TIME_LIMIT: Duration = Duration::from_secs(120);
const WARMUP: usize = 5;

struct Measured {
    name: &'static str,
    latencies: Vec<Duration>,
    cpu_seconds: f64,
    rss: u64,
    hwm: u64,
    bytes: usize,
}

impl Measured {
    fn percentile(&self, p: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let at = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(at).copied().unwrap_or_default()
    }
    fn cpu_per_scrape(&self) -> f64 {
        self.cpu_seconds / self.latencies.len().max(1) as f64
    }
}

fn flags(addr: SocketAddr, textfile_dir: &str) -> Vec<String> {
    let mut f = vec![
        format!("--web.listen-address={addr}"),
        "--collector.disable-defaults".to_string(),
        format!("--collector.textfile.directory={textfile_dir}"),
    ];
    for reg in pharos_node_exporter::collectors::ALL
        .iter()
        .filter(|r| r.default_enabled)
    {
        f.push(format!("--collector.{}", reg.name));
    }
    f
}

fn scrape(addr: SocketAddr) -> (Duration, usize) {
    let start = Instant::now();
    let r = get(
        addr,
        "/metrics",
        &[("Accept", ACCEPT), ("Accept-Encoding", "gzip")],
    )
    .expect("scrape");
    let took = start.elapsed();
    assert_eq!(r.status, 200, "scrape of {addr} failed");
    (took, r.body.len())
}

fn main() {
    if !node_exporter_harness::require(NODE_EXPORTER) {
        return;
    }
    let n: usize = std::env::var("PHAROS_BENCH_SCRAPES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let textfiles = tempfile::tempdir().expect("tempdir");
    let dir = textfiles.path().display().to_string();

    let ne_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let px_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let ne = start(NODE_EXPORTER, &flags(ne_addr, &dir), ne_addr);
    let mut px_args = vec!["node-exporter".to_string()];
    px_args.extend(flags(px_addr, &dir));
    let px = start(pharos_bin(), &px_args, px_addr);

    for _ in 0..WARMUP {
        scrape(ne_addr);
        scrape(px_addr);
    }
    let procs: [(&'static str, &Running); 2] = [("node_exporter", &ne), ("pharos", &px)];
    let mut results: Vec<Measured> = procs
        .iter()
        .map(|(name, _)| Measured {
            name,
            latencies: Vec::with_capacity(n),
            cpu_seconds: 0.0,
            rss: 0,
            hwm: 0,
            bytes: 0,
        })
        .collect();
    let cpu_before: Vec<f64> = procs
        .iter()
        .map(|(_, p)| cpu_and_memory(p.pid()).0)
        .collect();
    let began = Instant::now();
    for _ in 0..n {
        if began.elapsed() > TIME_LIMIT {
            println!("time limit reached; stopping early");
            break;
        }
        // Alternate so background noise hits both alike.
        for (i, (_, p)) in procs.iter().enumerate() {
            let (took, bytes) = scrape(p.addr);
            if let Some(m) = results.get_mut(i) {
                m.latencies.push(took);
                m.bytes = bytes;
            }
        }
    }
    for (i, (_, p)) in procs.iter().enumerate() {
        let (cpu, rss, hwm) = cpu_and_memory(p.pid());
        if let Some(m) = results.get_mut(i) {
            m.cpu_seconds = cpu - cpu_before.get(i).copied().unwrap_or(0.0);
            m.rss = rss;
            m.hwm = hwm;
        }
    }
    drop(px);
    drop(ne);

    println!(
        "node exporter scrape benchmark: {} scrapes each, gzip, alternating",
        results[0].latencies.len()
    );
    println!(
        "{:<14} {:>12} {:>12} {:>16} {:>12} {:>12} {:>12}",
        "exporter", "median ms", "p90 ms", "CPU ms/scrape", "VmRSS MiB", "VmHWM MiB", "gzip bytes"
    );
    for m in &results {
        println!(
            "{:<14} {:>12.3} {:>12.3} {:>16.3} {:>12.1} {:>12.1} {:>12}",
            m.name,
            m.percentile(0.5).as_secs_f64() * 1e3,
            m.percentile(0.9).as_secs_f64() * 1e3,
            m.cpu_per_scrape() * 1e3,
            m.rss as f64 / 1048576.0,
            m.hwm as f64 / 1048576.0,
            m.bytes
        );
    }
    let (ne_m, px_m) = (&results[0], &results[1]);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    println!(
        "pharos/node_exporter: median latency {:.2}x, p90 latency {:.2}x, CPU per scrape {:.2}x, VmRSS {:.2}x, VmHWM {:.2}x",
        ratio(px_m.percentile(0.5).as_secs_f64(), ne_m.percentile(0.5).as_secs_f64()),
        ratio(px_m.percentile(0.9).as_secs_f64(), ne_m.percentile(0.9).as_secs_f64()),
        ratio(px_m.cpu_per_scrape(), ne_m.cpu_per_scrape()),
        ratio(px_m.rss as f64, ne_m.rss as f64),
        ratio(px_m.hwm as f64, ne_m.hwm as f64),
    );
}
