//! `pharos tsdb`: import OpenMetrics into blocks, list them, dump them back.

use std::process::Command;

fn pharos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pharos"))
}

#[test]
fn create_blocks_list_and_dump_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.om");
    let mut text = String::from("# TYPE http_requests counter\n");
    for i in 0..3 {
        for t in 0..10 {
            // Two hours apart at t=5 so two blocks are cut.
            let ts = 1_700_000_000 + t * 1800;
            text.push_str(&format!(
                "http_requests_total{{code=\"{}\"}} {} {}\n",
                200 + i,
                t * 10,
                ts
            ));
        }
    }
    text.push_str("# EOF\n");
    std::fs::write(&input, &text).unwrap();
    let data = dir.path().join("data");
    let out = pharos()
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("BLOCK ULID"))
        .count();
    assert!(
        listing >= 2,
        "blocks reported: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = pharos().args(["tsdb", "list"]).arg(&data).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        listing + 1
    );

    let out = pharos().args(["tsdb", "dump"]).arg(&data).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dumped = String::from_utf8(out.stdout).unwrap();
    assert!(dumped.ends_with("# EOF\n"));
    assert_eq!(dumped.lines().count(), 31);
    assert!(
        dumped.contains("http_requests_total{code=\"201\"} 90.0 1700016200\n"),
        "{dumped}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.om");
    std::fs::write(&input, "metric{ 1 2\n").unwrap();
    let out = pharos()
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(dir.path().join("d"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("OpenMetrics"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
