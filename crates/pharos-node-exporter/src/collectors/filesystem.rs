//! The `filesystem` collector: size, free space and inodes of mounted filesystems via
//! statfs(2), with a per-mount timeout so a hung network mount cannot hang the scrape.

mod mounts;

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use pharos_model::{MetricFamily, MetricType};
use regex::Regex;

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;
use mounts::{parse_mounts, Mount};

/// node_exporter's default `--collector.filesystem.mount-points-exclude`.
const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter's default `--collector.filesystem.fs-types-exclude`: pseudo filesystems.
const DEFAULT_FS_TYPES_EXCLUDE: &str = r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// node_exporter's default `--collector.filesystem.mount-timeout`.
const DEFAULT_MOUNT_TIMEOUT: Duration = Duration::from_secs(5);
/// statfs needs next to no stack; small stacks keep a thread per mount cheap.
const STATFS_THREAD_STACK: usize = 64 * 1024;

/// The numbers statfs gives for one filesystem, already in bytes where applicable.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Usage {
    size: f64,
    free: f64,
    avail: f64,
    files: f64,
    files_free: f64,
}

struct Filters {
    mount_points: Regex,
    fs_types: Regex,
}

struct FilesystemCollector {
    /// The compiled filters, or why a flag was rejected.
    filters: Result<Filters, String>,
    timeout: Duration,
    /// Mount points whose statfs is still blocked from an earlier scrape; they are reported as
    /// errors without another call until that call returns.
    stuck: Arc<Mutex<HashSet<PathBuf>>>,
    /// The statfs call; replaceable so tests can simulate a hung mount.
    stat: fn(&Path) -> std::io::Result<Usage>,
}

impl Collector for FilesystemCollector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let filters = self
            .filters
            .as_ref()
            .map_err(|reason| CollectError::Parse {
                path: "--collector.filesystem.*-exclude".into(),
                reason: reason.clone(),
            })?;
        let mut path = paths.proc("1/mounts");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // With hidepid, PID 1 is invisible; fall back to this process's view.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                path = paths.proc("mounts");
                std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
                    path: path.clone(),
                    source,
                })?
            }
            Err(source) => return Err(CollectError::Io { path, source }),
        };
        let mut seen = HashSet::new();
        let mounts: Vec<Mount> = parse_mounts(&text, &path, &paths.rootfs)?
            .into_iter()
            .filter(|m| {
                !filters.mount_points.is_match(&m.mount_point)
                    && !filters.fs_types.is_match(&m.fs_type)
            })
            .filter(|m| seen.insert((m.device.clone(), m.mount_point.clone(), m.fs_type.clone())))
            .collect();
        let usages = self.stat_all(&paths.rootfs, &mounts);
        emit(&mounts, &usages, out);
        Ok(())
    }
}

