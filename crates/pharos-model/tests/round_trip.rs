//! Property tests: any family set our writers produce parses back to the same families, in all
//! three formats.

use proptest::prelude::*;

use pharos_model::protobuf::{decode_families, encode_families};
use pharos_model::write::{write_openmetrics, write_text};
use pharos_model::{
    parse_families, FloatHistogram, Metric, MetricFamily, MetricType, MetricValue, Span,
};

/// Which format a generated family set must survive; each has its own constraints on what
/// it can represent losslessly.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Text,
    OpenMetrics,
    Protobuf,
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("NaN never compares equal", |v| !v.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-1000i32..1000).prop_map(f64::from),
        Just(0.1),
    ]
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9/._-]{0,12}",
        "\\PC{0,8}",
        Just("a\"b\\c\nd".to_string())
    ]
}

fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map("[a-k][a-z0-9_]{0,6}", label_value(), 0..4)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
}

fn metric_value(ty: MetricType) -> BoxedStrategy<MetricValue> {
    match ty {
        MetricType::Summary => (
            0u32..1000,
            value(),
            proptest::collection::vec((0.0..1.0f64, value()), 0..4),
        )
            .prop_map(|(count, sum, quantiles)| MetricValue::Summary {
                count: f64::from(count),
                sum,
                quantiles,
            })
            .boxed(),
        MetricType::Histogram => (
            proptest::collection::vec((-100.0..100.0f64, 0u32..50), 0..5),
            value(),
        )
            .prop_map(|(mut bounds, sum)| {
                bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
                bounds.dedup_by(|a, b| a.0 == b.0);
                let mut cumulative = 0.0;
                let mut buckets: Vec<(f64, f64)> = bounds
                    .into_iter()
                    .map(|(le, n)| {
                        cumulative += f64::from(n);
                        (le, cumulative)
                    })
                    .collect();
                buckets.push((f64::INFINITY, cumulative + 1.0));
                MetricValue::Histogram {
                    count: cumulative + 1.0,
                    sum,
                    buckets,
                }
            })
            .boxed(),
        _ => value().prop_map(MetricValue::Simple).boxed(),
    }
}

fn family(target: Target) -> impl Strategy<Value = MetricFamily> {
    let types = match target {
        Target::Protobuf => vec![
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Untyped,
            MetricType::Summary,
            MetricType::Histogram,
        ],
        _ => vec![
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Untyped,
            MetricType::Summary,
            MetricType::Histogram,
            if target == Target::OpenMetrics {
                MetricType::Info
            } else {
                MetricType::Gauge
            },
        ],
    };
    (
        proptest::sample::select(types),
        "[a-z][a-z0-9_]{0,10}",
        "\\PC{0,20}",
    )
        .prop_flat_map(move |(ty, name, help)| {
            let name = match ty {
                MetricType::Counter if target == Target::OpenMetrics => format!("{name}_total"),
                MetricType::Info => format!("{name}_info"),
                _ => name,
            };
            let timestamps = proptest::option::of(-10_000_000_000_000i64..10_000_000_000_000);
            let created = if target != Target::Text
                && matches!(
                    ty,
                    MetricType::Counter | MetricType::Summary | MetricType::Histogram
                ) {
                proptest::option::of(0i64..10_000_000_000_000).boxed()
            } else {
                Just(None).boxed()
            };
            let metric = (labels(), metric_value(ty), timestamps, created).prop_map(
                |(labels, value, ts, created)| {
                    let mut m = Metric::new(labels, value);
                    m.timestamp_ms = ts;
                    m.created_ms = created;
                    m
                },
            );
            proptest::collection::vec(metric, 1..4).prop_map(move |mut metrics| {
                // The parsers group lines by label set, so label sets within a family are unique.
                let mut seen = std::collections::HashSet::new();
                metrics.retain(|m| seen.insert(m.labels.clone()));
                // The text format cannot tell leading blanks of HELP from the separator (neither
                // can Go's parser), so they do not survive it.
                let help = if target == Target::Text {
                    help.trim_start().to_string()
                } else {
                    help.clone()
                };
                let mut f = MetricFamily::new(name.clone(), help, ty);
                f.metrics = metrics;
                f
            })
        })
}

fn families(target: Target) -> impl Strategy<Value = Vec<MetricFamily>> {
    proptest::collection::vec(family(target), 0..5).prop_map(|mut fams| {
        // Distinct names that are not another family's name plus a suffix, so that every line
        // is attributed to its own family.
        let mut kept: Vec<MetricFamily> = Vec::new();
        for f in fams.drain(..) {
            let clash = kept
                .iter()
                .any(|k| k.name.starts_with(&f.name) || f.name.starts_with(&k.name));
            if !clash {
                kept.push(f);
            }
        }
        kept
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn text_round_trips(fams in families(Target::Text)) {
        let mut text = String::new();
        write_text(&fams, &mut text);
        let parsed = parse_families(text.as_bytes(), "text/plain; version=0.0.4");
        prop_assert_eq!(parsed, Ok(fams), "{}", text);
    }

    #[test]
    fn openmetrics_round_trips(fams in families(Target::OpenMetrics)) {
        let mut text = String::new();
        write_openmetrics(&fams, &mut text);
        let parsed = parse_families(text.as_bytes(), "application/openmetrics-text; version=1.0.0");
        prop_assert_eq!(parsed, Ok(fams), "{}", text);
    }

    #[test]
    fn protobuf_round_trips(fams in families(Target::Protobuf), native in proptest::option::of(native_histogram())) {
        let mut fams = fams;
        if let Some(native) = native {
            if let Some(m) = fams.iter_mut().find(|f| f.metric_type == MetricType::Histogram).and_then(|f| f.metrics.first_mut()) {
                // Count and sum are shared by the classic and native parts on the wire.
                let mut native = native;
                if let MetricValue::Histogram { count, sum, .. } = &m.value {
                    native.count = *count;
                    native.sum = *sum;
                }
                m.native_histogram = Some(Box::new(native));
            }
        }
        let mut body = Vec::new();
        encode_families(&fams, &mut body);
        prop_assert_eq!(decode_families(&body), Ok(fams));
    }
}

fn native_histogram() -> impl Strategy<Value = FloatHistogram> {
    let spans = proptest::collection::vec((-5i32..5, 1u32..4), 0..3);
    (-4i32..=8, spans.clone(), spans, any::<bool>(), 0u32..10).prop_flat_map(
        |(schema, pos, neg, integral, zero)| {
            let pos: Vec<Span> = pos
                .into_iter()
                .map(|(offset, length)| Span { offset, length })
                .collect();
            let neg: Vec<Span> = neg
                .into_iter()
                .map(|(offset, length)| Span { offset, length })
                .collect();
            let np = pos.iter().map(|s| s.length as usize).sum::<usize>();
            let nn = neg.iter().map(|s| s.length as usize).sum::<usize>();
            let count = if integral {
                (0u32..100).prop_map(f64::from).boxed()
            } else {
                (0.0..100.0f64).boxed()
            };
            (
                proptest::collection::vec(count.clone(), np),
                proptest::collection::vec(count, nn),
            )
                .prop_map(move |(positive_buckets, negative_buckets)| FloatHistogram {
                    counter_reset_hint: 0,
                    schema,
                    zero_threshold: 1e-128,
                    zero_count: f64::from(zero),
                    count: 0.0,
                    sum: 0.0,
                    positive_spans: pos.clone(),
                    positive_buckets,
                    negative_spans: neg.clone(),
                    negative_buckets,
                    custom_values: Vec::new(),
                })
        },
    )
}
