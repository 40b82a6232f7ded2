//! `pharos test promql` on a small script: per-file line and the `N passed, M failed` summary.

use std::process::Command;

#[test]
fn runs_a_script_and_prints_the_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("small.test");
    std::fs::write(
        &file,
        "load 5m\n  m{job=\"a\"} 0+10x10\n\neval instant at 50m sum(m)\n  {} 100\n\neval instant at 50m m\n  m{job=\"a\"} 7\n",
    )
    .expect("write script");
    let out = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(["test", "promql", &file.display().to_string()])
        .output()
        .expect("run pharos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("1 passed, 1 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("small.test"), "{stdout}");
    assert!(!out.status.success());
}
