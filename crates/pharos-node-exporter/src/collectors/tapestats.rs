//! The `tapestats` collector: SCSI tape drive I/O statistics from
//! `/sys/class/scsi_tape/st*/stats`.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_dir;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// How a statistics file becomes a metric.
struct TapeMetric {
    file: &'static str,
    name: &'static str,
    help: &'static str,
    ty: MetricType,
    /// The kernel counts time in nanoseconds; exported as seconds.
    nanoseconds: bool,
}

const fn metric(
    file: &'static str,
    name: &'static str,
    help: &'static str,
    ty: MetricType,
    nanoseconds: bool,
) -> TapeMetric {
    TapeMetric {
        file,
        name,
        help,
        ty,
        nanoseconds,
    }
}

/// The exported statistics, per the kernel's `Documentation/scsi/st.rst`.
const METRICS: &[TapeMetric] = &[
    metric("in_flight", "node_tape_io_now", "The number of I/Os currently outstanding to this device.", MetricType::Gauge, false),
    metric("io_ns", "node_tape_io_time_seconds_total", "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.", MetricType::Counter, true),
    metric("other_cnt", "node_tape_io_others_total", "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total", MetricType::Counter, false),
    metric("read_byte_cnt", "node_tape_read_bytes_total", "The number of bytes read from the tape drive.", MetricType::Counter, false),
    metric("read_cnt", "node_tape_reads_completed_total", "The number of read requests issued to the tape drive.", MetricType::Counter, false),
    metric("read_ns", "node_tape_read_time_seconds_total", "The amount of time spent waiting for read requests to complete.", MetricType::Counter, true),
    metric("resid_cnt", "node_tape_residual_total", "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.", MetricType::Counter, false),
    metric("write_byte_cnt", "node_tape_written_bytes_total", "The number of bytes written to the tape drive.", MetricType::Counter, false),
    metric("write_cnt", "node_tape_writes_completed_total", "The number of write requests issued to the tape drive.", MetricType::Counter, false),
    metric("write_ns", "node_tape_write_time_seconds_total", "The amount of time spent waiting for write requests to complete.", MetricType::Counter, true),
];

struct TapestatsCollector;

/// `st<N>`: the rewinding device; `nst*` and mode variants (`st0a`) are the same drive.
fn is_tape_device(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// One statistics value; a missing file reads as 0, as in node_exporter.
fn read_counter(path: &Path) -> Result<u64, CollectError> {
    match fs::read_to_string(path) {
        Ok(raw) => raw.trim().parse().map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("invalid counter {:?}", raw.trim()),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
        Err(source) => Err(CollectError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Collector for TapestatsCollector {
    fn name(&self) -> &'static str {
        "tapestats"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let class = paths.sys("class/scsi_tape");
        let entries = read_source_dir(&class)?;
        let mut devices: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| is_tape_device(name))
            .collect();
        devices.sort();
        let mut families: Vec<MetricFamily> = METRICS
            .iter()
            .map(|m| MetricFamily::new(m.name, m.help, m.ty))
            .collect();
        for device in &devices {
            let stats = class.join(device).join("stats");
            if let Err(source) = fs::read_dir(&stats) {
                return Err(CollectError::Io {
                    path: stats,
                    source,
                });
            }
            for (m, family) in METRICS.iter().zip(families.iter_mut()) {
                let raw = read_counter(&stats.join(m.file))? as f64;
                // Multiplying (not dividing) matches node_exporter's float rounding exactly.
                let value = if m.nanoseconds {
                    raw * 0.000000001
                } else {
                    raw
                };
                family.push([("device", device.as_str())], value);
            }
        }
        out.extend(families);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(TapestatsCollector)
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
    fn tape_statistics_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        let class = tmp.path().join("class/scsi_tape");
        let st0 = class.join("st0/stats");
        for (i, m) in METRICS.iter().enumerate() {
            write(&st0, m.file, &format!("{}\n", (i as u64 + 1) * 1_234_567));
        }
        write(&class.join("st1/stats"), "in_flight", "1\n");
        fs::create_dir_all(class.join("nst0")).unwrap();
        fs::create_dir_all(class.join("st0a")).unwrap();
        let text = render(tmp.path()).unwrap();
        let expected = r#"# HELP node_tape_io_now The number of I/Os currently outstanding to this device.
# TYPE node_tape_io_now gauge
node_tape_io_now{device="st0"} 1.234567e+06
node_tape_io_now{device="st1"} 1
# HELP node_tape_io_others_total The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total
# TYPE node_tape_io_others_total counter
node_tape_io_others_total{device="st0"} 3.703701e+06
node_tape_io_others_total{device="st1"} 0
# HELP node_tape_io_time_seconds_total The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.
# TYPE node_tape_io_time_seconds_total counter
node_tape_io_time_seconds_total{device="st0"} 0.002469134
node_tape_io_time_seconds_total{device="st1"} 0
# HELP node_tape_read_bytes_total The number of bytes read from the tape drive.
# TYPE node_tape_read_bytes_total counter
node_tape_read_bytes_total{device="st0"} 4.938268e+06
node_tape_read_bytes_total{device="st1"} 0
# HELP node_tape_read_time_seconds_total The amount of time spent waiting for read requests to complete.
# TYPE node_tape_read_time_seconds_total counter
node_tape_read_time_seconds_total{device="st0"} 0.007407402
node_tape_read_time_seconds_total{device="st1"} 0
# HELP node_tape_reads_completed_total The number of read requests issued to the tape drive.
# TYPE node_tape_reads_completed_total counter
node_tape_reads_completed_total{device="st0"} 6.172835e+06
node_tape_reads_completed_total{device="st1"} 0
# HELP node_tape_residual_total The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.
# TYPE node_tape_residual_total counter
node_tape_residual_total{device="st0"} 8.641969e+06
node_tape_residual_total{device="st1"} 0
# HELP node_tape_write_time_seconds_total The amount of time spent waiting for write requests to complete.
# TYPE node_tape_write_time_seconds_total counter
node_tape_write_time_seconds_total{device="st0"} 0.012345670000000001
node_tape_write_time_seconds_total{device="st1"} 0
# HELP node_tape_writes_completed_total The number of write requests issued to the tape drive.
# TYPE node_tape_writes_completed_total counter
node_tape_writes_completed_total{device="st0"} 1.1111103e+07
node_tape_writes_completed_total{device="st1"} 0
# HELP node_tape_written_bytes_total The number of bytes written to the tape drive.
# TYPE node_tape_written_bytes_total counter
node_tape_written_bytes_total{device="st0"} 9.876536e+06
node_tape_written_bytes_total{device="st1"} 0
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn garbage_counter_is_a_parse_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            &tmp.path().join("class/scsi_tape/st0/stats"),
            "read_cnt",
            "lots\n",
        );
        let err = render(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("st0/stats/read_cnt"), "{err}");
    }

    #[test]
    fn absent_class_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let err = render(tmp.path()).unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }

    #[test]
    fn only_st_n_devices_count() {
        assert!(is_tape_device("st0"));
        assert!(is_tape_device("st12"));
        assert!(!is_tape_device("st"));
        assert!(!is_tape_device("nst0"));
        assert!(!is_tape_device("st0a"));
    }
}
