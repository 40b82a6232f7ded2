//! The `edac` collector: correctable and uncorrectable memory errors per memory controller
//! and chip-select row, from `/sys/devices/system/edac/mc`.

use std::fs;
use std::path::{Path, PathBuf};

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct EdacCollector;

fn read_count(path: &Path) -> Result<f64, CollectError> {
    let raw = fs::read_to_string(path).map_err(|source| CollectError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let raw = raw.trim();
    raw.parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("invalid count {raw:?}"),
        })
}

/// Sub-directories named `<prefix><number>`, with their numbers, in numeric order.
fn numbered(dir: &Path, prefix: &str) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix(prefix)?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    found
}

impl Collector for EdacCollector {
    fn name(&self) -> &'static str {
        "edac"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mc = paths.sys("devices/system/edac/mc");
        if !mc.is_dir() {
            return Err(CollectError::NotPresent(mc.display().to_string()));
        }
        let counter = MetricType::Counter;
        let mut ce = MetricFamily::new(
            "node_edac_correctable_errors_total",
            "Total correctable memory errors.",
            counter,
        );
        let mut ue = MetricFamily::new(
            "node_edac_uncorrectable_errors_total",
            "Total uncorrectable memory errors.",
            counter,
        );
        let mut row_ce = MetricFamily::new(
            "node_edac_csrow_correctable_errors_total",
            "Total correctable memory errors for this csrow.",
            counter,
        );
        let mut row_ue = MetricFamily::new(
            "node_edac_csrow_uncorrectable_errors_total",
            "Total uncorrectable memory errors for this csrow.",
            counter,
        );
        for (n, dir) in numbered(&mc, "mc") {
            let controller = n.to_string();
            let c = controller.as_str();
            ce.push([("controller", c)], read_count(&dir.join("ce_count"))?);
            row_ce.push(
                [("controller", c), ("csrow", "unknown")],
                read_count(&dir.join("ce_noinfo_count"))?,
            );
            ue.push([("controller", c)], read_count(&dir.join("ue_count"))?);
            row_ue.push(
                [("controller", c), ("csrow", "unknown")],
                read_count(&dir.join("ue_noinfo_count"))?,
            );
            for (row, row_dir) in numbered(&dir, "csrow") {
                let row = row.to_string();
                row_ce.push(
                    [("controller", c), ("csrow", row.as_str())],
                    read_count(&row_dir.join("ce_count"))?,
                );
                row_ue.push(
                    [("controller", c), ("csrow", row.as_str())],
                    read_count(&row_dir.join("ue_count"))?,
                );
            }
        }
        for mut family in [ce, row_ce, row_ue, ue] {
            family.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.push(family);
        }
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(EdacCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host};

    #[test]
    fn controller_and_csrow_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let mc0 = tmp.path().join("devices/system/edac/mc/mc0");
        fs::create_dir_all(mc0.join("csrow0")).unwrap();
        for (f, v) in [
            ("ce_count", "1"),
            ("ce_noinfo_count", "2"),
            ("ue_count", "5"),
            ("ue_noinfo_count", "6"),
        ] {
            fs::write(mc0.join(f), format!("{v}\n")).unwrap();
        }
        fs::write(mc0.join("csrow0/ce_count"), "3\n").unwrap();
        fs::write(mc0.join("csrow0/ue_count"), "4\n").unwrap();
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(tmp.path()),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"# HELP node_edac_correctable_errors_total Total correctable memory errors.
# TYPE node_edac_correctable_errors_total counter
node_edac_correctable_errors_total{controller="0"} 1
# HELP node_edac_csrow_correctable_errors_total Total correctable memory errors for this csrow.
# TYPE node_edac_csrow_correctable_errors_total counter
node_edac_csrow_correctable_errors_total{controller="0",csrow="0"} 3
node_edac_csrow_correctable_errors_total{controller="0",csrow="unknown"} 2
# HELP node_edac_csrow_uncorrectable_errors_total Total uncorrectable memory errors for this csrow.
# TYPE node_edac_csrow_uncorrectable_errors_total counter
node_edac_csrow_uncorrectable_errors_total{controller="0",csrow="0"} 4
node_edac_csrow_uncorrectable_errors_total{controller="0",csrow="unknown"} 6
# HELP node_edac_uncorrectable_errors_total Total uncorrectable memory errors.
# TYPE node_edac_uncorrectable_errors_total counter
node_edac_uncorrectable_errors_total{controller="0"} 5
"#
        );
    }
}
