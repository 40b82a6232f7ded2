//! Parsing of the mount table (`/proc/1/mounts`, the fstab(5) format).

use std::path::Path;

use crate::collector::CollectError;

/// One mounted filesystem as node_exporter labels it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Mount {
    /// The mounted device or pseudo-source (`/dev/vda`, `tmpfs`).
    pub device: String,
    /// Where it is mounted, relative to `--path.rootfs`.
    pub mount_point: String,
    /// Filesystem type (`ext4`).
    pub fs_type: String,
    /// Whether the `ro` option is set.
    pub read_only: bool,
}

/// Parses the mount table, turning the `\040` and `\011` escapes of mount points back into
/// space and tab, and stripping `rootfs` from mount points under it.
pub(super) fn parse_mounts(
    text: &str,
    path: &Path,
    rootfs: &Path,
) -> Result<Vec<Mount>, CollectError> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [device, mount_point, fs_type, options, ..] = fields.as_slice() else {
            return Err(CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("malformed mount point information: {line:?}"),
            });
        };
        let mount_point = mount_point.replace("\\040", " ").replace("\\011", "\t");
        mounts.push(Mount {
            device: device.to_string(),
            mount_point: strip_rootfs(&mount_point, rootfs),
            fs_type: fs_type.to_string(),
            read_only: options.split(',').any(|o| o == "ro"),
        });
    }
    Ok(mounts)
}

/// node_exporter reports mount points as seen from the host's root when it runs with
/// `--path.rootfs` (e.g. `/host` in a container).
fn strip_rootfs(mount_point: &str, rootfs: &Path) -> String {
    let Some(root) = rootfs
        .to_str()
        .map(|r| r.trim_end_matches('/'))
        .filter(|r| !r.is_empty())
    else {
        return mount_point.to_string();
    };
    match mount_point.strip_prefix(root) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => mount_point.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes() {
        let text =
            "/dev/vda / ext4 rw,relatime 0 0\n/dev/sdb /mnt/my\\040disk vfat ro,nosuid 0 0\n";
        let mounts = parse_mounts(text, Path::new("mounts"), Path::new("/")).unwrap();
        assert_eq!(mounts[0].mount_point, "/");
        assert!(!mounts[0].read_only);
        assert_eq!(mounts[1].mount_point, "/mnt/my disk");
        assert!(mounts[1].read_only);
    }

    #[test]
    fn strips_rootfs() {
        assert_eq!(strip_rootfs("/host/var", Path::new("/host")), "/var");
        assert_eq!(strip_rootfs("/host", Path::new("/host/")), "/");
        assert_eq!(strip_rootfs("/hostile", Path::new("/host")), "/hostile");
        assert_eq!(strip_rootfs("/var", Path::new("/")), "/var");
    }

    #[test]
    fn rejects_short_lines() {
        assert!(parse_mounts("/dev/vda /\n", Path::new("mounts"), Path::new("/")).is_err());
    }
}
