//! Per-scrape CPU cost of turning a body into samples, with a cold cache (first scrape of a
//! target) and a warm one (every later scrape), and the cost of target relabeling.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pharos_model::{ExpositionFormat, Labels};
use pharos_scrape::ingest::{ingest, IngestSettings};
use pharos_scrape::relabel::{relabel, RelabelConfig};
use pharos_scrape::scrape_cache::ScrapeCache;

/// A body shaped like a node exporter's on an 8-core host: about 2,000 series across
/// counters, gauges and histograms, most with two or three labels.
fn node_like_body() -> (String, u64) {
    let mut body = String::new();
    let mut n = 0u64;
    body.push_str("# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds_total counter\n");
    for cpu in 0..8 {
        for mode in [
            "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
        ] {
            body.push_str(&format!(
                "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {}.{}\n",
                1000 + cpu * 37,
                cpu
            ));
            n += 1;
        }
    }
    for dev in 0..40 {
        for metric in [
            "node_network_receive_bytes_total",
            "node_network_transmit_bytes_total",
            "node_network_receive_packets_total",
            "node_network_transmit_packets_total",
            "node_network_receive_errs_total",
        ] {
            body.push_str(&format!(
                "{metric}{{device=\"veth{dev:04x}\"}} {}\n",
                123_456_789 + dev
            ));
            n += 1;
        }
    }
    for dev in 0..20 {
        for fs in [
            "node_filesystem_avail_bytes",
            "node_filesystem_size_bytes",
            "node_filesystem_files",
            "node_filesystem_files_free",
            "node_filesystem_readonly",
        ] {
            body.push_str(&format!("{fs}{{device=\"/dev/sd{dev}\",fstype=\"ext4\",mountpoint=\"/mnt/disk{dev}\"}} 4.2e+10\n"));
            n += 1;
        }
    }
    for i in 0..1200 {
        body.push_str(&format!("node_vmstat_counter_{i} {i}\n"));
        n += 1;
    }
    body.push_str("# TYPE http_request_duration_seconds histogram\n");
    for handler in 0..20 {
        for le in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
        ] {
            body.push_str(&format!("http_request_duration_seconds_bucket{{handler=\"/api/v1/h{handler}\",le=\"{le}\"}} 42\n"));
            n += 1;
        }
        body.push_str(&format!(
            "http_request_duration_seconds_sum{{handler=\"/api/v1/h{handler}\"}} 12.5\n"
        ));
        body.push_str(&format!(
            "http_request_duration_seconds_count{{handler=\"/api/v1/h{handler}\"}} 42\n"
        ));
        n += 2;
    }
    (body, n)
}

fn bench_ingest(c: &mut Criterion) {
    let (body, series) = node_like_body();
    let target = Labels::from_pairs([("job", "node"), ("instance", "10.0.0.5:9100")]);
    let rules: Vec<RelabelConfig> =
        serde_saphyr::from_str("- source_labels: [__name__]\n  regex: 'go_.*'\n  action: drop\n")
            .unwrap_or_default();
    let settings = IngestSettings {
        target_labels: &target,
        honor_labels: false,
        honor_timestamps: true,
        metric_relabel_configs: &rules,
        sample_limit: 0,
        label_limit: 0,
        label_name_length_limit: 0,
        label_value_length_limit: 0,
        always_scrape_classic_histograms: false,
    };
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(series));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(30);
    group.bench_function("warm_cache", |b| {
        let mut cache = ScrapeCache::new();
        let mut out = Vec::new();
        let mut t = 0i64;
        b.iter(|| {
            t += 15_000;
            out.clear();
            cache.begin_iteration();
            let counts = ingest(
                body.as_bytes(),
                ExpositionFormat::PrometheusText,
                t,
                &settings,
                &mut cache,
                &mut out,
            );
            black_box(counts.map(|c| c.scraped).unwrap_or(0))
        });
    });
    // The parser alone, to show how much of the warm-cache time is parsing.
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            let mut parser = pharos_model::TextParser::new(
                body.as_bytes(),
                pharos_model::TextFlavor::Prometheus,
            );
            let mut n = 0u64;
            while let Some(e) = parser.next_entry() {
                n += u64::from(e.is_ok());
            }
            black_box(n)
        });
    });
    group.bench_function("cold_cache", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut cache = ScrapeCache::new();
            out.clear();
            cache.begin_iteration();
            let counts = ingest(
                body.as_bytes(),
                ExpositionFormat::PrometheusText,
                1,
                &settings,
                &mut cache,
                &mut out,
            );
            black_box(counts.map(|c| c.scraped).unwrap_or(0))
        });
    });
    group.finish();
}

fn bench_relabel(c: &mut Criterion) {
    let rules: Vec<RelabelConfig> = serde_saphyr::from_str(concat!(
        "- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]\n  regex: 'true'\n  action: keep\n",
        "- source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]\n  regex: '([^:]+)(?::\\d+)?;(\\d+)'\n  replacement: '$1:$2'\n  target_label: __address__\n",
        "- regex: '__meta_kubernetes_pod_label_(.+)'\n  action: labelmap\n",
        "- source_labels: [__meta_kubernetes_namespace]\n  target_label: namespace\n",
        "- source_labels: [__address__]\n  modulus: 4\n  target_label: __tmp_hash\n  action: hashmod\n",
    ))
    .unwrap_or_default();
    let labels = Labels::from_pairs([
        ("__address__", "10.1.2.3:8080"),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
            "true",
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_port",
            "9102",
        ),
        ("__meta_kubernetes_pod_label_app", "api"),
        ("__meta_kubernetes_pod_label_tier", "backend"),
        ("__meta_kubernetes_namespace", "prod"),
        ("job", "kubernetes-pods"),
    ]);
    c.bench_function("relabel/kubernetes_pod_rules", |b| {
        b.iter(|| black_box(relabel(&labels, &rules)))
    });
}

criterion_group!(benches, bench_ingest, bench_relabel);
criterion_main!(benches);
