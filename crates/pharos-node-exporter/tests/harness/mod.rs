//! What the comparison tests and the benchmark share: the procfs collector list, the fixture
//! host, and running and scraping Debian's `prometheus-node-exporter`.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pharos_node_exporter::collector::HostPaths;

/// The real node_exporter as Debian installs it.
pub const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// The collectors that read procfs (and a little sysfs) on any Linux host.
pub const PROC_COLLECTORS: &[&str] = &[
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

/// True (after saying so) when node_exporter is absent and a comparison test must skip.
pub fn node_exporter_missing() -> bool {
    let missing = !Path::new(NODE_EXPORTER).exists();
    if missing {
        println!("skipping: {NODE_EXPORTER} is not installed");
    }
    missing
}

/// Whether a family (or a HELP/TYPE line naming it) belongs to node_exporter itself (Go
/// runtime, process, scrape bookkeeping) rather than to a collector we reproduce.
pub fn is_exporter_own(name: &str) -> bool {
    [
        "go_",
        "process_",
        "promhttp_",
        "node_scrape_",
        "node_exporter_build_info",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The family name a line of text exposition is about.
pub fn line_family(line: &str) -> &str {
    line.strip_prefix("# HELP ")
        .or_else(|| line.strip_prefix("# TYPE "))
        .unwrap_or(line)
}

/// The fake host of `tests/fixtures/proc-host`.
pub fn proc_host_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc-host")
}

/// Paths of a fake host laid out as `proc/`, `sys/`, `root/` and `udev/` under `root`.
pub fn fake_host_paths(root: &Path) -> HostPaths {
    HostPaths {
        procfs: root.join("proc"),
        sysfs: root.join("sys"),
        rootfs: root.join("root"),
        udev_data: root.join("udev"),
    }
}

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

/// Starts node_exporter as `cmd` describes, on a free local port, and returns the body of its
/// first non-empty `/metrics` answer; the process is stopped before returning.
pub fn scrape_node_exporter(mut cmd: Command) -> String {
    let port = free_port();
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _exporter = Running(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match get(port) {
            Ok(body) if !body.is_empty() => return body,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("node_exporter did not answer on port {port}: {other:?}"),
        }
    }
}
