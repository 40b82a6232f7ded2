//! Fake hosts for collector unit tests: files written under a temporary root, and the text a
//! collector exposes on them, so each test states the expected exposition literally.

use std::fs;
use std::path::Path;

use pharos_model::write::write_text;
use pharos_model::MetricFamily;

use crate::collector::{CollectError, Collector, HostPaths};
use crate::merge::normalize;

/// Writes `value` to `dir/name`, creating `dir` and its parents first.
pub fn write(dir: &Path, name: &str, value: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), value).unwrap();
}

/// A host whose sysfs is `root`; everything else stays at the defaults.
pub fn sysfs_host(root: &Path) -> HostPaths {
    HostPaths {
        sysfs: root.into(),
        ..HostPaths::default()
    }
}

/// A host whose procfs is `root`; everything else stays at the defaults.
pub fn procfs_host(root: &Path) -> HostPaths {
    HostPaths {
        procfs: root.into(),
        ..HostPaths::default()
    }
}

/// The text exposition of what `collector` gathers on `paths`, families in the order the
/// collector emits them.
pub fn collected_text(
    collector: &dyn Collector,
    paths: &HostPaths,
) -> Result<String, CollectError> {
    let mut families = Vec::new();
    collector.collect(paths, &mut families)?;
    Ok(text(&families))
}

/// The same as [`collected_text`], with families merged and sorted as a scrape serves them,
/// which is how node_exporter prints them too.
pub fn normalized_text(
    collector: &dyn Collector,
    paths: &HostPaths,
) -> Result<String, CollectError> {
    let mut families = Vec::new();
    collector.collect(paths, &mut families)?;
    Ok(text(&normalize(families)))
}

fn text(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    write_text(families, &mut out);
    out
}
