//! The `conntrack` collector: netfilter connection-tracking table size and statistics.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_number;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct ConntrackCollector;

/// The columns of `/proc/net/stat/nf_conntrack` exported, with their metric names and HELP.
const STAT_COLUMNS: &[(&str, &str, &str)] = &[
    ("found", "node_nf_conntrack_stat_found", "Number of searched entries which were successful."),
    ("invalid", "node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked."),
    (
        "ignore",
        "node_nf_conntrack_stat_ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    ("insert", "node_nf_conntrack_stat_insert", "Number of entries inserted into the list."),
    (
        "insert_failed",
        "node_nf_conntrack_stat_insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    ("drop", "node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure."),
    (
        "early_drop",
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        "search_restart",
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

impl Collector for ConntrackCollector {
    fn name(&self) -> &'static str {
        "conntrack"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        // Without the nf_conntrack module these files do not exist: nothing to report.
        let entries = read_source_number(&paths.proc("sys/net/netfilter/nf_conntrack_count"))?;
        let limit = read_source_number(&paths.proc("sys/net/netfilter/nf_conntrack_max"))?;
        out.push(MetricFamily::single(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            MetricType::Gauge,
            entries,
        ));
        out.push(MetricFamily::single(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            MetricType::Gauge,
            limit,
        ));
        let path = paths.proc("net/stat/nf_conntrack");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(CollectError::Io { path, source }),
        };
        let sums = sum_stat_columns(&text, &path)?;
        for ((_, name, help), value) in STAT_COLUMNS.iter().zip(sums) {
            if let Some(value) = value {
                out.push(MetricFamily::single(*name, *help, MetricType::Gauge, value));
            }
        }
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(ConntrackCollector)
}

/// Sums the per-CPU hexadecimal rows of each wanted column. Columns are found by the header's
/// names because their positions changed across kernel versions.
fn sum_stat_columns(text: &str, path: &Path) -> Result<Vec<Option<f64>>, CollectError> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split_ascii_whitespace()
        .collect();
    let positions: Vec<Option<usize>> = STAT_COLUMNS
        .iter()
        .map(|(column, _, _)| header.iter().position(|h| h == column))
        .collect();
    let mut sums: Vec<Option<f64>> = positions.iter().map(|p| p.map(|_| 0.0)).collect();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        for (pos, sum) in positions.iter().zip(sums.iter_mut()) {
            let (Some(pos), Some(sum)) = (pos, sum.as_mut()) else {
                continue;
            };
            let field = fields.get(*pos).ok_or_else(|| CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("row {line:?} is shorter than the header"),
            })?;
            *sum += u64::from_str_radix(field, 16).map_err(|_| CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("{field:?} is not hexadecimal"),
            })? as f64;
        }
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::procfs_host;

    const STAT: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
00000000  00000000 00000001 00000000 00000002 00000000 00000000 00000000 00000003 00000000 00000004 00000000 00000000  00000000 00000000 00000000 0000000a\n\
00000000  00000000 00000001 00000000 00000002 00000000 00000000 00000000 00000003 00000000 00000004 00000000 00000000  00000000 00000000 00000000 00000001\n";

    #[test]
    fn sums_columns_by_header_name() {
        let sums = sum_stat_columns(STAT, Path::new("nf")).unwrap();
        assert_eq!(
            sums,
            vec![
                Some(2.0),
                Some(4.0),
                Some(0.0),
                Some(6.0),
                Some(0.0),
                Some(8.0),
                Some(0.0),
                Some(11.0)
            ]
        );
    }

    #[test]
    fn absent_module_is_not_present() {
        let dir = tempfile::tempdir().unwrap();
        let paths = procfs_host(dir.path());
        assert!(matches!(
            ConntrackCollector.collect(&paths, &mut Vec::new()),
            Err(CollectError::NotPresent(_))
        ));
    }

    #[test]
    fn full_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sys/net/netfilter")).unwrap();
        std::fs::create_dir_all(dir.path().join("net/stat")).unwrap();
        std::fs::write(
            dir.path().join("sys/net/netfilter/nf_conntrack_count"),
            "12\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sys/net/netfilter/nf_conntrack_max"),
            "262144\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("net/stat/nf_conntrack"), STAT).unwrap();
        let paths = procfs_host(dir.path());
        let mut out = Vec::new();
        ConntrackCollector.collect(&paths, &mut out).unwrap();
        assert_eq!(out.len(), 10);
        std::fs::write(dir.path().join("net/stat/nf_conntrack"), "found\nzz\n").unwrap();
        assert!(ConntrackCollector.collect(&paths, &mut Vec::new()).is_err());
    }
}
