//! The `selinux` collector: whether SELinux is on, and its configured and current modes.

use std::fs;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct SelinuxCollector;

/// The mode from `/etc/selinux/config`: 1 enforcing, 0 permissive, -1 disabled or unknown.
fn configured_mode(config: &Path) -> f64 {
    let Ok(text) = fs::read_to_string(config) else {
        return -1.0;
    };
    for line in text.lines() {
        let Some(value) = line.trim().strip_prefix("SELINUX=") else {
            continue;
        };
        return match value.trim().trim_matches('"') {
            "enforcing" => 1.0,
            "permissive" => 0.0,
            _ => -1.0,
        };
    }
    -1.0
}

impl Collector for SelinuxCollector {
    fn name(&self) -> &'static str {
        "selinux"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let enforce = paths.sys("fs/selinux/enforce");
        let enabled_help = "SELinux is enabled, 1 is true, 0 is false";
        // Enabled means selinuxfs is mounted and this process runs in a real (non-"kernel")
        // context, which is how libselinux decides.
        let context = fs::read_to_string(paths.proc("self/attr/current")).unwrap_or_default();
        let context = context.trim_end_matches(['\0', '\n']);
        let current = match fs::read_to_string(&enforce) {
            Ok(raw) if !context.is_empty() && context != "kernel" => raw,
            _ => {
                out.push(MetricFamily::single(
                    "node_selinux_enabled",
                    enabled_help,
                    MetricType::Gauge,
                    0.0,
                ));
                return Ok(());
            }
        };
        let current: f64 = match current.trim() {
            "1" => 1.0,
            "0" => 0.0,
            other => {
                return Err(CollectError::Parse {
                    path: enforce,
                    reason: format!("unexpected mode {other:?}"),
                })
            }
        };
        let config = paths.rootfs.join("etc/selinux/config");
        out.push(MetricFamily::single(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            MetricType::Gauge,
            configured_mode(&config),
        ));
        out.push(MetricFamily::single(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            MetricType::Gauge,
            current,
        ));
        out.push(MetricFamily::single(
            "node_selinux_enabled",
            enabled_help,
            MetricType::Gauge,
            1.0,
        ));
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(SelinuxCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::collected_text;

    fn render(root: &Path) -> String {
        let paths = HostPaths {
            sysfs: root.join("sys"),
            procfs: root.join("proc"),
            rootfs: root.into(),
            ..HostPaths::default()
        };
        collected_text(build(&CollectorOptions::default()).as_ref(), &paths).unwrap()
    }

    #[test]
    fn disabled_without_selinuxfs() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            render(tmp.path()),
            "# HELP node_selinux_enabled SELinux is enabled, 1 is true, 0 is false\n\
             # TYPE node_selinux_enabled gauge\nnode_selinux_enabled 0\n"
        );
    }

    #[test]
    fn enforcing_host() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for (file, value) in [
            ("sys/fs/selinux/enforce", "1"),
            (
                "proc/self/attr/current",
                "system_u:system_r:unconfined_t:s0\0",
            ),
            (
                "etc/selinux/config",
                "# comment\nSELINUX=permissive\nSELINUXTYPE=targeted\n",
            ),
        ] {
            let p = root.join(file);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, value).unwrap();
        }
        assert_eq!(
            render(root),
            "# HELP node_selinux_config_mode Configured SELinux enforcement mode\n\
             # TYPE node_selinux_config_mode gauge\nnode_selinux_config_mode 0\n\
             # HELP node_selinux_current_mode Current SELinux enforcement mode\n\
             # TYPE node_selinux_current_mode gauge\nnode_selinux_current_mode 1\n\
             # HELP node_selinux_enabled SELinux is enabled, 1 is true, 0 is false\n\
             # TYPE node_selinux_enabled gauge\nnode_selinux_enabled 1\n"
        );
    }
}
