//! The `hwmon` collector: hardware sensors (temperatures, fans, voltages, power) from
//! `/sys/class/hwmon`, named like node_exporter so lm-sensors style dashboards keep working.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};
use regex::Regex;

use super::host_source::read_source_dir;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// Sensor file prefixes the kernel documents in `Documentation/hwmon/sysfs-interface`.
const SENSOR_TYPES: &[&str] = &[
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

struct HwmonCollector {
    /// `<type><index>_<property>`, e.g. `temp1_crit_alarm`.
    file_name: Regex,
}

/// Values of one sensor keyed by property (`""` for a bare file like `pwm1`).
type SensorData = BTreeMap<String, String>;

/// Metric families of one scrape, merged by name.
#[derive(Default)]
struct Families(BTreeMap<String, MetricFamily>);

impl Families {
    fn add(&mut self, name: &str, help: &str, ty: MetricType, labels: &[(&str, &str)], value: f64) {
        let family = self
            .0
            .entry(name.to_string())
            .or_insert_with(|| MetricFamily::new(name, help, ty));
        family.push(labels.iter().copied(), value);
    }
}

/// Lower-cases and replaces everything outside `[a-z0-9:_]` by `_`, then trims `_`.
fn clean_name(raw: &str) -> String {
    let replaced: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    replaced.trim_matches('_').to_string()
}

impl HwmonCollector {
    /// Splits a file name into sensor type, index and property.
    fn explode<'a>(&self, file: &'a str) -> Option<(&'a str, u64, &'a str)> {
        let caps = self.file_name.captures(file)?;
        let ty = caps.name("type")?.as_str();
        let id = match caps.name("id").map(|m| m.as_str()) {
            Some(digits) if !digits.is_empty() => digits.parse().ok()?,
            _ => 0,
        };
        let property = caps.name("property").map(|m| m.as_str()).unwrap_or("");
        Some((ty, id, property))
    }

    fn read_sensors(
        &self,
        dir: &Path,
        data: &mut BTreeMap<String, SensorData>,
    ) -> Result<(), CollectError> {
        let entries = fs::read_dir(dir).map_err(|source| CollectError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some((ty, id, property)) = self.explode(&file) else {
                continue;
            };
            if !SENSOR_TYPES.contains(&ty) {
                continue;
            }
            // Unreadable sensors (e.g. write-only `pwm1_enable`, or a fault) are skipped.
            let Ok(raw) = fs::read_to_string(entry.path()) else {
                continue;
            };
            data.entry(format!("{ty}{id}"))
                .or_default()
                .insert(property.to_string(), raw.trim_matches('\n').to_string());
        }
        Ok(())
    }

    fn collect_chip(&self, dir: &Path, fams: &mut Families) -> Result<(), CollectError> {
        let chip = chip_name(dir)?;
        let mut data = BTreeMap::new();
        self.read_sensors(dir, &mut data)?;
        let device = dir.join("device");
        if device.exists() {
            self.read_sensors(&device, &mut data)?;
        }
        if let Some(human) = human_chip_name(dir) {
            fams.add(
                "node_hwmon_chip_names",
                "Annotation metric for human-readable chip names",
                MetricType::Gauge,
                &[("chip", &chip), ("chip_name", &human)],
                1.0,
            );
        }
        for (sensor, props) in &data {
            let Some((ty, _, _)) = self.explode(sensor) else {
                continue;
            };
            let labels = [("chip", chip.as_str()), ("sensor", sensor.as_str())];
            if let Some(text) = props.get("label") {
                let label = clean_name(text);
                if !label.is_empty() {
                    fams.add(
                        "node_hwmon_sensor_label",
                        "Label for given chip and sensor",
                        MetricType::Gauge,
                        &[("chip", &chip), ("label", &label), ("sensor", sensor)],
                        1.0,
                    );
                }
            }
            let bare = props.get("").map(String::as_str);
            match ty {
                "beep_enable" => {
                    let value = if bare == Some("1") { 1.0 } else { 0.0 };
                    fams.add(
                        "node_hwmon_beep_enabled",
                        "Hardware beep enabled",
                        MetricType::Gauge,
                        &labels,
                        value,
                    );
                    continue;
                }
                "vrm" => {
                    if let Some(v) = bare.and_then(|b| b.parse::<f64>().ok()) {
                        fams.add(
                            "node_hwmon_voltage_regulator_version",
                            "Hardware voltage regulator",
                            MetricType::Gauge,
                            &labels,
                            v,
                        );
                    }
                    continue;
                }
                "update_interval" => {
                    if let Some(v) = bare.and_then(|b| b.parse::<f64>().ok()) {
                        fams.add(
                            "node_hwmon_update_interval_seconds",
                            "Hardware monitor update interval",
                            MetricType::Gauge,
                            &labels,
                            v * 0.001,
                        );
                    }
                    continue;
                }
                _ => {}
            }
            for (element, raw) in props {
                if element == "label" {
                    continue;
                }
                let Ok(value) = raw.parse::<f64>() else {
                    continue;
                };
                add_element(fams, ty, element, bare.is_some(), value, &labels);
            }
        }
        Ok(())
    }
}

