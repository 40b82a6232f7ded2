//! Runs the real node_exporter (Debian's `prometheus-node-exporter`) and our collectors over the
//! same small fake `/proc` and `/sys` trees (`tests/fixtures/sys-<collector>/`), for the
//! subsystems this VM does not have (NFS server, XFS, ZFS, btrfs, bcache, InfiniBand, Fibre
//! Channel, tape), and checks that both print exactly the same text.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_node_exporter::collector::HostPaths;
use pharos_node_exporter::collectors::ALL;
use pharos_node_exporter::merge::normalize;
use pharos_node_exporter::options::CollectorOptions;

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Collectors with a fixture directory of the same name.
const COLLECTORS: &[&str] = &[
    "bcache",
    "btrfs",
    "fibrechannel",
    "infiniband",
    "nfsd",
    "tapestats",
    "xfs",
    "zfs",
];

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

/// node_exporter's own families (Go runtime, process, scrape bookkeeping) are not ours to match.
fn without_exporter_own(text: &str) -> String {
    let own = |name: &str| {
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
    let mut out = String::new();
    for line in text.lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        if !own(name) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn real_output(collector: &str, procfs: &Path, sysfs: &Path) -> String {
    let port = free_port();
    let child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--path.procfs={}", procfs.display()))
        .arg(format!("--path.sysfs={}", sysfs.display()))
        .arg("--collector.disable-defaults")
        .arg(format!("--collector.{collector}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _exporter = Running(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        match get(port) {
            Ok(body) if !body.is_empty() => break body,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("node_exporter did not answer on port {port}: {other:?}"),
        }
    };
    assert!(
        body.contains(&format!(
            "node_scrape_collector_success{{collector=\"{collector}\"}} 1"
        )),
        "node_exporter's {collector} collector failed on the fixture"
    );
    without_exporter_own(&body)
}

fn our_output(collector: &str, procfs: &Path, sysfs: &Path) -> String {
    let registration = ALL
        .iter()
        .find(|r| r.name == collector)
        .unwrap_or_else(|| panic!("no collector {collector}"));
    let paths = HostPaths {
        procfs: procfs.into(),
        sysfs: sysfs.into(),
        ..HostPaths::default()
    };
    let mut families = Vec::new();
    (registration.build)(&CollectorOptions::default())
        .collect(&paths, &mut families)
        .unwrap_or_else(|e| panic!("{collector}: {e}"));
    let mut out = String::new();
    pharos_model::write::write_text(&normalize(families), &mut out);
    out
}

#[test]
fn same_text_as_node_exporter_on_fixture_trees() {
    if !Path::new(NODE_EXPORTER).exists() {
        println!("skipping: {NODE_EXPORTER} is not installed");
        return;
    }
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // Git keeps no empty directories, so a fixture without a `proc` or `sys` tree gets an
    // empty one here.
    let empty = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    for collector in COLLECTORS {
        let root = fixtures.join(format!("sys-{collector}"));
        if !root.exists() {
            problems.push(format!("{collector}: no fixture at {}", root.display()));
            continue;
        }
        let procfs = Some(root.join("proc"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| empty.path().into());
        let sysfs = Some(root.join("sys"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| empty.path().into());
        let real = real_output(collector, &procfs, &sysfs);
        let ours = our_output(collector, &procfs, &sysfs);
        assert!(real.lines().count() > 2, "{collector}: node_exporter printed nothing");
        if real != ours {
            let first = real
                .lines()
                .zip(ours.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("node_exporter: {a}\nours:          {b}"))
                .unwrap_or_else(|| "one output is a prefix of the other".into());
            problems.push(format!(
                "{collector}: outputs differ; first difference:\n{first}\n--- node_exporter\n{real}--- ours\n{ours}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