impl FilesystemCollector {
    /// Runs statfs on every mount in parallel, giving up on any that takes longer than the
    /// timeout. `None` means the mount is reported with `device_error` 1.
    fn stat_all(&self, rootfs: &Path, mounts: &[Mount]) -> Vec<Option<Usage>> {
        let mut pending = Vec::with_capacity(mounts.len());
        for mount in mounts {
            let target = rootfs.join(mount.mount_point.trim_start_matches('/'));
            if lock(&self.stuck).contains(&target) {
                tracing::debug!(mountpoint = %mount.mount_point, "mount point is in an unresponsive state, skipping");
                pending.push(None);
                continue;
            }
            let (tx, rx) = mpsc::channel();
            let stuck = Arc::clone(&self.stuck);
            let thread_target = target.clone();
            let stat = self.stat;
            let spawned = std::thread::Builder::new()
                .name("statfs".into())
                .stack_size(STATFS_THREAD_STACK)
                .spawn(move || {
                    let result = stat(&thread_target);
                    // The receiver may have given up; the result is then simply dropped.
                    let _ = tx.send(result);
                    lock(&stuck).remove(&thread_target);
                });
            match spawned {
                Ok(_) => pending.push(Some((target, rx))),
                Err(e) => {
                    tracing::warn!(mountpoint = %mount.mount_point, error = %e, "cannot start statfs thread");
                    pending.push(None);
                }
            }
        }
        let deadline = Instant::now() + self.timeout;
        pending
            .into_iter()
            .zip(mounts)
            .map(|(pending, mount)| {
                let (target, rx) = pending?;
                let result = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(result) => result,
                    Err(_) => {
                        let mut stuck = lock(&self.stuck);
                        // Checked again under the lock so a call finishing right now is not
                        // marked stuck forever.
                        match rx.try_recv() {
                            Ok(result) => result,
                            Err(_) => {
                                stuck.insert(target);
                                tracing::warn!(mountpoint = %mount.mount_point, timeout = ?self.timeout, "statfs timed out, marking mount point as stuck");
                                return None;
                            }
                        }
                    }
                };
                result
                    .map_err(|e| tracing::debug!(mountpoint = %mount.mount_point, error = %e, "statfs failed"))
                    .ok()
            })
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Builds the collector, compiling the filters once.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    let compile = |flag: &str, given: &Option<String>, default: &str| {
        let pattern = given.as_deref().unwrap_or(default);
        Regex::new(pattern).map_err(|e| format!("{flag}: invalid regex {pattern:?}: {e}"))
    };
    let filters = compile(
        "--collector.filesystem.mount-points-exclude",
        &opts.filesystem_mount_points_exclude,
        DEFAULT_MOUNT_POINTS_EXCLUDE,
    )
    .and_then(|mount_points| {
        compile(
            "--collector.filesystem.fs-types-exclude",
            &opts.filesystem_fs_types_exclude,
            DEFAULT_FS_TYPES_EXCLUDE,
        )
        .map(|fs_types| Filters {
            mount_points,
            fs_types,
        })
    });
    if let Err(reason) = &filters {
        tracing::error!(collector = "filesystem", %reason, "bad filter");
    }
    Box::new(FilesystemCollector {
        filters,
        timeout: opts
            .filesystem_mount_timeout
            .unwrap_or(DEFAULT_MOUNT_TIMEOUT),
        stuck: Arc::new(Mutex::new(HashSet::new())),
        stat: statfs,
    })
}

fn statfs(path: &Path) -> std::io::Result<Usage> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "mount point contains NUL")
    })?;
    // SAFETY: statfs is plain old data.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `buf` is a valid, writable statfs.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut buf) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = buf.f_bsize as f64;
    Ok(Usage {
        size: buf.f_blocks as f64 * block,
        free: buf.f_bfree as f64 * block,
        avail: buf.f_bavail as f64 * block,
        files: buf.f_files as f64,
        files_free: buf.f_ffree as f64,
    })
}

