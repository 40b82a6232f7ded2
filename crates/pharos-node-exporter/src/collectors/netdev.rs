//! The `netdev` collector: per-interface traffic counters from `/proc/net/dev`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::device_filter::{rejected_flags, DeviceFilter};
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// The 16 columns of `/proc/net/dev`, in file order, as node_exporter names them.
const COLUMNS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

struct NetdevCollector {
    /// The compiled filter, or why the flags were rejected.
    filter: Result<DeviceFilter, String>,
}

impl Collector for NetdevCollector {
    fn name(&self) -> &'static str {
        "netdev"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let filter = self
            .filter
            .as_ref()
            .map_err(|reason| rejected_flags("netdev", reason))?;
        let path = paths.proc("net/dev");
        let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
            path: path.clone(),
            source,
        })?;
        let devices = parse_net_dev(&text, &path)?;
        let mut families: Vec<MetricFamily> = COLUMNS
            .iter()
            .map(|c| {
                MetricFamily::new(
                    format!("node_network_{c}_total"),
                    format!("Network device statistic {c}."),
                    MetricType::Counter,
                )
            })
            .collect();
        let mut nohandler = MetricFamily::new(
            "node_network_receive_nohandler_total",
            "Network device statistic receive_nohandler.",
            MetricType::Counter,
        );
        for (device, values) in devices {
            if !filter.wants(device) {
                continue;
            }
            for (family, value) in families.iter_mut().zip(values) {
                family.push([("device", device)], value);
            }
            // rx_nohandler is not in /proc/net/dev; node_exporter gets it over netlink, sysfs
            // has the same kernel counter.
            let stat = paths.sys(
                Path::new("class/net")
                    .join(device)
                    .join("statistics/rx_nohandler"),
            );
            if let Some(v) = std::fs::read_to_string(stat)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
            {
                nohandler.push([("device", device)], v);
            }
        }
        out.extend(families);
        out.push(nohandler);
        Ok(())
    }
}

/// Builds the collector, compiling the device filter once.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    let filter = DeviceFilter::from_exclusive_flags(
        "netdev",
        opts.netdev_device_include.as_deref(),
        opts.netdev_device_exclude.as_deref(),
    );
    if let Err(reason) = &filter {
        tracing::error!(collector = "netdev", %reason, "bad device filter");
    }
    Box::new(NetdevCollector { filter })
}

/// Rows after the two header lines: `  eth0: 1 2 ... 16`.
fn parse_net_dev<'a>(
    text: &'a str,
    path: &Path,
) -> Result<Vec<(&'a str, [f64; 16])>, CollectError> {
    let mut devices = Vec::new();
    for line in text.lines().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| CollectError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let (device, rest) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("line {line:?} has no ':'")))?;
        let mut values = [0.0; 16];
        let mut fields = rest.split_ascii_whitespace();
        for value in &mut values {
            let field = fields.next().ok_or_else(|| {
                bad(format!(
                    "device {:?} has fewer than 16 counters",
                    device.trim()
                ))
            })?;
            *value = field.parse().map_err(|_| {
                bad(format!(
                    "device {:?}: {field:?} is not a number",
                    device.trim()
                ))
            })?;
        }
        devices.push((device.trim(), values));
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:    2776      30    0    0    0     0          0         0     2776      30    0    0    0     0       0          0\n  \
eth0:1234567    890    1    2    3     4          5         6   765432     123    7    8    9    10      11         12\n";

    fn collect(opts: &CollectorOptions) -> Vec<MetricFamily> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net")).unwrap();
        std::fs::write(dir.path().join("net/dev"), NET_DEV).unwrap();
        let paths = HostPaths {
            procfs: dir.path().into(),
            sysfs: dir.path().join("nosys"),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        build(opts).collect(&paths, &mut out).unwrap();
        out
    }

    #[test]
    fn parses_all_columns() {
        let out = collect(&CollectorOptions::default());
        assert_eq!(out[0].name, "node_network_receive_bytes_total");
        assert_eq!(out[0].metrics.len(), 2);
        assert_eq!(
            out[0].metrics[1].value,
            pharos_model::MetricValue::Simple(1234567.0)
        );
        assert_eq!(out[15].name, "node_network_transmit_compressed_total");
        assert_eq!(
            out[15].metrics[1].value,
            pharos_model::MetricValue::Simple(12.0)
        );
        assert_eq!(out[13].help, "Network device statistic transmit_colls.");
    }

    #[test]
    fn filters_devices() {
        let out = collect(&CollectorOptions {
            netdev_device_exclude: Some("^lo$".into()),
            ..Default::default()
        });
        assert_eq!(out[0].metrics.len(), 1);
        let out = collect(&CollectorOptions {
            netdev_device_include: Some("^lo$".into()),
            ..Default::default()
        });
        assert_eq!(out[0].metrics[0].labels[0].1, "lo");
    }

    #[test]
    fn rejects_short_rows_and_conflicting_flags() {
        assert!(parse_net_dev("h\nh\n eth0: 1 2 3\n", Path::new("dev")).is_err());
        let both = CollectorOptions {
            netdev_device_include: Some("a".into()),
            netdev_device_exclude: Some("b".into()),
            ..Default::default()
        };
        assert!(build(&both)
            .collect(&HostPaths::default(), &mut Vec::new())
            .is_err());
    }
}
