//! The `time` collector: wall-clock time, local time zone offset and clock sources.

use std::ffi::CStr;
use std::time::{SystemTime, UNIX_EPOCH};

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct TimeCollector;

impl Collector for TimeCollector {
    fn name(&self) -> &'static str {
        "time"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        out.push(MetricFamily::single(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            MetricType::Gauge,
            now.as_secs_f64(),
        ));
        let (zone, offset) = local_zone(now.as_secs() as libc::time_t);
        let mut tz = MetricFamily::new(
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
            MetricType::Gauge,
        );
        tz.push([("time_zone", zone)], offset);
        out.push(tz);
        clocksources(paths, out)
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(TimeCollector)
}

/// The abbreviation and UTC offset of the local time zone at `t`, via localtime_r(3).
fn local_zone(t: libc::time_t) -> (String, f64) {
    // SAFETY: tm is plain old data.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is thread-safe.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return ("UTC".into(), 0.0);
    }
    let zone = if tm.tm_zone.is_null() {
        "UTC".to_string()
    } else {
        // SAFETY: tm_zone points at a NUL-terminated static string owned by libc.
        unsafe { CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    (zone, tm.tm_gmtoff as f64)
}

/// `node_time_clocksource_{available,current}_info` from
/// `/sys/devices/system/clocksource/clocksource<N>/`.
fn clocksources(paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
    let base = paths.sys("devices/system/clocksource");
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Ok(());
    };
    let mut devices: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("clocksource"))
                .map(str::to_owned)
        })
        .collect();
    devices.sort();
    let mut available = MetricFamily::new(
        "node_time_clocksource_available_info",
        "Available clocksources read from '/sys/devices/system/clocksource'.",
        MetricType::Gauge,
    );
    let mut current = MetricFamily::new(
        "node_time_clocksource_current_info",
        "Current clocksource read from '/sys/devices/system/clocksource'.",
        MetricType::Gauge,
    );
    for device in &devices {
        let dir = base.join(format!("clocksource{device}"));
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|source| CollectError::Io { path, source })
        };
        for source in read("available_clocksource")?.split_ascii_whitespace() {
            available.push([("clocksource", source), ("device", device)], 1.0);
        }
        for source in read("current_clocksource")?.split_ascii_whitespace() {
            current.push([("clocksource", source), ("device", device)], 1.0);
        }
    }
    out.push(available);
    out.push(current);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::sysfs_host;

    #[test]
    fn reads_clocksources() {
        let dir = tempfile::tempdir().unwrap();
        let cs = dir.path().join("devices/system/clocksource/clocksource0");
        std::fs::create_dir_all(&cs).unwrap();
        std::fs::write(cs.join("available_clocksource"), "tsc kvm-clock acpi_pm \n").unwrap();
        std::fs::write(cs.join("current_clocksource"), "tsc\n").unwrap();
        let paths = sysfs_host(dir.path());
        let mut out = Vec::new();
        TimeCollector.collect(&paths, &mut out).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_time_seconds",
                "node_time_zone_offset_seconds",
                "node_time_clocksource_available_info",
                "node_time_clocksource_current_info"
            ]
        );
        assert_eq!(out[2].metrics.len(), 3);
        assert_eq!(
            out[3].metrics[0].labels[0],
            ("clocksource".to_string(), "tsc".to_string())
        );
    }
}
