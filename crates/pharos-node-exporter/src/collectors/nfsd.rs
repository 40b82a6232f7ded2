//! The `nfsd` collector: NFS server counters (reply cache, threads, RPCs, per-procedure
//! requests) from `/proc/net/rpc/nfsd`.

use std::collections::HashMap;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_file;
use super::rpc_stats::{after_null, rpc_value, RpcLines, V2_PROCEDURES, V3_PROCEDURES};
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// NFSv2 procedures after `Null`, in kernel order.
const V2: &[&str] = after_null(V2_PROCEDURES);

/// NFSv3 procedures after `Null`, in kernel order.
const V3: &[&str] = after_null(V3_PROCEDURES);

/// NFSv4 operations as node_exporter 1.5 labels them, with the position of each one's value
/// on the `proc4ops` line (after the count). node_exporter skips the SETCLIENTID pair, so from
/// position 35 on its labels sit one or two operations off the kernel's numbering; dashboards
/// are built on those labels, so they are kept.
const V4_OPS: &[(&str, usize)] = &[
    ("Access", 3),
    ("Close", 4),
    ("Commit", 5),
    ("Create", 6),
    ("DelegPurge", 7),
    ("DelegReturn", 8),
    ("GetAttr", 9),
    ("GetFH", 10),
    ("Link", 11),
    ("Lock", 12),
    ("Lockt", 13),
    ("Locku", 14),
    ("Lookup", 15),
    ("LookupRoot", 16),
    ("Nverify", 17),
    ("Open", 18),
    ("OpenAttr", 19),
    ("OpenConfirm", 20),
    ("OpenDgrd", 21),
    ("PutFH", 22),
    ("Read", 25),
    ("ReadDir", 26),
    ("ReadLink", 27),
    ("Remove", 28),
    ("Rename", 29),
    ("Renew", 30),
    ("RestoreFH", 31),
    ("SaveFH", 32),
    ("SecInfo", 33),
    ("SetAttr", 34),
    ("Verify", 35),
    ("Write", 36),
    ("RelLockOwner", 37),
];

/// Fewest `proc4ops` values node_exporter accepts (kernels since 2.6 print at least 40).
const V4_OPS_MIN: usize = 39;

struct NfsdCollector;

fn parse_error(path: &Path, reason: String) -> CollectError {
    CollectError::Parse {
        path: path.to_path_buf(),
        reason,
    }
}

/// The file's lines as label -> numbers, each checked for the shape node_exporter expects.
/// Lines this exporter does not know (newer kernels add some, e.g. `wdeleg_getattr`) and blank
/// lines are skipped rather than failing the whole collector.
fn parse_nfsd(text: &str, path: &Path) -> Result<RpcLines, CollectError> {
    let mut lines = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some((label, rest)) = fields.split_first() else {
            continue;
        };
        let expected: Option<usize> = match *label {
            "rc" => Some(3),
            "fh" => Some(5),
            "io" | "th" => Some(2),
            "ra" => Some(12),
            "net" => Some(4),
            "rpc" => Some(5),
            "proc2" | "proc3" | "proc4" | "proc4ops" => None,
            _ => continue,
        };
        // `th` carries a histogram of floating-point seconds after the two counts.
        let rest = if *label == "th" {
            rest.get(..2)
                .ok_or_else(|| parse_error(path, format!("invalid th line {line:?}")))?
        } else {
            rest
        };
        let values = rest
            .iter()
            .map(|f| f.parse::<u64>())
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| parse_error(path, format!("invalid number in line {line:?}")))?;
        let ok = match expected {
            Some(n) => values.len() == n,
            None => procedure_counts_ok(label, &values),
        };
        if !ok {
            return Err(parse_error(path, format!("invalid {label} line {line:?}")));
        }
        lines.insert((*label).to_string(), values);
    }
    Ok(lines)
}

/// `procN <count> <v1> ... <vcount>`: the count must match and cover what is exported.
fn procedure_counts_ok(label: &str, values: &[u64]) -> bool {
    let Some((count, rest)) = values.split_first() else {
        return false;
    };
    if usize::try_from(*count).ok() != Some(rest.len()) {
        return false;
    }
    // `Null` comes first on the procedure lines and is not in `V2`/`V3`.
    match label {
        "proc2" => rest.len() > V2.len(),
        "proc3" => rest.len() > V3.len(),
        "proc4" => rest.len() == 2,
        _ => rest.len() >= V4_OPS_MIN,
    }
}

