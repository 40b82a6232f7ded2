//! Rules read through the same storage as queries: a recording rule in `pharos server` sees
//! series that only a `remote_read` endpoint (Debian's real Prometheus) holds, and a remote that
//! cannot be reached does not fail the rule. Also `--storage.remote.flush-deadline`: accepted,
//! reported by the flags API, and a clean shutdown with a `remote_write` endpoint down.

mod server_harness;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use server_harness::{free_port, get, pharos_bin, wait_until, Proc};

const PROMETHEUS: &str = "/usr/bin/prometheus";

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for f in ["pharos.log", "prometheus.log"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(f)) {
            out.push_str(&format!("--- {f}:\n{text}\n"));
        }
    }
    out
}

/// Starts `pharos server` with `config` (`{self}` replaced by its address; and `rules`, if any, as `rules.yml` beside it) plus
/// `extra` flags, and waits until it is ready.
fn start_pharos(
    dir: &Path,
    config: &str,
    rules: Option<&str>,
    extra: &[&str],
) -> (SocketAddr, Proc) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config_path = dir.join("pharos.yml");
    std::fs::write(&config_path, config.replace("{self}", &addr.to_string()))
        .expect("write pharos config");
    if let Some(r) = rules {
        std::fs::write(dir.join("rules.yml"), r).expect("write rules");
    }
    let mut args = vec![
        "server".to_string(),
        format!("--config.file={}", config_path.display()),
        format!("--storage.tsdb.path={}", dir.join("pharos-data").display()),
        format!("--web.listen-address={addr}"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let proc = Proc::start(&pharos_bin(), &args, &dir.join("pharos.log"));
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    assert!(ready, "pharos did not become ready\n{}", logs(dir));
    (addr, proc)
}

fn start_prometheus(dir: &Path) -> (SocketAddr, Proc) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .expect("write prometheus config");
    let proc = Proc::start(
        Path::new(PROMETHEUS),
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address={addr}"),
        ],
        &dir.join("prometheus.log"),
    );
    let ready = wait_until(Duration::from_secs(30), || {
        get(addr, "/-/ready").is_some_and(|r| r.status == 200)
    });
    assert!(ready, "prometheus did not become ready\n{}", logs(dir));
    (addr, proc)
}

/// The values of an instant query's result series, or empty when it failed.
fn values(addr: SocketAddr, query: &str) -> Vec<String> {
    let Some(r) = get(addr, &format!("/api/v1/query?query={query}")) else {
        return Vec::new();
    };
    if r.status != 200 {
        return Vec::new();
    }
    r.json()["data"]["result"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row["value"][1].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `(health, lastError)` of the recording rule `name` from `/api/v1/rules`.
fn rule_health(addr: SocketAddr, name: &str) -> Option<(String, String)> {
    let r = get(addr, "/api/v1/rules")?;
    let j = r.json();
    j["data"]["groups"]
        .as_array()?
        .iter()
        .filter_map(|g| g["rules"].as_array())
        .flatten()
        .find(|rule| rule["name"] == name)
        .map(|rule| {
            (
                rule["health"].as_str().unwrap_or("").to_string(),
                rule["lastError"].as_str().unwrap_or("").to_string(),
            )
        })
}

#[test]
fn recording_rule_reads_series_only_the_remote_holds() {
    if !Path::new(PROMETHEUS).exists() {
        println!("skipping: {PROMETHEUS} not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (prom, mut prom_proc) = start_prometheus(dir.path());
    let scraped = wait_until(Duration::from_secs(30), || {
        !values(prom, "prometheus_build_info").is_empty()
    });
    assert!(
        scraped,
        "prometheus did not scrape itself\n{}",
        logs(dir.path())
    );
    // Pharos scrapes nothing: prometheus_build_info exists only on the remote.
    let (pharos, mut pharos_proc) = start_pharos(
        dir.path(),
        &format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nremote_read:\n  - url: http://{prom}/api/v1/read\n    read_recent: true\n"
        ),
        Some(
            "groups:\n  - name: remote\n    interval: 1s\n    rules:\n      - record: remote_build_info\n        expr: count(prometheus_build_info)\n",
        ),
        &[],
    );
    let recorded = wait_until(Duration::from_secs(30), || {
        values(pharos, "remote_build_info") == ["1"]
    });
    assert!(
        recorded,
        "remote_build_info was not recorded from the remote's data: {:?}, rule {:?}\n{}",
        values(pharos, "remote_build_info"),
        rule_health(pharos, "remote_build_info"),
        logs(dir.path())
    );
    // Recorded into local storage, not answered by the remote: Prometheus has no such series.
    assert!(values(prom, "remote_build_info").is_empty());
    assert_eq!(
        rule_health(pharos, "remote_build_info").map(|h| h.0),
        Some("ok".to_string())
    );
    pharos_proc.terminate();
    prom_proc.terminate();
}

#[test]
fn unreachable_remote_does_not_fail_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Nothing listens on a port just found free: requests are refused at once.
    let dead = free_port();
    let (pharos, mut pharos_proc) = start_pharos(
        dir.path(),
        &format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nremote_read:\n  - url: http://127.0.0.1:{dead}/api/v1/read\n    read_recent: true\n"
        ),
        Some(
            "groups:\n  - name: dead\n    interval: 1s\n    rules:\n      - record: still_recorded\n        expr: count(nowhere_to_be_found) or vector(7)\n",
        ),
        &[],
    );
    let recorded = wait_until(Duration::from_secs(30), || {
        values(pharos, "still_recorded") == ["7"]
    });
    assert!(
        recorded,
        "the rule did not record with the remote down: rule {:?}\n{}",
        rule_health(pharos, "still_recorded"),
        logs(dir.path())
    );
    assert_eq!(
        rule_health(pharos, "still_recorded"),
        Some(("ok".to_string(), String::new()))
    );
    pharos_proc.terminate();
    let log = logs(dir.path());
    assert!(
        log.contains("remote read failed; evaluating on the data read"),
        "no warning logged for the failed remote read\n{log}"
    );
}

#[test]
fn flush_deadline_flag_is_reported_and_shutdown_stays_clean() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dead = free_port();
    let (pharos, mut pharos_proc) = start_pharos(
        dir.path(),
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{self}']\nremote_write:\n  - url: http://127.0.0.1:{dead}/api/v1/write\n"
            .replace("{dead}", &dead.to_string())
            .as_str(),
        None,
        &["--storage.remote.flush-deadline=1s"],
    );
    let flags = get(pharos, "/api/v1/status/flags").map(|r| r.json());
    assert_eq!(
        flags
            .as_ref()
            .map(|f| f["data"]["storage.remote.flush-deadline"].clone()),
        Some(serde_json::json!("1s")),
        "{flags:?}"
    );
    // Samples are waiting for the dead endpoint once a few scrapes happened.
    std::thread::sleep(Duration::from_secs(3));
    // The queue holds unsent samples; stopping must give up on them (they are resent after a
    // restart) and exit cleanly within the 10 s that `terminate` waits.
    let status = pharos_proc.terminate();
    assert!(
        status.is_some_and(|s| s.success()),
        "pharos did not exit cleanly within 10s of SIGTERM: {status:?}\n{}",
        logs(dir.path())
    );
}
