//! Runs the real node_exporter (Debian's `prometheus-node-exporter`) and our procfs/sysfs
//! collectors on this host and checks that both expose the same families, with the same HELP
//! and TYPE, and the same series for everything that does not change from second to second.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_node_exporter::collector::HostPaths;
use pharos_node_exporter::collectors::ALL;
use pharos_node_exporter::options::CollectorOptions;

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

const COLLECTORS: &[&str] = &[
    "arp",
    "conntrack",
    "cpu",
    "diskstats",
    "entropy",
    "filefd",
    "filesystem",
    "interrupts",
    "loadavg",
    "meminfo",
    "netdev",
    "netstat",
    "os",
    "pressure",
    "processes",
    "schedstat",
    "sockstat",
    "softnet",
    "stat",
    "tcpstat",
    "textfile",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
];

/// Families whose series come and go with the host's activity (socket states, process
/// states), so only their HELP and TYPE are compared.
const VOLATILE: &[&str] = &[
    "node_tcp_connection_states",
    "node_processes_state",
    "node_processes_threads_state",
];

/// Debian patches these defaults; both sides get them explicitly so the comparison is fair.
const MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
const NETDEV_EXCLUDE: &str = "^lo$";

/// Stops the child process however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn get(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default())
}

/// HELP and TYPE lines per family, and the set of series (name and labels, no value).
#[derive(Default)]
struct Exposition {
    metadata: BTreeMap<String, Vec<String>>,
    series: BTreeMap<String, BTreeSet<String>>,
}

fn summarize(text: &str) -> Exposition {
    let mut e = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
        {
            let name = rest.split(' ').next().unwrap_or("").to_string();
            e.metadata.entry(name).or_default().push(line.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let series = line.rsplit_once(' ').map(|(s, _)| s).unwrap_or(line);
            let name = series.split('{').next().unwrap_or(series);
            e.series
                .entry(name.to_string())
                .or_default()
                .insert(series.to_string());
        }
    }
    e
}

#[test]
fn same_families_help_type_and_series_as_node_exporter() {
    if !std::path::Path::new(NODE_EXPORTER).exists() {
        println!("skipping: {NODE_EXPORTER} is not installed");
        return;
    }
    let textfiles = tempfile::tempdir().unwrap();
    std::fs::write(
        textfiles.path().join("job.prom"),
        "# HELP job_ok Whether the job worked.\n# TYPE job_ok gauge\njob_ok{job=\"x\"} 1\n",
    )
    .unwrap();

    let port = free_port();
    let mut cmd = Command::new(NODE_EXPORTER);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .arg(format!(
            "--collector.textfile.directory={}",
            textfiles.path().display()
        ))
        .arg(format!(
            "--collector.filesystem.mount-points-exclude={MOUNT_POINTS_EXCLUDE}"
        ))
        .arg(format!(
            "--collector.netdev.device-exclude={NETDEV_EXCLUDE}"
        ))
        .arg("--collector.cpu.info")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for c in COLLECTORS {
        cmd.arg(format!("--collector.{c}"));
    }
    let _exporter = Running(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    let real = loop {
        match get(port) {
            Ok(body) if !body.is_empty() => break body,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("node_exporter did not answer on port {port}: {other:?}"),
        }
    };

    let opts = CollectorOptions {
        textfile_directory: Some(textfiles.path().into()),
        filesystem_mount_points_exclude: Some(MOUNT_POINTS_EXCLUDE.into()),
        netdev_device_exclude: Some(NETDEV_EXCLUDE.into()),
        cpu_info: true,
        ..Default::default()
    };
    let mut families = Vec::new();
    for registration in ALL.iter().filter(|r| COLLECTORS.contains(&r.name)) {
        let collector = (registration.build)(&opts);
        // Absent sources (no /proc/schedstat) are fine here; node_exporter omits them too.
        let _ = collector.collect(&HostPaths::default(), &mut families);
    }
    let mut ours = String::new();
    pharos_model::write::write_text(&families, &mut ours);

    let real = summarize(&real);
    assert!(
        real.metadata.len() > 100,
        "node_exporter exposed only {} families",
        real.metadata.len()
    );
    let ours = summarize(&ours);
    let exporter_own = |name: &str| {
        [
            "go_",
            "process_",
            "promhttp_",
            "node_scrape_",
            "node_exporter_build_info",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    };
    let mut problems = Vec::new();
    for (name, metadata) in real.metadata.iter().filter(|(n, _)| !exporter_own(n)) {
        match ours.metadata.get(name) {
            None => problems.push(format!("missing family {name}")),
            Some(m) if m != metadata => {
                problems.push(format!("{name}: ours {m:?}, node_exporter {metadata:?}"))
            }
            Some(_) => {}
        }
        if VOLATILE.contains(&name.as_str()) {
            continue;
        }
        let theirs = real.series.get(name).cloned().unwrap_or_default();
        let mine = ours.series.get(name).cloned().unwrap_or_default();
        for s in theirs.symmetric_difference(&mine) {
            problems.push(format!(
                "series only in {}: {s}",
                if theirs.contains(s) {
                    "node_exporter"
                } else {
                    "ours"
                }
            ));
        }
    }
    for name in ours
        .metadata
        .keys()
        .filter(|n| !real.metadata.contains_key(*n))
    {
        problems.push(format!("extra family {name}"));
    }
    assert!(
        problems.is_empty(),
        "differences from node_exporter:\n{}",
        problems.join("\n")
    );
}
