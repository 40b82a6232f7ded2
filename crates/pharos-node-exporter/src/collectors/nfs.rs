//! The `nfs` collector: NFS client RPC and per-procedure counters from `/proc/net/rpc/nfs`.

use std::collections::HashMap;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_file;
use super::rpc_stats::{rpc_value, RpcLines, V2_PROCEDURES, V3_PROCEDURES};
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// NFSv2 procedures in kernel order, named as node_exporter names them.
const V2: &[&str] = V2_PROCEDURES;

/// NFSv3 procedures in kernel order.
const V3: &[&str] = V3_PROCEDURES;

/// NFSv4 client operations in kernel order; older kernels print fewer and the rest read as 0.
const V4: &[&str] = &[
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

struct NfsCollector;

/// `/proc/net/rpc/nfs` as label -> numbers.
fn parse_lines(text: &str, path: &Path) -> Result<RpcLines, CollectError> {
    let mut lines = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(label) = fields.next() else { continue };
        let values = fields
            .map(|f| f.parse::<u64>())
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("invalid line {line:?}"),
            })?;
        lines.insert(label.to_string(), values);
    }
    Ok(lines)
}

/// Values of a `procN <count> <v1> ... <vcount>` line, checked against `names`; a missing
/// line reads as all zeros, as node_exporter reports it.
fn procedures(
    lines: &RpcLines,
    label: &str,
    names: &[&str],
    pad: bool,
    path: &Path,
) -> Result<Vec<u64>, CollectError> {
    let Some(values) = lines.get(label) else {
        return Ok(vec![0; names.len()]);
    };
    let bad = || CollectError::Parse {
        path: path.to_path_buf(),
        reason: format!("invalid {label} line {values:?}"),
    };
    let (count, rest) = values.split_first().ok_or_else(bad)?;
    if usize::try_from(*count).ok() != Some(rest.len()) || (!pad && rest.len() < names.len()) {
        return Err(bad());
    }
    let mut out: Vec<u64> = rest.iter().copied().take(names.len()).collect();
    out.resize(names.len(), 0);
    Ok(out)
}

impl Collector for NfsCollector {
    fn name(&self) -> &'static str {
        "nfs"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("net/rpc/nfs");
        let text = read_source_file(&path)?;
        let lines = parse_lines(&text, &path)?;
        let field = |label: &str, i: usize| rpc_value(&lines, label, i);
        let counter = MetricType::Counter;
        let mut packets = MetricFamily::new(
            "node_nfs_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            counter,
        );
        packets.push([("protocol", "tcp")], field("net", 2));
        packets.push([("protocol", "udp")], field("net", 1));
        let mut requests = MetricFamily::new(
            "node_nfs_requests_total",
            "Number of NFS procedures invoked.",
            counter,
        );
        for (label, proto, names, pad) in [
            ("proc2", "2", V2, false),
            ("proc3", "3", V3, false),
            ("proc4", "4", V4, true),
        ] {
            let values = procedures(&lines, label, names, pad, &path)?;
            for (name, value) in names.iter().zip(values) {
                requests.push([("method", *name), ("proto", proto)], value as f64);
            }
        }
        requests.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
        out.push(MetricFamily::single(
            "node_nfs_connections_total",
            "Total number of NFSd TCP connections.",
            counter,
            field("net", 3),
        ));
        out.push(packets);
        out.push(requests);
        out.push(MetricFamily::single(
            "node_nfs_rpc_authentication_refreshes_total",
            "Number of RPC authentication refreshes performed.",
            counter,
            field("rpc", 2),
        ));
        out.push(MetricFamily::single(
            "node_nfs_rpc_retransmissions_total",
            "Number of RPC transmissions performed.",
            counter,
            field("rpc", 1),
        ));
        out.push(MetricFamily::single(
            "node_nfs_rpcs_total",
            "Total number of RPCs performed.",
            counter,
            field("rpc", 0),
        ));
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(NfsCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, procfs_host, write};

    const SAMPLE: &str = "net 18628 0 18628 6
rpc 4329785 1 4338291
proc2 18 2 69 0 0 4410 0 0 0 0 0 0 0 0 0 0 0 99 2
proc3 22 1 4084749 29200 94754 32580 186 47747 7981 8639 0 6356 0 6962 0 7958 0 0 241 4 4 2 39
proc4 3 0 7 8
";

    fn render(text: &str) -> Result<String, CollectError> {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("net/rpc"), "nfs", text);
        collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &procfs_host(tmp.path()),
        )
    }

    #[test]
    fn client_counters() {
        let text = render(SAMPLE).unwrap();
        for line in [
            "node_nfs_connections_total 6\n",
            "node_nfs_packets_total{protocol=\"tcp\"} 18628\nnode_nfs_packets_total{protocol=\"udp\"} 0\n",
            "node_nfs_rpc_authentication_refreshes_total 4.338291e+06\n",
            "node_nfs_rpc_retransmissions_total 1\n",
            "node_nfs_rpcs_total 4.329785e+06\n",
            "node_nfs_requests_total{method=\"Access\",proto=\"3\"} 32580\n",
            "node_nfs_requests_total{method=\"Access\",proto=\"4\"} 0\n",
            "node_nfs_requests_total{method=\"GetAttr\",proto=\"2\"} 69\n",
            "node_nfs_requests_total{method=\"Read\",proto=\"4\"} 7\n",
            "node_nfs_requests_total{method=\"Write\",proto=\"4\"} 8\n",
            "# HELP node_nfs_requests_total Number of NFS procedures invoked.\n# TYPE node_nfs_requests_total counter\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(
            text.matches("node_nfs_requests_total{").count(),
            V2.len() + V3.len() + V4.len()
        );
    }

    #[test]
    fn short_v3_line_is_a_parse_error() {
        let err = render("proc3 2 1 2\n").unwrap_err();
        assert!(err.to_string().contains("proc3"), "{err}");
        assert!(render("net x\n").is_err());
    }
}
