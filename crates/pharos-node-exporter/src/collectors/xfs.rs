//! The `xfs` collector: per-filesystem XFS statistics from `/sys/fs/xfs/<device>/stats/stats`.
//!
//! Like node_exporter, only the per-device files are read; the host-wide totals in
//! `/proc/fs/xfs/stat` (also `/sys/fs/xfs/stats/stats`) would double count.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_dir;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// Exported counters: (stats line, position on it, metric name suffix, HELP).
const METRICS: &[(&str, usize, &str, &str)] = &[
    ("extent_alloc", 0, "extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem."),
    ("extent_alloc", 1, "extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem."),
    ("extent_alloc", 2, "extent_allocation_extents_freed_total", "Number of extents freed for a filesystem."),
    ("extent_alloc", 3, "extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem."),
    ("abt", 0, "allocation_btree_lookups_total", "Number of allocation B-tree lookups for a filesystem."),
    ("abt", 1, "allocation_btree_compares_total", "Number of allocation B-tree compares for a filesystem."),
    ("abt", 2, "allocation_btree_records_inserted_total", "Number of allocation B-tree records inserted for a filesystem."),
    ("abt", 3, "allocation_btree_records_deleted_total", "Number of allocation B-tree records deleted for a filesystem."),
    ("blk_map", 0, "block_mapping_reads_total", "Number of block map for read operations for a filesystem."),
    ("blk_map", 1, "block_mapping_writes_total", "Number of block map for write operations for a filesystem."),
    ("blk_map", 2, "block_mapping_unmaps_total", "Number of block unmaps (deletes) for a filesystem."),
    ("blk_map", 3, "block_mapping_extent_list_insertions_total", "Number of extent list insertions for a filesystem."),
    ("blk_map", 4, "block_mapping_extent_list_deletions_total", "Number of extent list deletions for a filesystem."),
    ("blk_map", 5, "block_mapping_extent_list_lookups_total", "Number of extent list lookups for a filesystem."),
    ("blk_map", 6, "block_mapping_extent_list_compares_total", "Number of extent list compares for a filesystem."),
    ("bmbt", 0, "block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem."),
    ("bmbt", 1, "block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem."),
    ("bmbt", 2, "block_map_btree_records_inserted_total", "Number of block map B-tree records inserted for a filesystem."),
    ("bmbt", 3, "block_map_btree_records_deleted_total", "Number of block map B-tree records deleted for a filesystem."),
    ("dir", 0, "directory_operation_lookup_total", "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
    ("dir", 1, "directory_operation_create_total", "Number of times a new directory entry was created for a filesystem."),
    ("dir", 2, "directory_operation_remove_total", "Number of times an existing directory entry was created for a filesystem."),
    ("dir", 3, "directory_operation_getdents_total", "Number of times the directory getdents operation was performed for a filesystem."),
    ("ig", 0, "inode_operation_attempts_total", "Number of times the OS looked for an XFS inode in the inode cache."),
    ("ig", 1, "inode_operation_found_total", "Number of times the OS looked for and found an XFS inode in the inode cache."),
    ("ig", 2, "inode_operation_recycled_total", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled."),
    ("ig", 3, "inode_operation_missed_total", "Number of times the OS looked for an XFS inode in the cache, but did not find it."),
    ("ig", 4, "inode_operation_duplicates_total", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process."),
    ("ig", 5, "inode_operation_reclaims_total", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose."),
    ("ig", 6, "inode_operation_attribute_changes_total", "Number of times the OS explicitly changed the attributes of an XFS inode."),
    ("rw", 0, "write_calls_total", "Number of write(2) system calls made to files in a filesystem."),
    ("rw", 1, "read_calls_total", "Number of read(2) system calls made to files in a filesystem."),
    ("vnodes", 0, "vnode_active_total", "Number of vnodes not on free lists for a filesystem."),
    ("vnodes", 1, "vnode_allocate_total", "Number of times vn_alloc called for a filesystem."),
    ("vnodes", 2, "vnode_get_total", "Number of times vn_get called for a filesystem."),
    ("vnodes", 3, "vnode_hold_total", "Number of times vn_hold called for a filesystem."),
    ("vnodes", 4, "vnode_release_total", "Number of times vn_rele called for a filesystem."),
    ("vnodes", 5, "vnode_reclaim_total", "Number of times vn_reclaim called for a filesystem."),
    ("vnodes", 6, "vnode_remove_total", "Number of times vn_remove called for a filesystem."),
];

/// How many values a known line must carry; node_exporter rejects a file otherwise.
fn expected_len(label: &str) -> Option<&'static [usize]> {
    Some(match label {
        "extent_alloc" | "abt" | "bmbt" | "dir" | "attr" => &[4],
        "blk_map" | "ig" => &[7],
        "trans" | "icluster" | "xpc" => &[3],
        "log" => &[5],
        "rw" => &[2],
        // Older kernels print no `free` count.
        "vnodes" => &[7, 8],
        "buf" => &[9],
        _ => return None,
    })
}

struct XfsCollector;

/// One stats file as line label -> values. Every counter but the extended-precision `xpc`
/// line is 32 bits wide in the kernel, so a wider value means a corrupt file.
fn parse_stats(text: &str, path: &Path) -> Result<HashMap<String, Vec<u64>>, CollectError> {
    let mut lines = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some((label, rest)) = fields.split_first() else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        let bad = |reason: String| CollectError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let values = rest
            .iter()
            .map(|f| {
                if *label == "xpc" {
                    f.parse::<u64>().ok()
                } else {
                    f.parse::<u32>().ok().map(u64::from)
                }
            })
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| bad(format!("invalid number in line {line:?}")))?;
        if let Some(lens) = expected_len(label) {
            if !lens.contains(&values.len()) {
                return Err(bad(format!(
                    "{label} has {} values, expected {lens:?}",
                    values.len()
                )));
            }
        }
        lines.insert((*label).to_string(), values);
    }
    Ok(lines)
}

impl Collector for XfsCollector {
    fn name(&self) -> &'static str {
        "xfs"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let root = paths.sys("fs/xfs");
        let entries = read_source_dir(&root)?;
        let mut devices: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| root.join(name).join("stats/stats").is_file())
            .collect();
        devices.sort();
        if devices.is_empty() {
            return Err(CollectError::NotPresent(format!(
                "{}/*/stats/stats",
                root.display()
            )));
        }
        let mut families: Vec<MetricFamily> = METRICS
            .iter()
            .map(|(_, _, name, help)| {
                MetricFamily::new(format!("node_xfs_{name}"), *help, MetricType::Counter)
            })
            .collect();
        for device in &devices {
            let path = root.join(device).join("stats/stats");
            let text = fs::read_to_string(&path).map_err(|source| CollectError::Io {
                path: path.clone(),
                source,
            })?;
            let lines = parse_stats(&text, &path)?;
            for ((label, at, _, _), family) in METRICS.iter().zip(families.iter_mut()) {
                // A line the kernel does not print reads as 0, as in node_exporter.
                let value = lines
                    .get(*label)
                    .and_then(|v| v.get(*at))
                    .copied()
                    .unwrap_or(0);
                family.push([("device", device.as_str())], value as f64);
            }
        }
        out.extend(families);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(XfsCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{normalized_text, sysfs_host, write};

    fn render(root: &Path) -> Result<String, CollectError> {
        normalized_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(root),
        )
    }

    const SAMPLE: &str = "extent_alloc 1 2 3 4
abt 5 6 7 8
blk_map 9 10 11 12 13 14 15
bmbt 16 17 18 19
dir 20 21 22 23
trans 706 944304 0
ig 24 25 26 27 28 29 30
log 2883 113448 9 17360 739
push_ail 945014 0 134260 15483 0 3940 464 159985 0 40
rw 31 32
vnodes 33 34 35 36 37 38 39 0
buf 2666287 7122 2659202 3599 2 7085 0 10297 7085
xpc 399724544 92823103 86219234
debug 0
";

    #[test]
    fn per_device_counters_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("fs/xfs/sda1/stats"), "stats", SAMPLE);
        // The host-wide file sits one level up and is not a device.
        write(&tmp.path().join("fs/xfs/stats"), "stats", SAMPLE);
        let text = render(tmp.path()).unwrap();
        let head = r#"# HELP node_xfs_allocation_btree_compares_total Number of allocation B-tree compares for a filesystem.
