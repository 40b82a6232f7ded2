//! The `schedstat` collector: per-CPU scheduler run and wait times from `/proc/schedstat`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_file;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct SchedstatCollector;

/// One `cpuN` line: times in nanoseconds, timeslices as a count.
#[derive(Debug, PartialEq)]
struct CpuSchedstat<'a> {
    cpu: &'a str,
    running_ns: f64,
    waiting_ns: f64,
    timeslices: f64,
}

impl Collector for SchedstatCollector {
    fn name(&self) -> &'static str {
        "schedstat"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("schedstat");
        // Kernels built without CONFIG_SCHEDSTATS have no such file.
        let text = read_source_file(&path)?;
        let cpus = parse_schedstat(&text, &path)?;
        let mut running = MetricFamily::new(
            "node_schedstat_running_seconds_total",
            "Number of seconds CPU spent running a process.",
            MetricType::Counter,
        );
        let mut waiting = MetricFamily::new(
            "node_schedstat_waiting_seconds_total",
            "Number of seconds spent by processing waiting for this CPU.",
            MetricType::Counter,
        );
        let mut timeslices = MetricFamily::new(
            "node_schedstat_timeslices_total",
            "Number of timeslices executed by CPU.",
            MetricType::Counter,
        );
        for cpu in cpus {
            running.push([("cpu", cpu.cpu)], cpu.running_ns / 1e9);
            waiting.push([("cpu", cpu.cpu)], cpu.waiting_ns / 1e9);
            timeslices.push([("cpu", cpu.cpu)], cpu.timeslices);
        }
        out.push(running);
        out.push(waiting);
        out.push(timeslices);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(SchedstatCollector)
}

/// Reads the `cpuN` lines; their last three of nine counters are running time, waiting time
/// and timeslices. `domainN` and `version` lines are skipped.
fn parse_schedstat<'a>(text: &'a str, path: &Path) -> Result<Vec<CpuSchedstat<'a>>, CollectError> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        let bad = |reason: String| CollectError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let [cpu, _, _, _, _, _, _, running, waiting, slices, ..] = fields.as_slice() else {
            return Err(bad(format!("line {line:?} has fewer than 9 counters")));
        };
        let num = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| bad(format!("line {line:?}: {s:?} is not a number")))
        };
        cpus.push(CpuSchedstat {
            cpu,
            running_ns: num(running)?,
            waiting_ns: num(waiting)?,
            timeslices: num(slices)?,
        });
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_lines() {
        let text = "version 15\ntimestamp 4295\ncpu0 0 0 0 0 0 0 7301284467182 912345678901 88412345\ndomain0 3 1 2 3\n";
        let cpus = parse_schedstat(text, Path::new("schedstat")).unwrap();
        assert_eq!(
            cpus,
            vec![CpuSchedstat {
                cpu: "0",
                running_ns: 7301284467182.0,
                waiting_ns: 912345678901.0,
                timeslices: 88412345.0
            }]
        );
    }

    #[test]
    fn rejects_short_lines() {
        assert!(parse_schedstat("cpu0 1 2 3\n", Path::new("s")).is_err());
        assert!(parse_schedstat("cpu0 0 0 0 0 0 0 x 1 1\n", Path::new("s")).is_err());
    }
}
