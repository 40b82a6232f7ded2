//! The `infiniband` collector: InfiniBand adapter identity, port state and port counters from
//! `/sys/class/infiniband/<device>`.

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::{io_error, read_source_dir};
use super::sysfs_attrs::{parse_sysfs_uint, read_optional_attribute};
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// One port counter file and the metric it feeds.
struct PortCounter {
    /// Directory under the port: `counters`, or `counters_ext` for pre-4.5 64-bit counters.
    dir: &'static str,
    file: &'static str,
    name: &'static str,
    help: &'static str,
    /// Data counters count 32-bit words per lane; four lanes make octets.
    scale: u64,
}

const fn counter(
    dir: &'static str,
    file: &'static str,
    name: &'static str,
    help: &'static str,
    scale: u64,
) -> PortCounter {
    PortCounter {
        dir,
        file,
        name,
        help,
        scale,
    }
}

/// Every counter node_exporter exports, per the kernel's `sysfs-class-infiniband` ABI.
const COUNTERS: &[PortCounter] = &[
    counter("counters", "excessive_buffer_overrun_errors", "excessive_buffer_overrun_errors_total", "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error.", 1),
    counter("counters", "link_downed", "link_downed_total", "Number of times the link failed to recover from an error state and went down", 1),
    counter("counters", "link_error_recovery", "link_error_recovery_total", "Number of times the link successfully recovered from an error state", 1),
    counter("counters", "local_link_integrity_errors", "local_link_integrity_errors_total", "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors.", 1),
    counter("counters", "multicast_rcv_packets", "multicast_packets_received_total", "Number of multicast packets received (including errors)", 1),
    counter("counters", "multicast_xmit_packets", "multicast_packets_transmitted_total", "Number of multicast packets transmitted (including errors)", 1),
    counter("counters", "port_rcv_constraint_errors", "port_constraint_errors_received_total", "Number of packets received on the switch physical port that are discarded", 1),
    counter("counters", "port_rcv_data", "port_data_received_bytes_total", "Number of data octets received on all links", 4),
    counter("counters", "port_rcv_discards", "port_discards_received_total", "Number of inbound packets discarded by the port because the port is down or congested", 1),
    counter("counters", "port_rcv_errors", "port_errors_received_total", "Number of packets containing an error that were received on this port", 1),
    counter("counters", "port_rcv_packets", "port_packets_received_total", "Number of packets received on all VLs by this port (including errors)", 1),
    counter("counters", "port_rcv_remote_physical_errors", "port_receive_remote_physical_errors_total", "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port.", 1),
    counter("counters", "port_rcv_switch_relay_errors", "port_receive_switch_relay_errors_total", "Number of packets that could not be forwarded by the switch.", 1),
    counter("counters", "port_xmit_constraint_errors", "port_constraint_errors_transmitted_total", "Number of packets not transmitted from the switch physical port", 1),
    counter("counters", "port_xmit_data", "port_data_transmitted_bytes_total", "Number of data octets transmitted on all links", 4),
    counter("counters", "port_xmit_discards", "port_discards_transmitted_total", "Number of outbound packets discarded by the port because the port is down or congested", 1),
    counter("counters", "port_xmit_packets", "port_packets_transmitted_total", "Number of packets transmitted on all VLs from this port (including errors)", 1),
    counter("counters", "port_xmit_wait", "port_transmit_wait_total", "Number of ticks during which the port had data to transmit but no data was sent during the entire tick", 1),
    counter("counters", "symbol_error", "symbol_error_total", "Number of minor link errors detected on one or more physical lanes.", 1),
    counter("counters", "unicast_rcv_packets", "unicast_packets_received_total", "Number of unicast packets received (including errors)", 1),
    counter("counters", "unicast_xmit_packets", "unicast_packets_transmitted_total", "Number of unicast packets transmitted (including errors)", 1),
    counter("counters", "VL15_dropped", "vl15_dropped_total", "Number of incoming VL15 packets dropped due to resource limitations.", 1),
    counter("counters_ext", "port_multicast_rcv_packets", "legacy_multicast_packets_received_total", "Number of multicast packets received", 1),
    counter("counters_ext", "port_multicast_xmit_packets", "legacy_multicast_packets_transmitted_total", "Number of multicast packets transmitted", 1),
    counter("counters_ext", "port_rcv_data_64", "legacy_data_received_bytes_total", "Number of data octets received on all links", 4),
    counter("counters_ext", "port_rcv_packets_64", "legacy_packets_received_total", "Number of data packets received on all links", 1),
    counter("counters_ext", "port_unicast_rcv_packets", "legacy_unicast_packets_received_total", "Number of unicast packets received", 1),
    counter("counters_ext", "port_unicast_xmit_packets", "legacy_unicast_packets_transmitted_total", "Number of unicast packets transmitted", 1),
    counter("counters_ext", "port_xmit_data_64", "legacy_data_transmitted_bytes_total", "Number of data octets transmitted on all links", 4),
    counter("counters_ext", "port_xmit_packets_64", "legacy_packets_transmitted_total", "Number of data packets received on all links", 1),
];

