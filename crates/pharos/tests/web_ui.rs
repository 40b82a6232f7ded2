//! The embedded web UI end to end: how `pharos server` serves it (redirects, route prefix,
//! cache headers, gzip), then a real browser (Debian's chromium driven by playwright-core
//! through `ui/e2e/run.mjs`) using every page against a server that scrapes a live exporter and
//! a target where nothing listens, plus the time to render 1,000 targets.

mod server_harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server_harness::{free_port, get, pharos_bin, wait_until, Proc};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Text of the page embedded when the front end could not be built.
const NOT_BUILT_MARKER: &str = "The web UI was not built";

/// A raw HTTP response: status, headers (names lower-cased) and body bytes.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` with extra request headers; bodies are read to the end (`Connection: close`).
fn raw_get(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> RawResponse {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = s.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&s[..eol]);
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        let rest = &s[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        s = rest.get(n + 2..).unwrap_or(&[]);
    }
    out
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// Starts `pharos server` on `addr` with `config`, plus `extra` flags, and waits until it is
/// ready under the route `prefix` those flags give.
fn start_server(
    dir: &Path,
    name: &str,
    addr: SocketAddr,
    config: &str,
    prefix: &str,
    extra: &[String],
) -> Proc {
    let config_path = dir.join(format!("{name}.yml"));
    std::fs::write(&config_path, config).expect("write config");
    let mut args = vec![
        "server".to_string(),
        format!("--config.file={}", config_path.display()),
        format!("--storage.tsdb.path={}", dir.join(name).display()),
        format!("--web.listen-address={addr}"),
    ];
    args.extend_from_slice(extra);
    let log = dir.join(format!("{name}.log"));
    let mut proc = Proc::start(&pharos_bin(), &args, &log);
    let ready = wait_until(Duration::from_secs(20), || {
        get(addr, &format!("{prefix}/-/ready")).is_some_and(|r| r.status == 200)
    });
    if !ready {
        let _ = proc.terminate();
        panic!(
            "server {name} did not become ready:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    proc
}

/// The first `./assets/...` URL that `index.html` references.
fn first_asset(index: &str) -> Option<String> {
    let at = index.find("./assets/")?;
    let rest = &index[at + 2..];
    let end = rest.find(['"', '\''])?;
    Some(rest[..end].to_string())
}

#[test]
fn ui_is_served_under_the_route_prefix_like_prometheus() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _server = start_server(
        dir.path(),
        "prefixed",
        addr,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
        "/pharos",
        &[
            format!("--web.external-url=http://{addr}/pharos/"),
            "--web.route-prefix=/pharos".into(),
        ],
    );

    // Outside the prefix only the root is answered, with a redirect into the prefix.
    let r = raw_get(addr, "/", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), "/pharos/");
    assert_eq!(raw_get(addr, "/query", &[]).status, 404);

    for root in ["/pharos", "/pharos/"] {
        let r = raw_get(addr, root, &[]);
        assert_eq!(r.status, 302, "{root}");
        assert_eq!(r.header("location"), "/pharos/query", "{root}");
    }
    let r = raw_get(addr, "/pharos/graph?g0.expr=up&g0.tab=1", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), "/pharos/query?g0.expr=up&g0.tab=1");

    let pages = [
        "query",
        "alerts",
        "rules",
        "targets",
        "service-discovery",
        "status",
        "tsdb-status",
        "config",
        "flags",
    ];
    let mut index = String::new();
    for page in pages {
        let r = raw_get(addr, &format!("/pharos/{page}"), &[]);
        assert_eq!(r.status, 200, "{page}");
        assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(r.header("cache-control"), "no-cache");
        index = r.text();
        assert!(
            index.contains(r#"<meta name="pharos-route-prefix" content="/pharos""#),
            "{page}: the prefix is not filled in:\n{index}"
        );
    }
    let r = raw_get(addr, "/pharos/query", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(r.header("content-encoding"), "gzip");
    assert_eq!(String::from_utf8_lossy(&gunzip(&r.body)), index);

    for missing in ["/pharos/nope", "/pharos/assets/nope.js", "/pharos/query/x"] {
        assert_eq!(raw_get(addr, missing, &[]).status, 404, "{missing}");
    }
    // The API still answers beside the UI.
    assert_eq!(
        raw_get(addr, "/pharos/api/v1/status/buildinfo", &[]).status,
        200
    );

    if index.contains(NOT_BUILT_MARKER) {
        println!("skipping the asset checks: the binary was built without the web UI");
        return;
    }
    let asset = first_asset(&index).expect("index.html references ./assets/");
    let plain = raw_get(addr, &format!("/pharos/{asset}"), &[]);
    assert_eq!(plain.status, 200, "{asset}");
    assert_eq!(
        plain.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    let expected_type = if asset.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    };
    assert_eq!(plain.header("content-type"), expected_type, "{asset}");
    assert_eq!(plain.header("content-encoding"), "");
    let packed = raw_get(
        addr,
        &format!("/pharos/{asset}"),
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(packed.header("content-encoding"), "gzip");
    assert!(packed.body.len() < plain.body.len());
    assert_eq!(gunzip(&packed.body), plain.body);
}

/// A child leading its own process group (node and the chromium it starts), all killed when
/// dropped.
struct ProcessGroup {
    child: std::process::Child,
}

impl ProcessGroup {
    /// Waits (bounded) for the leader to exit.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: signalling the process group of a child we started; a group that has
            // already exited makes this a harmless ESRCH.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

/// Whether `node` runs, and its version line.
fn node_version() -> Option<String> {
    let out = Command::new("node").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `<target dir>/ui-screenshots`, beside the `debug` directory holding the binary.
fn screenshot_dir() -> PathBuf {
    let bin = pharos_bin();
    let target = bin
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf);
    target.join("ui-screenshots")
}

/// Active targets and how many are `up` / `down`, per `/api/v1/targets`.
fn target_health(addr: SocketAddr, prefix: &str) -> (usize, usize, usize) {
    let Some(r) = get(addr, &format!("{prefix}/api/v1/targets?state=active")) else {
        return (0, 0, 0);
    };
    if r.status != 200 {
        return (0, 0, 0);
    }
    let targets = r.json()["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let count = |h: &str| targets.iter().filter(|t| t["health"] == h).count();
    (targets.len(), count("up"), count("down"))
}

#[test]
fn browser_uses_every_page() {
    if !Path::new(CHROMIUM).exists() {
        println!("skipping: chromium not installed ({CHROMIUM})");
        return;
    }
    let Some(node) = node_version() else {
        println!("skipping: node not installed (Node.js 20 or newer is needed for the web UI)");
        return;
    };
    let root = repo_root();
    let script = root.join("ui/e2e/run.mjs");
    let playwright = root.join("ui/node_modules/playwright-core");
    assert!(
        playwright.is_dir(),
        "{} is missing: the build runs `npm ci` in ui/ when Node.js is installed; run it by hand if it failed",
        playwright.display()
    );
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");

    let exporter_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _exporter = Proc::start(
        &pharos_bin(),
        &[
            "node-exporter".into(),
            format!("--web.listen-address={exporter_addr}"),
        ],
        &dir.path().join("exporter.log"),
    );
    // Nothing listens here: the scrape fails with "connection refused".
    let dead_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();

    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    // One alert of each state for the alerts page, and a recording rule.
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: web-ui\n    interval: 1s\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n        labels:\n          severity: none\n      - alert: PendingForever\n        expr: vector(1)\n        for: 1h\n      - alert: NeverFiring\n        expr: vector(1) < 0\n      - record: job:up:sum\n        expr: sum by (job) (up)\n",
    )
    .expect("write rules");
    let config = format!(
        "global:\n  scrape_interval: 2s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{exporter_addr}', '{dead_addr}']\n"
    );
    let mut server = start_server(
        dir.path(),
        "main",
        addr,
        &config,
        "",
        &["--web.enable-lifecycle".into()],
    );

    // The second server: 1,000 targets from file_sd, all on the dead port with distinct labels
    // (cheap to scrape: each attempt is refused at once), served under a route prefix.
    let big_targets = 1000;
    let groups: Vec<String> = (0..big_targets)
        .map(|i| format!(r#"{{"targets":["{dead_addr}"],"labels":{{"shard":"s{i:04}"}}}}"#))
        .collect();
    let sd_file = dir.path().join("targets.json");
    std::fs::write(&sd_file, format!("[{}]", groups.join(","))).expect("write file_sd");
    let big_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let big_config = format!(
        "global:\n  scrape_interval: 10s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: many\n    file_sd_configs:\n      - files: ['{}']\n",
        sd_file.display()
    );
    let _big = start_server(
        dir.path(),
        "big",
        big_addr,
        &big_config,
        "/pharos",
        &[format!("--web.external-url=http://{big_addr}/pharos")],
    );

    let index = get(addr, "/query").map(|r| r.body).unwrap_or_default();
    assert!(
        !index.contains(NOT_BUILT_MARKER),
        "node {node} is installed but the binary embeds the 'not built' page: \
         the front-end build failed (see the cargo warnings of pharos-ui)"
    );

    let scraped = wait_until(Duration::from_secs(30), || {
        target_health(addr, "") == (2, 1, 1)
    });
    assert!(
        scraped,
        "the exporter did not come up and the dead target down: {:?}",
        target_health(addr, "")
    );
    let discovered = wait_until(Duration::from_secs(30), || {
        target_health(big_addr, "/pharos").0 == big_targets
    });
    assert!(
        discovered,
        "the second server lists {} targets, not {big_targets}",
        target_health(big_addr, "/pharos").0
    );
    // Rules are checked in the browser once the server reports them evaluated.
    let rules_evaluated = wait_until(Duration::from_secs(15), || {
        get(addr, "/api/v1/alerts").is_some_and(|r| {
            r.status == 200
                && r.json()["data"]["alerts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["state"] == "firing"))
        })
    });
    if !rules_evaluated {
        println!("note: no firing alert after 15s; the alerts and rules checks are skipped");
    }
    println!("servers ready in {} ms", started.elapsed().as_millis());

    let shots = screenshot_dir();
    let _ = std::fs::remove_dir_all(&shots);
    let profile = dir.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");
    let settings = serde_json::json!({
        "baseUrl": format!("http://{addr}"),
        "bigUrl": format!("http://{big_addr}/pharos"),
        "bigTargets": big_targets,
        "expectRules": rules_evaluated,
        "exporterUrl": format!("http://{exporter_addr}/metrics"),
        "deadUrl": format!("http://{dead_addr}/metrics"),
        "chromium": CHROMIUM,
        "userDataDir": profile.display().to_string(),
        "screenshotDir": shots.display().to_string(),
    });
    let out_path = dir.path().join("e2e.out");
    let out_file = std::fs::File::create(&out_path).expect("output file");
    let err_file = out_file.try_clone().expect("clone output file");
    let mut browser = ProcessGroup {
        child: Command::new("node")
            .arg(&script)
            .current_dir(root.join("ui/e2e"))
            .env("PHAROS_E2E", settings.to_string())
            .stdin(Stdio::null())
            .stdout(out_file)
            .stderr(err_file)
            // Its own process group, so chromium goes down with it on a timeout.
            .process_group(0)
            .spawn()
            .expect("start node"),
    };
    let status = browser.wait_exit(Duration::from_secs(150));
    drop(browser);
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    println!("{output}");
    println!("screenshots: {}", shots.display());
    println!("web UI test took {} ms", started.elapsed().as_millis());
    // The script stops the main server through /-/quit; make sure it is gone either way.
    let _ = server.terminate();
    match status {
        Some(s) => assert!(s.success(), "browser checks failed ({s}):\n{output}"),
        None => panic!("browser checks did not finish within 150s:\n{output}"),
    }
}
