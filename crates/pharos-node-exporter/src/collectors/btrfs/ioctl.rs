//! Per-device space and error counters of mounted btrfs filesystems, asked of the kernel with
//! the `BTRFS_IOC_FS_INFO`, `BTRFS_IOC_DEV_INFO` and `BTRFS_IOC_GET_DEV_STATS` ioctls on each
//! mount point (sysfs has no error counters).
//!
//! Every failure here is quiet: node_exporter then reports device sizes from sysfs instead,
//! and so does the caller.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::collector::HostPaths;

/// `BTRFS_SUPER_MAGIC`, the `f_type` statfs reports for btrfs.
const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;
/// The inode number of every subvolume's root directory (`BTRFS_FIRST_FREE_OBJECTID`).
const SUBVOLUME_ROOT_INODE: u64 = 256;
/// How many error counters `BTRFS_IOC_GET_DEV_STATS` knows (`BTRFS_DEV_STAT_VALUES_MAX`).
const DEV_STAT_VALUES: usize = 5;

/// `struct btrfs_ioctl_fs_info_args` up to the fsid; the kernel's struct is 1 KiB.
#[repr(C)]
struct FsInfoArgs {
    max_id: u64,
    num_devices: u64,
    fsid: [u8; 16],
    rest: [u8; 992],
}

/// `struct btrfs_ioctl_dev_info_args` (4 KiB).
#[repr(C)]
struct DevInfoArgs {
    devid: u64,
    uuid: [u8; 16],
    bytes_used: u64,
    total_bytes: u64,
    unused: [u64; 379],
    path: [u8; 1024],
}

/// `struct btrfs_ioctl_get_dev_stats` (1 KiB + 8 bytes).
#[repr(C)]
struct GetDevStatsArgs {
    devid: u64,
    nr_items: u64,
    flags: u64,
    values: [u64; DEV_STAT_VALUES],
    unused: [u64; 121],
}

const _: () = assert!(std::mem::size_of::<FsInfoArgs>() == 1024);
const _: () = assert!(std::mem::size_of::<DevInfoArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<GetDevStatsArgs>() == 1032);

/// `_IOC(dir, 0x94, nr, size)` as the kernel's `<asm-generic/ioctl.h>` encodes it.
const fn btrfs_ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (0x94 << 8) | nr
}
const IOC_READ: u64 = 2;
const IOC_READ_WRITE: u64 = 3;
const BTRFS_IOC_FS_INFO: u64 = btrfs_ioc(IOC_READ, 31, std::mem::size_of::<FsInfoArgs>());
const BTRFS_IOC_DEV_INFO: u64 = btrfs_ioc(IOC_READ_WRITE, 30, std::mem::size_of::<DevInfoArgs>());
const BTRFS_IOC_GET_DEV_STATS: u64 =
    btrfs_ioc(IOC_READ_WRITE, 52, std::mem::size_of::<GetDevStatsArgs>());

/// One device of a filesystem as the ioctls describe it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct DeviceStats {
    /// The device node the filesystem was opened with, e.g. `/dev/sda2`.
    pub path: String,
    /// The btrfs device UUID in its dashed form.
    pub uuid: String,
    /// Bytes allocated to chunks on the device.
    pub bytes_used: u64,
    /// The device's size as btrfs uses it.
    pub total_bytes: u64,
    /// Write, read, flush, corruption and generation errors, in that order.
    pub errors: [u64; DEV_STAT_VALUES],
}

/// A btrfs mount from the mount table.
#[derive(Debug, PartialEq)]
pub(super) struct BtrfsMount {
    /// The mounted device, which identifies the filesystem across bind mounts.
    pub device: String,
    /// Where it is mounted, escapes decoded.
    pub mount_point: String,
}

/// The btrfs entries of a mount table (fstab(5) format, with `\040` and `\011` escapes in
/// the mount point); `None` when a line is malformed, in which case node_exporter gives up.
pub(super) fn btrfs_mounts(table: &str) -> Option<Vec<BtrfsMount>> {
    let mut out = Vec::new();
    for line in table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(device), Some(mount_point), Some(fs_type), Some(_)) =
            (fields.first(), fields.get(1), fields.get(2), fields.get(3))
        else {
            return None;
        };
        if *fs_type == "btrfs" {
            out.push(BtrfsMount {
                device: (*device).to_string(),
                mount_point: mount_point.replace("\\040", " ").replace("\\011", "\t"),
            });
        }
    }
    Some(out)
}

/// Device stats of every btrfs filesystem reachable through a mount point, keyed by the
/// filesystem id in undashed hex.
pub(super) fn filesystems(paths: &HostPaths) -> HashMap<String, Vec<DeviceStats>> {
    let mut by_fsid = HashMap::new();
    // With hidepid, PID 1 is invisible; this process's view is the fallback.
    let table = fs::read_to_string(paths.proc("1/mounts"))
        .or_else(|_| fs::read_to_string(paths.proc("mounts")));
    let Some(mounts) = table.ok().as_deref().and_then(btrfs_mounts) else {
        return by_fsid;
    };
    let mut devices_done = HashSet::new();
    for mount in mounts {
        if devices_done.contains(&mount.device) {
            continue;
        }
        let path = under_rootfs(&paths.rootfs, &mount.mount_point);
        let Some(file) = open_subvolume(&path) else {
            tracing::debug!(mount = %path.display(), "cannot open btrfs mount point");
            continue;
        };
        let Some((fsid, max_id, num_devices)) = fs_info(&file) else {
            continue;
        };
        if by_fsid.contains_key(&fsid) {
            continue;
        }
        let Some(devices) = device_stats(&file, max_id, num_devices) else {
            continue;
        };
        devices_done.insert(mount.device);
        by_fsid.insert(fsid, devices);
    }
    by_fsid
}

