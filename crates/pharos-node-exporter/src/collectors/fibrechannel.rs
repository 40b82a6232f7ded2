//! The `fibrechannel` collector: Fibre Channel host bus adapter state and port counters from
//! `/sys/class/fc_host/<host>`.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_dir;
use super::sysfs_attrs::{parse_sysfs_uint, read_optional_attribute};
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// Counter files under `statistics/`, with the metric name suffix and HELP text of each.
const COUNTERS: &[(&str, &str, &str)] = &[
    (
        "dumped_frames",
        "dumped_frames_total",
        "Number of dumped frames",
    ),
    (
        "error_frames",
        "error_frames_total",
        "Number of errors in frames",
    ),
    (
        "invalid_crc_count",
        "invalid_crc_total",
        "Invalid Cyclic Redundancy Check count",
    ),
    ("rx_frames", "rx_frames_total", "Number of frames received"),
    (
        "rx_words",
        "rx_words_total",
        "Number of words received by host port",
    ),
    (
        "tx_frames",
        "tx_frames_total",
        "Number of frames transmitted by host port",
    ),
    (
        "tx_words",
        "tx_words_total",
        "Number of words transmitted by host port",
    ),
    (
        "seconds_since_last_reset",
        "seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "invalid_tx_word_count",
        "invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_sync_count",
        "loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "loss_of_signal_count",
        "loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "nos_count",
        "nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    (
        "fcp_packet_aborts",
        "fcp_packet_aborts_total",
        "Number of aborted packets",
    ),
];

/// `node_fibrechannel_info` labels after `fc_host`, each read from the file of the same name.
const INFO_ATTRIBUTES: &[&str] = &[
    "speed",
    "port_state",
    "port_type",
    "port_id",
    "port_name",
    "fabric_name",
    "symbolic_name",
    "supported_classes",
    "supported_speeds",
    "dev_loss_tmo",
];

/// HBA firmware reports a counter it does not implement as all ones; such counters are left out.
const UNIMPLEMENTED: u64 = u64::MAX;

struct FibreChannelCollector;

