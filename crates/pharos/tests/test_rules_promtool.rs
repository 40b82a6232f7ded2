//! `pharos test rules` against `promtool test rules` on the same unit test files (in
//! `tests/rule_unit_tests/`): the same exit codes, the same standard output, and the same
//! failure messages except where a YAML parser's own wording is involved.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROMTOOL: &str = "/usr/bin/promtool";

/// Each file, whether it passes, and whether standard error must match promtool's exactly.
const CASES: [(&str, bool, bool); 6] = [
    ("pass.yml", true, true),
    ("fail.yml", false, true),
    ("order.yml", true, true),
    ("order_wrong.yml", false, true),
    ("missing_alertname.yml", false, true),
    // The YAML error wording is the parser's own.
    ("unknown_field.yml", false, false),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rule_unit_tests")
}

/// Runs `bin test rules FILES` in the fixtures directory with relative names, so both tools
/// print the same file names.
fn run(bin: &Path, files: &[&str]) -> Output {
    Command::new(bin)
        .args(["test", "rules"])
        .args(files)
        .current_dir(fixtures())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn exit_codes_and_messages_match_promtool() {
    let pharos = PathBuf::from(env!("CARGO_BIN_EXE_pharos"));
    let promtool = Path::new(PROMTOOL);
    let have_promtool = promtool.exists();
    if !have_promtool {
        println!("skipping the comparison: promtool not installed; checking exit codes only");
    }
    for (file, passes, same_stderr) in CASES {
        let ours = run(&pharos, &[file]);
        assert_eq!(
            ours.status.success(),
            passes,
            "{file}: pharos exit status {:?}\nstdout:\n{}\nstderr:\n{}",
            ours.status.code(),
            text(&ours.stdout),
            text(&ours.stderr)
        );
        if !have_promtool {
            continue;
        }
        let theirs = run(promtool, &[file]);
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{file}: exit codes differ\npromtool stderr:\n{}\npharos stderr:\n{}",
            text(&theirs.stderr),
            text(&ours.stderr)
        );
        assert_eq!(
            text(&ours.stdout),
            text(&theirs.stdout),
            "{file}: standard output differs"
        );
        if same_stderr {
            assert_eq!(
                text(&ours.stderr),
                text(&theirs.stderr),
                "{file}: failure messages differ"
            );
        } else {
            assert_eq!(
                text(&ours.stderr).lines().next(),
                Some("  FAILED:"),
                "{file}"
            );
        }
    }
    // Several files at once: every file is reported, and one failure fails the run.
    let all = ["pass.yml", "fail.yml", "order.yml"];
    let ours = run(&pharos, &all);
    assert_eq!(ours.status.code(), Some(1));
    if have_promtool {
        let theirs = run(promtool, &all);
        assert_eq!(ours.status.code(), theirs.status.code());
        assert_eq!(text(&ours.stdout), text(&theirs.stdout));
        assert_eq!(text(&ours.stderr), text(&theirs.stderr));
    }
}

#[test]
fn a_missing_file_fails() {
    let pharos = PathBuf::from(env!("CARGO_BIN_EXE_pharos"));
    let out = run(&pharos, &["does-not-exist.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("Unit Testing:  does-not-exist.yml\n"));
    assert!(text(&out.stderr).starts_with("  FAILED:\n"));
}
