//! The `tcpstat` collector: TCP connections by state and queued bytes, from the kernel's
//! sock_diag netlink interface (as node_exporter does), falling back to `/proc/net/tcp{,6}`
//! where netlink sockets are not allowed.

mod sock_diag;

use std::collections::BTreeMap;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// Kernel TCP state numbers (include/net/tcp_states.h) and node_exporter's names for them.
const STATES: [(u8, &str); 11] = [
    (1, "established"),
    (2, "syn_sent"),
    (3, "syn_recv"),
    (4, "fin_wait1"),
    (5, "fin_wait2"),
    (6, "time_wait"),
    (7, "close"),
    (8, "close_wait"),
    (9, "last_ack"),
    (10, "listen"),
    (11, "closing"),
];

/// Connection counts by state and bytes in all receive and send queues.
#[derive(Debug, Default, PartialEq)]
struct TcpTally {
    by_state: BTreeMap<&'static str, u64>,
    rx_queued: u64,
    tx_queued: u64,
}

impl TcpTally {
    /// Counts one socket.
    fn add(&mut self, state: u8, rx_queue: u32, tx_queue: u32) {
        if let Some((_, name)) = STATES.iter().find(|(n, _)| *n == state) {
            *self.by_state.entry(name).or_insert(0) += 1;
        }
        self.rx_queued += u64::from(rx_queue);
        self.tx_queued += u64::from(tx_queue);
    }
}

struct TcpstatCollector;

impl Collector for TcpstatCollector {
    fn name(&self) -> &'static str {
        "tcpstat"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut tally = TcpTally::default();
        // netlink sees the namespace of this process, so a non-default procfs means the user
        // wants another view: read its files instead.
        let use_netlink = paths.procfs == Path::new("/proc");
        let dumped = use_netlink
            && [libc::AF_INET as u8, libc::AF_INET6 as u8]
                .iter()
                .try_for_each(|family| {
                    sock_diag::dump_tcp(*family, &mut |s, rx, tx| tally.add(s, rx, tx))
                })
                .map_err(
                    |e| tracing::debug!(error = %e, "sock_diag dump failed, reading /proc/net/tcp"),
                )
                .is_ok();
        if !dumped {
            tally = TcpTally::default();
            for file in ["net/tcp", "net/tcp6"] {
                let path = paths.proc(file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => parse_proc_tcp(&text, &path, &mut tally)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && file == "net/tcp6" => {}
                    Err(source) => return Err(CollectError::Io { path, source }),
                }
            }
        }
        let mut family = MetricFamily::new(
            "node_tcp_connection_states",
            "Number of connection states.",
            MetricType::Gauge,
        );
        let mut rows: Vec<(&str, u64)> = tally.by_state.into_iter().collect();
        rows.push(("rx_queued_bytes", tally.rx_queued));
        rows.push(("tx_queued_bytes", tally.tx_queued));
        rows.sort_unstable();
        for (state, value) in rows {
            family.push([("state", state)], value as f64);
        }
        out.push(family);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(TcpstatCollector)
}

/// Rows of `/proc/net/tcp`: the 4th column is the state in hex, the 5th `tx_queue:rx_queue`.
fn parse_proc_tcp(text: &str, path: &Path, tally: &mut TcpTally) -> Result<(), CollectError> {
    for line in text.lines().skip(1) {
        let mut fields = line.split_ascii_whitespace().skip(3);
        let (Some(state), Some(queues)) = (fields.next(), fields.next()) else {
            continue;
        };
        let bad = || CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("row {line:?} has a malformed state or queue"),
        };
        let state = u8::from_str_radix(state, 16).map_err(|_| bad())?;
        let (tx, rx) = queues.split_once(':').ok_or_else(bad)?;
        let tx = u32::from_str_radix(tx, 16).map_err(|_| bad())?;
        let rx = u32::from_str_radix(rx, 16).map_err(|_| bad())?;
        tally.add(state, rx, tx);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::procfs_host;

    #[test]
    fn tallies_proc_rows() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
0: 0100007F:B065 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 12991 1\n   \
1: 0100007F:D82C 0100007F:4A9C 01 00000010:00000000 03:000000F9 00000000     0        0 0 3\n   \
2: 0100007F:D82C 0100007F:4A9C 06 00000000:00000000 03:000000F9 00000000     0        0 0 3\n";
        let mut tally = TcpTally::default();
        parse_proc_tcp(text, Path::new("tcp"), &mut tally).unwrap();
        assert_eq!(tally.by_state.get("listen"), Some(&1));
        assert_eq!(tally.by_state.get("established"), Some(&1));
        assert_eq!(tally.by_state.get("time_wait"), Some(&1));
        assert_eq!((tally.rx_queued, tally.tx_queued), (2, 16));
        assert!(parse_proc_tcp("h\n 0: a b ZZ 0:0\n", Path::new("tcp"), &mut tally).is_err());
    }

    #[test]
    fn proc_fallback_with_other_procfs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net")).unwrap();
        std::fs::write(
            dir.path().join("net/tcp"),
            "header\n 0: a b 0A 00000000:00000000 x\n",
        )
        .unwrap();
        let paths = procfs_host(dir.path());
        let mut out = Vec::new();
        TcpstatCollector.collect(&paths, &mut out).unwrap();
        let states: Vec<&str> = out[0]
            .metrics
            .iter()
            .map(|m| m.labels[0].1.as_str())
            .collect();
        assert_eq!(states, ["listen", "rx_queued_bytes", "tx_queued_bytes"]);
    }

    #[test]
    fn netlink_on_this_host() {
        let mut out = Vec::new();
        TcpstatCollector
            .collect(&HostPaths::default(), &mut out)
            .unwrap();
        assert!(out[0].metrics.len() >= 2);
    }
}
