//! The `cpufreq` collector: per-CPU frequency limits and current values from
//! `/sys/devices/system/cpu/cpu<N>/cpufreq/`.

use std::fs;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// sysfs file (kHz), metric name and HELP, in node_exporter's order.
const FREQUENCIES: &[(&str, &str, &str)] = &[
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum cpu thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
];

struct CpufreqCollector;

/// Reads a kHz value; `cpuinfo_cur_freq` is root-only, so an unreadable file is just absent.
fn read_khz(path: &Path) -> Result<Option<u64>, CollectError> {
    let Ok(raw) = fs::read_to_string(path) else {
        return Ok(None);
    };
    let raw = raw.trim();
    raw.parse::<u64>()
        .map(Some)
        .map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("invalid frequency {raw:?}"),
        })
}

impl Collector for CpufreqCollector {
    fn name(&self) -> &'static str {
        "cpufreq"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let cpu_dir = paths.sys("devices/system/cpu");
        let entries = fs::read_dir(&cpu_dir)
            .map_err(|_| CollectError::NotPresent(cpu_dir.display().to_string()))?;
        let mut cpus: Vec<(u64, std::path::PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let id = name.strip_prefix("cpu")?.parse::<u64>().ok()?;
                Some((id, e.path().join("cpufreq")))
            })
            .filter(|(_, dir)| dir.is_dir())
            .collect();
        if cpus.is_empty() {
            return Err(CollectError::NotPresent(format!(
                "{}/cpu*/cpufreq",
                cpu_dir.display()
            )));
        }
        cpus.sort();
        let mut families: Vec<MetricFamily> = FREQUENCIES
            .iter()
            .map(|(_, name, help)| MetricFamily::new(*name, *help, MetricType::Gauge))
            .collect();
        for (id, dir) in &cpus {
            let cpu = id.to_string();
            for ((file, _, _), family) in FREQUENCIES.iter().zip(families.iter_mut()) {
                if let Some(khz) = read_khz(&dir.join(file))? {
                    family.push([("cpu", cpu.as_str())], khz as f64 * 1000.0);
                }
            }
        }
        for mut family in families {
            // Go orders label values as strings: cpu "10" sorts before "2".
            family.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.push(family);
        }
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(CpufreqCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host};

    #[test]
    fn frequencies_in_hertz() {
        let tmp = tempfile::tempdir().unwrap();
        for (cpu, cur) in [("cpu0", "1800000"), ("cpu1", "2400000")] {
            let d = tmp
                .path()
                .join("devices/system/cpu")
                .join(cpu)
                .join("cpufreq");
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("scaling_cur_freq"), format!("{cur}\n")).unwrap();
            fs::write(d.join("cpuinfo_max_freq"), "3600000\n").unwrap();
        }
        fs::create_dir_all(tmp.path().join("devices/system/cpu/cpuidle")).unwrap();
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(tmp.path()),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"# HELP node_cpu_frequency_max_hertz Maximum cpu thread frequency in hertz.
# TYPE node_cpu_frequency_max_hertz gauge
node_cpu_frequency_max_hertz{cpu="0"} 3.6e+09
node_cpu_frequency_max_hertz{cpu="1"} 3.6e+09
# HELP node_cpu_scaling_frequency_hertz Current scaled CPU thread frequency in hertz.
# TYPE node_cpu_scaling_frequency_hertz gauge
node_cpu_scaling_frequency_hertz{cpu="0"} 1.8e+09
node_cpu_scaling_frequency_hertz{cpu="1"} 2.4e+09
"#
        );
    }

    #[test]
    fn no_cpufreq_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("devices/system/cpu/cpu0")).unwrap();
        let paths = sysfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }
}
