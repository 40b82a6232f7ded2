//! The `stat` collector: boot time, context switches, forks, interrupts and run-queue counts
//! from `/proc/stat`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct StatCollector {
    /// `--collector.stat.softirq`.
    softirq: bool,
}

/// The softirq vectors of the `softirq` line, in kernel order (include/linux/interrupt.h).
const SOFTIRQ_VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

/// The scalar lines of `/proc/stat` this collector exports.
#[derive(Debug, Default, PartialEq)]
struct KernelStat {
    boot_time: f64,
    context_switches: f64,
    forks: f64,
    interrupts: f64,
    procs_running: f64,
    procs_blocked: f64,
    /// Calls per softirq vector, after the total; missing vectors read as zero.
    softirqs: [f64; 10],
}

impl Collector for StatCollector {
    fn name(&self) -> &'static str {
        "stat"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("stat");
        let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
            path: path.clone(),
            source,
        })?;
        let stat = parse_stat(&text, &path)?;
        out.push(MetricFamily::single(
            "node_intr_total",
            "Total number of interrupts serviced.",
            MetricType::Counter,
            stat.interrupts,
        ));
        out.push(MetricFamily::single(
            "node_context_switches_total",
            "Total number of context switches.",
            MetricType::Counter,
            stat.context_switches,
        ));
        out.push(MetricFamily::single(
            "node_forks_total",
            "Total number of forks.",
            MetricType::Counter,
            stat.forks,
        ));
        out.push(MetricFamily::single(
            "node_boot_time_seconds",
            "Node boot time, in unixtime.",
            MetricType::Gauge,
            stat.boot_time,
        ));
        out.push(MetricFamily::single(
            "node_procs_running",
            "Number of processes in runnable state.",
            MetricType::Gauge,
            stat.procs_running,
        ));
        out.push(MetricFamily::single(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            MetricType::Gauge,
            stat.procs_blocked,
        ));
        if self.softirq {
            let mut family = MetricFamily::new(
                "node_softirqs_total",
                "Number of softirq calls.",
                MetricType::Counter,
            );
            for (vector, calls) in SOFTIRQ_VECTORS.iter().zip(stat.softirqs) {
                family.push([("vector", *vector)], calls);
            }
            out.push(family);
        }
        Ok(())
    }
}

/// Builds the collector.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(StatCollector {
        softirq: opts.stat_softirq,
    })
}

fn parse_stat(text: &str, path: &Path) -> Result<KernelStat, CollectError> {
    let mut stat = KernelStat::default();
    let mut seen_btime = false;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let key = fields.next().unwrap_or("");
        if key == "softirq" {
            // The first number is the total, the rest one per vector.
            for (slot, value) in stat.softirqs.iter_mut().zip(fields.skip(1)) {
                *slot = value.parse().map_err(|_| CollectError::Parse {
                    path: path.to_path_buf(),
                    reason: format!("softirq: {value:?} is not a number"),
                })?;
            }
            continue;
        }
        let slot = match key {
            "btime" => {
                seen_btime = true;
                &mut stat.boot_time
            }
            "ctxt" => &mut stat.context_switches,
            "processes" => &mut stat.forks,
            "intr" => &mut stat.interrupts,
            "procs_running" => &mut stat.procs_running,
            "procs_blocked" => &mut stat.procs_blocked,
            _ => continue,
        };
        // `intr` is followed by one count per IRQ; only the first (the total) is exported.
        let value = fields.next().ok_or_else(|| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("line {key:?} has no value"),
        })?;
        *slot = value.parse().map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("line {key:?}: {value:?} is not a number"),
        })?;
    }
    if !seen_btime {
        return Err(CollectError::Parse {
            path: path.to_path_buf(),
            reason: "no btime line".into(),
        });
    }
    Ok(stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "cpu  5872 0 3067 64985 329 0 53 10 0 0\n\
cpu0 2580 0 1154 33393 19 0 10 4 0 0\n\
intr 193470 0 9 0 0\n\
ctxt 422986\n\
btime 1795239524\n\
processes 8511\n\
procs_running 1\n\
procs_blocked 0\n\
softirq 1 2 3\n";

    #[test]
    fn parses_scalars() {
        let stat = parse_stat(SAMPLE, Path::new("stat")).unwrap();
        assert_eq!(
            stat,
            KernelStat {
                boot_time: 1795239524.0,
                context_switches: 422986.0,
                forks: 8511.0,
                interrupts: 193470.0,
                procs_running: 1.0,
                procs_blocked: 0.0,
                softirqs: [2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            }
        );
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse_stat("btime x\n", Path::new("stat")).is_err());
        assert!(parse_stat("ctxt 1\n", Path::new("stat")).is_err());
        assert!(parse_stat("btime\n", Path::new("stat")).is_err());
    }
}
