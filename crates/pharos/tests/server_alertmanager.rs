//! `pharos server` sending alerts to Debian's real Alertmanager: an always-firing rule's alert
//! arrives with its labels, the external labels and its annotations, as seen through the
//! Alertmanager's API v2 and `amtool`; `/api/v1/alertmanagers`, the notifier's self-metrics and
//! a reload that removes the Alertmanager are checked on the way.

mod server_harness;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use server_harness::{free_port, get, pharos_bin, request, wait_until, Proc};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const AMTOOL: &str = "/usr/bin/amtool";

fn write_server_config(path: &Path, alertmanager: Option<SocketAddr>) {
    let mut text = String::from(concat!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n",
        "  external_labels:\n    site: test\n",
        "rule_files:\n  - rules.yml\n",
    ));
    if let Some(am) = alertmanager {
        text.push_str(&format!(
            "alerting:\n  alertmanagers:\n    - timeout: 5s\n      static_configs:\n        - targets: ['{am}']\n"
        ));
    }
    std::fs::write(path, text).expect("write server config");
}

/// The alert named `name` in the Alertmanager's `/api/v2/alerts`, if there.
fn alert_in_alertmanager(am: SocketAddr, name: &str) -> Option<serde_json::Value> {
    let r = get(am, "/api/v2/alerts")?;
    if r.status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    v.as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .cloned()
}

#[test]
fn alerts_reach_the_real_alertmanager() {
    if !Path::new(ALERTMANAGER).exists() {
        println!("skipping: prometheus-alertmanager not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n",
    )
    .expect("write alertmanager config");
    let am_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _am = Proc::start(
        Path::new(ALERTMANAGER),
        &[
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", dir.path().join("am-data").display()),
            format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=".into(),
        ],
        &dir.path().join("alertmanager.log"),
    );
    assert!(
        wait_until(Duration::from_secs(20), || get(am_addr, "/-/ready")
            .is_some_and(|r| r.status == 200)),
        "alertmanager not ready within 20s:\n{}",
        std::fs::read_to_string(dir.path().join("alertmanager.log")).unwrap_or_default()
    );

    std::fs::write(
        dir.path().join("rules.yml"),
        concat!(
            "groups:\n  - name: always\n    interval: 1s\n    rules:\n",
            "      - alert: AlwaysFiring\n        expr: vector(1)\n        for: 0s\n",
            "        labels:\n          severity: page\n",
            "        annotations:\n          summary: the test alert\n",
        ),
    )
    .expect("write rules");
    let config = dir.path().join("prometheus.yml");
    write_server_config(&config, Some(am_addr));
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log_path = dir.path().join("server.log");
    let mut server = Proc::start(
        &pharos_bin(),
        &[
            "server".into(),
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={addr}"),
            "--web.enable-lifecycle".into(),
            "--alertmanager.notification-queue-capacity=500".into(),
        ],
        &log_path,
    );
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let mut alert = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            alert = alert_in_alertmanager(am_addr, "AlwaysFiring");
            alert.is_some()
        }),
        "the alert did not reach the Alertmanager within 30s; server log:\n{}",
        log()
    );
    let alert = alert.unwrap_or_default();
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["site"], "test", "external labels are added");
    assert_eq!(alert["annotations"]["summary"], "the test alert");
    assert_eq!(alert["status"]["state"], "active");
    assert!(
        alert["generatorURL"]
            .as_str()
            .is_some_and(|u| u.contains("/graph?g0.expr=vector%281%29")),
        "generatorURL: {}",
        alert["generatorURL"]
    );

    if Path::new(AMTOOL).exists() {
        let out = Command::new(AMTOOL)
            .args([
                "alert",
                "query",
                "-o",
                "json",
                &format!("--alertmanager.url=http://{am_addr}"),
                "alertname=AlwaysFiring",
            ])
            .output()
            .expect("run amtool");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "amtool failed: {out:?}");
        assert!(text.contains("\"site\":\"test\""), "amtool output: {text}");
    } else {
        println!("skipping the amtool check: amtool not installed");
    }

    let r = get(addr, "/api/v1/alertmanagers").expect("alertmanagers API");
    let j = r.json();
    assert_eq!(j["status"], "success");
    let am_url = format!("http://{am_addr}/api/v2/alerts");
    assert_eq!(
        j["data"]["activeAlertmanagers"],
        serde_json::json!([{ "url": am_url }])
    );
    assert_eq!(j["data"]["droppedAlertmanagers"], serde_json::json!([]));

    let metrics = get(addr, "/metrics").expect("metrics").body;
    for want in [
        "prometheus_notifications_alertmanagers_discovered 1",
        "prometheus_notifications_queue_capacity 500",
        "prometheus_notifications_dropped_total 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == want),
            "missing {want:?} in /metrics"
        );
    }
    let sent_line = format!("prometheus_notifications_sent_total{{alertmanager=\"{am_url}\"}} ");
    let sent: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&sent_line))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(sent >= 1.0, "no alerts counted as sent:\n{metrics}");

    // A reload without the Alertmanager empties the list.
    write_server_config(&config, None);
    let r = request(addr, "POST", "/-/reload", None).expect("reload");
    assert_eq!(r.status, 200, "reload: {}", r.body);
    let r = get(addr, "/api/v1/alertmanagers").expect("alertmanagers API");
    assert_eq!(
        r.json()["data"]["activeAlertmanagers"],
        serde_json::json!([])
    );

    let status = server.terminate();
    assert!(
        status.is_some_and(|s| s.success()),
        "server did not exit cleanly: {status:?}; log:\n{}",
        log()
    );
}