/// Names, units and scales one sensor property the way node_exporter does.
fn add_element(
    fams: &mut Families,
    ty: &str,
    element: &str,
    has_bare: bool,
    value: f64,
    labels: &[(&str, &str)],
) {
    let mut name = format!("node_hwmon_{ty}");
    if element == "input" {
        // `temp1_input` is the reading itself unless a bare `temp1` also exists.
        if has_bare {
            name.push_str("_input");
        }
    } else if !element.is_empty() {
        name.push('_');
        name.push_str(&clean_name(element));
    }
    let gauge = MetricType::Gauge;
    if element == "fault" || element == "alarm" {
        return fams.add(
            &name,
            &format!("Hardware sensor {element} status ({ty})"),
            gauge,
            labels,
            value,
        );
    }
    if element == "beep" {
        let help = "Hardware monitor sensor has beeping enabled";
        return fams.add(&format!("{name}_enabled"), help, gauge, labels, value);
    }
    let (suffix, help, ty_out, scaled) = match ty {
        "in" | "cpu" => ("_volts", format!("Hardware monitor for voltage ({element})"), gauge, value * 0.001),
        "temp" if element != "type" => {
            let shown = if element.is_empty() { "input" } else { element };
            ("_celsius", format!("Hardware monitor for temperature ({shown})"), gauge, value * 0.001)
        }
        "curr" => ("_amps", format!("Hardware monitor for current ({element})"), gauge, value * 0.001),
        "energy" => (
            "_joule_total",
            format!("Hardware monitor for joules used so far ({element})"),
            MetricType::Counter,
            value / 1_000_000.0,
        ),
        "power" if element == "accuracy" => {
            ("", "Hardware monitor power meter accuracy, as a ratio".to_string(), gauge, value / 1_000_000.0)
        }
        "power" if matches!(element, "average_interval" | "average_interval_min" | "average_interval_max") => (
            "_seconds",
            format!("Hardware monitor power usage update interval ({element})"),
            gauge,
            value * 0.001,
        ),
        "power" => ("_watt", format!("Hardware monitor for power usage in watts ({element})"), gauge, value / 1_000_000.0),
        "humidity" => (
            "",
            format!(
                "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({element})"
            ),
            gauge,
            value / 1_000_000.0,
        ),
        "fan" if matches!(element, "input" | "min" | "max" | "target") => {
            ("_rpm", format!("Hardware monitor for fan revolutions per minute ({element})"), gauge, value)
        }
        _ => ("", format!("Hardware monitor {ty} element {element}"), gauge, value),
    };
    fams.add(&format!("{name}{suffix}"), &help, ty_out, labels, scaled);
}

/// The stable `chip` label: the device's bus and name (e.g. `platform_coretemp_0`,
/// `pci0000:00_0000:00:18_3`), else the `name` file, else the `hwmonN` directory name,
/// because `hwmonN` numbering changes with module load order.
fn chip_name(dir: &Path) -> Result<String, CollectError> {
    if let Ok(device) = fs::canonicalize(dir.join("device")) {
        let dev_name = device
            .file_name()
            .map(|n| clean_name(&n.to_string_lossy()))
            .unwrap_or_default();
        let dev_type = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean_name(&n.to_string_lossy()))
            .unwrap_or_default();
        if !dev_type.is_empty() && !dev_name.is_empty() {
            return Ok(format!("{dev_type}_{dev_name}"));
        }
        if !dev_name.is_empty() {
            return Ok(dev_name);
        }
    }
    if let Some(name) = human_chip_name(dir) {
        return Ok(name);
    }
    let real = fs::canonicalize(dir).map_err(|source| CollectError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let name = real
        .file_name()
        .map(|n| clean_name(&n.to_string_lossy()))
        .unwrap_or_default();
    if name.is_empty() {
        return Err(CollectError::Parse {
            path: dir.to_path_buf(),
            reason: "could not derive a chip name".into(),
        });
    }
    Ok(name)
}

/// The driver's `name` file, cleaned; duplicates across chips are allowed here.
fn human_chip_name(dir: &Path) -> Option<String> {
    let raw = fs::read_to_string(dir.join("name")).ok()?;
    let name = clean_name(&raw);
    (!name.is_empty()).then_some(name)
}

