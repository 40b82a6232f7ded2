//! Recording and alerting rules in `pharos server`: recorded series, the alert life cycle seen
//! through the API, `ALERTS`, reloads with a broken rule file, and the for-state restored after
//! a restart. Also `pharos check rules` against `promtool check rules`.

mod server_harness;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use server_harness::{free_port, get, pharos_bin, request, wait_until, Proc};

const PROMTOOL: &str = "/usr/bin/promtool";

const RULES: &str = r#"groups:
  - name: self
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          recorded: "yes"
      - alert: SelfUp
        expr: job:up:sum > 0
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} is up"
      - alert: SelfUpLong
        expr: vector(1)
        for: 6s
"#;

fn start_server(dir: &Path, addr: SocketAddr, log: &str) -> Proc {
    Proc::start(
        &pharos_bin(),
        &[
            "server".into(),
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address={addr}"),
            "--web.enable-lifecycle".into(),
            // Short enough that the 6s alert's for-state is restored, not reset.
            "--rules.alert.for-grace-period=1s".into(),
        ],
        &dir.join(log),
    )
}

fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    match get(addr, path) {
        Some(r) if r.status == 200 => r.json(),
        _ => serde_json::Value::Null,
    }
}

/// `(alertname, state, activeAt)` of every alert `/api/v1/alerts` lists.
fn alerts(addr: SocketAddr) -> Vec<(String, String, String)> {
    json(addr, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                        x["state"].as_str().unwrap_or("").to_string(),
                        x["activeAt"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn state_of(addr: SocketAddr, name: &str) -> Option<String> {
    alerts(addr).into_iter().find(|a| a.0 == name).map(|a| a.1)
}

fn query_len(addr: SocketAddr, q: &str) -> usize {
    let path = format!(
        "/api/v1/query?query={}",
        q.bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            })
            .collect::<String>()
    );
    json(addr, &path)["data"]["result"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Seconds since the epoch in an RFC 3339 UTC time such as `2024-01-02T03:04:05.6Z`.
fn rfc3339_secs(s: &str) -> i64 {
    let digits = |a: usize, b: usize| s.get(a..b).and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
    let (y, mo, d) = (digits(0, 4), digits(5, 7), digits(8, 10));
    let (h, mi, se) = (digits(11, 13), digits(14, 16), digits(17, 19));
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h * 3600 + mi * 60 + se
}

#[test]
fn server_evaluates_rules_and_restores_alert_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - 'rules/*.yml'\nscrape_configs:\n  - job_name: pharos\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .expect("write config");
    std::fs::create_dir(dir.path().join("rules")).expect("rules dir");
    let rules_file = dir.path().join("rules/self.yml");
    std::fs::write(&rules_file, RULES).expect("write rules");

    let mut server = start_server(dir.path(), addr, "server.log");
    let log = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();

    // The recording rule's series appears with the record name and its extra label.
    assert!(
        wait_until(Duration::from_secs(30), || query_len(
            addr,
            "job:up:sum{job=\"pharos\",recorded=\"yes\"}"
        ) == 1),
        "recorded series missing; log:\n{}",
        log("server.log")
    );

    // The alert is pending first, then firing.
    let mut seen = Vec::new();
    let fired = wait_until(Duration::from_secs(20), || {
        let s = state_of(addr, "SelfUp");
        if let Some(s) = &s {
            if seen.last() != Some(s) {
                seen.push(s.clone());
            }
        }
        s.as_deref() == Some("firing")
    });
    assert!(
        fired,
        "SelfUp never fired: {seen:?}; log:\n{}",
        log("server.log")
    );
    assert_eq!(
        seen.first().map(String::as_str),
        Some("pending"),
        "{seen:?}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || query_len(
            addr,
            "ALERTS{alertname=\"SelfUp\",alertstate=\"firing\",severity=\"page\"}"
        ) == 1),
        "ALERTS series missing"
    );

    // The rules API in Prometheus's shape.
    let r = json(addr, "/api/v1/rules");
    assert_eq!(r["status"], "success", "{r}");
    let group = &r["data"]["groups"][0];
    assert_eq!(group["name"], "self");
    assert_eq!(group["interval"], 1.0);
    assert!(
        group["file"]
            .as_str()
            .unwrap_or("")
            .ends_with("rules/self.yml"),
        "{group}"
    );
    let rec = &group["rules"][0];
    assert_eq!(rec["type"], "recording");
    assert_eq!(rec["health"], "ok", "{rec}");
    assert_eq!(rec["query"], "sum by (job) (up)");
    let alert = &group["rules"][1];
    assert_eq!(alert["type"], "alerting");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["duration"], 2.0);
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["alerts"][0]["value"], "1e+00");
    assert_eq!(
        alert["alerts"][0]["annotations"]["summary"], "pharos is up",
        "{alert}"
    );
    assert!(
        alert["alerts"][0]["activeAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{alert}"
    );
    let only_records = json(addr, "/api/v1/rules?type=record");
    assert_eq!(
        only_records["data"]["groups"][0]["rules"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        get(addr, "/api/v1/rules?type=bogus").map(|r| r.status),
        Some(400)
    );
    let metrics = get(addr, "/metrics").map(|r| r.body).unwrap_or_default();
    assert!(
        metrics.contains("prometheus_rule_group_rules{rule_group=\"")
            && metrics.contains("prometheus_rule_evaluations_total{")
            && metrics.contains("prometheus_rule_group_duration_seconds_count "),
        "{metrics}"
    );

    // A broken rule file fails the reload; the running rules carry on.
    std::fs::write(
        &rules_file,
        "groups:\n  - name: self\n    rules:\n      - record: x\n        expr: sum(\n",
    )
    .expect("write");
    let r = request(addr, "POST", "/-/reload", None).expect("reload");
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("could not parse expression"), "{}", r.body);
    assert_eq!(state_of(addr, "SelfUp").as_deref(), Some("firing"));
    std::fs::write(&rules_file, RULES).expect("write");
    let r = request(addr, "POST", "/-/reload", None).expect("reload");
    assert_eq!(r.status, 200, "{}", r.body);
    // Unchanged rules keep their alert state.
    assert_eq!(state_of(addr, "SelfUp").as_deref(), Some("firing"));

    // Let the long alert fire, then restart: it comes back firing with its original active
    // time instead of starting `for` again.
    assert!(
        wait_until(Duration::from_secs(20), || state_of(addr, "SelfUpLong")
            .as_deref()
            == Some("firing")),
        "SelfUpLong never fired"
    );
    let before = alerts(addr)
        .into_iter()
        .find(|a| a.0 == "SelfUpLong")
        .expect("long alert");
    server.terminate();
    let restart_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let _server = start_server(dir.path(), addr, "server2.log");
    assert!(
        wait_until(Duration::from_secs(30), || state_of(addr, "SelfUpLong")
            .as_deref()
            == Some("firing")),
        "SelfUpLong not firing after restart; log:\n{}",
        log("server2.log")
    );
    let after = alerts(addr)
        .into_iter()
        .find(|a| a.0 == "SelfUpLong")
        .expect("long alert after restart");
    let active_after = rfc3339_secs(&after.2);
    assert!(
        active_after < restart_secs,
        "active time {} not restored (was {} before the restart at {restart_secs})",
        after.2,
        before.2
    );
    assert_eq!(
        active_after,
        rfc3339_secs(&before.2),
        "{after:?} vs {before:?}"
    );
}