/// What older drivers print for counters without a performance management agent.
const NOT_AVAILABLE: &str = "N/A (no PMA)";

struct InfinibandCollector;

fn parse_error(path: &Path, reason: String) -> CollectError {
    CollectError::Parse {
        path: path.to_path_buf(),
        reason,
    }
}

/// `<id>: <NAME>` as in `state` and `phys_state`.
fn parse_state(path: &Path) -> Result<u64, CollectError> {
    let raw = fs::read_to_string(path).map_err(|source| io_error(path, source))?;
    let mut parts = raw.split(':');
    let (Some(id), Some(_), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(parse_error(
            path,
            format!("expected \"ID: NAME\", got {:?}", raw.trim()),
        ));
    };
    id.trim()
        .parse::<u32>()
        .map(u64::from)
        .map_err(|_| parse_error(path, format!("invalid state id {:?}", id.trim())))
}

/// `100 Gb/sec (4X EDR)` as bytes per second. The number is read at single precision and the
/// product truncated, which is how node_exporter arrives at its value.
fn parse_rate(path: &Path) -> Result<f64, CollectError> {
    let raw = fs::read_to_string(path).map_err(|source| io_error(path, source))?;
    let Some((number, _)) = raw.split_once(' ') else {
        return Err(parse_error(path, format!("invalid rate {:?}", raw.trim())));
    };
    let gbits: f32 = number
        .trim()
        .parse()
        .map_err(|_| parse_error(path, format!("invalid rate {:?}", raw.trim())))?;
    let bytes = f64::from(gbits) * 125_000_000.0;
    if !bytes.is_finite() || bytes < 0.0 {
        return Err(parse_error(path, format!("invalid rate {:?}", raw.trim())));
    }
    Ok(bytes.trunc())
}

/// Names of the regular files in a counters directory; `counters` must exist, while
/// `counters_ext` only exists on kernels before 4.5.
fn counter_files(dir: &Path, required: bool) -> Result<HashSet<String>, CollectError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if !required && e.kind() == ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(source) => return Err(io_error(dir, source)),
    };
    Ok(entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

/// One counter: `None` when the file is absent, unreadable by design or not available.
fn read_counter(path: &Path) -> Result<Option<u64>, CollectError> {
    let raw = match fs::read_to_string(path) {
        Ok(raw) => raw,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::InvalidInput
            ) || e.raw_os_error() == Some(libc::EOPNOTSUPP) =>
        {
            return Ok(None)
        }
        Err(source) => return Err(io_error(path, source)),
    };
    let value = raw.trim();
    match parse_sysfs_uint(value) {
        Some(v) => Ok(Some(v)),
        None if value.contains(NOT_AVAILABLE) => Ok(None),
        None => Err(parse_error(path, format!("invalid counter {value:?}"))),
    }
}

