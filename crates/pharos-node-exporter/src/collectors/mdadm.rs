//! The `mdadm` collector: Linux software RAID state from `/proc/mdstat`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};
use regex::Regex;

use super::host_source::read_source_file;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct MdadmCollector {
    patterns: Result<Patterns, String>,
}

struct Patterns {
    /// `<blocks> blocks ... [<total>/<active>] [UU_]`.
    status: Regex,
    /// `(<synced>/<total>)` in a recovery/resync/check line.
    recovery: Regex,
}

/// One array from `/proc/mdstat`.
#[derive(Debug, PartialEq)]
struct MdArray {
    name: String,
    state: String,
    active: i64,
    failed: i64,
    spare: i64,
    total: i64,
    blocks: i64,
    synced: i64,
}

fn parse_int(raw: &str, path: &Path) -> Result<i64, CollectError> {
    raw.parse().map_err(|_| CollectError::Parse {
        path: path.to_path_buf(),
        reason: format!("invalid number {raw:?}"),
    })
}

fn parse_mdstat(text: &str, path: &Path, p: &Patterns) -> Result<Vec<MdArray>, CollectError> {
    let bad = |reason: String| CollectError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut arrays = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with('\t')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(state)) = (fields.first(), fields.get(2)) else {
            return Err(bad(format!("not enough fields in md line {line:?}")));
        };
        let (Some(status_line), Some(next)) = (lines.get(i + 1), lines.get(i + 2)) else {
            return Err(bad(format!("too few lines for md device {name}")));
        };
        let failed = line.matches("(F)").count() as i64;
        let spare = line.matches("(S)").count() as i64;
        let size_raw = status_line
            .split_whitespace()
            .next()
            .ok_or_else(|| bad(format!("no size for {name}")))?;
        let blocks = parse_int(size_raw, path)?;
        let (active, total) = if line.contains("raid0") || line.contains("linear") {
            // Only member disks carry a `[n]` index on the device line.
            let n = line.matches('[').count() as i64;
            (n, n)
        } else if line.contains("inactive") {
            (0, 0)
        } else {
            let caps = p
                .status
                .captures(status_line)
                .ok_or_else(|| bad(format!("unexpected status line {status_line:?}")))?;
            let total = parse_int(caps.get(2).map_or("", |m| m.as_str()), path)?;
            let active = parse_int(caps.get(3).map_or("", |m| m.as_str()), path)?;
            (active, total)
        };
        let sync_line = if next.contains("bitmap") {
            lines.get(i + 3).copied().unwrap_or("")
        } else {
            next
        };
        let mut state = (*state).to_string();
        let mut synced = blocks;
        let activity = if sync_line.contains("recovery") {
            Some("recovering")
        } else if sync_line.contains("check") {
            Some("checking")
        } else if sync_line.contains("resync") {
            Some("resyncing")
        } else {
            None
        };
        if let Some(activity) = activity {
            state = activity.to_string();
            synced = if sync_line.contains("PENDING") || sync_line.contains("DELAYED") {
                0
            } else {
                let caps = p
                    .recovery
                    .captures(sync_line)
                    .ok_or_else(|| bad(format!("unexpected sync line {sync_line:?}")))?;
                parse_int(caps.get(1).map_or("", |m| m.as_str()), path)?
            };
        }
        arrays.push(MdArray {
            name: (*name).to_string(),
            state,
            active,
            failed,
            spare,
            total,
            blocks,
            synced,
        });
    }
    Ok(arrays)
}

