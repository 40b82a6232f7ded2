//! Every procfs/sysfs collector, fed a fake host whose files hold malformed content, must
//! return an error or partial data, never panic or hang.

mod harness;

use std::path::Path;

use harness::{fake_host_paths, PROC_COLLECTORS as COLLECTORS};
use pharos_node_exporter::collectors::ALL;
use pharos_node_exporter::options::CollectorOptions;

/// Files under procfs that the collectors read.
const PROC_FILES: &[&str] = &[
    "stat",
    "meminfo",
    "loadavg",
    "vmstat",
    "cpuinfo",
    "diskstats",
    "interrupts",
    "schedstat",
    "1/mounts",
    "mounts",
    "1/stat",
    "1/task/1/stat",
    "sys/fs/file-nr",
    "sys/kernel/random/entropy_avail",
    "sys/kernel/random/poolsize",
    "sys/net/netfilter/nf_conntrack_count",
    "sys/net/netfilter/nf_conntrack_max",
    "sys/kernel/threads-max",
    "sys/kernel/pid_max",
    "net/stat/nf_conntrack",
    "net/arp",
    "net/dev",
    "net/netstat",
    "net/snmp",
    "net/snmp6",
    "net/sockstat",
    "net/sockstat6",
    "net/softnet_stat",
    "net/udp",
    "net/udp6",
    "net/tcp",
    "net/tcp6",
    "pressure/cpu",
    "pressure/io",
    "pressure/memory",
];

/// Files under sysfs, rootfs and the udev database.
const SYS_FILES: &[&str] = &[
    "devices/system/clocksource/clocksource0/available_clocksource",
    "devices/system/clocksource/clocksource0/current_clocksource",
    "devices/system/cpu/cpu0/topology/physical_package_id",
    "devices/system/cpu/cpu0/topology/core_id",
    "devices/system/cpu/cpu0/thermal_throttle/core_throttle_count",
    "class/net/eth0/statistics/rx_nohandler",
];

const SAMPLES: &[&[u8]] = &[
    b"",
    b"\n\n\n",
    b"x",
    b":",
    b"a b c d e f g h i j k l m n o p q r s t u v w x y z",
    b"cpu0 99999999999999999999999999999 -1 NaN inf 1e400\ncpu1\n",
    b"Tcp: A B C\nTcp: 1\nUdp: X\n",
    b"1 (x) R 0\n1 (a) b) Z",
    b"some total=\nfull total=abc\n",
    b"  eth0: 1 2 3\n lo:\n",
    b"header\n 0: a b ZZ ffffffffffffffffffff:1\n",
    b"\xff\xfe\x00\x01 not utf-8",
    b"MemTotal: 1 kB\nActive(anon: 2\n(): 3 kB\n",
    b" 8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n 8\n",
    b"           CPU0 CPU1\n 0: 1\nLOC: 1 2 x\n",
    b"ID=\"unterminated\nVERSION_ID=.\\\n",
    b"/dev/x /\\040 ext4 ro\n/dev/y\n",
];

fn write(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
}

#[test]
fn malformed_host_files_never_panic() {
    let long_line = vec![b'9'; 100_000];
    let samples: Vec<&[u8]> = SAMPLES
        .iter()
        .copied()
        .chain([long_line.as_slice()])
        .collect();
    for sample in samples {
        let dir = tempfile::tempdir().unwrap();
        let paths = fake_host_paths(dir.path());
        for rel in PROC_FILES {
            write(&paths.procfs, rel, sample);
        }
        for rel in SYS_FILES {
            write(&paths.sysfs, rel, sample);
        }
        write(&paths.rootfs, "etc/os-release", sample);
        write(&paths.udev_data, "b8:0", sample);
        write(&dir.path().join("textfiles"), "x.prom", sample);
        let opts = CollectorOptions {
            textfile_directory: Some(dir.path().join("textfiles")),
            cpu_info: true,
            filesystem_mount_timeout: Some(std::time::Duration::from_secs(2)),
            ..Default::default()
        };
        for registration in ALL.iter().filter(|r| COLLECTORS.contains(&r.name)) {
            let mut out = Vec::new();
            // Errors are expected; the test fails only on a panic.
            let _ = (registration.build)(&opts).collect(&paths, &mut out);
        }
    }
}
