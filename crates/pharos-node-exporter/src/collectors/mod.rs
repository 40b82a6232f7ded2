//! Every collector, one module each, and the registry that names them.

use crate::collector::Collector;
use crate::options::CollectorOptions;

pub mod arp;
pub mod bcache;
pub mod bonding;
pub mod btrfs;
pub mod conntrack;
pub mod cpu;
pub mod cpufreq;
mod device_filter;
pub mod diskstats;
pub mod dmi;
pub mod edac;
pub mod entropy;
#[cfg(test)]
mod fake_host;
pub mod fibrechannel;
pub mod filefd;
pub mod filesystem;
mod host_source;
pub mod hwmon;
pub mod infiniband;
pub mod interrupts;
pub mod ipvs;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod nfs;
pub mod nfsd;
pub mod nvme;
pub mod os;
pub mod powersupplyclass;
pub mod pressure;
pub mod processes;
pub mod rapl;
mod rpc_stats;
pub mod schedstat;
pub mod selinux;
pub mod sockstat;
pub mod softnet;
pub mod stat;
mod sysfs_attrs;
pub mod systemd;
pub mod tapestats;
pub mod tcpstat;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;
pub mod xfs;
pub mod zfs;

/// How a collector is named, whether it is on by default, and how to build it.
pub struct Registration {
    /// Name used in `--collector.<name>`.
    pub name: &'static str,
    /// On unless `--no-collector.<name>` or `--collector.disable-defaults`.
    pub default_enabled: bool,
    /// Builds the collector from the parsed flags.
    pub build: fn(&CollectorOptions) -> Box<dyn Collector>,
}

/// All collectors, in name order.
pub const ALL: &[Registration] = &[
    Registration {
        name: "arp",
        default_enabled: true,
        build: arp::build,
    },
    Registration {
        name: "bcache",
        default_enabled: true,
        build: bcache::build,
    },
    Registration {
        name: "bonding",
        default_enabled: true,
        build: bonding::build,
    },
    Registration {
        name: "btrfs",
        default_enabled: true,
        build: btrfs::build,
    },
    Registration {
        name: "conntrack",
        default_enabled: true,
        build: conntrack::build,
    },
    Registration {
        name: "cpu",
        default_enabled: true,
        build: cpu::build,
    },
    Registration {
        name: "cpufreq",
        default_enabled: true,
        build: cpufreq::build,
    },
    Registration {
        name: "diskstats",
        default_enabled: true,
        build: diskstats::build,
    },
    Registration {
        name: "dmi",
        default_enabled: true,
        build: dmi::build,
    },
    Registration {
        name: "edac",
        default_enabled: true,
        build: edac::build,
    },
    Registration {
        name: "entropy",
        default_enabled: true,
        build: entropy::build,
    },
    Registration {
        name: "fibrechannel",
        default_enabled: true,
        build: fibrechannel::build,
    },
    Registration {
        name: "filefd",
        default_enabled: true,
        build: filefd::build,
    },
    Registration {
        name: "filesystem",
        default_enabled: true,
        build: filesystem::build,
    },
    Registration {
        name: "hwmon",
        default_enabled: true,
        build: hwmon::build,
    },
    Registration {
        name: "infiniband",
        default_enabled: true,
        build: infiniband::build,
    },
    Registration {
        name: "interrupts",
        default_enabled: false,
        build: interrupts::build,
    },
    Registration {
        name: "ipvs",
        default_enabled: true,
        build: ipvs::build,
    },
    Registration {
        name: "loadavg",
        default_enabled: true,
        build: loadavg::build,
    },
    Registration {
        name: "mdadm",
        default_enabled: true,
        build: mdadm::build,
    },
    Registration {
        name: "meminfo",
        default_enabled: true,
        build: meminfo::build,
    },
    Registration {
        name: "netclass",
        default_enabled: true,
        build: netclass::build,
    },
    Registration {
        name: "netdev",
        default_enabled: true,
        build: netdev::build,
    },
    Registration {
        name: "netstat",
        default_enabled: true,
        build: netstat::build,
    },
    Registration {
        name: "nfs",
        default_enabled: true,
        build: nfs::build,
    },
    Registration {
        name: "nfsd",
        default_enabled: true,
        build: nfsd::build,
    },
    Registration {
        name: "nvme",
        default_enabled: true,
        build: nvme::build,
    },
    Registration {
        name: "os",
        default_enabled: true,
        build: os::build,
    },
    Registration {
        name: "powersupplyclass",
        default_enabled: true,
        build: powersupplyclass::build,
    },
    Registration {
        name: "pressure",
        default_enabled: true,
        build: pressure::build,
    },
    Registration {
        name: "processes",
        default_enabled: false,
        build: processes::build,
    },
    Registration {
        name: "rapl",
        default_enabled: true,
        build: rapl::build,
    },
    Registration {
        name: "schedstat",
        default_enabled: true,
        build: schedstat::build,
    },
    Registration {
        name: "selinux",
        default_enabled: true,
        build: selinux::build,
    },
    Registration {
        name: "sockstat",
        default_enabled: true,
        build: sockstat::build,
    },
    Registration {
        name: "softnet",
        default_enabled: true,
        build: softnet::build,
    },
    Registration {
        name: "stat",
        default_enabled: true,
        build: stat::build,
    },
    Registration {
        name: "systemd",
        default_enabled: false,
        build: systemd::build,
    },
    Registration {
        name: "tapestats",
        default_enabled: true,
        build: tapestats::build,
    },
    Registration {
        name: "tcpstat",
        default_enabled: false,
        build: tcpstat::build,
    },
    Registration {
        name: "textfile",
        default_enabled: true,
        build: textfile::build,
    },
    Registration {
        name: "thermal_zone",
        default_enabled: true,
        build: thermal_zone::build,
    },
    Registration {
        name: "time",
        default_enabled: true,
        build: time::build,
    },
    Registration {
        name: "timex",
        default_enabled: true,
        build: timex::build,
    },
    Registration {
        name: "udp_queues",
        default_enabled: true,
        build: udp_queues::build,
    },
    Registration {
        name: "uname",
        default_enabled: true,
        build: uname::build,
    },
    Registration {
        name: "vmstat",
        default_enabled: true,
        build: vmstat::build,
    },
    Registration {
        name: "xfs",
        default_enabled: true,
        build: xfs::build,
    },
    Registration {
        name: "zfs",
        default_enabled: true,
        build: zfs::build,
    },
];
