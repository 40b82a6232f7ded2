//! Runs the real node_exporter (Debian's `prometheus-node-exporter`) and our collectors over the
//! same small fake `/proc` and `/sys` trees (`tests/fixtures/sys-<collector>/`), for the
//! subsystems this VM does not have (NFS server, XFS, ZFS, btrfs, bcache, InfiniBand, Fibre
//! Channel, tape), and checks that both print exactly the same text.

mod harness;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::{is_exporter_own, line_family, NODE_EXPORTER};
use pharos_node_exporter::collector::{CollectError, HostPaths};
use pharos_node_exporter::collectors::ALL;
use pharos_node_exporter::merge::normalize;
use pharos_node_exporter::options::CollectorOptions;

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

/// ZFS dbufstats families, which only our side exports.
const DBUF_PREFIX: &str = "node_zfs_dbuf_";

/// node_exporter's own families (Go runtime, process, scrape bookkeeping) are not ours to match.
fn without_exporter_own(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if !is_exporter_own(line_family(line)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn real_output(collector: &str, procfs: &Path, sysfs: &Path) -> String {
    let body = scrape_node_exporter(collector, procfs, sysfs);
    assert!(
        body.contains(&format!(
            "node_scrape_collector_success{{collector=\"{collector}\"}} 1"
        )),
        "node_exporter's {collector} collector failed on {}",
        procfs.display()
    );
    without_exporter_own(&body)
}

fn scrape_node_exporter(collector: &str, procfs: &Path, sysfs: &Path) -> String {
    let mut cmd = Command::new(NODE_EXPORTER);
    cmd.arg(format!("--path.procfs={}", procfs.display()))
        .arg(format!("--path.sysfs={}", sysfs.display()))
        .arg("--collector.disable-defaults")
        .arg(format!("--collector.{collector}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    harness::scrape_node_exporter(cmd)
}

fn our_output(collector: &str, procfs: &Path, sysfs: &Path) -> String {
    our_output_with(collector, procfs, sysfs, false)
}

/// Our text for one collector; with `absent_ok`, a missing subsystem gives empty output.
fn our_output_with(collector: &str, procfs: &Path, sysfs: &Path, absent_ok: bool) -> String {
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
    match (registration.build)(&CollectorOptions::default()).collect(&paths, &mut families) {
        Ok(()) => {}
        Err(CollectError::NotPresent(_)) if absent_ok => {}
        Err(e) => panic!("{collector}: {e}"),
    }
    let mut families = normalize(families);
    // node_exporter 1.5 does not read ZFS's dbufstats; later releases export them under this
    // prefix, and so do we.
    families.retain(|f| !f.name.starts_with(DBUF_PREFIX));
    let mut out = String::new();
    pharos_model::write::write_text(&families, &mut out);
    out
}

#[test]
fn same_text_as_node_exporter_on_fixture_trees() {
    if harness::node_exporter_missing() {
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
        assert!(
            real.lines().count() > 2,
            "{collector}: node_exporter printed nothing"
        );
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

/// HELP/TYPE lines and series (name and labels, values dropped: counters move between the two
/// scrapes) of an exposition.
fn shape(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|line| {
            if line.starts_with('#') {
                line.to_string()
            } else {
                line.rsplit_once(' ')
                    .map_or(line, |(series, _)| series)
                    .to_string()
            }
        })
        .collect()
}

#[test]
fn same_series_as_node_exporter_on_this_host() {
    if harness::node_exporter_missing() {
        return;
    }
    // Mostly empty on a VM without these subsystems; meaningful where they exist.
    let (procfs, sysfs) = (Path::new("/proc"), Path::new("/sys"));
    let mut problems = Vec::new();
    for collector in COLLECTORS {
        let real = shape(&without_exporter_own(&scrape_node_exporter(
            collector, procfs, sysfs,
        )));
        let ours = shape(&our_output_with(collector, procfs, sysfs, true));
        for line in real.symmetric_difference(&ours) {
            let side = if real.contains(line) {
                "node_exporter"
            } else {
                "ours"
            };
            problems.push(format!("{collector}: only in {side}: {line}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn copy_tree(from: &Path, to: &Path, files: &mut Vec<PathBuf>) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target, files);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            files.push(target);
        }
    }
}

/// Odd contents a broken driver or a truncated read could leave in a file.
const JUNK: &[&str] = &[
    "",
    "\n",
    "x",
    "-1\n",
    "18446744073709551616\n",
    "1.5e300\n",
    "0x\n",
    ": : :\n",
    "name type data\n",
    "\u{0}\u{1}\u{ff}\n",
    "nread a\n1\n",
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40\n",
];

#[test]
fn odd_file_contents_never_panic() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for collector in COLLECTORS {
        let root = fixtures.join(format!("sys-{collector}"));
        if !root.exists() {
            println!("skipping {collector}: no fixture at {}", root.display());
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        copy_tree(&root, tmp.path(), &mut files);
        let (procfs, sysfs) = (tmp.path().join("proc"), tmp.path().join("sys"));
        let registration = ALL.iter().find(|r| r.name == *collector).unwrap();
        let built = (registration.build)(&CollectorOptions::default());
        let paths = HostPaths {
            procfs: procfs.clone(),
            sysfs: sysfs.clone(),
            ..HostPaths::default()
        };
        for file in &files {
            let original = std::fs::read(file).unwrap();
            for junk in JUNK {
                std::fs::write(file, junk).unwrap();
                let mut families = Vec::new();
                // Ok or a clear error are both fine; a panic fails the test.
                let _ = built.collect(&paths, &mut families);
            }
            std::fs::write(file, original).unwrap();
        }
    }
}
