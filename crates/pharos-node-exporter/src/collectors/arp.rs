//! The `arp` collector: ARP table entries per interface from `/proc/net/arp`.

use std::collections::BTreeMap;

use pharos_model::{MetricFamily, MetricType};

use super::device_filter::{rejected_flags, DeviceFilter};
use super::host_source::read_source_file;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct ArpCollector {
    /// The compiled filter, or why the flags were rejected.
    filter: Result<DeviceFilter, String>,
}

impl Collector for ArpCollector {
    fn name(&self) -> &'static str {
        "arp"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let filter = self
            .filter
            .as_ref()
            .map_err(|reason| rejected_flags("arp", reason))?;
        let path = paths.proc("net/arp");
        let text = read_source_file(&path)?;
        let mut family = MetricFamily::new(
            "node_arp_entries",
            "ARP entries by device",
            MetricType::Gauge,
        );
        for (device, count) in count_entries(&text) {
            if !filter.wants(device) {
                continue;
            }
            family.push([("device", device)], count as f64);
        }
        out.push(family);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    let filter = DeviceFilter::from_exclusive_flags(
        "arp",
        opts.arp_device_include.as_deref(),
        opts.arp_device_exclude.as_deref(),
    );
    Box::new(ArpCollector { filter })
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
    use crate::collectors::fake_host::procfs_host;

    #[test]
    fn filters_devices() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net")).unwrap();
        std::fs::write(
            dir.path().join("net/arp"),
            "IP address HW type Flags HW address Mask Device\n1.1.1.1 0x1 0x2 00:00:00:00:00:01 * eth0\n1.1.1.2 0x1 0x2 00:00:00:00:00:02 * eth1\n",
        )
        .unwrap();
        let paths = procfs_host(dir.path());
        let opts = CollectorOptions {
            arp_device_exclude: Some("^eth1$".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        build(&opts).collect(&paths, &mut out).unwrap();
        assert_eq!(out[0].metrics.len(), 1);
        assert_eq!(out[0].metrics[0].labels[0].1, "eth0");
        let both = CollectorOptions {
            arp_device_include: Some("a".into()),
            arp_device_exclude: Some("b".into()),
            ..Default::default()
        };
        assert!(build(&both).collect(&paths, &mut Vec::new()).is_err());
    }

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
