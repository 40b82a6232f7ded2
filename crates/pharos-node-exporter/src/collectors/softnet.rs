//! The `softnet` collector: per-CPU packet processing counters from `/proc/net/softnet_stat`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_file;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct SoftnetCollector;

impl Collector for SoftnetCollector {
    fn name(&self) -> &'static str {
        "softnet"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("net/softnet_stat");
        let text = read_source_file(&path)?;
        let mut processed = MetricFamily::new(
            "node_softnet_processed_total",
            "Number of processed packets",
            MetricType::Counter,
        );
        let mut dropped = MetricFamily::new(
            "node_softnet_dropped_total",
            "Number of dropped packets",
            MetricType::Counter,
        );
        let mut squeezed = MetricFamily::new(
            "node_softnet_times_squeezed_total",
            "Number of times processing packets ran out of quota",
            MetricType::Counter,
        );
        for (row, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let [p, d, s] = parse_row(line, &path)?;
            // Rows are per online CPU in order; node_exporter labels them by row index.
            let cpu = row.to_string();
            processed.push([("cpu", cpu.as_str())], p);
            dropped.push([("cpu", cpu.as_str())], d);
            squeezed.push([("cpu", cpu.as_str())], s);
        }
        out.push(processed);
        out.push(dropped);
        out.push(squeezed);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(SoftnetCollector)
}

/// The first three hexadecimal columns: processed, dropped, time_squeeze.
fn parse_row(line: &str, path: &Path) -> Result<[f64; 3], CollectError> {
    let mut fields = line.split_ascii_whitespace();
    let mut values = [0.0; 3];
    for value in &mut values {
        let field = fields.next().ok_or_else(|| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("row {line:?} has fewer than 3 columns"),
        })?;
        *value = u64::from_str_radix(field, 16).map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("{field:?} is not hexadecimal"),
        })? as f64;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::procfs_host;

    #[test]
    fn reads_rows_per_cpu() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net")).unwrap();
        std::fs::write(
            dir.path().join("net/softnet_stat"),
            "00000024 00000001 00000002 00000000 00000000\n000019f4 00000000 0000000a 00000000 00000000\n",
        )
        .unwrap();
        let paths = procfs_host(dir.path());
        let mut out = Vec::new();
        SoftnetCollector.collect(&paths, &mut out).unwrap();
        assert_eq!(
            out[0].metrics[1].labels,
            vec![("cpu".to_string(), "1".to_string())]
        );
        assert_eq!(
            out[0].metrics[1].value,
            pharos_model::MetricValue::Simple(6644.0)
        );
        assert_eq!(
            out[2].metrics[1].value,
            pharos_model::MetricValue::Simple(10.0)
        );
    }

    #[test]
    fn rejects_short_and_non_hex_rows() {
        assert!(parse_row("0001 0002", Path::new("s")).is_err());
        assert!(parse_row("zz 0 0", Path::new("s")).is_err());
    }
}
