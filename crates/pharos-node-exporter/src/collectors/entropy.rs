//! The `entropy` collector: the kernel random pool's available bits and size.

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_number;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct EntropyCollector;

impl Collector for EntropyCollector {
    fn name(&self) -> &'static str {
        "entropy"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let available = read_source_number(&paths.proc("sys/kernel/random/entropy_avail"))?;
        let pool_size = read_source_number(&paths.proc("sys/kernel/random/poolsize"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::procfs_host;

    #[test]
    fn reads_pool_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sys/kernel/random")).unwrap();
        std::fs::write(dir.path().join("sys/kernel/random/entropy_avail"), "256\n").unwrap();
        std::fs::write(dir.path().join("sys/kernel/random/poolsize"), "256\n").unwrap();
        let paths = procfs_host(dir.path());
        let mut out = Vec::new();
        EntropyCollector.collect(&paths, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, "node_entropy_available_bits");
    }

    #[test]
    fn absent_pool_is_not_present_and_garbage_is_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = procfs_host(dir.path());
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
