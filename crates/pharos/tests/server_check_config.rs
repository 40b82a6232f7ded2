//! `pharos check config` behaves like `promtool check config`.

use std::process::Command;

fn check(files: &[&std::path::Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pharos"))
        .arg("check")
        .arg("config")
        .args(files)
        .output()
        .expect("run pharos check config")
}

#[test]
fn good_file_passes_and_broken_file_fails_with_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n",
    )
    .expect("write");
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "global:\n  scrape_interval: 15s\n  scrape_intervall: 1m\n",
    )
    .expect("write");

    let out = check(&[&good]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("Checking {}", good.display())),
        "{stdout}"
    );
    assert!(stdout.contains(" SUCCESS: "), "{stdout}");

    let out = check(&[&good, &bad]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAILED:"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("scrape_intervall"), "{stderr}");
}

#[test]
fn semantic_errors_fail_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dup = dir.path().join("dup.yml");
    std::fs::write(&dup, "scrape_configs:\n  - job_name: a\n  - job_name: a\n").expect("write");
    let out = check(&[&dup]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("multiple scrape configs"));
}