fn under_rootfs(rootfs: &Path, mount_point: &str) -> PathBuf {
    rootfs.join(mount_point.trim_start_matches('/'))
}

/// Opens the root of a subvolume the way node_exporter's btrfs library does (read-only,
/// without updating access times); other directories are refused.
fn open_subvolume(path: &Path) -> Option<File> {
    let meta = fs::metadata(path).ok()?;
    if !meta.is_dir() || meta.ino() != SUBVOLUME_ROOT_INODE {
        return None;
    }
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs only writes into the zero-initialised struct we own, and c_path is a
    // NUL-terminated string that outlives the call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    if st.f_type as i64 != BTRFS_SUPER_MAGIC {
        return None;
    }
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path)
        .ok()
}

/// Issues one btrfs ioctl whose argument struct the kernel reads and fills in.
fn ioctl<T>(file: &File, request: u64, args: &mut T) -> std::io::Result<()> {
    // SAFETY: `args` is a live, exclusively borrowed #[repr(C)] struct whose size is encoded in
    // `request`, so the kernel reads and writes only memory we own.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request as _, args as *mut T) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `8-4-4-4-12` hex, as btrfs tools print device UUIDs.
fn dashed_uuid(bytes: &[u8; 16]) -> String {
    if bytes.iter().all(|b| *b == 0) {
        return "<zero>".into();
    }
    let h = hex(bytes);
    let part = |r: std::ops::Range<usize>| h.get(r).unwrap_or("");
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

fn fs_info(file: &File) -> Option<(String, u64, u64)> {
    let mut args = FsInfoArgs {
        max_id: 0,
        num_devices: 0,
        fsid: [0; 16],
        rest: [0; 992],
    };
    ioctl(file, BTRFS_IOC_FS_INFO, &mut args).ok()?;
    Some((hex(&args.fsid), args.max_id, args.num_devices))
}

/// Devices with ids `0..=max_id`; ids have gaps (removed devices), which the kernel reports as
/// `ENODEV`. Any other failure drops the whole filesystem.
fn device_stats(file: &File, max_id: u64, num_devices: u64) -> Option<Vec<DeviceStats>> {
    let mut devices = Vec::new();
    for devid in 0..=max_id {
        let mut info = DevInfoArgs {
            devid,
            uuid: [0; 16],
            bytes_used: 0,
            total_bytes: 0,
            unused: [0; 379],
            path: [0; 1024],
        };
        match ioctl(file, BTRFS_IOC_DEV_INFO, &mut info) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => continue,
            Err(_) => return None,
        }
        let mut stats = GetDevStatsArgs {
            devid,
            nr_items: DEV_STAT_VALUES as u64,
            flags: 0,
            values: [0; DEV_STAT_VALUES],
            unused: [0; 121],
        };
        ioctl(file, BTRFS_IOC_GET_DEV_STATS, &mut stats).ok()?;
        let path_len = info
            .path
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(info.path.len());
        devices.push(DeviceStats {
            path: String::from_utf8_lossy(info.path.get(..path_len).unwrap_or(&[])).into_owned(),
            uuid: dashed_uuid(&info.uuid),
            bytes_used: info.bytes_used,
            total_bytes: info.total_bytes,
            errors: stats.values,
        });
        if devices.len() as u64 == num_devices {
            break;
        }
    }
    Some(devices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::procfs_host;

    #[test]
    fn ioctl_numbers_match_the_kernel_headers() {
        assert_eq!(BTRFS_IOC_FS_INFO, 0x8400_941f);
        assert_eq!(BTRFS_IOC_DEV_INFO, 0xd000_941e);
        assert_eq!(BTRFS_IOC_GET_DEV_STATS, 0xc408_9434);
    }

    #[test]
    fn mount_table_btrfs_entries() {
        let table = "/dev/sda2 / ext4 rw,relatime 0 0\n\
                     /dev/sdb1 /srv/my\\040data btrfs rw,relatime,space_cache 0 0\n\
                     proc /proc proc rw 0 0\n";
        assert_eq!(
            btrfs_mounts(table),
            Some(vec![BtrfsMount {
                device: "/dev/sdb1".into(),
                mount_point: "/srv/my data".into(),
            }])
        );
        assert_eq!(btrfs_mounts("/dev/sdb1 /srv\n"), None);
    }

    #[test]
    fn uuids_print_like_btrfs_tools() {
        let bytes: [u8; 16] = [
            0x0a, 0xbb, 0x23, 0xa9, 0x57, 0x9b, 0x43, 0xe6, 0xad, 0x30, 0x22, 0x7e, 0xf4, 0x7f,
            0xcb, 0x9d,
        ];
        assert_eq!(dashed_uuid(&bytes), "0abb23a9-579b-43e6-ad30-227ef47fcb9d");
        assert_eq!(hex(&bytes), "0abb23a9579b43e6ad30227ef47fcb9d");
        assert_eq!(dashed_uuid(&[0; 16]), "<zero>");
    }

    #[test]
    fn no_mount_table_means_no_ioctl_stats() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = procfs_host(tmp.path());
        assert!(filesystems(&paths).is_empty());
    }
}