impl Collector for MdadmCollector {
    fn name(&self) -> &'static str {
        "mdadm"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let p = self
            .patterns
            .as_ref()
            .map_err(|reason| CollectError::Parse {
                path: "mdstat patterns".into(),
                reason: reason.clone(),
            })?;
        let path = paths.proc("mdstat");
        let text = read_source_file(&path)?;
        let mut arrays = parse_mdstat(&text, &path, p)?;
        arrays.sort_by(|a, b| a.name.cmp(&b.name));
        let gauge = MetricType::Gauge;
        let mut blocks =
            MetricFamily::new("node_md_blocks", "Total number of blocks on device.", gauge);
        let mut synced = MetricFamily::new(
            "node_md_blocks_synced",
            "Number of blocks synced on device.",
            gauge,
        );
        let mut disks = MetricFamily::new(
            "node_md_disks",
            "Number of active/failed/spare disks of device.",
            gauge,
        );
        let mut required = MetricFamily::new(
            "node_md_disks_required",
            "Total number of disks of device.",
            gauge,
        );
        let mut state =
            MetricFamily::new("node_md_state", "Indicates the state of md-device.", gauge);
        for a in &arrays {
            let dev = a.name.as_str();
            blocks.push([("device", dev)], a.blocks as f64);
            synced.push([("device", dev)], a.synced as f64);
            for (s, v) in [
                ("active", a.active),
                ("failed", a.failed),
                ("spare", a.spare),
            ] {
                disks.push([("device", dev), ("state", s)], v as f64);
            }
            required.push([("device", dev)], a.total as f64);
            for (label, name) in [
                ("active", "active"),
                ("check", "checking"),
                ("inactive", "inactive"),
                ("recovering", "recovering"),
                ("resync", "resyncing"),
            ] {
                state.push(
                    [("device", dev), ("state", label)],
                    if a.state == name { 1.0 } else { 0.0 },
                );
            }
        }
        out.extend([blocks, synced, disks, required, state]);
        Ok(())
    }
}

/// Builds the collector, compiling the mdstat line patterns once.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    let patterns = Regex::new(r"(\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\]")
        .and_then(|status| {
            Regex::new(r"\((\d+)/\d+\)").map(|recovery| Patterns { status, recovery })
        })
        .map_err(|e| e.to_string());
    Box::new(MdadmCollector { patterns })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, procfs_host};
    use std::fs;

    const MDSTAT: &str = "Personalities : [raid1] [raid6] [raid5] [raid4]
md0 : active raid1 sdb1[1] sda1[0]
      1046528 blocks super 1.2 [2/2] [UU]
      bitmap: 0/1 pages [0KB], 65536KB chunk

md1 : active raid5 sdd1[3](S) sdc1[2] sdb2[1] sda2[0](F)
      2093056 blocks super 1.2 level 5, 512k chunk, algorithm 2 [3/2] [UU_]
      [=>...................]  recovery =  8.5% (89088/1046528) finish=0.1min speed=89088K/sec

unused devices: <none>
";

    #[test]
    fn arrays_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("mdstat"), MDSTAT).unwrap();
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &procfs_host(tmp.path()),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"# HELP node_md_blocks Total number of blocks on device.
# TYPE node_md_blocks gauge
node_md_blocks{device="md0"} 1.046528e+06
node_md_blocks{device="md1"} 2.093056e+06
# HELP node_md_blocks_synced Number of blocks synced on device.
# TYPE node_md_blocks_synced gauge
node_md_blocks_synced{device="md0"} 1.046528e+06
node_md_blocks_synced{device="md1"} 89088
# HELP node_md_disks Number of active/failed/spare disks of device.
# TYPE node_md_disks gauge
node_md_disks{device="md0",state="active"} 2
node_md_disks{device="md0",state="failed"} 0
node_md_disks{device="md0",state="spare"} 0
node_md_disks{device="md1",state="active"} 2
node_md_disks{device="md1",state="failed"} 1
node_md_disks{device="md1",state="spare"} 1
# HELP node_md_disks_required Total number of disks of device.
# TYPE node_md_disks_required gauge
node_md_disks_required{device="md0"} 2
node_md_disks_required{device="md1"} 3
# HELP node_md_state Indicates the state of md-device.
# TYPE node_md_state gauge
node_md_state{device="md0",state="active"} 1
node_md_state{device="md0",state="check"} 0
node_md_state{device="md0",state="inactive"} 0
node_md_state{device="md0",state="recovering"} 0
node_md_state{device="md0",state="resync"} 0
node_md_state{device="md1",state="active"} 0
node_md_state{device="md1",state="check"} 0
node_md_state{device="md1",state="inactive"} 0
node_md_state{device="md1",state="recovering"} 1
node_md_state{device="md1",state="resync"} 0
"#
        );
    }

    #[test]
    fn truncated_mdstat_is_a_parse_error() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("mdstat"), "md0 : active raid1 sda1[0]\n").unwrap();
        let paths = procfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("mdstat"), "{err}");
    }
}
