//! The `dmi` collector: firmware, board, chassis and product identity from
//! `/sys/class/dmi/id`, as one `node_dmi_info` metric.

use std::fs;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// DMI attributes exposed as labels; each is also the sysfs file name, except `system_vendor`.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("system_vendor", "sys_vendor"),
];

const HELP: &str = "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, \
bios_version, board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, \
chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, product_sku, \
product_uuid, product_version, system_vendor if provided by DMI.";

struct DmiCollector;

impl Collector for DmiCollector {
    fn name(&self) -> &'static str {
        "dmi"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let dir = paths.sys("class/dmi/id");
        if !dir.is_dir() {
            return Err(CollectError::NotPresent(dir.display().to_string()));
        }
        // Serial numbers and UUIDs are root-only; like node_exporter, unreadable files are
        // left out rather than failing the whole metric.
        let labels: Vec<(&str, String)> = ATTRIBUTES
            .iter()
            .filter_map(|(label, file)| {
                let raw = fs::read(dir.join(file)).ok()?;
                Some((*label, String::from_utf8_lossy(&raw).trim().to_string()))
            })
            .collect();
        if labels.is_empty() {
            return Err(CollectError::NotPresent(format!(
                "readable files in {}",
                dir.display()
            )));
        }
        let mut family = MetricFamily::new("node_dmi_info", HELP, MetricType::Gauge);
        family.push(labels, 1.0);
        out.push(family);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(DmiCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host};

    #[test]
    fn info_with_readable_attributes_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("class/dmi/id");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("bios_vendor"), "SeaBIOS\n").unwrap();
        fs::write(dir.join("sys_vendor"), "QEMU\n").unwrap();
        fs::write(dir.join("product_name"), "Standard PC (Q35 + ICH9, 2009)\n").unwrap();
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(tmp.path()),
        )
        .unwrap();
        let expected = format!(
            "# HELP node_dmi_info {HELP}\n# TYPE node_dmi_info gauge\n\
             node_dmi_info{{bios_vendor=\"SeaBIOS\",product_name=\"Standard PC (Q35 + ICH9, 2009)\",system_vendor=\"QEMU\"}} 1\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn absent_dmi_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = sysfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }
}
