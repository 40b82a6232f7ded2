//! Runs Prometheus's PromQL test scripts from `../shared/promql-testdata` and fails if fewer
//! evaluations pass than the floor recorded in `conformance-floor.txt` (which only rises).

use std::path::PathBuf;

use pharos_promql::promqltest::run_file;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/promql-testdata")
}

#[test]
fn promql_conformance_floor() {
    let dir = testdata();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!(
            "skipping: {} is absent (the shared PromQL test data is not checked out)",
            dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let only = std::env::var("PROMQL_FILE").ok();
    let show: usize = std::env::var("PROMQL_SHOW")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let r = run_file(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        println!(
            "{:<28} {:>5} passed {:>5} failed",
            r.name, r.passed, r.failed
        );
        for fl in r.failures.iter().take(show) {
            println!("  line {}: {}\n    {}", fl.line, fl.command, fl.message);
        }
        passed += r.passed;
        failed += r.failed;
    }
    println!("{passed} passed, {failed} failed");
    if only.is_some() {
        return;
    }
    let floor_file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance-floor.txt");
    let floor: usize = std::fs::read_to_string(&floor_file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| !l.starts_with('#'))
                .and_then(|l| l.trim().parse().ok())
        })
        .unwrap_or(0);
    assert!(
        passed >= floor,
        "conformance fell below the floor: {passed} passed < {floor} (conformance-floor.txt)"
    );
}
