//! `pharos node-exporter` end to end: the real binary on a free loopback port, scraped over HTTP.

mod node_exporter_harness;

use node_exporter_harness::{get, gunzip, parse_exposition, start_pharos};

#[test]
fn serves_metrics_with_scrape_and_self_metrics() {
    let ne = start_pharos(&[]);
    let r = get(ne.addr, "/metrics", &[]).expect("scrape");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let fams = parse_exposition(&r.text());
    for name in [
        "node_scrape_collector_duration_seconds",
        "node_scrape_collector_success",
        "node_exporter_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_virtual_memory_max_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "promhttp_metric_handler_requests_total",
    ] {
        assert!(fams.contains_key(name), "missing {name}");
    }
    let success = &fams["node_scrape_collector_success"];
    assert!(success
        .samples
        .iter()
        .any(|(_, l, _)| l.get("collector").map(String::as_str) == Some("cpu")));
    // Families come out sorted by name, like the Go registry's.
    let text = r.text();
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted);
}

#[test]
fn gzip_landing_page_and_unknown_paths() {
    let ne = start_pharos(&[]);
    let r = get(ne.addr, "/metrics", &[("Accept-Encoding", "gzip")]).expect("scrape");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(gunzip(&r.body).contains("# TYPE node_scrape_collector_success gauge"));

    let landing = get(ne.addr, "/", &[]).expect("landing page");
    assert_eq!(landing.status, 200);
    assert!(
        landing.text().contains("href=\"/metrics\""),
        "{}",
        landing.text()
    );

    assert_eq!(get(ne.addr, "/nope", &[]).expect("404").status, 404);
}

#[test]
fn flags_select_collectors_path_and_self_metrics() {
    let ne = start_pharos(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--collector.cpu",
        "--no-collector.cpu",
        "--web.telemetry-path",
        "/custom",
        "--web.disable-exporter-metrics",
    ]);
    assert_eq!(get(ne.addr, "/metrics", &[]).expect("old path").status, 404);
    let r = get(ne.addr, "/custom", &[]).expect("scrape");
    assert_eq!(r.status, 200);
    let fams = parse_exposition(&r.text());
    let collectors: Vec<&str> = fams["node_scrape_collector_success"]
        .samples
        .iter()
        .filter_map(|(_, l, _)| l.get("collector").map(String::as_str))
        .collect();
    assert_eq!(collectors, ["loadavg"]);
    assert!(!fams
        .keys()
        .any(|k| k.starts_with("process_") || k.starts_with("promhttp_")));
    let landing = get(ne.addr, "/", &[]).expect("landing");
    assert!(landing.text().contains("href=\"/custom\""));
}

#[test]
fn concurrent_scrapes_all_succeed() {
    let ne = start_pharos(&["--web.max-requests=0"]);
    let addr = ne.addr;
    let handles: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                (0..3)
                    .map(|_| get(addr, "/metrics", &[]).map(|r| r.status))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for status in h.join().expect("client thread") {
            assert_eq!(status.expect("scrape"), 200);
        }
    }
}

#[test]
fn collect_parameter_filters_collectors() {
    let ne = start_pharos(&[]);
    let r = get(
        ne.addr,
        "/metrics?collect[]=loadavg&collect%5B%5D=uname",
        &[],
    )
    .expect("scrape");
    assert_eq!(r.status, 200);
    let fams = parse_exposition(&r.text());
    let mut collectors: Vec<&str> = fams["node_scrape_collector_success"]
        .samples
        .iter()
        .filter_map(|(_, l, _)| l.get("collector").map(String::as_str))
        .collect();
    collectors.sort_unstable();
    assert_eq!(collectors, ["loadavg", "uname"]);

    let bad = get(ne.addr, "/metrics?collect[]=nosuch", &[]).expect("scrape");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("missing collector: nosuch"));
}

#[test]
fn protobuf_is_served_when_asked_for() {
    let ne = start_pharos(&["--collector.disable-defaults", "--collector.loadavg"]);
    let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3";
    let r = get(ne.addr, "/metrics", &[("Accept", accept)]).expect("scrape");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/vnd.google.protobuf")));
    let fams = pharos_model::protobuf::decode_families(&r.body).expect("valid delimited protobuf");
    assert!(fams
        .iter()
        .any(|f| f.name == "node_scrape_collector_success"));
    let text = get(ne.addr, "/metrics", &[]).expect("scrape").text();
    assert!(
        text.starts_with("# HELP"),
        "without Accept the text format is served"
    );
}
