//! The `powersupplyclass` collector: batteries, AC adapters and USB supplies from
//! `/sys/class/power_supply/<supply>/`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};
use regex::Regex;

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// node_exporter's default for `--collector.powersupply.ignored-supplies`.
const DEFAULT_IGNORED: &str = "^$";

/// Numeric attributes: sysfs file, metric suffix, divisor (micro-units to base units, tenths
/// of a degree to degrees, or 1 for plain values).
const NUMERIC: &[(&str, &str, f64)] = &[
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        1e6,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        1e6,
    ),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Text attributes that become labels of `node_power_supply_info` when non-empty.
const TEXT: &[&str] = &[
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

struct PowerSupplyCollector {
    ignored: Result<Regex, String>,
}

fn read_attr(path: &Path) -> Option<String> {
    fs::read(path)
        .ok()
        .map(|raw| String::from_utf8_lossy(&raw).trim().to_string())
}

impl Collector for PowerSupplyCollector {
    fn name(&self) -> &'static str {
        "powersupplyclass"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let ignored = self
            .ignored
            .as_ref()
            .map_err(|reason| CollectError::Parse {
                path: "--collector.powersupply.ignored-supplies".into(),
                reason: reason.clone(),
            })?;
        let class = paths.sys("class/power_supply");
        let entries = fs::read_dir(&class)
            .map_err(|_| CollectError::NotPresent(class.display().to_string()))?;
        let mut supplies: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !ignored.is_match(name))
            .collect();
        supplies.sort();

        let mut families: BTreeMap<&str, MetricFamily> = BTreeMap::new();
        let mut info = MetricFamily::new(
            "node_power_supply_info",
            "info of /sys/class/power_supply/<power_supply>.",
            MetricType::Gauge,
        );
        for supply in &supplies {
            let dir = class.join(supply);
            for (file, suffix, divisor) in NUMERIC {
                let path = dir.join(file);
                let Some(raw) = read_attr(&path) else {
                    continue;
                };
                let value: i64 = raw.parse().map_err(|_| CollectError::Parse {
                    path: path.clone(),
                    reason: format!("invalid integer {raw:?}"),
                })?;
                families
                    .entry(suffix)
                    .or_insert_with(|| {
                        MetricFamily::new(
                            format!("node_power_supply_{suffix}"),
                            format!("{suffix} value of /sys/class/power_supply/<power_supply>."),
                            MetricType::Gauge,
                        )
                    })
                    .push([("power_supply", supply.as_str())], value as f64 / divisor);
            }
            let mut labels = vec![("power_supply".to_string(), supply.clone())];
            for attr in TEXT {
                if let Some(value) = read_attr(&dir.join(attr)).filter(|v| !v.is_empty()) {
                    labels.push(((*attr).to_string(), value));
                }
            }
            labels.sort();
            info.push(labels, 1.0);
        }
        let mut all: Vec<MetricFamily> = families.into_values().collect();
        all.push(info);
        all.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(all);
        Ok(())
    }
}

/// Builds the collector, compiling `--collector.powersupply.ignored-supplies` once.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    let pattern = opts
        .powersupply_ignored_supplies
        .as_deref()
        .unwrap_or(DEFAULT_IGNORED);
    Box::new(PowerSupplyCollector {
        ignored: Regex::new(pattern).map_err(|e| e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host};

    #[test]
    fn battery_and_ac() {
        let tmp = tempfile::tempdir().unwrap();
        let class = tmp.path().join("class/power_supply");
        let bat = class.join("BAT0");
        fs::create_dir_all(&bat).unwrap();
        for (f, v) in [
            ("type", "Battery"),
            ("status", "Discharging"),
            ("capacity", "87"),
            ("energy_now", "41580000"),
            ("voltage_now", "12114000"),
            ("temp", "291"),
            ("model_name", ""),
        ] {
            fs::write(bat.join(f), format!("{v}\n")).unwrap();
        }
        let ac = class.join("AC");
        fs::create_dir_all(&ac).unwrap();
        fs::write(ac.join("type"), "Mains\n").unwrap();
        fs::write(ac.join("online"), "0\n").unwrap();
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(tmp.path()),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"# HELP node_power_supply_capacity capacity value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_capacity gauge
node_power_supply_capacity{power_supply="BAT0"} 87
# HELP node_power_supply_energy_watthour energy_watthour value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_energy_watthour gauge
node_power_supply_energy_watthour{power_supply="BAT0"} 41.58
# HELP node_power_supply_info info of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_info gauge
node_power_supply_info{power_supply="AC",type="Mains"} 1
node_power_supply_info{power_supply="BAT0",status="Discharging",type="Battery"} 1
# HELP node_power_supply_online online value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_online gauge
node_power_supply_online{power_supply="AC"} 0
# HELP node_power_supply_temp_celsius temp_celsius value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_temp_celsius gauge
node_power_supply_temp_celsius{power_supply="BAT0"} 29.1
# HELP node_power_supply_voltage_volt voltage_volt value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_voltage_volt gauge
node_power_supply_voltage_volt{power_supply="BAT0"} 12.114
"#
        );
    }
}