/// Metric families of one scrape, in the order of [`COUNTERS`] after the port gauges.
struct Families {
    info: MetricFamily,
    state: MetricFamily,
    physical_state: MetricFamily,
    rate: MetricFamily,
    counters: Vec<MetricFamily>,
}

impl Families {
    fn new() -> Self {
        let gauge = MetricType::Gauge;
        Families {
            info: MetricFamily::new(
                "node_infiniband_info",
                "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
                gauge,
            ),
            state: MetricFamily::new(
                "node_infiniband_state_id",
                "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)",
                gauge,
            ),
            physical_state: MetricFamily::new(
                "node_infiniband_physical_state_id",
                "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)",
                gauge,
            ),
            rate: MetricFamily::new(
                "node_infiniband_rate_bytes_per_second",
                "Maximum signal transfer rate",
                gauge,
            ),
            counters: COUNTERS
                .iter()
                .map(|c| {
                    MetricFamily::new(
                        format!("node_infiniband_{}", c.name),
                        c.help,
                        MetricType::Counter,
                    )
                })
                .collect(),
        }
    }

    fn collect_device(&mut self, dir: &Path, device: &str) -> Result<(), CollectError> {
        let board_id = read_optional_attribute(&dir.join("board_id"))?;
        let firmware = read_optional_attribute(&dir.join("fw_ver"))?;
        let hca_type = read_optional_attribute(&dir.join("hca_type"))?;
        self.info.push(
            [
                ("board_id", board_id.as_str()),
                ("device", device),
                ("firmware_version", firmware.as_str()),
                ("hca_type", hca_type.as_str()),
            ],
            1.0,
        );
        let ports_dir = dir.join("ports");
        let entries = fs::read_dir(&ports_dir).map_err(|source| io_error(&ports_dir, source))?;
        let mut ports: Vec<(u32, String)> = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let number = name
                .parse::<u32>()
                .map_err(|_| parse_error(&ports_dir, format!("invalid port number {name:?}")))?;
            ports.push((number, name));
        }
        ports.sort();
        for (number, name) in ports {
            self.collect_port(&ports_dir.join(&name), device, &number.to_string())?;
        }
        Ok(())
    }

    fn collect_port(&mut self, dir: &Path, device: &str, port: &str) -> Result<(), CollectError> {
        let labels = [("device", device), ("port", port)];
        let state = parse_state(&dir.join("state"))?;
        let physical_state = parse_state(&dir.join("phys_state"))?;
        let rate = parse_rate(&dir.join("rate"))?;
        // Listing each directory once spares an open() per counter the driver lacks.
        let present = counter_files(&dir.join("counters"), true)?;
        let present_ext = counter_files(&dir.join("counters_ext"), false)?;
        let mut values = Vec::with_capacity(COUNTERS.len());
        for c in COUNTERS {
            let listed = if c.dir == "counters" {
                &present
            } else {
                &present_ext
            };
            let value = if listed.contains(c.file) {
                read_counter(&dir.join(c.dir).join(c.file))?
            } else {
                None
            };
            values.push(value.map(|v| v.wrapping_mul(c.scale)));
        }
        self.state.push(labels, state as f64);
        self.physical_state.push(labels, physical_state as f64);
        self.rate.push(labels, rate);
        for (family, value) in self.counters.iter_mut().zip(values) {
            if let Some(v) = value {
                family.push(labels, v as f64);
            }
        }
        Ok(())
    }
}

impl Collector for InfinibandCollector {
    fn name(&self) -> &'static str {
        "infiniband"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let class = paths.sys("class/infiniband");
        let entries = read_source_dir(&class)?;
        let mut devices: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        devices.sort();
        let mut families = Families::new();
        for device in &devices {
            families.collect_device(&class.join(device), device)?;
        }
        out.push(families.info);
        out.push(families.state);
        out.push(families.physical_state);
        out.push(families.rate);
        out.extend(families.counters);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(InfinibandCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{normalized_text, sysfs_host, write};

    fn render(root: &Path) -> Result<String, CollectError> {
        normalized_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(root),
        )
    }