fn emit(mounts: &[Mount], usages: &[Option<Usage>], out: &mut Vec<MetricFamily>) {
    let gauge = |name: &str, help: &str| MetricFamily::new(name, help, MetricType::Gauge);
    let mut size = gauge("node_filesystem_size_bytes", "Filesystem size in bytes.");
    let mut free = gauge(
        "node_filesystem_free_bytes",
        "Filesystem free space in bytes.",
    );
    let mut avail = gauge(
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
    );
    let mut files = gauge("node_filesystem_files", "Filesystem total file nodes.");
    let mut files_free = gauge(
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
    );
    let mut readonly = gauge("node_filesystem_readonly", "Filesystem read-only status.");
    let mut device_error = gauge(
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
    );
    for (mount, usage) in mounts.iter().zip(usages) {
        let labels = [
            ("device", mount.device.as_str()),
            ("fstype", mount.fs_type.as_str()),
            ("mountpoint", mount.mount_point.as_str()),
        ];
        device_error.push(labels, if usage.is_some() { 0.0 } else { 1.0 });
        // node_exporter reports nothing but the error for a mount it could not stat.
        let Some(usage) = usage else { continue };
        readonly.push(labels, if mount.read_only { 1.0 } else { 0.0 });
        size.push(labels, usage.size);
        free.push(labels, usage.free);
        avail.push(labels, usage.avail);
        files.push(labels, usage.files);
        files_free.push(labels, usage.files_free);
    }
    out.extend([size, free, avail, files, files_free, readonly, device_error]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_with(mounts: &str, rootfs: &Path) -> Vec<MetricFamily> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("1")).unwrap();
        std::fs::write(dir.path().join("1/mounts"), mounts).unwrap();
        let paths = HostPaths {
            procfs: dir.path().into(),
            rootfs: rootfs.into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        build(&CollectorOptions::default())
            .collect(&paths, &mut out)
            .unwrap();
        out
    }

    #[test]
    fn stats_real_paths_and_filters_pseudo_filesystems() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("data")).unwrap();
        let out = collect_with(
            "/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\ntmpfs /data tmpfs ro 0 0\n/dev/vda / ext4 rw 0 0\n/dev/x /gone ext4 rw 0 0\n",
            root.path(),
        );
        let size = &out[0];
        assert_eq!(size.name, "node_filesystem_size_bytes");
        assert_eq!(
            size.metrics.len(),
            2,
            "proc filtered, duplicate dropped, /gone failed"
        );
        let ro = out
            .iter()
            .find(|f| f.name == "node_filesystem_readonly")
            .unwrap();
        assert_eq!(ro.metrics[1].value, pharos_model::MetricValue::Simple(1.0));
        let err = out
            .iter()
            .find(|f| f.name == "node_filesystem_device_error")
            .unwrap();
        assert_eq!(err.metrics.len(), 3);
        assert_eq!(err.metrics[2].value, pharos_model::MetricValue::Simple(1.0));
        assert_eq!(
            err.metrics[2].labels,
            vec![
                ("device".to_string(), "/dev/x".to_string()),
                ("fstype".to_string(), "ext4".to_string()),
                ("mountpoint".to_string(), "/gone".to_string())
            ]
        );
    }

    #[test]
    fn stuck_mounts_are_skipped_until_released() {
        let c = FilesystemCollector {
            filters: Err(String::new()),
            timeout: Duration::from_millis(10),
            stuck: Arc::new(Mutex::new(HashSet::new())),
            stat: statfs,
        };
        let root = tempfile::tempdir().unwrap();
        let mount = Mount {
            device: "d".into(),
            mount_point: "/".into(),
            fs_type: "ext4".into(),
            read_only: false,
        };
        lock(&c.stuck).insert(root.path().to_path_buf());
        assert_eq!(
            c.stat_all(root.path(), std::slice::from_ref(&mount)),
            vec![None]
        );
        lock(&c.stuck).clear();
        assert!(c.stat_all(root.path(), &[mount])[0].is_some());
    }

    #[test]
    fn hung_statfs_times_out_and_recovers() {
        fn slow(_: &Path) -> std::io::Result<Usage> {
            std::thread::sleep(Duration::from_millis(300));
            Ok(Usage {
                size: 1.0,
                free: 1.0,
                avail: 1.0,
                files: 1.0,
                files_free: 1.0,
            })
        }
        let c = FilesystemCollector {
            filters: Err(String::new()),
            timeout: Duration::from_millis(20),
            stuck: Arc::new(Mutex::new(HashSet::new())),
            stat: slow,
        };
        let mount = Mount {
            device: "nfs".into(),
            mount_point: "/net".into(),
            fs_type: "nfs".into(),
            read_only: false,
        };
        let root = Path::new("/");
        assert_eq!(c.stat_all(root, std::slice::from_ref(&mount)), vec![None]);
        assert!(lock(&c.stuck).contains(Path::new("/net")));
        // Once the blocked call returns, the mount is tried again.
        for _ in 0..100 {
            if lock(&c.stuck).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(lock(&c.stuck).is_empty());
    }

    #[test]
    fn bad_flag_is_reported() {
        let c = build(&CollectorOptions {
            filesystem_fs_types_exclude: Some("[".into()),
            ..Default::default()
        });
        assert!(c.collect(&HostPaths::default(), &mut Vec::new()).is_err());
    }
}
