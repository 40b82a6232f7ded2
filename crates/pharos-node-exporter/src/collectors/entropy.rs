//! The `entropy` collector: the kernel random pool's available bits and size.

use std::path::{Path, PathBuf};

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct EntropyCollector;

impl Collector for EntropyCollector {
    fn name(&self) -> &'static str {
        "entropy"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let available = read_number(&paths.proc("sys/kernel/random/entropy_avail"))?;
        let pool_size = read_number(&paths.proc("sys/kernel/random/poolsize"))?;
        out.push(MetricFamily::single(
            "node_entropy_available_bits",
            "Bits of available entropy.",
            MetricType::Gauge,
            available,
        ));
        out.push(MetricFamily::single(
            "node_entropy_pool_size_bits",
            "Bits of entropy pool.",
            MetricType::Gauge,
            pool_size,
        ));
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(EntropyCollector)
}

/// Reads a file holding one integer, as `/proc/sys` files do.
fn read_number(path: &Path) -> Result<f64, CollectError> {
    let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => CollectError::NotPresent(path.display().to_string()),
        _ => CollectError::Io {
            path: PathBuf::from(path),
            source,
        },
    })?;
    let trimmed = text.trim();
    trimmed.parse().map_err(|_| CollectError::Parse {
        path: path.to_path_buf(),
        reason: format!("{trimmed:?} is not a number"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pool_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sys/kernel/random")).unwrap();
        std::fs::write(dir.path().join("sys/kernel/random/entropy_avail"), "256\n").unwrap();
        std::fs::write(dir.path().join("sys/kernel/random/poolsize"), "256\n").unwrap();
        let paths = HostPaths {
            procfs: dir.path().into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        EntropyCollector.collect(&paths, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, "node_entropy_available_bits");
    }

    #[test]
    fn absent_pool_is_not_present_and_garbage_is_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            procfs: dir.path().into(),
            ..HostPaths::default()
        };
        assert!(matches!(
            EntropyCollector.collect(&paths, &mut Vec::new()),
            Err(CollectError::NotPresent(_))
        ));
        std::fs::create_dir_all(dir.path().join("sys/kernel/random")).unwrap();
        std::fs::write(dir.path().join("sys/kernel/random/entropy_avail"), "lots").unwrap();
        assert!(matches!(
            EntropyCollector.collect(&paths, &mut Vec::new()),
            Err(CollectError::Parse { .. })
        ));
    }
}
