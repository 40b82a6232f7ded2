//! The notifier against small in-process Alertmanager stand-ins on 127.0.0.1: batching,
//! relabeling, delivery to the other Alertmanagers when one is down, and the drop counter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use pharos_model::Labels;
use pharos_notifier::{Alert, AlertmanagerSetConfig, Notifier, NotifierConfig, NotifierOptions};
use pharos_scrape::discovery::TargetGroupSpec;
use pharos_scrape::RelabelConfig;

/// One request as received: its JSON body and `Authorization` header.
type Request = (serde_json::Value, Option<String>);

/// What one stand-in received.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Request>>>);

impl Received {
    fn requests(&self) -> Vec<Request> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
    fn alert_count(&self) -> usize {
        self.requests()
            .iter()
            .map(|(b, _)| b.as_array().map_or(0, Vec::len))
            .sum()
    }
}

async fn receive(State(r): State<Received>, headers: HeaderMap, body: String) -> StatusCode {
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Ok(mut v) = r.0.lock() {
        v.push((json, auth));
    }
    StatusCode::OK
}

/// Starts a stand-in serving `path`; returns its `host:port` and what it receives.
async fn fake_alertmanager(path: &str) -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route(path, post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr.to_string(), received)
}

/// An address nothing listens on.
fn dead_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    drop(l);
    a.to_string()
}

fn alert(name: &str) -> Alert {
    Alert {
        labels: Labels::from_pairs([("alertname", name), ("severity", "page")]),
        annotations: Labels::from_pairs([("summary", "something")]),
        starts_at_ms: 1_700_000_000_000,
        ends_at_ms: 1_700_000_600_000,
        generator_url: "http://pharos:9090/graph".into(),
    }
}

fn set(targets: &[&str]) -> AlertmanagerSetConfig {
    AlertmanagerSetConfig {
        static_configs: vec![TargetGroupSpec {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            labels: Default::default(),
        }],
        timeout: Some(Duration::from_secs(2)),
        ..AlertmanagerSetConfig::default()
    }
}

fn relabel(yaml: &str) -> Vec<RelabelConfig> {
    serde_saphyr::from_str(yaml).expect("relabel yaml")
}

/// Waits until `cond` holds, for at most five seconds.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

#[tokio::test]
async fn batches_of_at_most_64_reach_every_alertmanager() {
    let (a, got_a) = fake_alertmanager("/api/v2/alerts").await;
    let (b, got_b) = fake_alertmanager("/am/api/v2/alerts").await;
    let n = Notifier::new(NotifierOptions::default());
    let mut second = set(&[&b]);
    second.path_prefix = "/am".into();
    n.apply_config(&NotifierConfig {
        external_labels: Labels::from_pairs([("site", "eu"), ("severity", "ignored")]),
        alert_relabel_configs: Vec::new(),
        alertmanagers: vec![set(&[&a]), second],
    })
    .expect("config");
    n.send((0..150).map(|i| alert(&format!("A{i}"))).collect());
    assert!(eventually(|| got_a.alert_count() == 150 && got_b.alert_count() == 150).await);
    let requests = got_a.requests();
    assert!(requests
        .iter()
        .all(|(b, _)| b.as_array().map_or(0, Vec::len) <= 64));
    assert_eq!(requests.len(), 3);
    let first = &requests[0].0[0];
    assert_eq!(first["labels"]["alertname"], "A0");
    assert_eq!(first["labels"]["site"], "eu");
    // The alert's own label wins over the external one.
    assert_eq!(first["labels"]["severity"], "page");
    assert_eq!(first["annotations"]["summary"], "something");
    assert_eq!(first["startsAt"], "2023-11-14T22:13:20.000Z");
    assert_eq!(first["endsAt"], "2023-11-14T22:23:20.000Z");
    assert_eq!(first["generatorURL"], "http://pharos:9090/graph");
    let url_a = format!("http://{a}/api/v2/alerts");
    assert_eq!(n.metrics().counts(&url_a), (150, 0));
    assert_eq!(n.metrics().dropped(), 0);
    let listed = n.alertmanagers();
    assert_eq!(
        listed.active,
        [url_a, format!("http://{b}/am/api/v2/alerts")]
    );
    n.stop().await;
}

#[tokio::test]
async fn a_dead_alertmanager_does_not_stop_delivery_to_the_others() {
    let dead = dead_address();
    let (live, got) = fake_alertmanager("/api/v2/alerts").await;
    let n = Notifier::new(NotifierOptions::default());
    n.apply_config(&NotifierConfig {
        alertmanagers: vec![set(&[&dead, &live])],
        ..NotifierConfig::default()
    })
    .expect("config");
    n.send(vec![alert("X")]);
    assert!(eventually(|| got.alert_count() == 1).await);
    let dead_url = format!("http://{dead}/api/v2/alerts");
    assert!(eventually(|| n.metrics().counts(&dead_url) == (1, 1)).await);
    assert_eq!(n.metrics().dropped(), 0);
    let mut text = String::new();
    n.write_metrics(&mut text);
    assert!(text.contains(&format!(
        "prometheus_notifications_errors_total{{alertmanager=\"{dead_url}\"}} 1"
    )));
    assert!(text.contains("prometheus_notifications_alertmanagers_discovered 2"));
    n.stop().await;
}

