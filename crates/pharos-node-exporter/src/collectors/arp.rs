//! The `arp` collector: ARP table entries per interface from `/proc/net/arp`.

use std::collections::BTreeMap;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct ArpCollector;

impl Collector for ArpCollector {
    fn name(&self) -> &'static str {
        "arp"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("net/arp");
        let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => CollectError::NotPresent(path.display().to_string()),
            _ => CollectError::Io {
                path: path.clone(),
                source,
            },
        })?;
        let mut family = MetricFamily::new(
            "node_arp_entries",
            "ARP entries by device",
            MetricType::Gauge,
        );
        for (device, count) in count_entries(&text) {
            family.push([("device", device)], count as f64);
        }
        out.push(family);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(ArpCollector)
}

/// Counts rows by their sixth column (the device), skipping the header and short rows.
fn count_entries(text: &str) -> BTreeMap<&str, u64> {
    let mut counts = BTreeMap::new();
    for line in text.lines().skip(1) {
        if let Some(device) = line.split_ascii_whitespace().nth(5) {
            *counts.entry(device).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_device() {
        let text =
            "IP address       HW type     Flags       HW address            Mask     Device\n\
192.168.1.1      0x1         0x2         00:00:00:00:00:01     *        eth0\n\
192.168.1.2      0x1         0x2         00:00:00:00:00:02     *        eth0\n\
10.0.0.1         0x1         0x2         00:00:00:00:00:03     *        wlan0\n\
garbage\n";
        let counts = count_entries(text);
        assert_eq!(counts.get("eth0"), Some(&2));
        assert_eq!(counts.get("wlan0"), Some(&1));
        assert_eq!(counts.len(), 2);
    }
}
