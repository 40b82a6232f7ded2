//! `pharos server --web.config.file`: TLS with a generated self-signed certificate, basic auth
//! against a bcrypt hash on every route, and security headers, against the real binary; then
//! real clients (promtool where it can take an HTTP client config, and Prometheus scraping the
//! server's `/metrics`) through the same TLS and credentials.

mod node_exporter_harness;
mod server_harness;

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use node_exporter_harness::{exchange, free_port, get, pharos_bin, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use server_harness::Proc;

const PROMTOOL: &str = "/usr/bin/promtool";
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// `Basic` credentials for prometheus:s3cret.
const GOOD_AUTH: &str = "Basic cHJvbWV0aGV1czpzM2NyZXQ=";
/// `Basic` credentials for prometheus:wrong.
const WRONG_AUTH: &str = "Basic cHJvbWV0aGV1czp3cm9uZw==";

struct Pem {
    cert: String,
    key: String,
}

fn self_signed(name: &str) -> Pem {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()])
        .expect("generating a certificate");
    Pem {
        cert: ck.cert.pem(),
        key: ck.signing_key.serialize_pem(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writing test file");
    p.display().to_string()
}

/// One HTTPS GET of `path`, trusting only `server_cert`.
fn tls_get(
    addr: SocketAddr,
    server_cert: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(server_cert.as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from("localhost").expect("name"),
    )
    .map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    exchange(&mut stream, addr, path, headers)
}

/// A server behind TLS and basic auth, with the files its clients need.
struct SecuredServer {
    dir: tempfile::TempDir,
    cert: String,
    addr: SocketAddr,
    _server: Proc,
}

/// Starts `program` logging to `log` and waits (at most 15 s) until `addr` accepts connections.
fn start(program: &str, args: &[String], addr: SocketAddr, log: &Path) -> Proc {
    let mut proc = Proc::start(Path::new(program), args, log);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return proc;
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{program} exited with {status} before listening on {addr}:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "{program} did not listen on {addr} within 15s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_secured_server() -> SecuredServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = self_signed("localhost");
    write(dir.path(), "server.crt", &pem.cert);
    write(dir.path(), "server.key", &pem.key);
    // Low cost keeps the test quick; the server accepts any cost.
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let web = write(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  prometheus: {hash}\n"
        ),
    );
    let config = write(
        dir.path(),
        "prometheus.yml",
        "global:\n  scrape_interval: 15s\n",
    );
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let server = start(
        pharos_bin(),
        &[
            "server".into(),
            format!("--config.file={config}"),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={addr}"),
            format!("--web.config.file={web}"),
        ],
        addr,
        &dir.path().join("server.log"),
    );
    SecuredServer {
        dir,
        cert: pem.cert,
        addr,
        _server: server,
    }
}

#[test]
fn tls_and_basic_auth_guard_every_route() {
    let s = start_secured_server();
    let addr = s.addr;

    let query = "/api/v1/query?query=1%2B1";
    let good = tls_get(addr, &s.cert, query, &[("Authorization", GOOD_AUTH)]).expect("HTTPS");
    assert_eq!(good.status, 200, "{}", good.text());
    assert!(good.text().contains("\"success\""), "{}", good.text());
    assert_eq!(good.header("x-content-type-options"), Some("nosniff"));

    // Every route is guarded: the API, the server's own metrics, the UI and health checks.
    for path in [
        query,
        "/metrics",
        "/",
        "/graph",
        "/-/healthy",
        "/no/such/page",
    ] {
        let anonymous = tls_get(addr, &s.cert, path, &[]).expect("HTTPS");
        assert_eq!(anonymous.status, 401, "{path} without credentials");
        assert_eq!(
            anonymous.header("www-authenticate"),
            Some("Basic"),
            "{path}"
        );
        assert_eq!(anonymous.header("x-content-type-options"), Some("nosniff"));
        let wrong = tls_get(addr, &s.cert, path, &[("Authorization", WRONG_AUTH)]).expect("HTTPS");
        assert_eq!(wrong.status, 401, "{path} with a wrong password");
    }
    let metrics =
        tls_get(addr, &s.cert, "/metrics", &[("Authorization", GOOD_AUTH)]).expect("HTTPS");
    assert_eq!(metrics.status, 200);

    let flags = tls_get(
        addr,
        &s.cert,
        "/api/v1/status/flags",
        &[("Authorization", GOOD_AUTH)],
    )
    .expect("HTTPS");
    assert!(
        flags.text().contains("\"web.config.file\":\""),
        "{}",
        flags.text()
    );

    // Plain HTTP to the TLS port gets nothing.
    let plain = get(addr, "/-/ready", &[]);
    assert!(
        plain.as_ref().map(|r| r.status != 200).unwrap_or(true),
        "plain HTTP was answered: {:?}",
        plain.map(|r| r.status)
    );
}

