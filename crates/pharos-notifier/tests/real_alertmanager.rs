//! The notifier against Debian's real Alertmanager (`prometheus-alertmanager`): alerts sent
//! through the public API arrive with their labels, external labels and annotations.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pharos_model::Labels;
use pharos_notifier::{Alert, AlertmanagerSetConfig, Notifier, NotifierConfig, NotifierOptions};
use pharos_scrape::discovery::TargetGroupSpec;

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// Kills the Alertmanager however the test ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// `GET path` with `Connection: close`; `None` when nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Starts the Alertmanager on a free port with a do-nothing receiver; `None` if absent.
fn start_alertmanager(dir: &Path) -> Option<(Guard, SocketAddr)> {
    if !Path::new(ALERTMANAGER).exists() {
        println!("skipping: prometheus-alertmanager not installed");
        return None;
    }
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n",
    )
    .expect("write alertmanager config");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = std::fs::File::create(dir.join("alertmanager.log")).expect("log file");
    let child = Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log"))
        .stderr(log)
        .spawn()
        .expect("start alertmanager");
    let guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if get(addr, "/-/ready").is_some_and(|(s, _)| s == 200) {
            return Some((guard, addr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "alertmanager not ready within 20s:\n{}",
        std::fs::read_to_string(dir.join("alertmanager.log")).unwrap_or_default()
    );
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_the_real_alertmanager() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let Some((_am, addr)) = start_alertmanager(dir) else {
        return;
    };
    let n = Notifier::new(NotifierOptions::default());
    n.apply_config(&NotifierConfig {
        external_labels: Labels::from_pairs([("cluster", "test")]),
        alert_relabel_configs: Vec::new(),
        alertmanagers: vec![AlertmanagerSetConfig {
            static_configs: vec![TargetGroupSpec {
                targets: vec![addr.to_string()],
                labels: Default::default(),
            }],
            ..AlertmanagerSetConfig::default()
        }],
    })
    .expect("config");
    let now = now_ms();
    n.send(vec![Alert {
        labels: Labels::from_pairs([("alertname", "PharosTest"), ("severity", "page")]),
        annotations: Labels::from_pairs([("summary", "sent by the notifier test")]),
        starts_at_ms: now,
        ends_at_ms: now + 600_000,
        generator_url: "http://127.0.0.1:9090/graph?g0.expr=vector%281%29&g0.tab=1".into(),
    }]);
    let mut found = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && found.is_none() {
        if let Some((200, body)) = get(addr, "/api/v2/alerts") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            found = v.as_array().and_then(|a| {
                a.iter()
                    .find(|x| x["labels"]["alertname"] == "PharosTest")
                    .cloned()
            });
        }
        if found.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    n.stop().await;
    let alert = found.expect("the alert reached the Alertmanager within 15s");
    assert_eq!(alert["labels"]["cluster"], "test");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "sent by the notifier test");
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(
        alert["generatorURL"],
        "http://127.0.0.1:9090/graph?g0.expr=vector%281%29&g0.tab=1"
    );
    let url = format!("http://{addr}/api/v2/alerts");
    assert_eq!(n.metrics().counts(&url), (1, 0));
}