/// A counter from `statistics/`; a missing file reads as 0, as in node_exporter 1.5.
fn read_counter(path: &Path) -> Result<u64, CollectError> {
    let raw = match fs::read_to_string(path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(CollectError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse_sysfs_uint(raw.trim()).ok_or_else(|| CollectError::Parse {
        path: path.to_path_buf(),
        reason: format!("invalid counter {:?}", raw.trim()),
    })
}

/// Names and addresses are written `0x...`; the label carries the digits only.
fn without_hex_prefix(value: String) -> String {
    match value.get(2..) {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => value,
    }
}

impl Collector for FibreChannelCollector {
    fn name(&self) -> &'static str {
        "fibrechannel"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let class = paths.sys("class/fc_host");
        let entries = read_source_dir(&class)?;
        let mut hosts: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        hosts.sort();

        let mut info = MetricFamily::new(
            "node_fibrechannel_info",
            "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
            MetricType::Gauge,
        );
        let mut counters: Vec<MetricFamily> = COUNTERS
            .iter()
            .map(|(_, name, help)| {
                MetricFamily::new(
                    format!("node_fibrechannel_{name}"),
                    *help,
                    MetricType::Counter,
                )
            })
            .collect();
        for host in &hosts {
            let dir = class.join(host);
            let mut labels = vec![("fc_host".to_string(), host.clone())];
            for attribute in INFO_ATTRIBUTES {
                let mut value = read_optional_attribute(&dir.join(attribute))?;
                if matches!(*attribute, "port_id" | "port_name" | "fabric_name") {
                    value = without_hex_prefix(value);
                }
                labels.push((attribute.to_string(), value));
            }
            info.push(labels, 1.0);

            let stats = dir.join("statistics");
            if let Err(source) = fs::read_dir(&stats) {
                return Err(CollectError::Io {
                    path: stats,
                    source,
                });
            }
            for ((file, _, _), family) in COUNTERS.iter().zip(counters.iter_mut()) {
                let value = read_counter(&stats.join(file))?;
                if value != UNIMPLEMENTED {
                    family.push([("fc_host", host.as_str())], value as f64);
                }
            }
        }
        out.push(info);
        out.extend(counters);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(FibreChannelCollector)
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

    #[test]
    fn host_info_and_counters_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("class/fc_host/host0");
        for (file, value) in [
            ("speed", "16 Gbit\n"),
            ("port_state", "Online\n"),
            ("port_type", "Point-To-Point (direct nport connection)\n"),
            ("symbolic_name", "Emulex SN1100E2P\n"),
            ("node_name", "0x2000e0071bce95f2\n"),
            ("port_id", "0x000002\n"),
            ("port_name", "0x1000e0071bce95f2\n"),
            ("fabric_name", "0x0\n"),
            ("dev_loss_tmo", "30\n"),
            ("supported_classes", "Class 3\n"),
        ] {
            write(&host, file, value);
        }
        let stats = host.join("statistics");
        write(&stats, "dumped_frames", "0xffffffffffffffff\n");
        write(&stats, "error_frames", "0\n");
        write(&stats, "rx_frames", "0x30\n");
        write(&stats, "nos_count", "18\n");
        write(&stats, "lip_count", "0x5\n");
        write(&stats, "reset_statistics", "");
        let text = render(tmp.path()).unwrap();
        let expected = r#"# HELP node_fibrechannel_error_frames_total Number of errors in frames
# TYPE node_fibrechannel_error_frames_total counter
node_fibrechannel_error_frames_total{fc_host="host0"} 0
# HELP node_fibrechannel_fcp_packet_aborts_total Number of aborted packets
# TYPE node_fibrechannel_fcp_packet_aborts_total counter
node_fibrechannel_fcp_packet_aborts_total{fc_host="host0"} 0
# HELP node_fibrechannel_info Non-numeric data from /sys/class/fc_host/<host>, value is always 1.
# TYPE node_fibrechannel_info gauge
node_fibrechannel_info{dev_loss_tmo="30",fabric_name="0",fc_host="host0",port_id="000002",port_name="1000e0071bce95f2",port_state="Online",port_type="Point-To-Point (direct nport connection)",speed="16 Gbit",supported_classes="Class 3",supported_speeds="",symbolic_name="Emulex SN1100E2P"} 1
# HELP node_fibrechannel_invalid_crc_total Invalid Cyclic Redundancy Check count
# TYPE node_fibrechannel_invalid_crc_total counter
node_fibrechannel_invalid_crc_total{fc_host="host0"} 0
# HELP node_fibrechannel_invalid_tx_words_total Number of invalid words transmitted by host port
# TYPE node_fibrechannel_invalid_tx_words_total counter
node_fibrechannel_invalid_tx_words_total{fc_host="host0"} 0
# HELP node_fibrechannel_link_failure_total Number of times the host port link has failed
# TYPE node_fibrechannel_link_failure_total counter
node_fibrechannel_link_failure_total{fc_host="host0"} 0
# HELP node_fibrechannel_loss_of_signal_total Number of times signal has been lost
# TYPE node_fibrechannel_loss_of_signal_total counter
node_fibrechannel_loss_of_signal_total{fc_host="host0"} 0
# HELP node_fibrechannel_loss_of_sync_total Number of failures on either bit or transmission word boundaries
# TYPE node_fibrechannel_loss_of_sync_total counter
node_fibrechannel_loss_of_sync_total{fc_host="host0"} 0
# HELP node_fibrechannel_nos_total Number Not_Operational Primitive Sequence received by host port
# TYPE node_fibrechannel_nos_total counter
node_fibrechannel_nos_total{fc_host="host0"} 18
# HELP node_fibrechannel_rx_frames_total Number of frames received
# TYPE node_fibrechannel_rx_frames_total counter
node_fibrechannel_rx_frames_total{fc_host="host0"} 48
# HELP node_fibrechannel_rx_words_total Number of words received by host port
# TYPE node_fibrechannel_rx_words_total counter
node_fibrechannel_rx_words_total{fc_host="host0"} 0
# HELP node_fibrechannel_seconds_since_last_reset_total Number of seconds since last host port reset
# TYPE node_fibrechannel_seconds_since_last_reset_total counter
node_fibrechannel_seconds_since_last_reset_total{fc_host="host0"} 0
# HELP node_fibrechannel_tx_frames_total Number of frames transmitted by host port
# TYPE node_fibrechannel_tx_frames_total counter
node_fibrechannel_tx_frames_total{fc_host="host0"} 0
# HELP node_fibrechannel_tx_words_total Number of words transmitted by host port
# TYPE node_fibrechannel_tx_words_total counter
node_fibrechannel_tx_words_total{fc_host="host0"} 0
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn garbage_counter_is_a_parse_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            &tmp.path().join("class/fc_host/host3/statistics"),
            "tx_words",
            "0xzz\n",
        );
        let err = render(tmp.path()).unwrap_err();
        assert!(
            err.to_string().contains("host3/statistics/tx_words"),
            "{err}"
        );
    }

    #[test]
    fn absent_class_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let err = render(tmp.path()).unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }
}
