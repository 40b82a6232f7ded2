//! The `diskstats` collector: block device I/O counters from `/proc/diskstats`, plus device
//! identity from the udev database.

use std::collections::HashMap;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::device_filter::{rejected_flags, DeviceFilter};
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// node_exporter's default `--collector.diskstats.device-exclude`: partitions and RAM/loop
/// devices, whose I/O is already counted on the whole disk.
const DEFAULT_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
/// Sectors in `/proc/diskstats` are always 512 bytes, whatever the device's block size.
const SECTOR_BYTES: f64 = 512.0;

/// One exported column: index after the device name, metric name, HELP, type, scale.
struct Column {
    index: usize,
    name: &'static str,
    help: &'static str,
    metric_type: MetricType,
    scale: f64,
}

const fn counter(index: usize, name: &'static str, help: &'static str, scale: f64) -> Column {
    Column {
        index,
        name,
        help,
        metric_type: MetricType::Counter,
        scale,
    }
}

const MS: f64 = 0.001;

const COLUMNS: &[Column] = &[
    counter(
        0,
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        1.0,
    ),
    counter(
        1,
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        1.0,
    ),
    counter(
        2,
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        SECTOR_BYTES,
    ),
    counter(
        3,
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        MS,
    ),
    counter(
        4,
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        1.0,
    ),
    counter(
        5,
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        1.0,
    ),
    counter(
        6,
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        SECTOR_BYTES,
    ),
    counter(
        7,
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        MS,
    ),
    Column {
        index: 8,
        name: "node_disk_io_now",
        help: "The number of I/Os currently in progress.",
        metric_type: MetricType::Gauge,
        scale: 1.0,
    },
    counter(
        9,
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        MS,
    ),
    counter(
        10,
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        MS,
    ),
    counter(
        11,
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        1.0,
    ),
    counter(
        12,
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        1.0,
    ),
    counter(
        13,
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        1.0,
    ),
    counter(
        14,
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        MS,
    ),
    counter(
        15,
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        1.0,
    ),
    counter(
        16,
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        MS,
    ),
];

/// udev-derived info families: name, HELP, label names, the udev keys that fill them, and the
/// key whose presence decides whether the device gets a metric at all.
struct InfoFamily {
    name: &'static str,
    help: &'static str,
    labels: &'static [(&'static str, &'static str)],
    required: Option<&'static str>,
}

const INFO_FAMILIES: &[InfoFamily] = &[
    InfoFamily {
        name: "node_disk_info",
        help: "Info of /sys/block/<block_device>.",
        labels: &[
            ("model", "ID_MODEL"),
            ("path", "ID_PATH"),
            ("revision", "ID_REVISION"),
            ("serial", "ID_SERIAL_SHORT"),
            ("wwn", "ID_WWN"),
        ],
        required: None,
    },
    InfoFamily {
        name: "node_disk_filesystem_info",
        help: "Info about disk filesystem.",
        labels: &[
            ("type", "ID_FS_TYPE"),
            ("usage", "ID_FS_USAGE"),
            ("uuid", "ID_FS_UUID"),
            ("version", "ID_FS_VERSION"),
        ],
        required: Some("ID_FS_TYPE"),
    },
    InfoFamily {
        name: "node_disk_device_mapper_info",
        help: "Info about disk device mapper.",
        labels: &[
            ("lv_layer", "DM_LV_LAYER"),
            ("lv_name", "DM_LV_NAME"),
            ("name", "DM_NAME"),
            ("uuid", "DM_UUID"),
            ("vg_name", "DM_VG_NAME"),
        ],
        required: Some("DM_NAME"),
    },
];

/// Numeric udev properties of ATA disks.
const ATA_GAUGES: &[(&str, &str, &str)] = &[
    (
        "ID_ATA_WRITE_CACHE",
        "node_disk_ata_write_cache",
        "ATA disk has a write cache.",
    ),
    (
        "ID_ATA_WRITE_CACHE_ENABLED",
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
    ),
    (
        "ID_ATA_ROTATION_RATE_RPM",
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
    ),
];

struct DiskstatsCollector {
    /// The compiled device filter, or why the flag was rejected.
    filter: Result<DeviceFilter, String>,
}

