//! The `processes` collector: process and thread counts by state, and the PID and thread
//! limits, from `/proc/<pid>/stat` and `/proc/<pid>/task/<tid>/stat`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct ProcessesCollector;

/// Counts gathered from one walk of `/proc`.
#[derive(Debug, Default)]
struct Census {
    pids: u64,
    threads: u64,
    process_states: BTreeMap<String, u64>,
    thread_states: BTreeMap<String, u64>,
}

impl Collector for ProcessesCollector {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let census = take_census(&paths.procfs)?;
        let threads_max = read_number(&paths.proc("sys/kernel/threads-max"))?;
        let pid_max = read_number(&paths.proc("sys/kernel/pid_max"))?;
        out.push(MetricFamily::single(
            "node_processes_threads",
            "Allocated threads in system",
            MetricType::Gauge,
            census.threads as f64,
        ));
        out.push(MetricFamily::single(
            "node_processes_max_threads",
            "Limit of threads in the system",
            MetricType::Gauge,
            threads_max,
        ));
        let mut states = MetricFamily::new(
            "node_processes_state",
            "Number of processes in each state.",
            MetricType::Gauge,
        );
        for (state, count) in &census.process_states {
            states.push([("state", state.as_str())], *count as f64);
        }
        out.push(states);
        let mut thread_states = MetricFamily::new(
            "node_processes_threads_state",
            "Number of threads in each state.",
            MetricType::Gauge,
        );
        for (state, count) in &census.thread_states {
            thread_states.push([("thread_state", state.as_str())], *count as f64);
        }
        out.push(thread_states);
        out.push(MetricFamily::single(
            "node_processes_pids",
            "Number of PIDs",
            MetricType::Gauge,
            census.pids as f64,
        ));
        out.push(MetricFamily::single(
            "node_processes_max_processes",
            "Number of max PIDs limit",
            MetricType::Gauge,
            pid_max,
        ));
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(ProcessesCollector)
}

fn read_number(path: &Path) -> Result<f64, CollectError> {
    let text = std::fs::read_to_string(path).map_err(|source| CollectError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let trimmed = text.trim();
    trimmed.parse().map_err(|_| CollectError::Parse {
        path: path.to_path_buf(),
        reason: format!("{trimmed:?} is not a number"),
    })
}

/// Numeric directory entries of `dir` (PIDs or TIDs).
fn numeric_entries(dir: &Path) -> std::io::Result<impl Iterator<Item = std::fs::DirEntry>> {
    Ok(std::fs::read_dir(dir)?.filter_map(|e| e.ok()).filter(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }))
}

fn take_census(procfs: &Path) -> Result<Census, CollectError> {
    let mut census = Census::default();
    // One buffer for every stat file: tens of thousands of reads should not allocate each.
    let mut buf = Vec::with_capacity(1024);
    let entries = numeric_entries(procfs).map_err(|source| CollectError::Io {
        path: procfs.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let dir = entry.path();
        // Processes exit between listing and reading; that is not an error.
        let Ok(()) = read_into(&dir.join("stat"), &mut buf) else {
            continue;
        };
        let Some((state, threads)) = parse_stat(&buf) else {
            return Err(CollectError::Parse {
                path: dir.join("stat"),
                reason: "unexpected stat format".into(),
            });
        };
        census.pids += 1;
        census.threads += threads;
        *census.process_states.entry(state.to_string()).or_insert(0) += 1;
        let Ok(tasks) = numeric_entries(&dir.join("task")) else {
            continue;
        };
        for task in tasks {
            let Ok(()) = read_into(&task.path().join("stat"), &mut buf) else {
                continue;
            };
            if let Some((state, _)) = parse_stat(&buf) {
                *census.thread_states.entry(state.to_string()).or_insert(0) += 1;
            }
        }
    }
    Ok(census)
}

/// Reads a whole procfs file into `buf`. Going through `Take` skips the size-hinting statx
/// that `File::read_to_end` makes, useless here since procfs reports a size of 0; the limit
/// is far above any stat line.
fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    std::fs::File::open(path)?.take(1 << 20).read_to_end(buf)?;
    Ok(())
}

/// The state letter and thread count of a `stat` line. The command name is in parentheses
/// and may itself contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &[u8]) -> Option<(&str, u64)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    // num_threads is the 20th field overall, the 18th after the state.
    let threads = fields.nth(16)?.parse().ok()?;
    Some((state, threads))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::procfs_host;

    const STAT: &str =
        "1 (sys temd) S 0 1 1 0 -1 4194560 3 0 0 0 1 2 0 0 20 0 3 0 10 1000 100 184467\n";

    #[test]
    fn parses_state_and_threads() {
        assert_eq!(parse_stat(STAT.as_bytes()), Some(("S", 3)));
        assert_eq!(parse_stat(b"1 (a) b) R 0 0"), None);
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn census_of_fake_tree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for (pid, state, tids) in [("1", "S", &["1"][..]), ("42", "R", &["42", "43"][..])] {
            std::fs::create_dir_all(p.join(pid)).unwrap();
            std::fs::write(
                p.join(pid).join("stat"),
                format!(
                    "{pid} (x) {state} 0 1 1 0 -1 4194560 3 0 0 0 1 2 0 0 20 0 {} 0 10 1000 100\n",
                    tids.len()
                ),
            )
            .unwrap();
            for tid in tids {
                let t = p.join(pid).join("task").join(tid);
                std::fs::create_dir_all(&t).unwrap();
                std::fs::write(
                    t.join("stat"),
                    format!("{tid} (x) {state} 0 1 1 0 -1 4194560 3 0 0 0 1 2 0 0 20 0 1 0\n"),
                )
                .unwrap();
            }
        }
        std::fs::create_dir_all(p.join("sys/kernel")).unwrap();
        std::fs::write(p.join("sys/kernel/threads-max"), "192730\n").unwrap();
        std::fs::write(p.join("sys/kernel/pid_max"), "32768\n").unwrap();
        let paths = procfs_host(p);
        let mut out = Vec::new();
        ProcessesCollector.collect(&paths, &mut out).unwrap();
        let get = |name: &str| out.iter().find(|f| f.name == name).unwrap();
        assert_eq!(
            get("node_processes_pids").metrics[0].value,
            pharos_model::MetricValue::Simple(2.0)
        );
        assert_eq!(
            get("node_processes_threads").metrics[0].value,
            pharos_model::MetricValue::Simple(3.0)
        );
        assert_eq!(get("node_processes_threads_state").metrics.len(), 2);
        assert_eq!(
            get("node_processes_state").metrics[0].labels[0],
            ("state".to_string(), "R".to_string())
        );
    }
}