impl Collector for NfsdCollector {
    fn name(&self) -> &'static str {
        "nfsd"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("net/rpc/nfsd");
        let text = read_source_file(&path)?;
        let lines = parse_nfsd(&text, &path)?;
        // A missing line reads as zeros, as node_exporter reports it.
        let field = |label: &str, i: usize| rpc_value(&lines, label, i);
        let counter = MetricType::Counter;
        let gauge = MetricType::Gauge;
        let singles = [
            (
                "reply_cache_hits_total",
                "Total number of NFSd Reply Cache hits (client lost server response).",
                counter,
                "rc",
                0,
            ),
            (
                "reply_cache_misses_total",
                "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
                counter,
                "rc",
                1,
            ),
            (
                "reply_cache_nocache_total",
                "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
                counter,
                "rc",
                2,
            ),
            (
                "file_handles_stale_total",
                "Total number of NFSd stale file handles",
                counter,
                "fh",
                0,
            ),
            (
                "disk_bytes_read_total",
                "Total NFSd bytes read.",
                counter,
                "io",
                0,
            ),
            (
                "disk_bytes_written_total",
                "Total NFSd bytes written.",
                counter,
                "io",
                1,
            ),
            (
                "server_threads",
                "Total number of NFSd kernel threads that are running.",
                gauge,
                "th",
                0,
            ),
            (
                "read_ahead_cache_size_blocks",
                "How large the read ahead cache is in blocks.",
                gauge,
                "ra",
                0,
            ),
            (
                "read_ahead_cache_not_found_total",
                "Total number of NFSd read ahead cache not found.",
                counter,
                "ra",
                11,
            ),
            (
                "connections_total",
                "Total number of NFSd TCP connections.",
                counter,
                "net",
                3,
            ),
            (
                "server_rpcs_total",
                "Total number of NFSd RPCs.",
                counter,
                "rpc",
                0,
            ),
        ];
        for (name, help, ty, label, i) in singles {
            out.push(MetricFamily::single(
                format!("node_nfsd_{name}"),
                help,
                ty,
                field(label, i),
            ));
        }
        let mut packets = MetricFamily::new(
            "node_nfsd_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            counter,
        );
        packets.push([("proto", "udp")], field("net", 1));
        packets.push([("proto", "tcp")], field("net", 2));
        out.push(packets);
        let mut errors = MetricFamily::new(
            "node_nfsd_rpc_errors_total",
            "Total number of NFSd RPC errors by error type.",
            counter,
        );
        errors.push([("error", "fmt")], field("rpc", 2));
        errors.push([("error", "auth")], field("rpc", 3));
        errors.push([("error", "cInt")], field("rpc", 4));
        out.push(errors);

        let mut requests = MetricFamily::new(
            "node_nfsd_requests_total",
            "Total number NFSd Requests by method and protocol.",
            counter,
        );
        // Position 0 after the count is the `Null` procedure, which is not exported.
        for (label, proto, names) in [("proc2", "2", V2), ("proc3", "3", V3)] {
            for (i, name) in names.iter().enumerate() {
                requests.push([("method", *name), ("proto", proto)], field(label, i + 2));
            }
        }
        for (name, at) in V4_OPS {
            let value = field("proc4ops", at + 1);
            requests.push([("method", *name), ("proto", "4")], value);
        }
        out.push(requests);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(NfsdCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{normalized_text, procfs_host, write};

    fn render(text: &str) -> Result<String, CollectError> {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("net/rpc"), "nfsd", text);
        normalized_text(
            build(&CollectorOptions::default()).as_ref(),
            &procfs_host(tmp.path()),
        )
    }

    fn proc4ops() -> String {
        let values: Vec<String> = (1..=40).map(|v| (v * 10).to_string()).collect();
        format!("proc4ops 40 {}\n", values.join(" "))
    }

