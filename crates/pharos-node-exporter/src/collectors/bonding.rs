//! The `bonding` collector: configured and active slaves of each bonding master, from
//! `/sys/class/net/bonding_masters` and each slave's `mii_status`.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_file;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct BondingCollector;

fn read(path: &Path) -> Result<String, CollectError> {
    fs::read_to_string(path).map_err(|source| CollectError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The slave's link state; newer kernels name the link `lower_<slave>`, older ones `slave_<slave>`.
fn slave_is_up(net: &Path, master: &str, slave: &str) -> Result<bool, CollectError> {
    let lower = net
        .join(master)
        .join(format!("lower_{slave}"))
        .join("bonding_slave/mii_status");
    let state = match fs::read_to_string(&lower) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => read(
            &net.join(master)
                .join(format!("slave_{slave}"))
                .join("bonding_slave/mii_status"),
        )?,
        Err(source) => {
            return Err(CollectError::Io {
                path: lower,
                source,
            })
        }
    };
    Ok(state.trim() == "up")
}

impl Collector for BondingCollector {
    fn name(&self) -> &'static str {
        "bonding"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let net = paths.sys("class/net");
        let masters_file = net.join("bonding_masters");
        let masters = read_source_file(&masters_file)?;
        let mut slaves_family = MetricFamily::new(
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
            MetricType::Gauge,
        );
        let mut active_family = MetricFamily::new(
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
            MetricType::Gauge,
        );
        let mut masters: Vec<&str> = masters.split_whitespace().collect();
        masters.sort_unstable();
        for master in masters {
            let slaves = read(&net.join(master).join("bonding/slaves"))?;
            let (mut configured, mut active) = (0u32, 0u32);
            for slave in slaves.split_whitespace() {
                configured += 1;
                if slave_is_up(&net, master, slave)? {
                    active += 1;
                }
            }
            slaves_family.push([("master", master)], f64::from(configured));
            active_family.push([("master", master)], f64::from(active));
        }
        out.push(active_family);
        out.push(slaves_family);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(BondingCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host};

    fn write(path: &Path, value: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, value).unwrap();
    }

    #[test]
    fn counts_configured_and_up_slaves() {
        let tmp = tempfile::tempdir().unwrap();
        let net = tmp.path().join("class/net");
        write(&net.join("bonding_masters"), "bond0 dmz\n");
        write(&net.join("bond0/bonding/slaves"), "eth0 eth1\n");
        write(
            &net.join("bond0/lower_eth0/bonding_slave/mii_status"),
            "up\n",
        );
        write(
            &net.join("bond0/lower_eth1/bonding_slave/mii_status"),
            "down\n",
        );
        write(&net.join("dmz/bonding/slaves"), "eth2\n");
        write(&net.join("dmz/slave_eth2/bonding_slave/mii_status"), "up\n");
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &sysfs_host(tmp.path()),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"# HELP node_bonding_active Number of active slaves per bonding interface.
# TYPE node_bonding_active gauge
node_bonding_active{master="bond0"} 1
node_bonding_active{master="dmz"} 1
# HELP node_bonding_slaves Number of configured slaves per bonding interface.
# TYPE node_bonding_slaves gauge
node_bonding_slaves{master="bond0"} 2
node_bonding_slaves{master="dmz"} 1
"#
        );
    }

    #[test]
    fn no_bonding_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = sysfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }
}
