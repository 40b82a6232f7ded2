//! The `xfs` collector (not yet implemented).

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;
use pharos_model::MetricFamily;

struct Pending;

impl Collector for Pending {
    fn name(&self) -> &'static str {
        "xfs"
    }
    fn collect(
        &self,
        _paths: &HostPaths,
        _out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        Err(CollectError::NotPresent("xfs collector".into()))
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(Pending)
}