# TYPE node_xfs_allocation_btree_compares_total counter
node_xfs_allocation_btree_compares_total{device="sda1"} 6
# HELP node_xfs_allocation_btree_lookups_total Number of allocation B-tree lookups for a filesystem.
# TYPE node_xfs_allocation_btree_lookups_total counter
node_xfs_allocation_btree_lookups_total{device="sda1"} 5
"#;
        assert!(text.starts_with(head), "{text}");
        for line in [
            "node_xfs_read_calls_total{device=\"sda1\"} 32\n",
            "node_xfs_write_calls_total{device=\"sda1\"} 31\n",
            "node_xfs_vnode_remove_total{device=\"sda1\"} 39\n",
            "node_xfs_inode_operation_attribute_changes_total{device=\"sda1\"} 30\n",
            "node_xfs_block_mapping_extent_list_compares_total{device=\"sda1\"} 15\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(text.matches("{device=\"sda1\"}").count(), METRICS.len());
        assert!(!text.contains("device=\"stats\""));
    }

    #[test]
    fn malformed_stats_name_the_file() {
        for bad in ["rw 1\n", "abt 1 2 x 4\n", "dir 1 2 3 4294967296\n"] {
            let tmp = tempfile::tempdir().unwrap();
            write(&tmp.path().join("fs/xfs/dm-0/stats"), "stats", bad);
            let err = render(tmp.path()).unwrap_err();
            assert!(matches!(err, CollectError::Parse { .. }), "{bad:?}: {err}");
            assert!(err.to_string().contains("dm-0/stats/stats"), "{err}");
        }
    }

    #[test]
    fn absent_xfs_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let err = render(tmp.path()).unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
        // The module loaded but no XFS filesystem mounted.
        write(&tmp.path().join("fs/xfs/stats"), "stats", SAMPLE);
        let err = render(tmp.path()).unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }
}
