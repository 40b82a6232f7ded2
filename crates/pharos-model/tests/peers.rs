//! Interoperability with the real Go programs: scrape Debian's node exporter in every format
//! it negotiates and parse what it sends; push our own text and protobuf output to Debian's
//! pushgateway and read it back. Each test skips, saying so, when its peer is not installed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_model::protobuf::encode_families;
use pharos_model::write::write_text;
use pharos_model::{
    parse_families, ExpositionFormat, Metric, MetricFamily, MetricType, MetricValue,
};

const PROTOBUF_ACCEPT: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3";
const OPENMETRICS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Kills and reaps the peer however the test ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn start(binary: &str, args: &[String], port: u16) -> Option<Peer> {
    if !Path::new(binary).exists() {
        println!("skipping: {binary} is not installed");
        return None;
    }
    let child = Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let peer = Peer(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(peer);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{binary} did not start listening on port {port} within 15 s");
}

/// A minimal HTTP/1.0 exchange, so that responses are never chunked.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect: {e}"));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    stream
        .write_all(&bytes)
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut resp = Vec::new();
    stream
        .read_to_end(&mut resp)
        .unwrap_or_else(|e| panic!("read: {e}"));
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end"));
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.trim())
        })
        .unwrap_or("")
        .to_string();
    (status, content_type, resp[split + 4..].to_vec())
}

/// Families reduced to what stays the same between two scrapes: name, type, label sets.
fn shape(families: &[MetricFamily]) -> Vec<(String, MetricType)> {
    let mut v: Vec<_> = families
        .iter()
        .map(|f| (f.name.clone(), f.metric_type))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn node_exporter_in_every_format() {
    let port = free_port();
    let args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--collector.disable-defaults".into(),
        "--collector.cpu".into(),
        "--collector.meminfo".into(),
        "--collector.loadavg".into(),
        "--collector.netdev".into(),
        "--collector.filesystem".into(),
    ];
    let Some(_peer) = start("/usr/bin/prometheus-node-exporter", &args, port) else {
        return;
    };

    let mut by_format = Vec::new();
    for accept in [PROTOBUF_ACCEPT, OPENMETRICS_ACCEPT, "text/plain"] {
        let (status, ct, body) = http(port, "GET", "/metrics", &[("Accept", accept)], b"");
        assert_eq!(status, 200);
        let families = parse_families(&body, &ct).unwrap_or_else(|e| panic!("{ct}: {e}"));
        assert!(
            families.iter().any(|f| f.name == "node_load1"),
            "{ct}: node_load1 missing"
        );
        assert!(families.iter().any(
            |f| f.metric_type == MetricType::Histogram || f.metric_type == MetricType::Summary
        ));
        by_format.push((ExpositionFormat::from_content_type(&ct), families));
    }
    assert_eq!(by_format[0].0, Some(ExpositionFormat::ProtobufDelimited));
    // Every format describes the same families.
    let reference = shape(&by_format[0].1);
    for (format, families) in &by_format[1..] {
        assert_eq!(
            shape(families),
            reference,
            "{format:?} differs from protobuf"
        );
    }
    // What we write from the protobuf scrape parses back to the same text.
    let mut text = String::new();
    write_text(&by_format[0].1, &mut text);
    let again = parse_families(text.as_bytes(), "text/plain").unwrap_or_else(|e| panic!("{e}"));
    let mut text_again = String::new();
    write_text(&again, &mut text_again);
    assert_eq!(text, text_again);
}

fn pushed_families() -> Vec<MetricFamily> {
    let mut counter = MetricFamily::new(
        "pharos_pushed_total",
        "Pushed \"things\"\\n.",
        MetricType::Counter,
    );
    counter.push([("kind", "a\"b\\c\nd")], 12.0);
    let mut hist = MetricFamily::new("pharos_push_seconds", "Durations.", MetricType::Histogram);
    hist.metrics.push(Metric::new(
        vec![("stage".into(), "ü".into())],
        MetricValue::Histogram {
            count: 5.0,
            sum: 1.25,
            buckets: vec![(0.1, 1.0), (1.0, 4.0), (f64::INFINITY, 5.0)],
        },
    ));
    let mut summary = MetricFamily::new("pharos_push_summary", "Quantiles.", MetricType::Summary);
    summary.metrics.push(Metric::new(
        vec![],
        MetricValue::Summary {
            count: 3.0,
            sum: 0.5,
            quantiles: vec![(0.5, 0.1), (0.99, 0.4)],
        },
    ));
    let gauge = MetricFamily::single("pharos_push_gauge", "A gauge.", MetricType::Gauge, -2.5e-7);
    vec![counter, hist, summary, gauge]
}

/// The pushed families as the pushgateway returns them: it adds `job` and `instance` labels.
fn find<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    families
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} not returned by the pushgateway"))
}

#[test]
fn pushgateway_accepts_our_text_and_protobuf() {
    let port = free_port();
    let args = vec![format!("--web.listen-address=127.0.0.1:{port}")];
    let Some(_peer) = start("/usr/bin/prometheus-pushgateway", &args, port) else {
        return;
    };
    let families = pushed_families();

    let mut text = String::new();
    write_text(&families, &mut text);
    let (status, _, body) = http(
        port,
        "PUT",
        "/metrics/job/text_push",
        &[(
            "Content-Type",
            ExpositionFormat::PrometheusText.content_type(),
        )],
        text.as_bytes(),
    );
    assert!(
        status == 200 || status == 202,
        "text push: {status} {}",
        String::from_utf8_lossy(&body)
    );

    let mut pb = Vec::new();
    encode_families(&families, &mut pb);
    let (status, _, body) = http(
        port,
        "PUT",
        "/metrics/job/pb_push",
        &[(
            "Content-Type",
            ExpositionFormat::ProtobufDelimited.content_type(),
        )],
        &pb,
    );
    assert!(
        status == 200 || status == 202,
        "protobuf push: {status} {}",
        String::from_utf8_lossy(&body)
    );

    for accept in [PROTOBUF_ACCEPT, "text/plain"] {
        let (status, ct, body) = http(port, "GET", "/metrics", &[("Accept", accept)], b"");
        assert_eq!(status, 200);
        let got = parse_families(&body, &ct).unwrap_or_else(|e| panic!("{ct}: {e}"));
        for want in &families {
            let fam = find(&got, &want.name);
            assert_eq!(fam.metric_type, want.metric_type, "{}", want.name);
            assert_eq!(fam.help, want.help, "{}", want.name);
            for job in ["text_push", "pb_push"] {
                let metric = fam
                    .metrics
                    .iter()
                    .find(|m| m.labels.iter().any(|(n, v)| n == "job" && v == job))
                    .unwrap_or_else(|| panic!("{} from {job} missing ({ct})", want.name));
                let mut expected_labels = want.metrics[0].labels.clone();
                expected_labels.push(("instance".into(), String::new()));
                expected_labels.push(("job".into(), job.into()));
                expected_labels.sort();
                let mut labels = metric.labels.clone();
                labels.sort();
                assert_eq!(labels, expected_labels, "{} from {job} ({ct})", want.name);
                assert_eq!(
                    metric.value, want.metrics[0].value,
                    "{} from {job} ({ct})",
                    want.name
                );
            }
        }
    }
}
