//! Runs the real node_exporter (Debian's `prometheus-node-exporter`) and our procfs/sysfs
//! collectors on this host and checks that both expose the same families, with the same HELP
//! and TYPE, and the same series for everything that does not change from second to second.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use harness::{
    is_exporter_own, scrape_node_exporter, NODE_EXPORTER, PROC_COLLECTORS as COLLECTORS,
};
use pharos_node_exporter::collector::HostPaths;
use pharos_node_exporter::collectors::ALL;
use pharos_node_exporter::options::CollectorOptions;

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
    if harness::node_exporter_missing() {
        return;
    }
    let textfiles = tempfile::tempdir().unwrap();
    std::fs::write(
        textfiles.path().join("job.prom"),
        "# HELP job_ok Whether the job worked.\n# TYPE job_ok gauge\njob_ok{job=\"x\"} 1\n",
    )
    .unwrap();

    let mut cmd = Command::new(NODE_EXPORTER);
    cmd.arg("--collector.disable-defaults")
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
    let real = scrape_node_exporter(cmd);

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
    let mut problems = Vec::new();
    for (name, metadata) in real.metadata.iter().filter(|(n, _)| !is_exporter_own(n)) {
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