    #[test]
    fn server_counters_like_node_exporter() {
        let sample = format!(
            "rc 0 6 18622
fh 0 0 0 0 0
io 157286400 72864
th 8 0 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000
ra 32 0 0 0 0 0 0 0 0 0 0 7
net 972 55 917 1
rpc 18628 3 1 2 0
proc2 18 2 69 0 0 4410 0 0 0 0 0 0 0 0 0 0 0 99 2
proc3 22 2 112 0 2719 111 0 0 0 0 0 0 0 0 0 0 0 27 216 0 2 1 5
proc4 2 2 10853
{}wdeleg_getattr 0
",
            proc4ops()
        );
        let text = render(&sample).unwrap();
        let head = "# HELP node_nfsd_connections_total Total number of NFSd TCP connections.
# TYPE node_nfsd_connections_total counter
node_nfsd_connections_total 1
# HELP node_nfsd_disk_bytes_read_total Total NFSd bytes read.
# TYPE node_nfsd_disk_bytes_read_total counter
node_nfsd_disk_bytes_read_total 1.572864e+08
# HELP node_nfsd_disk_bytes_written_total Total NFSd bytes written.
# TYPE node_nfsd_disk_bytes_written_total counter
node_nfsd_disk_bytes_written_total 72864
# HELP node_nfsd_file_handles_stale_total Total number of NFSd stale file handles
# TYPE node_nfsd_file_handles_stale_total counter
node_nfsd_file_handles_stale_total 0
# HELP node_nfsd_packets_total Total NFSd network packets (sent+received) by protocol type.
# TYPE node_nfsd_packets_total counter
node_nfsd_packets_total{proto=\"tcp\"} 917
node_nfsd_packets_total{proto=\"udp\"} 55
# HELP node_nfsd_read_ahead_cache_not_found_total Total number of NFSd read ahead cache not found.
# TYPE node_nfsd_read_ahead_cache_not_found_total counter
node_nfsd_read_ahead_cache_not_found_total 7
# HELP node_nfsd_read_ahead_cache_size_blocks How large the read ahead cache is in blocks.
# TYPE node_nfsd_read_ahead_cache_size_blocks gauge
node_nfsd_read_ahead_cache_size_blocks 32
# HELP node_nfsd_reply_cache_hits_total Total number of NFSd Reply Cache hits (client lost server response).
# TYPE node_nfsd_reply_cache_hits_total counter
node_nfsd_reply_cache_hits_total 0
# HELP node_nfsd_reply_cache_misses_total Total number of NFSd Reply Cache an operation that requires caching (idempotent).
# TYPE node_nfsd_reply_cache_misses_total counter
node_nfsd_reply_cache_misses_total 6
# HELP node_nfsd_reply_cache_nocache_total Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).
# TYPE node_nfsd_reply_cache_nocache_total counter
node_nfsd_reply_cache_nocache_total 18622
# HELP node_nfsd_requests_total Total number NFSd Requests by method and protocol.
# TYPE node_nfsd_requests_total counter
node_nfsd_requests_total{method=\"Access\",proto=\"3\"} 111
node_nfsd_requests_total{method=\"Access\",proto=\"4\"} 40
node_nfsd_requests_total{method=\"Close\",proto=\"4\"} 50
node_nfsd_requests_total{method=\"Commit\",proto=\"3\"} 5
";
        assert!(text.starts_with(head), "got\n{text}");
        let tail = "node_nfsd_requests_total{method=\"Verify\",proto=\"4\"} 360
node_nfsd_requests_total{method=\"WrCache\",proto=\"2\"} 0
node_nfsd_requests_total{method=\"Write\",proto=\"2\"} 0
node_nfsd_requests_total{method=\"Write\",proto=\"3\"} 0
node_nfsd_requests_total{method=\"Write\",proto=\"4\"} 370
# HELP node_nfsd_rpc_errors_total Total number of NFSd RPC errors by error type.
# TYPE node_nfsd_rpc_errors_total counter
node_nfsd_rpc_errors_total{error=\"auth\"} 2
node_nfsd_rpc_errors_total{error=\"cInt\"} 0
node_nfsd_rpc_errors_total{error=\"fmt\"} 1
# HELP node_nfsd_server_rpcs_total Total number of NFSd RPCs.
# TYPE node_nfsd_server_rpcs_total counter
node_nfsd_server_rpcs_total 18628
# HELP node_nfsd_server_threads Total number of NFSd kernel threads that are running.
# TYPE node_nfsd_server_threads gauge
node_nfsd_server_threads 8
";
        assert!(text.ends_with(tail), "got\n{text}");
        for line in [
            "node_nfsd_requests_total{method=\"RelLockOwner\",proto=\"4\"} 380\n",
            "node_nfsd_requests_total{method=\"PutFH\",proto=\"4\"} 230\n",
            "node_nfsd_requests_total{method=\"Read\",proto=\"4\"} 260\n",
            "node_nfsd_requests_total{method=\"Lookup\",proto=\"2\"} 4410\n",
            "node_nfsd_requests_total{method=\"FsStat\",proto=\"2\"} 2\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(
            text.matches("node_nfsd_requests_total{").count(),
            V2.len() + V3.len() + V4_OPS.len()
        );
    }

    #[test]
    fn missing_lines_read_as_zero() {
        let text = render("rc 1 2 3\n").unwrap();
        assert!(text.contains("node_nfsd_reply_cache_nocache_total 3\n"));
        assert!(text.contains("node_nfsd_server_threads 0\n"));
        assert!(text.contains("node_nfsd_requests_total{method=\"Write\",proto=\"4\"} 0\n"));
    }

    #[test]
    fn malformed_lines_are_parse_errors_naming_the_file() {
        for bad in [
            "th 8\n",
            "rc 1 2\n",
            "rc 1 x 3\n",
            "proc4 3 1 2 3\n",
            "proc2 17 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
            "proc3 99 1\n",
            "proc4ops 2 1 2\n",
            "proc4ops\n",
        ] {
            let err = render(bad).unwrap_err();
            assert!(matches!(err, CollectError::Parse { .. }), "{bad:?}: {err}");
            assert!(err.to_string().contains("net/rpc/nfsd"), "{err}");
        }
    }

    #[test]
    fn absent_file_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = procfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }
}