    fn port(dir: &Path, state: &str, phys: &str, rate: &str) {
        write(dir, "state", state);
        write(dir, "phys_state", phys);
        write(dir, "rate", rate);
        fs::create_dir_all(dir.join("counters")).unwrap();
    }

    #[test]
    fn ports_and_counters_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().join("class/infiniband/mlx4_0");
        write(&dev, "board_id", "SM_1141000001000\n");
        write(&dev, "fw_ver", "2.31.5050\n");
        write(&dev, "hca_type", "MT4099\n");
        let p1 = dev.join("ports/1");
        port(&p1, "4: ACTIVE\n", "5: LinkUp\n", "40 Gb/sec (4X QDR)\n");
        write(&p1.join("counters"), "port_rcv_data", "8008\n");
        write(&p1.join("counters"), "VL15_dropped", "22\n");
        write(&p1.join("counters"), "symbol_error", "N/A (no PMA)\n");
        write(&p1.join("counters"), "not_a_counter", "x\n");
        write(&p1.join("counters_ext"), "port_xmit_data_64", "2900029\n");
        let p2 = dev.join("ports/2");
        port(&p2, "1: DOWN\n", "3: Disabled\n", "2.5 Gb/sec (1X SDR)\n");
        let text = render(tmp.path()).unwrap();
        let expected = r#"# HELP node_infiniband_info Non-numeric data from /sys/class/infiniband/<device>, value is always 1.
# TYPE node_infiniband_info gauge
node_infiniband_info{board_id="SM_1141000001000",device="mlx4_0",firmware_version="2.31.5050",hca_type="MT4099"} 1
# HELP node_infiniband_legacy_data_transmitted_bytes_total Number of data octets transmitted on all links
# TYPE node_infiniband_legacy_data_transmitted_bytes_total counter
node_infiniband_legacy_data_transmitted_bytes_total{device="mlx4_0",port="1"} 1.1600116e+07
# HELP node_infiniband_physical_state_id Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)
# TYPE node_infiniband_physical_state_id gauge
node_infiniband_physical_state_id{device="mlx4_0",port="1"} 5
node_infiniband_physical_state_id{device="mlx4_0",port="2"} 3
# HELP node_infiniband_port_data_received_bytes_total Number of data octets received on all links
# TYPE node_infiniband_port_data_received_bytes_total counter
node_infiniband_port_data_received_bytes_total{device="mlx4_0",port="1"} 32032
# HELP node_infiniband_rate_bytes_per_second Maximum signal transfer rate
# TYPE node_infiniband_rate_bytes_per_second gauge
node_infiniband_rate_bytes_per_second{device="mlx4_0",port="1"} 5e+09
node_infiniband_rate_bytes_per_second{device="mlx4_0",port="2"} 3.125e+08
# HELP node_infiniband_state_id State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)
# TYPE node_infiniband_state_id gauge
node_infiniband_state_id{device="mlx4_0",port="1"} 4
node_infiniband_state_id{device="mlx4_0",port="2"} 1
# HELP node_infiniband_vl15_dropped_total Number of incoming VL15 packets dropped due to resource limitations.
# TYPE node_infiniband_vl15_dropped_total counter
node_infiniband_vl15_dropped_total{device="mlx4_0",port="1"} 22
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn bad_files_are_parse_errors_naming_the_file() {
        for (file, value, needle) in [
            ("state", "ACTIVE\n", "ports/1/state"),
            ("rate", "fast\n", "ports/1/rate"),
            ("counters/link_downed", "-3\n", "counters/link_downed"),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let p1 = tmp.path().join("class/infiniband/mlx5_0/ports/1");
            port(&p1, "4: ACTIVE\n", "5: LinkUp\n", "100 Gb/sec (4X EDR)\n");
            fs::write(p1.join(file), value).unwrap();
            let err = render(tmp.path()).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn absent_class_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let err = render(tmp.path()).unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }
}
