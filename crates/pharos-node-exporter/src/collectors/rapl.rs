//! The `rapl` collector: Intel/AMD RAPL energy counters from `/sys/class/powercap`.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct RaplCollector {
    zone_label: bool,
}

/// One RAPL zone, e.g. `package-0` becomes name `package`, index 0.
struct Zone {
    name: String,
    index: u64,
    path: String,
    microjoules: u64,
}

/// Splits `package-0` into (`package`, 0); names without a numeric suffix (`dram`, `core`)
/// are numbered by how often they have been seen.
fn split_zone_name(raw: &str, seen: &mut HashMap<String, u64>) -> (String, u64) {
    if let Some((base, suffix)) = raw.rsplit_once('-') {
        if let Ok(index) = suffix.parse::<u64>() {
            return (base.to_string(), index);
        }
    }
    let index = seen.get(raw).copied().unwrap_or(0);
    seen.insert(raw.to_string(), index + 1);
    (raw.to_string(), index)
}

fn read_u64(path: &Path) -> Result<Option<u64>, CollectError> {
    match fs::read_to_string(path) {
        Ok(raw) => raw
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("invalid counter {:?}", raw.trim()),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            // Since 2020 kernels make energy_uj root-only; node_exporter stays quiet then.
            Err(CollectError::NotPresent(format!(
                "readable {}",
                path.display()
            )))
        }
        Err(source) => Err(CollectError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn read_zones(class: &Path) -> Result<Vec<Zone>, CollectError> {
    let entries =
        fs::read_dir(class).map_err(|_| CollectError::NotPresent(class.display().to_string()))?;
    let mut dirs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    dirs.sort();
    let mut seen = HashMap::new();
    let mut zones = Vec::new();
    for dir in dirs {
        let Ok(raw_name) = fs::read_to_string(dir.join("name")) else {
            continue;
        };
        let (name, index) = split_zone_name(raw_name.trim(), &mut seen);
        let Some(microjoules) = read_u64(&dir.join("energy_uj"))? else {
            continue;
        };
        zones.push(Zone {
            name,
            index,
            path: dir.display().to_string(),
            microjoules,
        });
    }
    Ok(zones)
}

impl Collector for RaplCollector {
    fn name(&self) -> &'static str {
        "rapl"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let zones = read_zones(&paths.sys("class/powercap"))?;
        let mut families: Vec<MetricFamily> = Vec::new();
        for zone in zones {
            let joules = zone.microjoules as f64 / 1_000_000.0;
            let index = zone.index.to_string();
            let (name, help, labels) = if self.zone_label {
                (
                    "node_rapl_joules_total".to_string(),
                    "Current RAPL value in joules".to_string(),
                    vec![
                        ("index", index),
                        ("path", zone.path),
                        ("rapl_zone", zone.name),
                    ],
                )
            } else {
                (
                    format!("node_rapl_{}_joules_total", zone.name),
                    format!("Current RAPL {} value in joules", zone.name),
                    vec![("index", index), ("path", zone.path)],
                )
            };
            match families.iter_mut().find(|f| f.name == name) {
                Some(family) => {
                    family.push(labels, joules);
                }
                None => {
                    let mut family = MetricFamily::new(name, help, MetricType::Counter);
                    family.push(labels, joules);
                    families.push(family);
                }
            };
        }
        families.sort_by(|a, b| a.name.cmp(&b.name));
        for mut family in families {
            family.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.push(family);
        }
        Ok(())
    }
}

/// Builds the collector.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(RaplCollector {
        zone_label: opts.rapl_zone_label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host};

    #[test]
    fn package_and_dram_zones() {
        let tmp = tempfile::tempdir().unwrap();
        let class = tmp.path().join("class/powercap");
        for (dir, name, uj) in [
            ("intel-rapl:0", "package-0", "240422366267"),
            ("intel-rapl:0:0", "dram", "1500000"),
        ] {
            let d = class.join(dir);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("name"), format!("{name}\n")).unwrap();
            fs::write(d.join("energy_uj"), format!("{uj}\n")).unwrap();
        }
        fs::create_dir_all(class.join("intel-rapl")).unwrap();
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(tmp.path()),
        )
        .unwrap();
        let p = class.display();
        assert_eq!(
            text,
            format!(
                "# HELP node_rapl_dram_joules_total Current RAPL dram value in joules\n\
                 # TYPE node_rapl_dram_joules_total counter\n\
                 node_rapl_dram_joules_total{{index=\"0\",path=\"{p}/intel-rapl:0:0\"}} 1.5\n\
                 # HELP node_rapl_package_joules_total Current RAPL package value in joules\n\
                 # TYPE node_rapl_package_joules_total counter\n\
                 node_rapl_package_joules_total{{index=\"0\",path=\"{p}/intel-rapl:0\"}} 240422.366267\n"
            )
        );
    }
}