impl Collector for DiskstatsCollector {
    fn name(&self) -> &'static str {
        "diskstats"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let filter = self
            .filter
            .as_ref()
            .map_err(|reason| rejected_flags("diskstats", reason))?;
        let path = paths.proc("diskstats");
        let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
            path: path.clone(),
            source,
        })?;
        let mut stats = MetricFamilies::new();
        for line in text.lines() {
            let Some(disk) = parse_line(line, &path)? else {
                continue;
            };
            if !filter.wants(disk.device) {
                continue;
            }
            stats.add(paths, &disk);
        }
        out.extend(stats.finish());
        Ok(())
    }
}

/// Builds the collector, compiling the device filter once.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    // Unlike arp and netdev, an include pattern wins over the exclude one here, as in
    // node_exporter, and the exclude flag has a default.
    let filter = match &opts.diskstats_device_include {
        Some(include) => DeviceFilter::include("diskstats", include),
        None => DeviceFilter::exclude(
            "diskstats",
            opts.diskstats_device_exclude
                .as_deref()
                .unwrap_or(DEFAULT_EXCLUDE),
        ),
    };
    Box::new(DiskstatsCollector { filter })
}

/// One row of `/proc/diskstats`.
struct DiskLine<'a> {
    major: &'a str,
    minor: &'a str,
    device: &'a str,
    /// 11 columns before Linux 4.18, 15 with discards, 17 with flushes (5.5+).
    values: Vec<f64>,
}

fn parse_line<'a>(line: &'a str, path: &Path) -> Result<Option<DiskLine<'a>>, CollectError> {
    let mut fields = line.split_ascii_whitespace();
    let (Some(major), Some(minor), Some(device)) = (fields.next(), fields.next(), fields.next())
    else {
        return if line.trim().is_empty() {
            Ok(None)
        } else {
            Err(CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("line {line:?} is too short"),
            })
        };
    };
    let values = fields
        .map(|f| {
            f.parse::<f64>().map_err(|_| CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("device {device:?}: {f:?} is not a number"),
            })
        })
        .collect::<Result<Vec<f64>, _>>()?;
    if values.len() < 11 {
        return Err(CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!(
                "device {device:?} has {} counters, expected at least 11",
                values.len()
            ),
        });
    }
    Ok(Some(DiskLine {
        major,
        minor,
        device,
        values,
    }))
}

/// The families being filled for one scrape.
struct MetricFamilies {
    columns: Vec<MetricFamily>,
    info: Vec<MetricFamily>,
    ata: Vec<MetricFamily>,
}

impl MetricFamilies {
    fn new() -> Self {
        MetricFamilies {
            columns: COLUMNS
                .iter()
                .map(|c| MetricFamily::new(c.name, c.help, c.metric_type))
                .collect(),
            info: INFO_FAMILIES
                .iter()
                .map(|f| MetricFamily::new(f.name, f.help, MetricType::Gauge))
                .collect(),
            ata: ATA_GAUGES
                .iter()
                .map(|(_, name, help)| MetricFamily::new(*name, *help, MetricType::Gauge))
                .collect(),
        }
    }

    fn add(&mut self, paths: &HostPaths, disk: &DiskLine<'_>) {
        for (column, family) in COLUMNS.iter().zip(&mut self.columns) {
            if let Some(v) = disk.values.get(column.index) {
                family.push([("device", disk.device)], v * column.scale);
            }
        }
        let udev = read_udev(
            &paths
                .udev_data
                .join(format!("b{}:{}", disk.major, disk.minor)),
        );
        let get = |k: &str| udev.get(k).map(String::as_str).unwrap_or("");
        for (spec, family) in INFO_FAMILIES.iter().zip(&mut self.info) {
            if spec.required.is_some_and(|k| get(k).is_empty()) {
                continue;
            }
            let mut labels: Vec<(&str, &str)> = Vec::with_capacity(spec.labels.len() + 3);
            labels.push(("device", disk.device));
            if spec.required.is_none() {
                labels.push(("major", disk.major));
                labels.push(("minor", disk.minor));
            }
            labels.extend(spec.labels.iter().map(|(label, key)| (*label, get(key))));
            labels.sort_by_key(|(name, _)| *name);
            family.push(labels, 1.0);
        }
        for ((key, _, _), family) in ATA_GAUGES.iter().zip(&mut self.ata) {
            if let Some(v) = udev.get(*key).and_then(|v| v.parse::<f64>().ok()) {
                family.push([("device", disk.device)], v);
            }
        }
    }

