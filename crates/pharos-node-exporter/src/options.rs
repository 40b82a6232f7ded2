//! Collector settings parsed from node_exporter-style flags.

use std::path::PathBuf;

/// Per-collector filters and settings, named after node_exporter's flags.
#[derive(Clone, Debug, Default)]
pub struct CollectorOptions {
    /// `--collector.textfile.directory`.
    pub textfile_directory: Option<PathBuf>,
    /// `--collector.filesystem.mount-points-exclude` (regex).
    pub filesystem_mount_points_exclude: Option<String>,
    /// `--collector.filesystem.fs-types-exclude` (regex).
    pub filesystem_fs_types_exclude: Option<String>,
    /// `--collector.netdev.device-include` (regex).
    pub netdev_device_include: Option<String>,
    /// `--collector.netdev.device-exclude` (regex).
    pub netdev_device_exclude: Option<String>,
    /// `--collector.netclass.ignored-devices` (regex).
    pub netclass_ignored_devices: Option<String>,
    /// `--collector.diskstats.device-exclude` (regex).
    pub diskstats_device_exclude: Option<String>,
    /// `--collector.systemd.unit-include` (regex).
    pub systemd_unit_include: Option<String>,
    /// `--collector.systemd.unit-exclude` (regex).
    pub systemd_unit_exclude: Option<String>,
}
