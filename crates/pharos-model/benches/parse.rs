//! Parsing throughput on a generated ~10 MB exposition, in the three formats a scrape can
//! return. Run with `cargo bench -p pharos-model --bench parse`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pharos_model::parse::{Entry, TextFlavor, TextParser};
use pharos_model::protobuf::{encode_families, FamilyDecoder};
use pharos_model::write::{write_openmetrics, write_text};
use pharos_model::{parse_families, Metric, MetricFamily, MetricType, MetricValue};

/// A deterministic exposition shaped like a busy service's: counters, gauges, histograms and
/// summaries with several labels each, some label values needing escapes.
fn generate(target_bytes: usize) -> Vec<MetricFamily> {
    let mut families = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut approx = 0;
    let mut i = 0;
    while approx < target_bytes {
        let kind = i % 4;
        let (name, ty) = match kind {
            0 => (format!("app_requests_{i}_total"), MetricType::Counter),
            1 => (format!("app_queue_depth_{i}"), MetricType::Gauge),
            2 => (
                format!("app_request_duration_{i}_seconds"),
                MetricType::Histogram,
            ),
            _ => (format!("app_rpc_latency_{i}_seconds"), MetricType::Summary),
        };
        let mut f = MetricFamily::new(
            name,
            format!("Help text for family {i}, with some words."),
            ty,
        );
        for s in 0..40 {
            let labels = vec![
                (
                    "instance".to_string(),
                    format!("host-{}.example.org:9100", s % 7),
                ),
                ("job".to_string(), "node".to_string()),
                (
                    "method".to_string(),
                    ["GET", "POST", "PUT", "DELETE"][s % 4].to_string(),
                ),
                ("path".to_string(), format!("/api/v1/items/{s}")),
                ("status".to_string(), format!("{}", 200 + (s % 5) * 100)),
                (
                    "note".to_string(),
                    if s % 10 == 0 {
                        "say \"hi\"\\n".to_string()
                    } else {
                        "plain".to_string()
                    },
                ),
            ];
            let value = match ty {
                MetricType::Counter => MetricValue::Simple((next() % 1_000_000) as f64),
                MetricType::Gauge => MetricValue::Simple((next() % 10_000) as f64 / 7.0),
                MetricType::Histogram => {
                    let mut cum = 0.0;
                    let buckets = [
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ]
                    .iter()
                    .map(|le| {
                        cum += (next() % 100) as f64;
                        (*le, cum)
                    })
                    .collect();
                    MetricValue::Histogram {
                        count: cum,
                        sum: cum * 0.137,
                        buckets,
                    }
                }
                _ => MetricValue::Summary {
                    count: (next() % 10_000) as f64,
                    sum: (next() % 100_000) as f64 / 3.0,
                    quantiles: vec![(0.5, 0.012), (0.9, 0.087), (0.99, 0.31)],
                },
            };
            let mut m = Metric::new(labels, value);
            if ty == MetricType::Counter {
                m.created_ms = Some(1_700_000_000_000 + s as i64);
            }
            f.metrics.push(m);
        }
        let mut probe = String::new();
        write_text(std::slice::from_ref(&f), &mut probe);
        approx += probe.len();
        families.push(f);
        i += 1;
    }
    families
}

fn bench_parse(c: &mut Criterion) {
    let families = generate(10 * 1024 * 1024);
    let mut text = String::new();
    write_text(&families, &mut text);
    let mut om = String::new();
    write_openmetrics(&families, &mut om);
    let mut pb = Vec::new();
    encode_families(&families, &mut pb);
    println!(
        "payload: {} families, text {} bytes, OpenMetrics {} bytes, protobuf {} bytes",
        families.len(),
        text.len(),
        om.len(),
        pb.len()
    );

    let mut group = c.benchmark_group("parse");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (label, body, flavor) in [
        ("text", text.as_bytes(), TextFlavor::Prometheus),
        ("openmetrics", om.as_bytes(), TextFlavor::OpenMetrics),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{label}_stream"), |b| {
            b.iter(|| {
                let mut parser = TextParser::new(black_box(body), flavor);
                let mut series = 0usize;
                while let Some(entry) = parser.next_entry() {
                    if let Ok(Entry::Series(s)) = entry {
                        series += s.labels.len();
                    }
                }
                series
            })
        });
    }
    group.throughput(Throughput::Bytes(pb.len() as u64));
    group.bench_function("protobuf_stream", |b| {
        b.iter(|| {
            FamilyDecoder::new(black_box(&pb))
                .map(|f| f.map_or(0, |f| f.metrics.len()))
                .sum::<usize>()
        })
    });
    for (label, body, ct) in [
        ("text", text.as_bytes(), "text/plain; version=0.0.4"),
        ("openmetrics", om.as_bytes(), "application/openmetrics-text; version=1.0.0"),
        (
            "protobuf",
            pb.as_slice(),
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        ),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{label}_families"), |b| {
            b.iter(|| parse_families(black_box(body), ct).map(|f| f.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
