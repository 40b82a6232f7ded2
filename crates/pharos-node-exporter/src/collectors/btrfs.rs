//! The `btrfs` collector: space allocation per block group type and layout, global reserve and
//! device sizes of each mounted btrfs filesystem, from `/sys/fs/btrfs/<uuid>`.
//!
//! Where a filesystem's mount point can be opened, per-device sizes, free space and error
//! counters come from btrfs ioctls (see [`ioctl`]), as in node_exporter 1.5; otherwise device
//! sizes come from sysfs.

mod ioctl;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use pharos_model::{MetricFamily, MetricType};

use super::host_source::{io_error, read_source_dir};
use super::sysfs_attrs::read_optional_attribute;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// The kernel reports device sizes in 512-byte sectors whatever the device's block size.
const SECTOR_SIZE: f64 = 512.0;

/// Block group types under `allocation/`.
const BLOCK_GROUP_TYPES: &[&str] = &["data", "metadata", "system"];

struct BtrfsCollector;

/// A numeric attribute; absent or empty reads as 0, as in node_exporter.
fn read_value(path: &Path) -> Result<f64, CollectError> {
    let raw = read_optional_attribute(path)?;
    if raw.is_empty() {
        return Ok(0.0);
    }
    raw.parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("invalid number {raw:?}"),
        })
}

