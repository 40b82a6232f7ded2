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
    /// `--collector.cpu.info`: also export `node_cpu_info` from `/proc/cpuinfo`.
    pub cpu_info: bool,
    /// `--collector.netstat.fields` (regex); node_exporter's default when `None`.
    pub netstat_fields: Option<String>,
    /// `--collector.vmstat.fields` (regex); node_exporter's default when `None`.
    pub vmstat_fields: Option<String>,
    /// `--collector.filesystem.mount-timeout`: how long statfs may block before a mount is
    /// reported with `node_filesystem_device_error` 1; 5 s when `None`.
    pub filesystem_mount_timeout: Option<std::time::Duration>,
    /// `--collector.powersupply.ignored-supplies` (regex); `^$` when `None`.
    pub powersupply_ignored_supplies: Option<String>,
    /// `--collector.rapl.enable-zone-label`: label RAPL metrics with `rapl_zone` instead of
    /// putting the zone in the metric name.
    pub rapl_zone_label: bool,
    /// `--collector.cpu.info.flags-include` (regex): export `node_cpu_flag_info` for the
    /// matching `flags` of the first CPU; needs `cpu_info`.
    pub cpu_info_flags_include: Option<String>,
    /// `--collector.cpu.info.bugs-include` (regex): export `node_cpu_bug_info` for the matching
    /// `bugs` of the first CPU; needs `cpu_info`.
    pub cpu_info_bugs_include: Option<String>,
    /// `--collector.stat.softirq`: also export `node_softirqs_total` per vector.
    pub stat_softirq: bool,
    /// `--collector.arp.device-include` (regex).
    pub arp_device_include: Option<String>,
    /// `--collector.arp.device-exclude` (regex).
    pub arp_device_exclude: Option<String>,
    /// `--collector.diskstats.device-include` (regex); replaces the exclude filter when set.
    pub diskstats_device_include: Option<String>,
    /// `--collector.bcache.priorityStats`: also read `priority_stats`, which is costly for the
    /// kernel to build, so it is off by default as in node_exporter.
    pub bcache_priority_stats: bool,
}
