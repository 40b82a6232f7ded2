//! The `udp_queues` collector: bytes queued in UDP socket buffers, from `/proc/net/udp{,6}`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct UdpQueuesCollector;

impl Collector for UdpQueuesCollector {
    fn name(&self) -> &'static str {
        "udp_queues"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut family = MetricFamily::new(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
            MetricType::Gauge,
        );
        let mut found = false;
        for (file, ip) in [("net/udp", "v4"), ("net/udp6", "v6")] {
            let path = paths.proc(file);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                // A host without IPv6 has no udp6 table; that is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(CollectError::Io { path, source }),
            };
            found = true;
            let (tx, rx) = sum_queues(&text, &path)?;
            family.push([("ip", ip), ("queue", "tx")], tx);
            family.push([("ip", ip), ("queue", "rx")], rx);
        }
        if !found {
            return Err(CollectError::NotPresent("UDP socket tables".into()));
        }
        out.push(family);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(UdpQueuesCollector)
}

/// Sums the `tx_queue:rx_queue` column (hexadecimal) over all sockets.
fn sum_queues(text: &str, path: &Path) -> Result<(f64, f64), CollectError> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in text.lines().skip(1) {
        let Some(queues) = line.split_ascii_whitespace().nth(4) else {
            continue;
        };
        let bad = || CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("queue column {queues:?} is not tx:rx in hex"),
        };
        let (t, r) = queues.split_once(':').ok_or_else(bad)?;
        tx = tx.saturating_add(u64::from_str_radix(t, 16).map_err(|_| bad())?);
        rx = rx.saturating_add(u64::from_str_radix(r, 16).map_err(|_| bad())?);
    }
    Ok((tx as f64, rx as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_both_queues() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 00000000:0044 00000000:0000 07 00000010:00000100 00:00000000 00000000     0        0 1 2 0 0\n\
  2: 00000000:0045 00000000:0000 07 00000001:00000001 00:00000000 00000000     0        0 1 2 0 0\n";
        assert_eq!(sum_queues(text, Path::new("udp")).unwrap(), (17.0, 257.0));
    }

    #[test]
    fn rejects_bad_queue_column() {
        let text = "header\n  1: a b 07 zz:00 x\n";
        assert!(sum_queues(text, Path::new("udp")).is_err());
        assert!(sum_queues("header\n  1: a b 07 0010 x\n", Path::new("udp")).is_err());
    }
}
