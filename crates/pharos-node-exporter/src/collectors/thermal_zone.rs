//! The `thermal_zone` collector: zone temperatures and cooling-device throttle states from
//! `/sys/class/thermal`.

use std::fs;
use std::path::{Path, PathBuf};

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct ThermalZoneCollector;

/// Entries of `dir` whose names start with `prefix`, with the rest of the name, sorted.
fn numbered_entries(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(prefix)
                .map(|rest| (rest.to_string(), e.path()))
        })
        .collect();
    found.sort();
    found
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Reads an integer attribute. A missing or unreadable file (sensors that are asleep answer
/// EAGAIN/ENODATA) yields `Ok(None)` so the zone is skipped; garbage is a parse error.
fn read_int(path: &Path) -> Result<Option<i64>, CollectError> {
    let Some(raw) = read_trimmed(path) else {
        return Ok(None);
    };
    raw.parse::<i64>()
        .map(Some)
        .map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("invalid integer {raw:?}"),
        })
}

impl Collector for ThermalZoneCollector {
    fn name(&self) -> &'static str {
        "thermal_zone"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let class = paths.sys("class/thermal");
        if !class.is_dir() {
            return Err(CollectError::NotPresent(class.display().to_string()));
        }
        let mut temp = MetricFamily::new(
            "node_thermal_zone_temp",
            "Zone temperature in Celsius",
            MetricType::Gauge,
        );
        for (zone, dir) in numbered_entries(&class, "thermal_zone") {
            let (Some(kind), Some(_policy)) = (
                read_trimmed(&dir.join("type")),
                read_trimmed(&dir.join("policy")),
            ) else {
                continue;
            };
            let Some(millis) = read_int(&dir.join("temp"))? else {
                continue;
            };
            temp.push(
                [("type", kind.as_str()), ("zone", zone.as_str())],
                millis as f64 / 1000.0,
            );
        }
        let mut cur = MetricFamily::new(
            "node_cooling_device_cur_state",
            "Current throttle state of the cooling device",
            MetricType::Gauge,
        );
        let mut max = MetricFamily::new(
            "node_cooling_device_max_state",
            "Maximum throttle state of the cooling device",
            MetricType::Gauge,
        );
        for (name, dir) in numbered_entries(&class, "cooling_device") {
            let Some(kind) = read_trimmed(&dir.join("type")) else {
                continue;
            };
            let (Some(max_state), Some(cur_state)) = (
                read_int(&dir.join("max_state"))?,
                read_int(&dir.join("cur_state"))?,
            ) else {
                continue;
            };
            let labels = [("name", name.as_str()), ("type", kind.as_str())];
            cur.push(labels, cur_state as f64);
            max.push(labels, max_state as f64);
        }
        for mut family in [cur, max, temp] {
            family.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.push(family);
        }
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(ThermalZoneCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host, write};

    #[test]
    fn zones_and_cooling_devices() {
        let tmp = tempfile::tempdir().unwrap();
        let class = tmp.path().join("class/thermal");
        let z = class.join("thermal_zone0");
        write(&z, "type", "x86_pkg_temp\n");
        write(&z, "policy", "step_wise\n");
        write(&z, "temp", "42500\n");
        let asleep = class.join("thermal_zone1");
        write(&asleep, "type", "acpitz\n");
        write(&asleep, "policy", "step_wise\n");
        let c = class.join("cooling_device0");
        write(&c, "type", "Processor\n");
        write(&c, "cur_state", "0\n");
        write(&c, "max_state", "3\n");
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(tmp.path()),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"# HELP node_cooling_device_cur_state Current throttle state of the cooling device
# TYPE node_cooling_device_cur_state gauge
node_cooling_device_cur_state{name="0",type="Processor"} 0
# HELP node_cooling_device_max_state Maximum throttle state of the cooling device
# TYPE node_cooling_device_max_state gauge
node_cooling_device_max_state{name="0",type="Processor"} 3
# HELP node_thermal_zone_temp Zone temperature in Celsius
# TYPE node_thermal_zone_temp gauge
node_thermal_zone_temp{type="x86_pkg_temp",zone="0"} 42.5
"#
        );
    }

    #[test]
    fn garbage_temperature_is_a_parse_error() {
        let tmp = tempfile::tempdir().unwrap();
        let z = tmp.path().join("class/thermal/thermal_zone0");
        write(&z, "type", "acpitz\n");
        write(&z, "policy", "step_wise\n");
        write(&z, "temp", "hot\n");
        let paths = sysfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("thermal_zone0/temp"), "{err}");
    }
}