impl Collector for HwmonCollector {
    fn name(&self) -> &'static str {
        "hwmon"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let class = paths.sys("class/hwmon");
        let entries = read_source_dir(&class)?;
        let mut dirs: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        let mut fams = Families::default();
        // Like node_exporter, one broken chip does not hide the others; the last error is reported.
        let mut last_err = None;
        for dir in dirs {
            if let Err(e) = self.collect_chip(&dir, &mut fams) {
                last_err = Some(e);
            }
        }
        for (_, mut family) in fams.0 {
            family.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.push(family);
        }
        last_err.map_or(Ok(()), Err)
    }
}

/// Builds the collector, compiling the sensor file-name pattern once.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    let file_name = Regex::new(r"^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$");
    match file_name {
        Ok(file_name) => Box::new(HwmonCollector { file_name }),
        Err(e) => Box::new(BrokenPattern(e.to_string())),
    }
}

/// Stands in if the built-in pattern ever fails to compile, so the failure is reported per
/// scrape instead of panicking at start-up.
struct BrokenPattern(String);

impl Collector for BrokenPattern {
    fn name(&self) -> &'static str {
        "hwmon"
    }
    fn collect(
        &self,
        _paths: &HostPaths,
        _out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        Err(CollectError::Parse {
            path: "hwmon sensor pattern".into(),
            reason: self.0.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host, write};
    use std::os::unix::fs::symlink;

    #[test]
    fn coretemp_chip_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().join("devices/platform/coretemp.0");
        let hw = dev.join("hwmon/hwmon1");
        write(&hw, "name", "coretemp\n");
        write(&hw, "temp1_input", "55000\n");
        write(&hw, "temp1_crit", "100000\n");
        write(&hw, "temp1_crit_alarm", "0\n");
        write(&hw, "temp1_label", "Core 0\n");
        write(&hw, "fan1_input", "1200\n");
        write(&hw, "pwm1", "128\n");
        write(&hw, "in0_input", "1800\n");
        write(&hw, "uevent", "\n");
        symlink(&dev, hw.join("device")).unwrap();
        fs::create_dir_all(tmp.path().join("class/hwmon")).unwrap();
        symlink(&hw, tmp.path().join("class/hwmon/hwmon1")).unwrap();

        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(tmp.path()),
        )
        .unwrap();
        let expected = r#"# HELP node_hwmon_chip_names Annotation metric for human-readable chip names
# TYPE node_hwmon_chip_names gauge
node_hwmon_chip_names{chip="platform_coretemp_0",chip_name="coretemp"} 1
# HELP node_hwmon_fan_rpm Hardware monitor for fan revolutions per minute (input)
# TYPE node_hwmon_fan_rpm gauge
node_hwmon_fan_rpm{chip="platform_coretemp_0",sensor="fan1"} 1200
# HELP node_hwmon_in_volts Hardware monitor for voltage (input)
# TYPE node_hwmon_in_volts gauge
node_hwmon_in_volts{chip="platform_coretemp_0",sensor="in0"} 1.8
# HELP node_hwmon_pwm Hardware monitor pwm element 
# TYPE node_hwmon_pwm gauge
node_hwmon_pwm{chip="platform_coretemp_0",sensor="pwm1"} 128
# HELP node_hwmon_sensor_label Label for given chip and sensor
# TYPE node_hwmon_sensor_label gauge
node_hwmon_sensor_label{chip="platform_coretemp_0",label="core_0",sensor="temp1"} 1
# HELP node_hwmon_temp_celsius Hardware monitor for temperature (input)
# TYPE node_hwmon_temp_celsius gauge
node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp1"} 55
# HELP node_hwmon_temp_crit_alarm_celsius Hardware monitor for temperature (crit_alarm)
# TYPE node_hwmon_temp_crit_alarm_celsius gauge
node_hwmon_temp_crit_alarm_celsius{chip="platform_coretemp_0",sensor="temp1"} 0
# HELP node_hwmon_temp_crit_celsius Hardware monitor for temperature (crit)
# TYPE node_hwmon_temp_crit_celsius gauge
node_hwmon_temp_crit_celsius{chip="platform_coretemp_0",sensor="temp1"} 100
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn pci_chip_name_and_fallbacks() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().join("devices/pci0000:00/0000:00:18.3");
        fs::create_dir_all(&dev).unwrap();
        let hw = tmp.path().join("hw0");
        write(&hw, "name", "k10temp\n");
        symlink(&dev, hw.join("device")).unwrap();
        assert_eq!(chip_name(&hw).unwrap(), "pci0000:00_0000:00:18_3");
        let bare = tmp.path().join("hwmon3");
        fs::create_dir_all(&bare).unwrap();
        assert_eq!(chip_name(&bare).unwrap(), "hwmon3");
    }

    #[test]
    fn missing_class_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = sysfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }
}