#[tokio::test]
async fn alerts_nobody_accepts_are_counted_as_dropped() {
    let n = Notifier::new(NotifierOptions::default());
    n.apply_config(&NotifierConfig {
        alertmanagers: vec![set(&[&dead_address()])],
        ..NotifierConfig::default()
    })
    .expect("config");
    n.send(vec![alert("X"), alert("Y")]);
    assert!(eventually(|| n.metrics().dropped() == 2).await);
    n.stop().await;
}

#[tokio::test]
async fn relabeling_drops_and_rewrites_alerts() {
    let (a, got_a) = fake_alertmanager("/api/v2/alerts").await;
    let (b, got_b) = fake_alertmanager("/api/v2/alerts").await;
    let n = Notifier::new(NotifierOptions::default());
    let mut only_critical = set(&[&b]);
    only_critical.alert_relabel_configs = relabel(
        "- source_labels: [alertname]\n  regex: Keep.*\n  action: keep\n- target_label: routed\n  replacement: b\n",
    );
    n.apply_config(&NotifierConfig {
        external_labels: Labels::from_pairs([("site", "eu")]),
        alert_relabel_configs: relabel(
            "- source_labels: [alertname]\n  regex: Drop.*\n  action: drop\n- source_labels: [site]\n  target_label: region\n",
        ),
        alertmanagers: vec![set(&[&a]), only_critical],
    })
    .expect("config");
    n.send(vec![alert("DropMe"), alert("KeepMe"), alert("Other")]);
    assert!(eventually(|| got_a.alert_count() == 2 && got_b.alert_count() == 1).await);
    let a_body = &got_a.requests()[0].0;
    assert_eq!(a_body[0]["labels"]["alertname"], "KeepMe");
    // External labels are present before the global relabeling runs.
    assert_eq!(a_body[0]["labels"]["region"], "eu");
    assert!(a_body[0]["labels"].get("routed").is_none());
    let b_body = &got_b.requests()[0].0;
    assert_eq!(b_body.as_array().map(Vec::len), Some(1));
    assert_eq!(b_body[0]["labels"]["routed"], "b");
    n.stop().await;
}

#[tokio::test]
async fn credentials_are_sent() {
    let (a, got) = fake_alertmanager("/api/v2/alerts").await;
    let n = Notifier::new(NotifierOptions::default());
    let mut cfg = set(&[&a]);
    cfg.http_client.basic_auth =
        Some(serde_saphyr::from_str("username: user\npassword: pass\n").expect("basic auth yaml"));
    n.apply_config(&NotifierConfig {
        alertmanagers: vec![cfg],
        ..NotifierConfig::default()
    })
    .expect("config");
    n.send(vec![alert("X")]);
    assert!(eventually(|| got.alert_count() == 1).await);
    // base64("user:pass")
    assert_eq!(got.requests()[0].1.as_deref(), Some("Basic dXNlcjpwYXNz"));
    n.stop().await;
}

#[tokio::test]
async fn stop_flushes_what_is_queued() {
    let (a, got) = fake_alertmanager("/api/v2/alerts").await;
    let n = Notifier::new(NotifierOptions {
        queue_capacity: 5,
        ..NotifierOptions::default()
    });
    n.apply_config(&NotifierConfig {
        alertmanagers: vec![set(&[&a])],
        ..NotifierConfig::default()
    })
    .expect("config");
    // More than the capacity at once: the oldest two never enter the queue.
    n.send((0..7).map(|i| alert(&format!("A{i}"))).collect());
    n.stop().await;
    assert_eq!(got.alert_count(), 5);
    assert_eq!(n.metrics().dropped(), 2);
    let first = &got.requests()[0].0[0];
    assert_eq!(first["labels"]["alertname"], "A2");
    assert_eq!(n.queue_len(), 0);
}

#[tokio::test]
async fn alertmanagers_come_from_file_discovery_and_follow_reloads() {
    let (a, got) = fake_alertmanager("/api/v2/alerts").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let sd_file = dir.path().join("ams.json");
    std::fs::write(
        &sd_file,
        format!(r#"[{{"targets": ["{a}"], "labels": {{"env": "prod"}}}}, {{"targets": ["dev:9093"], "labels": {{"env": "dev"}}}}]"#),
    )
    .expect("write sd file");
    let mut cfg = AlertmanagerSetConfig {
        file_sd_configs: vec![serde_saphyr::from_str(&format!(
            "files: ['{}']\nrefresh_interval: 1s\n",
            sd_file.display()
        ))
        .expect("file sd yaml")],
        relabel_configs: relabel("- source_labels: [env]\n  regex: dev\n  action: drop\n"),
        ..AlertmanagerSetConfig::default()
    };
    cfg.timeout = Some(Duration::from_secs(2));
    let config = NotifierConfig {
        alertmanagers: vec![cfg],
        ..NotifierConfig::default()
    };
    let n = Notifier::new(NotifierOptions::default());
    n.apply_config(&config).expect("config");
    let url = format!("http://{a}/api/v2/alerts");
    assert!(eventually(|| n.alertmanagers().active == [url.clone()]).await);
    assert_eq!(n.alertmanagers().dropped, ["http://dev:9093/api/v2/alerts"]);
    // Reapplying the same settings keeps the running discovery and what it found.
    n.apply_config(&config).expect("config");
    assert_eq!(n.alertmanagers().active, std::slice::from_ref(&url));
    n.send(vec![alert("X")]);
    assert!(eventually(|| got.alert_count() == 1).await);
    // A reload without Alertmanagers empties the list.
    n.apply_config(&NotifierConfig::default()).expect("config");
    assert!(n.alertmanagers().active.is_empty());
    n.stop().await;
}