    fn finish(self) -> impl Iterator<Item = MetricFamily> {
        self.columns
            .into_iter()
            .chain(self.info)
            .chain(self.ata)
            .filter(|f| !f.metrics.is_empty())
    }
}

/// The `E:KEY=value` properties of a udev database entry; empty when there is none (no udev,
/// or a container without `/run/udev`).
fn read_udev(path: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::MetricValue;

    const DISKSTATS: &str = " 254       0 vda 32627 5869 3181946 13566 24856 13415 3822888 9909 0 5580 24158 8383 36 758544 541 3807 139\n \
254       1 vda1 10 0 80 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n   \
7       0 loop0 1 0 2 0 0 0 0 0 0 0 0\n   \
8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n";

    fn collect(udev: Option<&str>) -> Vec<MetricFamily> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("diskstats"), DISKSTATS).unwrap();
        let udev_dir = dir.path().join("udev");
        std::fs::create_dir_all(&udev_dir).unwrap();
        if let Some(udev) = udev {
            std::fs::write(udev_dir.join("b254:0"), udev).unwrap();
        }
        let paths = HostPaths {
            procfs: dir.path().into(),
            udev_data: udev_dir,
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        build(&CollectorOptions::default())
            .collect(&paths, &mut out)
            .unwrap();
        out
    }

    fn find<'a>(out: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
        out.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn scales_and_filters() {
        let out = collect(None);
        let read = find(&out, "node_disk_read_bytes_total");
        assert_eq!(read.metrics.len(), 2, "vda1 and loop0 are excluded");
        assert_eq!(
            read.metrics[0].value,
            MetricValue::Simple(3181946.0 * 512.0)
        );
        let wt = find(&out, "node_disk_io_time_weighted_seconds_total");
        assert_eq!(wt.metrics[0].value, MetricValue::Simple(24.158));
        // sda has no discard or flush columns.
        assert_eq!(
            find(&out, "node_disk_flush_requests_total").metrics.len(),
            1
        );
        let info = find(&out, "node_disk_info");
        let names: Vec<&str> = info.metrics[0]
            .labels
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            names,
            ["device", "major", "minor", "model", "path", "revision", "serial", "wwn"]
        );
        assert!(out.iter().all(|f| f.name != "node_disk_filesystem_info"));
    }

    #[test]
    fn udev_properties() {
        let out = collect(Some(
            "S:disk/by-id/x\nE:ID_MODEL=QEMU_DISK\nE:ID_SERIAL_SHORT=abc\nE:ID_FS_TYPE=ext4\nE:ID_FS_UUID=1234\nE:ID_ATA_ROTATION_RATE_RPM=0\n",
        ));
        let info = find(&out, "node_disk_info");
        assert!(info.metrics[0]
            .labels
            .contains(&("model".to_string(), "QEMU_DISK".to_string())));
        let fs = find(&out, "node_disk_filesystem_info");
        assert_eq!(
            fs.metrics[0].labels[0],
            ("device".to_string(), "vda".to_string())
        );
        assert!(fs.metrics[0]
            .labels
            .contains(&("type".to_string(), "ext4".to_string())));
        assert_eq!(
            find(&out, "node_disk_ata_rotation_rate_rpm").metrics.len(),
            1
        );
    }

    #[test]
    fn include_filter_replaces_exclude() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("diskstats"), DISKSTATS).unwrap();
        let paths = HostPaths {
            procfs: dir.path().into(),
            udev_data: dir.path().join("none"),
            ..HostPaths::default()
        };
        let opts = CollectorOptions {
            diskstats_device_include: Some("^loop".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        build(&opts).collect(&paths, &mut out).unwrap();
        assert_eq!(out[0].metrics.len(), 1);
        assert_eq!(out[0].metrics[0].labels[0].1, "loop0");
    }

    #[test]
    fn rejects_bad_rows() {
        assert!(parse_line(" 8 0 sda 1 2 3\n", Path::new("d")).is_err());
        assert!(parse_line(" 8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n", Path::new("d")).is_err());
        assert!(parse_line(" 8 0\n", Path::new("d")).is_err());
        assert!(parse_line("   \n", Path::new("d")).unwrap().is_none());
    }
}
