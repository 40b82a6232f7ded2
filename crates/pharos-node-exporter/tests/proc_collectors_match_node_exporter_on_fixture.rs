//! Runs the real node_exporter (Debian's `prometheus-node-exporter`) and our procfs
//! collectors over one fake host (`tests/fixtures/proc-host/`: procfs, sysfs, udev database,
//! root with os-release, textfile directory) holding what this VM lacks (conntrack stats,
//! schedstat, thermal throttles, udev disk properties, device-mapper, several processes) and
//! checks that both print exactly the same text, values included.

mod harness;

use std::path::Path;
use std::process::{Command, Stdio};

use harness::{
    fake_host_paths, is_exporter_own, line_family, proc_host_fixture, scrape_node_exporter,
    NODE_EXPORTER, PROC_COLLECTORS,
};
use pharos_node_exporter::collector::HostPaths;
use pharos_node_exporter::collectors::ALL;
use pharos_node_exporter::merge::normalize;
use pharos_node_exporter::options::CollectorOptions;

/// Procfs collectors that read the live kernel whatever `--path.procfs` says; they are
/// compared in `proc_collectors_match_node_exporter`.
const LIVE_KERNEL: &[&str] = &["tcpstat", "time", "timex", "uname"];

/// Collectors whose output depends only on the fixture files.
fn collectors() -> Vec<&'static str> {
    PROC_COLLECTORS
        .iter()
        .copied()
        .filter(|c| !LIVE_KERNEL.contains(c))
        .collect()
}

