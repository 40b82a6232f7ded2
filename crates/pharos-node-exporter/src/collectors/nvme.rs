//! The `nvme` collector: identity and state of NVMe controllers from `/sys/class/nvme`.

use std::fs;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct NvmeCollector;

impl Collector for NvmeCollector {
    fn name(&self) -> &'static str {
        "nvme"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let class = paths.sys("class/nvme");
        let entries = fs::read_dir(&class)
            .map_err(|_| CollectError::NotPresent(class.display().to_string()))?;
        let mut devices: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        devices.sort();
        let mut info = MetricFamily::new(
            "node_nvme_info",
            "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
            MetricType::Gauge,
        );
        for device in &devices {
            let dir = class.join(device);
            let mut values = Vec::with_capacity(4);
            for file in ["firmware_rev", "model", "serial", "state"] {
                let path = dir.join(file);
                let raw = fs::read(&path).map_err(|source| CollectError::Io { path, source })?;
                values.push(String::from_utf8_lossy(&raw).trim().to_string());
            }
            let [firmware, model, serial, state] =
                <[String; 4]>::try_from(values).unwrap_or_default();
            info.push(
                [
                    ("device", device.clone()),
                    ("firmware_revision", firmware),
                    ("model", model),
                    ("serial", serial),
                    ("state", state),
                ],
                1.0,
            );
        }
        out.push(info);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(NvmeCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host};

    #[test]
    fn controller_info() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("class/nvme/nvme0");
        fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("firmware_rev", "1B2QEXP7"),
            ("model", "Samsung SSD 970 PRO 512GB"),
            ("serial", "S680HF8N190894I"),
            ("state", "live"),
        ] {
            fs::write(d.join(f), format!("{v}  \n")).unwrap();
        }
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(tmp.path()),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"# HELP node_nvme_info Non-numeric data from /sys/class/nvme/<device>, value is always 1.
# TYPE node_nvme_info gauge
node_nvme_info{device="nvme0",firmware_revision="1B2QEXP7",model="Samsung SSD 970 PRO 512GB",serial="S680HF8N190894I",state="live"} 1
"#
        );
    }
}
