//! `pharos node-exporter` start-up: help, bad flags, taken ports and wrong paths give clear
//! messages and a failing exit code, never a panic.

mod node_exporter_harness;

use std::net::TcpListener;
use std::process::{Command, Output};

use node_exporter_harness::pharos_bin;

fn run(args: &[&str]) -> Output {
    Command::new(pharos_bin())
        .args(args)
        .output()
        .expect("running pharos")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_node_exporter_flags() {
    let o = run(&["node-exporter", "--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--web.listen-address",
        "--web.telemetry-path",
        "--web.disable-exporter-metrics",
        "--web.max-requests",
        "--web.config.file",
        "--path.procfs",
        "--path.sysfs",
        "--path.rootfs",
        "--path.udev.data",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.textfile.directory",
        "--collector.filesystem.mount-points-exclude",
        "--collector.systemd.unit-include",
        "--log.level",
        "--log.format",
    ] {
        assert!(help.contains(flag), "help lacks {flag}:\n{help}");
    }
}

#[test]
fn unknown_flag_and_collector_fail_cleanly() {
    let o = run(&["node-exporter", "--collector.nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--collector.nosuch"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));

    let o = run(&["node-exporter", "--web.max-requests=many"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("web.max-requests"), "{}", stderr(&o));

    let o = run(&["node-exporter", "--log.level=loud"]);
    assert_eq!(o.status.code(), Some(2));

    let o = run(&[
        "node-exporter",
        "--collector.arp.device-include=eth0",
        "--collector.arp.device-exclude=lo",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("mutually exclusive"), "{}", stderr(&o));
}

#[test]
fn port_in_use_is_explained() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let o = run(&["node-exporter", &format!("--web.listen-address={addr}")]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("address already in use"), "{err}");
    assert!(err.contains("another exporter"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_listen_address_and_procfs_are_explained() {
    let o = run(&["node-exporter", "--web.listen-address=localhost"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid listen address"),
        "{}",
        stderr(&o)
    );

    let o = run(&[
        "node-exporter",
        "--web.listen-address=127.0.0.1:0",
        "--path.procfs=/nonexistent/proc",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("--path.procfs=/nonexistent/proc"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_web_config_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("web.yml");
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: a.crt\n  keyfile: a.key\n",
    )
    .expect("write");
    let o = run(&[
        "node-exporter",
        "--web.listen-address=127.0.0.1:0",
        &format!("--web.config.file={}", path.display()),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("keyfile"), "{err}");
}