/// Drops node_exporter's own families, and the values of filesystem usage, which statfs
/// reads live from the disk holding the fixture.
fn comparable(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().filter(|l| !is_exporter_own(line_family(l))) {
        let live = [
            "node_filesystem_avail_bytes",
            "node_filesystem_free_bytes",
            "node_filesystem_files_free",
        ];
        match line.rsplit_once(' ') {
            Some((series, _)) if live.iter().any(|n| series.starts_with(n)) => out.push_str(series),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn real_output(fixture: &Path) -> String {
    let mut cmd = Command::new(NODE_EXPORTER);
    cmd.arg(format!("--path.procfs={}", fixture.join("proc").display()))
        .arg(format!("--path.sysfs={}", fixture.join("sys").display()))
        .arg(format!("--path.rootfs={}", fixture.join("root").display()))
        .arg(format!(
            "--path.udev.data={}",
            fixture.join("udev").display()
        ))
        .arg(format!(
            "--collector.textfile.directory={}",
            fixture.join("textfile").display()
        ))
        .arg("--collector.disable-defaults")
        .arg("--collector.cpu.info")
        .arg("--collector.cpu.info.flags-include=^(fpu|tsc)$")
        .arg("--collector.cpu.info.bugs-include=spectre")
        .arg("--collector.stat.softirq")
        .arg("--collector.arp.device-exclude=^eth1$")
        // Our netdev reads /proc/net/dev; node_exporter would otherwise ask the live kernel.
        .arg("--no-collector.netdev.netlink")
        .arg("--collector.netdev.device-exclude=^lo$")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    run(cmd, &collectors())
}

/// Starts node_exporter with `cmd`'s flags plus a free port and `collectors`, and returns
/// its comparable output once every collector succeeded.
fn run(mut cmd: Command, collectors: &[&str]) -> String {
    for c in collectors {
        cmd.arg(format!("--collector.{c}"));
    }
    let body = scrape_node_exporter(cmd);
    for c in collectors {
        assert!(
            body.contains(&format!(
                "node_scrape_collector_success{{collector=\"{c}\"}} 1"
            )),
            "node_exporter's {c} collector failed on the fixture"
        );
    }
    comparable(&body)
}

fn our_output(fixture: &Path) -> String {
    let paths = fake_host_paths(fixture);
    let opts = CollectorOptions {
        textfile_directory: Some(fixture.join("textfile")),
        cpu_info: true,
        cpu_info_flags_include: Some("^(fpu|tsc)$".into()),
        cpu_info_bugs_include: Some("spectre".into()),
        stat_softirq: true,
        arp_device_exclude: Some("^eth1$".into()),
        netdev_device_exclude: Some("^lo$".into()),
        ..Default::default()
    };
    let collectors = collectors();
    let mut families = Vec::new();
    for registration in ALL.iter().filter(|r| collectors.contains(&r.name)) {
        (registration.build)(&opts)
            .collect(&paths, &mut families)
            .unwrap_or_else(|e| panic!("{}: {e}", registration.name));
    }
    let mut out = String::new();
    pharos_model::write::write_text(&normalize(families), &mut out);
    comparable(&out)
}

#[test]
fn same_text_as_node_exporter_on_fixture_host() {
    if harness::node_exporter_missing() {
        return;
    }
    let fixture = proc_host_fixture();
    let real = real_output(&fixture);
    let ours = our_output(&fixture);
    assert!(
        real.lines().count() > 300,
        "node_exporter printed only:\n{real}"
    );
    for expected in [
        "node_schedstat_timeslices_total{cpu=\"1\"} 9.1234567e+07",
        "node_cpu_bug_info{bug=\"spectre_v2\"} 1",
        "node_softirqs_total{vector=\"rcu\"} 31981",
        "node_disk_device_mapper_info{",
        "node_filesystem_device_error{device=\"/dev/x\",fstype=\"ext4\",mountpoint=\"/gone\"} 1",
        "node_filesystem_readonly{device=\"tmpfs\",fstype=\"tmpfs\",mountpoint=\"/data\"} 1",
        "mountpoint=\"/with space\"",
    ] {
        assert!(
            real.contains(expected),
            "node_exporter did not print {expected}"
        );
    }
    if real != ours {
        let theirs: Vec<&str> = real.lines().collect();
        let mine: Vec<&str> = ours.lines().collect();
        let only_real: Vec<&&str> = theirs.iter().filter(|l| !mine.contains(l)).collect();
        let only_ours: Vec<&&str> = mine.iter().filter(|l| !theirs.contains(l)).collect();
        panic!("output differs from node_exporter\nonly node_exporter:\n{only_real:#?}\nonly ours:\n{only_ours:#?}");
    }
}

#[test]
fn textfile_conflicts_and_bad_files_handled_like_node_exporter() {
    if harness::node_exporter_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        ("1.prom", "# HELP m First.\n# TYPE m gauge\nm{f=\"1\"} 1\n"),
        ("2.prom", "# HELP m Second.\n# TYPE m gauge\nm{f=\"2\"} 2\n"),
        (
            "3.prom",
            "# HELP m First.\n# TYPE m counter\nm{f=\"3\"} 3\n",
        ),
        (
            "4.prom",
            "# HELP m First.\n# TYPE m gauge\nm{f=\"1\"} 4\nm{f=\"4\"} 4\n",
        ),
        ("5.prom", "stamped 1 1700000000000\n"),
        ("6.prom", "broken{a=\"b\n"),
        ("7.prom", "x{a=\"1\"} 1\nx{b=\"2\"} 2\n"),
        ("8.txt", "ignored 1\n"),
    ];
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    // A glob, as node_exporter accepts, matching just this directory.
    let pattern = format!("{}*", dir.path().display());
    let mut cmd = Command::new(NODE_EXPORTER);
    cmd.arg(format!("--collector.textfile.directory={pattern}"))
        .arg("--collector.disable-defaults")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let real = run(cmd, &["textfile"]);
    assert!(real.contains("node_textfile_scrape_error 1"));
    let opts = CollectorOptions {
        textfile_directory: Some(pattern.into()),
        ..Default::default()
    };
    let registration = ALL.iter().find(|r| r.name == "textfile").unwrap();
    let mut families = Vec::new();
    (registration.build)(&opts)
        .collect(&HostPaths::default(), &mut families)
        .unwrap();
    let mut ours = String::new();
    pharos_model::write::write_text(&normalize(families), &mut ours);
    assert_eq!(comparable(&ours), real);
}
