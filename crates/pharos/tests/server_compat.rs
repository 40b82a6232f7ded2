//! Compatibility of `pharos server` with the tools and files around Prometheus: its own
//! `/metrics` passes `promtool check metrics`, `pharos check config` agrees with
//! `promtool check config` on the documented example configurations, and the systemd unit
//! line from the README starts the server.

mod server_harness;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use server_harness::{free_port, get, pharos_bin, wait_until, Proc};

const PROMTOOL: &str = "/usr/bin/promtool";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check_config")
}

fn wait_ready(addr: SocketAddr, log: &Path) {
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    assert!(
        ready,
        "server not ready within 30s; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn own_metrics_pass_promtool_check_metrics() {
    if !Path::new(PROMTOOL).exists() {
        println!("skipping: promtool not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{addr}']\n"),
    )
    .expect("write config");
    let log = dir.path().join("server.log");
    let mut server = Proc::start(
        &pharos_bin(),
        &[
            "server".into(),
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={addr}"),
        ],
        &log,
    );
    wait_ready(addr, &log);
    // After a scrape or two, so that per-job and storage families have samples.
    let scraped = wait_until(Duration::from_secs(20), || {
        server_harness::healthy_targets(addr) == 1
    });
    assert!(scraped, "self-scrape never succeeded");
    let metrics = get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(metrics.status, 200);
    let mut promtool = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    if let Some(mut stdin) = promtool.stdin.take() {
        stdin
            .write_all(metrics.body.as_bytes())
            .expect("write to promtool");
    }
    let out = promtool.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {:?}\n{said}\n--- /metrics ---\n{}",
        out.status,
        metrics.body
    );
    let status = server.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

/// What a fixture should do: accepted, or rejected with a message naming a line (when the
/// line is known) and containing some text.
struct Expectation {
    file: &'static str,
    accepted: bool,
    line: Option<u32>,
    says: &'static str,
    /// Whether promtool must agree. Off only where Pharos refuses on purpose something
    /// upstream Prometheus accepts (a service discovery it does not implement yet).
    compare_with_promtool: bool,
}

const EXPECTATIONS: [Expectation; 12] = [
    Expectation {
        file: "prometheus.yml",
        accepted: true,
        line: None,
        says: "",
        compare_with_promtool: true,
    },
    Expectation {
        file: "file_and_dns_sd.yml",
        accepted: true,
        line: None,
        says: "",
        compare_with_promtool: true,
    },
    Expectation {
        file: "relabeling.yml",
        accepted: true,
        line: None,
        says: "",
        compare_with_promtool: true,
    },
    Expectation {
        file: "auth.yml",
        accepted: true,
        line: None,
        says: "",
        compare_with_promtool: true,
    },
    Expectation {
        file: "alerting.yml",
        accepted: true,
        line: None,
        says: "",
        compare_with_promtool: true,
    },
    Expectation {
        file: "kubernetes_sd.yml",
        accepted: false,
        line: Some(8),
        says: "kubernetes_sd_configs is not supported yet by pharos",
        compare_with_promtool: false,
    },
    Expectation {
        file: "bad_yaml.yml",
        accepted: false,
        line: Some(7),
        says: "",
        compare_with_promtool: true,
    },
    Expectation {
        file: "unknown_field.yml",
        accepted: false,
        line: Some(5),
        says: "scrape_intervall",
        compare_with_promtool: true,
    },
    Expectation {
        file: "bad_duration.yml",
        accepted: false,
        line: Some(5),
        says: "not a valid duration string: \"5 seconds\"",
        compare_with_promtool: true,
    },
    Expectation {
        file: "bad_regex.yml",
        accepted: false,
        line: Some(7),
        says: "node_(cpu|memory",
        compare_with_promtool: true,
    },
    Expectation {
        file: "duplicate_job.yml",
        accepted: false,
        line: Some(8),
        says: "found multiple scrape configs with job name \"node\"",
        compare_with_promtool: true,
    },
    Expectation {
        file: "timeout_over_interval.yml",
        accepted: false,
        line: None,
        says:
            "scrape timeout greater than scrape interval for scrape config with job name \"node\"",
        compare_with_promtool: true,
    },
];

fn check_config(program: &Path, leading: &[&str], file: &str) -> (bool, String) {
    let out = Command::new(program)
        .args(leading)
        .args(["check", "config", file])
        .current_dir(fixtures())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn documented_example_configs_check_like_promtool() {
    let promtool = Path::new(PROMTOOL).exists();
    if !promtool {
        println!("promtool not installed: checking pharos against the expectations only");
    }
    // Every fixture has an expectation, so a new file cannot be forgotten.
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EXPECTATIONS.iter().map(|e| e.file.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);

    let mut problems = Vec::new();
    for e in &EXPECTATIONS {
        let (ok, text) = check_config(&pharos_bin(), &[], e.file);
        if ok != e.accepted {
            problems.push(format!(
                "{}: pharos {} it:\n{text}",
                e.file,
                if ok { "accepted" } else { "rejected" }
            ));
            continue;
        }
        if let Some(line) = e.line {
            if !text.contains(&format!("line {line}")) {
                problems.push(format!(
                    "{}: pharos does not name line {line}:\n{text}",
                    e.file
                ));
            }
        }
        if !text.contains(e.says) {
            problems.push(format!(
                "{}: pharos does not say {:?}:\n{text}",
                e.file, e.says
            ));
        }
        if promtool && e.compare_with_promtool {
            let (prom_ok, prom_text) = check_config(Path::new(PROMTOOL), &[], e.file);
            if prom_ok != ok {
                problems.push(format!(
                    "{}: promtool {} it, pharos did not:\n{prom_text}\n{text}",
                    e.file,
                    if prom_ok { "accepted" } else { "rejected" }
                ));
            }
            // Where both parsers report a field's line, it is the same line.
            if e.file == "unknown_field.yml" && !prom_text.contains("line 5") {
                problems.push(format!(
                    "{}: promtool names another line:\n{prom_text}",
                    e.file
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn systemd_exec_start_from_the_readme_runs() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(&readme).expect("read README.md");
    let exec = text
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .find(|l| l.split_whitespace().nth(1) == Some("server"))
        .expect("README documents an ExecStart line for `pharos server`");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
    )
    .expect("write config");
    // The unit's flags with its system paths moved into the temporary directory; the
    // listen address is added because the unit relies on the default :9090.
    let mut args = Vec::new();
    for word in exec.split_whitespace().skip(1) {
        let arg = match word.split_once('=') {
            Some(("--config.file", _)) => format!("--config.file={}", config.display()),
            Some((flag, path)) if path.starts_with('/') => {
                let moved = dir.path().join(path.trim_start_matches('/'));
                format!("{flag}={}", moved.display())
            }
            _ => word.to_string(),
        };
        args.push(arg);
    }
    let flags: Vec<&str> = args
        .iter()
        .filter_map(|a| a.split_once('=').map(|(f, _)| f))
        .collect();
    for want in [
        "--config.file",
        "--storage.tsdb.path",
        "--web.console.templates",
        "--web.console.libraries",
    ] {
        assert!(flags.contains(&want), "{want} missing from {exec}");
    }
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    args.push(format!("--web.listen-address={addr}"));
    let log = dir.path().join("server.log");
    let mut server = Proc::start(&pharos_bin(), &args, &log);
    wait_ready(addr, &log);
    let status = server.terminate();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?} after SIGTERM; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(dir.path().join("var/lib/prometheus").is_dir());
}