fn run(bin: &Path, args: &[&str], files: &[&Path]) -> (Option<i32>, String) {
    let out = Command::new(bin)
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The "N rules found" counts in promtool's output.
fn counts(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.contains("rules found") || l.contains("rule files found"))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn check_rules_agrees_with_promtool() {
    let promtool = Path::new(PROMTOOL);
    if !promtool.exists() {
        println!("skipping: promtool not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let files: &[(&str, &str)] = &[
        ("good.yml", RULES),
        ("empty.yml", ""),
        (
            "two_groups.yml",
            "groups:\n  - name: a\n    interval: 30s\n    limit: 10\n    rules:\n      - record: a:b\n        expr: vector(1)\n  - name: b\n    rules:\n      - alert: X\n        expr: up == 0\n        keep_firing_for: 5m\n",
        ),
        ("unknown_field.yml", "groups:\n  - name: a\n    rules:\n      - record: a\n        expr: up\n        bogus: 1\n"),
        ("bad_expr.yml", "groups:\n  - name: a\n    rules:\n      - record: a\n        expr: sum(up\n"),
        ("record_with_for.yml", "groups:\n  - name: a\n    rules:\n      - record: a\n        expr: up\n        for: 1m\n"),
        ("bad_record_name.yml", "groups:\n  - name: a\n    rules:\n      - record: 'a-b'\n        expr: up\n"),
        ("both_kinds.yml", "groups:\n  - name: a\n    rules:\n      - record: a\n        alert: b\n        expr: up\n"),
        ("dup_group.yml", "groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n"),
        ("bad_label.yml", "groups:\n  - name: a\n    rules:\n      - alert: a\n        expr: up\n        labels:\n          '0x': y\n"),
        ("not_yaml.yml", "groups: [\n"),
        (
            "bad_template.yml",
            "groups:\n  - name: a\n    rules:\n      - alert: a\n        expr: up\n        annotations:\n          summary: '{{ $labels.job'\n",
        ),
        (
            "duplicate_rules.yml",
            "groups:\n  - name: a\n    rules:\n      - record: a\n        expr: up\n      - record: a\n        expr: up\n",
        ),
    ];
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let (want_code, want_out) = run(promtool, &["check", "rules"], &[&path]);
        let (got_code, got_out) = run(&pharos_bin(), &["check", "rules"], &[&path]);
        assert_eq!(
            got_code, want_code,
            "{name}: exit codes differ\npromtool: {want_out}\npharos: {got_out}"
        );
        assert_eq!(
            counts(&got_out),
            counts(&want_out),
            "{name}: rule counts differ"
        );
    }
    // Several files at once: one bad file fails the whole run.
    let good = dir.path().join("good.yml");
    let bad = dir.path().join("bad_expr.yml");
    let (want, _) = run(promtool, &["check", "rules"], &[&good, &bad]);
    let (got, got_out) = run(&pharos_bin(), &["check", "rules"], &[&good, &bad]);
    assert_eq!(got, want);
    assert_eq!(counts(&got_out), vec!["SUCCESS: 3 rules found".to_string()]);

    // `check config` checks the rule files it lists, as promtool does.
    for (rule_file, name) in [("good.yml", "ok"), ("bad_expr.yml", "bad")] {
        let config = dir.path().join(format!("prometheus-{name}.yml"));
        std::fs::write(&config, format!("rule_files:\n  - {rule_file}\n")).expect("write");
        let (want_code, want_out) = run(promtool, &["check", "config"], &[&config]);
        let (got_code, got_out) = run(&pharos_bin(), &["check", "config"], &[&config]);
        assert_eq!(
            got_code, want_code,
            "check config with {rule_file}\npromtool: {want_out}\npharos: {got_out}"
        );
        assert_eq!(
            counts(&got_out),
            counts(&want_out),
            "check config with {rule_file}"
        );
    }
}

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// `/api/v1/alerts` without active times, sorted by labels.
fn comparable_alerts(v: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut alerts: Vec<serde_json::Value> =
        v["data"]["alerts"].as_array().cloned().unwrap_or_default();
    for a in &mut alerts {
        if let Some(o) = a.as_object_mut() {
            o.remove("activeAt");
        }
    }
    alerts.sort_by_key(|a| a["labels"].to_string());
    alerts
}

/// The label sets of an instant query's result, sorted.
fn result_labels(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v["data"]["result"]
        .as_array()
        .map(|r| r.iter().map(|s| s["metric"].to_string()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// The parts of a `/api/v1/rules` answer that do not depend on timing.
fn comparable_rules(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v["data"].clone();
    if let Some(groups) = v["groups"].as_array_mut() {
        for g in groups {
            if let Some(o) = g.as_object_mut() {
                for k in ["evaluationTime", "lastEvaluation", "file"] {
                    o.remove(k);
                }
            }
            if let Some(rules) = g["rules"].as_array_mut() {
                for r in rules {
                    if let Some(o) = r.as_object_mut() {
                        o.remove("evaluationTime");
                        o.remove("lastEvaluation");
                    }
                    if let Some(alerts) = r["alerts"].as_array_mut() {
                        for a in alerts {
                            if let Some(o) = a.as_object_mut() {
                                o.remove("activeAt");
                            }
                        }
                    }
                }
            }
        }
    }
    v
}

#[test]
fn rules_and_alerts_match_prometheus() {
    if !Path::new(PROMETHEUS).exists() {
        println!("skipping: prometheus not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("rules.yml"),
        r#"groups:
  - name: compare
    interval: 1s
    limit: 5
    rules:
      - record: const:two
        expr: vector(2)
        labels:
          team: a
      - record: const:sum
        expr: sum(const:two) * 2
      - alert: Fires
        expr: const:two > 1
        labels:
          severity: "{{ $value }}"
        annotations:
          summary: "value {{ $value }} of {{ $labels.team }}"
      - alert: Waits
        expr: vector(3)
        for: 1h
        keep_firing_for: 5m
      - alert: Never
        expr: vector(1) < 0
  - name: broken
    interval: 1s
    limit: 1
    rules:
      - record: dup
        expr: label_replace(vector(1), "a", "b", "", "") or label_replace(vector(2), "c", "d", "", "")
"#,
    )
    .expect("write rules");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\n",
    )
    .expect("write config");
    let config = format!(
        "--config.file={}",
        dir.path().join("prometheus.yml").display()
    );
    let prom_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _prom = Proc::start(
        Path::new(PROMETHEUS),
        &[
            config.clone(),
            format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom-data").display()
            ),
            format!("--web.listen-address={prom_addr}"),
        ],
        &dir.path().join("prometheus.log"),
    );
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _pharos = Proc::start(
        &pharos_bin(),
        &[
            "server".into(),
            config,
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={addr}"),
        ],
        &dir.path().join("pharos.log"),
    );
    // Both restored alert state (after their second evaluation) and wrote `ALERTS` for the
    // firing and the pending alert once this holds.
    let settled = |a: SocketAddr| query_len(a, "ALERTS") == 2;
    assert!(
        wait_until(Duration::from_secs(30), || settled(prom_addr)
            && settled(addr)),
        "rules did not settle"
    );
    let want = comparable_rules(&json(prom_addr, "/api/v1/rules"));
    let got = comparable_rules(&json(addr, "/api/v1/rules"));
    assert_eq!(got["groups"].as_array().map(Vec::len), Some(2), "{got}");
    assert_eq!(got["groups"][0]["rules"][0]["health"], "err", "{got}");
    assert_eq!(
        got,
        want,
        "pharos:\n{}\nprometheus:\n{}",
        serde_json::to_string_pretty(&got).unwrap_or_default(),
        serde_json::to_string_pretty(&want).unwrap_or_default()
    );
    let (want, got) = (
        comparable_alerts(&json(prom_addr, "/api/v1/alerts")),
        comparable_alerts(&json(addr, "/api/v1/alerts")),
    );
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got, want);
    for q in ["ALERTS", "ALERTS_FOR_STATE", "const:sum"] {
        let path = format!("/api/v1/query?query={q}");
        let (want, got) = (
            result_labels(&json(prom_addr, &path)),
            result_labels(&json(addr, &path)),
        );
        assert!(!got.is_empty(), "{q}");
        assert_eq!(got, want, "{q}");
    }
}