/// A child process killed when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` to completion within `limit`, returning its exit status and output.
fn run_bounded(cmd: &mut Command, limit: Duration) -> (Option<std::process::ExitStatus>, String) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting a process");
    let mut guard = ChildGuard(child);
    let deadline = Instant::now() + limit;
    let mut status = None;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = guard.0.try_wait() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut output = String::new();
    if status.is_some() {
        if let Some(mut out) = guard.0.stdout.take() {
            let _ = out.read_to_string(&mut output);
        }
        if let Some(mut err) = guard.0.stderr.take() {
            let _ = err.read_to_string(&mut output);
        }
    }
    (status, output)
}

#[test]
fn a_bad_web_config_stops_start_up_naming_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = write(
        dir.path(),
        "web.yml",
        "basic_auth_users:\n  alice: notahash\n",
    );
    let config = write(dir.path(), "prometheus.yml", "global: {}\n");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (status, output) = run_bounded(
        Command::new(pharos_bin()).args([
            "server".to_string(),
            format!("--config.file={config}"),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={addr}"),
            format!("--web.config.file={web}"),
        ]),
        Duration::from_secs(20),
    );
    let status = status.expect("the server should exit at once");
    assert!(!status.success());
    assert!(output.contains("alice"), "{output}");
    assert!(output.contains("bcrypt"), "{output}");
}

/// Whether this promtool takes `--http.config.file` (Prometheus 2.43 and later).
fn promtool_takes_http_config() -> bool {
    let (_, help) = run_bounded(
        Command::new(PROMTOOL).arg("--help-long"),
        Duration::from_secs(10),
    );
    help.contains("http.config.file")
}

#[test]
fn promtool_queries_through_tls_and_basic_auth() {
    if !Path::new(PROMTOOL).exists() {
        println!("skipping: promtool not installed");
        return;
    }
    if !promtool_takes_http_config() {
        println!("skipping: this promtool has no --http.config.file (it arrived in 2.43)");
        return;
    }
    let s = start_secured_server();
    let ca = s.dir.path().join("server.crt");
    let http = write(
        s.dir.path(),
        "http.yml",
        &format!(
            "basic_auth:\n  username: prometheus\n  password: s3cret\n\
             tls_config:\n  ca_file: {}\n  server_name: localhost\n",
            ca.display()
        ),
    );
    let url = format!("https://{}", s.addr);
    let (status, output) = run_bounded(
        Command::new(PROMTOOL).args([
            "query",
            "instant",
            &format!("--http.config.file={http}"),
            &url,
            "vector(42)",
        ]),
        Duration::from_secs(30),
    );
    assert!(status.is_some_and(|s| s.success()), "{output}");
    assert!(output.contains("42"), "{output}");
}

/// Prometheus scrapes the server's `/metrics` over TLS with basic auth, the way a
/// Prometheus-to-Prometheus setup does; checked through Prometheus's own API.
#[test]
fn prometheus_scrapes_through_tls_and_basic_auth() {
    if !Path::new(PROMETHEUS).exists() {
        println!("skipping: prometheus not installed");
        return;
    }
    let s = start_secured_server();
    let ca = s.dir.path().join("server.crt");
    let port = s.addr.port();
    let prom_config = write(
        s.dir.path(),
        "scraper.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n\
             \x20 - job_name: secured\n    scheme: https\n\
             \x20   basic_auth:\n      username: prometheus\n      password: s3cret\n\
             \x20   tls_config:\n      ca_file: {}\n      server_name: localhost\n\
             \x20   static_configs:\n      - targets: ['127.0.0.1:{port}']\n\
             \x20 - job_name: anonymous\n    scheme: https\n\
             \x20   tls_config:\n      ca_file: {}\n      server_name: localhost\n\
             \x20   static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            ca.display(),
            ca.display()
        ),
    );
    let prom_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _prometheus = start(
        PROMETHEUS,
        &[
            format!("--config.file={prom_config}"),
            format!(
                "--storage.tsdb.path={}",
                s.dir.path().join("prom-data").display()
            ),
            format!("--web.listen-address={prom_addr}"),
        ],
        prom_addr,
        &s.dir.path().join("prometheus.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(r) = get(prom_addr, "/api/v1/targets", &[]) {
            last = r.text();
            let secured_up = target_health(&last, "secured") == Some("up");
            let anonymous_refused = target_health(&last, "anonymous") == Some("down");
            if secured_up && anonymous_refused {
                assert!(last.contains("401"), "{last}");
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("Prometheus did not scrape the secured server within 30s: {last}");
}

/// The health of the first active target of `job` in a `/api/v1/targets` answer.
fn target_health<'a>(targets_json: &'a str, job: &str) -> Option<&'a str> {
    let marker = format!("\"scrapePool\":\"{job}\"");
    let at = targets_json.find(&marker)?;
    let rest = targets_json.get(at..)?;
    let h = rest.find("\"health\":\"")? + "\"health\":\"".len();
    let tail = rest.get(h..)?;
    let end = tail.find('"')?;
    tail.get(..end)
}
