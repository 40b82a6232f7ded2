//! `pharos query` against Debian's real Prometheus, compared line for line with
//! `promtool query`. Skips with a message when either program is not installed.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"))
}

fn pharos(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_pharos"), args)
}

#[test]
fn query_output_matches_promtool() {
    for p in ["/usr/bin/prometheus", "/usr/bin/promtool"] {
        if !Path::new(p).exists() {
            println!("skipping: {p} is not installed");
            return;
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{addr}']\n"),
    )
    .expect("write config");
    let child = Command::new("/usr/bin/prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _server = Server(child);
    let url = format!("http://{addr}");

    // Wait (bounded) until the self-scrape has produced a few samples.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = run(
            "/usr/bin/promtool",
            &["query", "instant", &url, "count_over_time(up[1m]) >= 3"],
        );
        if o.status.success() && !String::from_utf8_lossy(&o.stdout).trim().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(250));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let t = now.to_string();
    let start = (now - 3).to_string();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "instant".into(),
            "--time".into(),
            t.clone(),
            url.clone(),
            "up".into(),
        ],
        vec![
            "instant".into(),
            "--time".into(),
            t.clone(),
            url.clone(),
            "sum by (job) (up)".into(),
        ],
        vec![
            "instant".into(),
            "--time".into(),
            t.clone(),
            url.clone(),
            "1 + 1".into(),
        ],
        vec![
            "instant".into(),
            "--time".into(),
            t.clone(),
            url.clone(),
            "up{job=\"none\"}".into(),
        ],
        vec![
            "range".into(),
            "--start".into(),
            start.clone(),
            "--end".into(),
            t.clone(),
            "--step".into(),
            "1s".into(),
            url.clone(),
            "up".into(),
        ],
        vec!["series".into(), "--match".into(), "up".into(), url.clone()],
        vec!["labels".into(), url.clone(), "job".into()],
        vec![
            "instant".into(),
            "--time".into(),
            t.clone(),
            url.clone(),
            "sum(".into(),
        ],
    ];
    for case in cases {
        let args: Vec<&str> = case.iter().map(String::as_str).collect();
        let mut p_args = vec!["query"];
        p_args.extend(&args);
        let ours = pharos(&p_args);
        let theirs = run("/usr/bin/promtool", &p_args);
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "stdout differs for {args:?}"
        );
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "exit code differs for {args:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr).trim(),
            String::from_utf8_lossy(&theirs.stderr).trim(),
            "stderr differs for {args:?}"
        );
    }
}