/// Names of the entries of a directory that must exist, sorted.
fn list(dir: &Path, only_dirs: bool) -> Result<Vec<String>, CollectError> {
    let entries = fs::read_dir(dir).map_err(|source| io_error(dir, source))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| !only_dirs || e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// How many bytes of raw space one byte of data takes in a layout. Parity layouts depend on
/// the device count; unknown layouts report 0, as node_exporter does.
fn allocation_ratio(layout: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match layout {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        _ => 0.0,
    }
}

/// The families of one scrape.
struct Families {
    info: MetricFamily,
    global_rsv: MetricFamily,
    reserved: MetricFamily,
    used: MetricFamily,
    size: MetricFamily,
    ratio: MetricFamily,
    device_size: MetricFamily,
    device_unused: MetricFamily,
    device_errors: MetricFamily,
}

/// Error counter names of `BTRFS_IOC_GET_DEV_STATS`, in the kernel's order.
const DEVICE_ERROR_TYPES: [&str; 5] = ["write", "read", "flush", "corruption", "generation"];

impl Families {
    fn new() -> Self {
        let gauge = MetricType::Gauge;
        Families {
            info: MetricFamily::new("node_btrfs_info", "Filesystem information", gauge),
            global_rsv: MetricFamily::new(
                "node_btrfs_global_rsv_size_bytes",
                "Size of global reserve.",
                gauge,
            ),
            reserved: MetricFamily::new(
                "node_btrfs_reserved_bytes",
                "Amount of space reserved for a data type",
                gauge,
            ),
            used: MetricFamily::new(
                "node_btrfs_used_bytes",
                "Amount of used space by a layout/data type",
                gauge,
            ),
            size: MetricFamily::new(
                "node_btrfs_size_bytes",
                "Amount of space allocated for a layout/data type",
                gauge,
            ),
            ratio: MetricFamily::new(
                "node_btrfs_allocation_ratio",
                "Data allocation ratio for a layout/data type",
                gauge,
            ),
            device_size: MetricFamily::new(
                "node_btrfs_device_size_bytes",
                "Size of a device that is part of the filesystem.",
                gauge,
            ),
            device_unused: MetricFamily::new(
                "node_btrfs_device_unused_bytes",
                "Unused bytes unused on a device that is part of the filesystem.",
                gauge,
            ),
            device_errors: MetricFamily::new(
                "node_btrfs_device_errors_total",
                "Errors reported for the device",
                MetricType::Counter,
            ),
        }
    }

    fn into_vec(self) -> Vec<MetricFamily> {
        vec![
            self.info,
            self.global_rsv,
            self.reserved,
            self.used,
            self.size,
            self.ratio,
            self.device_size,
            self.device_unused,
            self.device_errors,
        ]
    }

    fn collect_filesystem(
        &mut self,
        dir: &Path,
        dir_name: &str,
        ioctl_stats: &HashMap<String, Vec<ioctl::DeviceStats>>,
    ) -> Result<(), CollectError> {
        let devices = list(&dir.join("devices"), false)?;
        let mut device_sizes = Vec::with_capacity(devices.len());
        for device in &devices {
            device_sizes.push(read_value(&dir.join("devices").join(device).join("size"))?);
        }
        let label = read_optional_attribute(&dir.join("label"))?;
        // Filesystems with a changed fsid keep the original in `metadata_uuid`.
        let mut uuid = read_optional_attribute(&dir.join("metadata_uuid"))?;
        if uuid.is_empty() {
            uuid = dir_name.to_string();
        }
        // node_exporter fails the filesystem when `features/` cannot be listed.
        list(&dir.join("features"), false)?;
        let allocation = dir.join("allocation");
        let global_rsv = read_value(&allocation.join("global_rsv_size"))?;

        let mut per_type = Vec::new();
        for group in BLOCK_GROUP_TYPES {
            let gdir = allocation.join(group);
            let reserved = read_value(&gdir.join("bytes_reserved"))?;
            let mut layouts = Vec::new();
            for layout in list(&gdir, true)? {
                let ldir = gdir.join(&layout);
                let used = read_value(&ldir.join("used_bytes"))?;
                let total = read_value(&ldir.join("total_bytes"))?;
                layouts.push((layout, used, total));
            }
            per_type.push((*group, reserved, layouts));
        }

        let uuid = uuid.as_str();
        self.info
            .push([("label", label.as_str()), ("uuid", uuid)], 1.0);
        self.global_rsv.push([("uuid", uuid)], global_rsv);
        for (group, reserved, layouts) in per_type {
            self.reserved
                .push([("block_group_type", group), ("uuid", uuid)], reserved);
            for (layout, used, total) in layouts {
                let labels = [
                    ("block_group_type", group),
                    ("mode", layout.as_str()),
                    ("uuid", uuid),
                ];
                self.used.push(labels, used);
                self.size.push(labels, total);
                self.ratio
                    .push(labels, allocation_ratio(&layout, devices.len()));
            }
        }
        // The ioctls report the filesystem id without dashes.
        let Some(ioctl_devices) = ioctl_stats.get(&uuid.replace('-', "")) else {
            for (device, sectors) in devices.iter().zip(device_sizes) {
                self.device_size.push(
                    [("device", device.as_str()), ("uuid", uuid)],
                    sectors * SECTOR_SIZE,
                );
            }
            return Ok(());
        };
        for dev in ioctl_devices {
            // `/dev/sda` and `/rootfs/dev/md1` are labelled `sda` and `md1`, as from sysfs.
            let device = dev.path.rsplit('/').next().unwrap_or(&dev.path);
            let labels = [
                ("btrfs_dev_uuid", dev.uuid.as_str()),
                ("device", device),
                ("uuid", uuid),
            ];
            self.device_size.push(labels, dev.total_bytes as f64);
            // Free space rather than used: large used values lose precision as floats, and
            // what matters is when little is left.
            self.device_unused
                .push(labels, dev.total_bytes.wrapping_sub(dev.bytes_used) as f64);
            for (kind, count) in DEVICE_ERROR_TYPES.iter().zip(dev.errors) {
                self.device_errors.push(
                    [
                        ("btrfs_dev_uuid", dev.uuid.as_str()),
                        ("device", device),
                        ("type", kind),
                        ("uuid", uuid),
                    ],
                    count as f64,
                );
            }
        }
        Ok(())
    }
}

impl Collector for BtrfsCollector {
    fn name(&self) -> &'static str {
        "btrfs"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let root = paths.sys("fs/btrfs");
        let entries = read_source_dir(&root)?;
        // Filesystems are named by UUID; `features/` beside them has no dash.
        let mut filesystems: Vec<(String, PathBuf)> = entries
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| name.contains('-'))
            .collect();
        filesystems.sort();
        let ioctl_stats = if filesystems.is_empty() {
            HashMap::new()
        } else {
            ioctl::filesystems(paths)
        };
        let mut families = Families::new();
        for (name, dir) in &filesystems {
            families.collect_filesystem(dir, name, &ioctl_stats)?;
        }
        out.extend(families.into_vec());
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(BtrfsCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{normalized_text, sysfs_host, write};
    use crate::merge::normalize;
    use pharos_model::write::write_text;

    const UUID: &str = "0abb23a9-579b-43e6-ad30-227ef47fcb9d";

    fn filesystem(root: &Path) -> PathBuf {
        let fs_dir = root.join("fs/btrfs").join(UUID);
        write(&fs_dir, "label", "fixture\n");
        write(&fs_dir.join("features"), "mixed_backref", "0\n");
        for dev in ["loop25", "loop26", "loop27"] {
            write(&fs_dir.join("devices").join(dev), "size", "20971520\n");
        }
        let alloc = fs_dir.join("allocation");
        write(&alloc, "global_rsv_size", "16777216\n");
        write(&alloc.join("data"), "bytes_reserved", "100\n");
        write(&alloc.join("data/raid5"), "total_bytes", "2097152\n");
        write(&alloc.join("data/raid5"), "used_bytes", "4096\n");
        write(&alloc.join("metadata/raid1"), "used_bytes", "8192\n");
        write(&alloc.join("system/dup"), "total_bytes", "65536\n");
        write(&root.join("fs/btrfs/features"), "raid56", "0\n");
        fs_dir
    }

    fn render(root: &Path) -> Result<String, CollectError> {
        // procfs too, so the host's real btrfs mounts stay out of the test.
        let paths = HostPaths {
            procfs: root.into(),
            ..sysfs_host(root)
        };
        normalized_text(build(&CollectorOptions::default()).as_ref(), &paths)
    }

    #[test]
    fn filesystem_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        filesystem(tmp.path());
        let text = render(tmp.path()).unwrap();
        let expected = r#"# HELP node_btrfs_allocation_ratio Data allocation ratio for a layout/data type
# TYPE node_btrfs_allocation_ratio gauge
node_btrfs_allocation_ratio{block_group_type="data",mode="raid5",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 1.5
node_btrfs_allocation_ratio{block_group_type="metadata",mode="raid1",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 2
node_btrfs_allocation_ratio{block_group_type="system",mode="dup",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 2
# HELP node_btrfs_device_size_bytes Size of a device that is part of the filesystem.
# TYPE node_btrfs_device_size_bytes gauge
node_btrfs_device_size_bytes{device="loop25",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 1.073741824e+10
node_btrfs_device_size_bytes{device="loop26",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 1.073741824e+10
node_btrfs_device_size_bytes{device="loop27",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 1.073741824e+10
# HELP node_btrfs_global_rsv_size_bytes Size of global reserve.
# TYPE node_btrfs_global_rsv_size_bytes gauge
node_btrfs_global_rsv_size_bytes{uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 1.6777216e+07
# HELP node_btrfs_info Filesystem information
# TYPE node_btrfs_info gauge
node_btrfs_info{label="fixture",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 1
# HELP node_btrfs_reserved_bytes Amount of space reserved for a data type
# TYPE node_btrfs_reserved_bytes gauge
node_btrfs_reserved_bytes{block_group_type="data",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 100
node_btrfs_reserved_bytes{block_group_type="metadata",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 0
node_btrfs_reserved_bytes{block_group_type="system",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 0
# HELP node_btrfs_size_bytes Amount of space allocated for a layout/data type
# TYPE node_btrfs_size_bytes gauge
node_btrfs_size_bytes{block_group_type="data",mode="raid5",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 2.097152e+06
node_btrfs_size_bytes{block_group_type="metadata",mode="raid1",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 0
node_btrfs_size_bytes{block_group_type="system",mode="dup",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 65536
# HELP node_btrfs_used_bytes Amount of used space by a layout/data type
# TYPE node_btrfs_used_bytes gauge
node_btrfs_used_bytes{block_group_type="data",mode="raid5",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 4096
node_btrfs_used_bytes{block_group_type="metadata",mode="raid1",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 8192
node_btrfs_used_bytes{block_group_type="system",mode="dup",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"} 0
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn ioctl_device_stats_replace_sysfs_sizes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = filesystem(tmp.path());
        let stats = HashMap::from([(
            UUID.replace('-', ""),
            vec![ioctl::DeviceStats {
                path: "/dev/loop25".into(),
                uuid: "9a1c0e4f-3b62-4f0e-8f43-1c2b3d4e5f60".into(),
                bytes_used: 1024,
                total_bytes: 4096,
                errors: [1, 2, 3, 4, 5],
            }],
        )]);
        let mut fams = Families::new();
        fams.collect_filesystem(&dir, UUID, &stats).unwrap();
        let mut text = String::new();
        write_text(&normalize(fams.into_vec()), &mut text);
        let dev = "btrfs_dev_uuid=\"9a1c0e4f-3b62-4f0e-8f43-1c2b3d4e5f60\",device=\"loop25\"";
        let fs = format!("uuid=\"{UUID}\"");
        for line in [
            "# HELP node_btrfs_device_errors_total Errors reported for the device\n# TYPE node_btrfs_device_errors_total counter\n".to_string(),
            format!("node_btrfs_device_errors_total{{{dev},type=\"corruption\",{fs}}} 4\n"),
            format!("node_btrfs_device_errors_total{{{dev},type=\"write\",{fs}}} 1\n"),
            format!("node_btrfs_device_size_bytes{{{dev},{fs}}} 4096\n"),
            format!("# HELP node_btrfs_device_unused_bytes Unused bytes unused on a device that is part of the filesystem.\n# TYPE node_btrfs_device_unused_bytes gauge\nnode_btrfs_device_unused_bytes{{{dev},{fs}}} 3072\n"),
        ] {
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
        assert_eq!(text.matches("node_btrfs_device_size_bytes{").count(), 1);
    }

    #[test]
    fn metadata_uuid_names_the_filesystem() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = filesystem(tmp.path());
        write(
            &dir,
            "metadata_uuid",
            "11111111-2222-3333-4444-555555555555\n",
        );
        let text = render(tmp.path()).unwrap();
        assert!(text.contains(
            "node_btrfs_info{label=\"fixture\",uuid=\"11111111-2222-3333-4444-555555555555\"} 1\n"
        ));
    }

    #[test]
    fn bad_numbers_and_missing_dirs_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = filesystem(tmp.path());
        write(&dir.join("devices/loop25"), "size", "big\n");
        let err = render(tmp.path()).unwrap_err();
        assert!(matches!(err, CollectError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("loop25/size"), "{err}");

        let tmp = tempfile::tempdir().unwrap();
        let dir = filesystem(tmp.path());
        fs::remove_dir_all(dir.join("allocation/metadata")).unwrap();
        let err = render(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("allocation/metadata"), "{err}");
    }

    #[test]
    fn absent_btrfs_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let err = render(tmp.path()).unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }
}
