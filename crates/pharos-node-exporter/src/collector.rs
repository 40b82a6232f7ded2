//! The collector interface every metric source implements.

use std::path::{Path, PathBuf};

use pharos_model::MetricFamily;

/// Where a collector finds the host's files; mirrors `--path.procfs`, `--path.sysfs`,
/// `--path.rootfs` and `--path.udev.data`.
#[derive(Clone, Debug)]
pub struct HostPaths {
    /// Mount point of procfs, `/proc` by default.
    pub procfs: PathBuf,
    /// Mount point of sysfs, `/sys` by default.
    pub sysfs: PathBuf,
    /// Root of the host filesystem, `/` by default.
    pub rootfs: PathBuf,
    /// udev database, `/run/udev/data` by default.
    pub udev_data: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            rootfs: "/".into(),
            udev_data: "/run/udev/data".into(),
        }
    }
}

impl HostPaths {
    /// A path under procfs.
    pub fn proc(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.procfs.join(rel)
    }
    /// A path under sysfs.
    pub fn sys(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.sysfs.join(rel)
    }
}

/// Why a collector produced nothing or only part of its output.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The source does not exist on this host (e.g. no ZFS module): the collector stays quiet
    /// and reports success, as node_exporter does for absent subsystems.
    #[error("{0} not present on this host")]
    NotPresent(String),
    /// Reading a file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file did not have the expected shape.
    #[error("parsing {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// A source of metric families. Collectors run in parallel on every scrape, so they must be
/// `Send + Sync` and keep any cross-scrape state behind their own locks.
pub trait Collector: Send + Sync {
    /// The collector's name as used in `--collector.<name>` and in the `collector` label of
    /// `node_scrape_collector_*`.
    fn name(&self) -> &'static str;

    /// Appends this collector's families to `out`.
    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError>;
}
