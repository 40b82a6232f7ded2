//! The `pressure` collector: pressure stall information totals from `/proc/pressure`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct PressureCollector;

/// The cumulative stall times of one resource, in microseconds.
#[derive(Debug, Default, PartialEq)]
struct StallTotals {
    some: Option<f64>,
    full: Option<f64>,
}

impl Collector for PressureCollector {
    fn name(&self) -> &'static str {
        "pressure"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        for resource in ["cpu", "io", "memory"] {
            let path = paths.proc(Path::new("pressure").join(resource));
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                // Kernels without CONFIG_PSI (or booted with psi=0) have no such files.
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        || e.raw_os_error() == Some(libc::EOPNOTSUPP) =>
                {
                    return Err(CollectError::NotPresent(
                        "pressure stall information".into(),
                    ))
                }
                Err(source) => return Err(CollectError::Io { path, source }),
            };
            let totals = parse_pressure(&text, &path)?;
            let seconds = |micros: Option<f64>| micros.unwrap_or(0.0) / 1e6;
            match resource {
                "cpu" => out.push(MetricFamily::single(
                    "node_pressure_cpu_waiting_seconds_total",
                    "Total time in seconds that processes have waited for CPU time",
                    MetricType::Counter,
                    seconds(totals.some),
                )),
                "io" => {
                    out.push(MetricFamily::single(
                        "node_pressure_io_waiting_seconds_total",
                        "Total time in seconds that processes have waited due to IO congestion",
                        MetricType::Counter,
                        seconds(totals.some),
                    ));
                    out.push(MetricFamily::single(
                        "node_pressure_io_stalled_seconds_total",
                        "Total time in seconds no process could make progress due to IO congestion",
                        MetricType::Counter,
                        seconds(totals.full),
                    ));
                }
                _ => {
                    out.push(MetricFamily::single(
                        "node_pressure_memory_waiting_seconds_total",
                        "Total time in seconds that processes have waited for memory",
                        MetricType::Counter,
                        seconds(totals.some),
                    ));
                    out.push(MetricFamily::single(
                        "node_pressure_memory_stalled_seconds_total",
                        "Total time in seconds no process could make progress due to memory congestion",
                        MetricType::Counter,
                        seconds(totals.full),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(PressureCollector)
}

/// Reads the `total=` field of the `some` and `full` lines.
fn parse_pressure(text: &str, path: &Path) -> Result<StallTotals, CollectError> {
    let mut totals = StallTotals::default();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let slot = match fields.next() {
            Some("some") => &mut totals.some,
            Some("full") => &mut totals.full,
            _ => continue,
        };
        let total = fields
            .find_map(|f| f.strip_prefix("total="))
            .ok_or_else(|| CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("line {line:?} has no total="),
            })?;
        *slot = Some(total.parse().map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("total {total:?} is not a number"),
        })?);
    }
    if totals.some.is_none() {
        return Err(CollectError::Parse {
            path: path.to_path_buf(),
            reason: "no \"some\" line".into(),
        });
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::procfs_host;

    fn write_tree(dir: &Path, cpu: &str) {
        std::fs::create_dir_all(dir.join("pressure")).unwrap();
        std::fs::write(dir.join("pressure/cpu"), cpu).unwrap();
        let both = "some avg10=0.00 avg60=0.00 avg300=0.00 total=2892238\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=2649482\n";
        std::fs::write(dir.join("pressure/io"), both).unwrap();
        std::fs::write(dir.join("pressure/memory"), both).unwrap();
    }

    #[test]
    fn exports_totals_in_seconds() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), "some avg10=0.02 avg60=1.54 avg300=1.61 total=9177799\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        let paths = procfs_host(dir.path());
        let mut out = Vec::new();
        PressureCollector.collect(&paths, &mut out).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_pressure_cpu_waiting_seconds_total",
                "node_pressure_io_waiting_seconds_total",
                "node_pressure_io_stalled_seconds_total",
                "node_pressure_memory_waiting_seconds_total",
                "node_pressure_memory_stalled_seconds_total"
            ]
        );
        assert_eq!(
            out[0].metrics[0].value,
            pharos_model::MetricValue::Simple(9.177799)
        );
        assert_eq!(
            out[2].metrics[0].value,
            pharos_model::MetricValue::Simple(2.649482)
        );
    }

    #[test]
    fn absent_is_not_present_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = procfs_host(dir.path());
        assert!(matches!(
            PressureCollector.collect(&paths, &mut Vec::new()),
            Err(CollectError::NotPresent(_))
        ));
        write_tree(dir.path(), "some avg10=x total=abc\n");
        assert!(matches!(
            PressureCollector.collect(&paths, &mut Vec::new()),
            Err(CollectError::Parse { .. })
        ));
        write_tree(dir.path(), "nonsense\n");
        assert!(matches!(
            PressureCollector.collect(&paths, &mut Vec::new()),
            Err(CollectError::Parse { .. })
        ));
    }
}
