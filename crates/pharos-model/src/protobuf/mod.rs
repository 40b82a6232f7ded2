//! The delimited protobuf exposition format
//! (`application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`):
//! a sequence of `MetricFamily` messages, each prefixed with its length as a varint.
//!
//! The messages are declared by hand in [`messages`] and decoded without code generation;
//! [`FamilyDecoder`] yields them one at a time with strings borrowed from the body.

pub mod messages;
pub mod wire;

use crate::family::{Metric, MetricFamily, MetricType, MetricValue};
use crate::histogram::{FloatHistogram, Span};
use crate::parse::ParseError;
use messages::{
    decode_family, FamilyMessage, HistogramMessage, MetricMessage, ProtoMetricType, Timestamp,
};
use wire::{
    put_bytes, put_double, put_key, put_length_prefixed, put_message, put_uint, put_varint, zigzag,
    Reader,
};

/// Streams the `MetricFamily` messages of a delimited protobuf body.
///
/// After the first error it returns `None`, so callers cannot loop on a bad body.
pub struct FamilyDecoder<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> FamilyDecoder<'a> {
    /// A decoder over a whole response body.
    pub fn new(body: &'a [u8]) -> Self {
        FamilyDecoder {
            reader: Reader::new(body, 0),
            failed: false,
        }
    }
}

impl<'a> Iterator for FamilyDecoder<'a> {
    type Item = Result<FamilyMessage<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        let result = self.reader.sub().and_then(decode_family);
        self.failed = result.is_err();
        Some(result)
    }
}

/// Decodes a whole delimited protobuf body into metric families. Exemplars are dropped.
pub fn decode_families(body: &[u8]) -> Result<Vec<MetricFamily>, ParseError> {
    let mut out = Vec::new();
    let mut offset = 0;
    let mut decoder = FamilyDecoder::new(body);
    while let Some(family) = decoder.next() {
        out.push(family_from_message(&family?, offset)?);
        offset = decoder.reader.offset();
    }
    Ok(out)
}

/// Converts a decoded message into the family model. `offset` is where the message starts,
/// for errors about its content.
pub fn family_from_message(
    msg: &FamilyMessage<'_>,
    offset: usize,
) -> Result<MetricFamily, ParseError> {
    let err = |message: String| ParseError::Protobuf { offset, message };
    if msg.name.is_empty() {
        return Err(err("metric family without a name".into()));
    }
    let metric_type = match msg.metric_type {
        ProtoMetricType::Counter => MetricType::Counter,
        ProtoMetricType::Gauge => MetricType::Gauge,
        ProtoMetricType::Summary => MetricType::Summary,
        ProtoMetricType::Untyped => MetricType::Untyped,
        ProtoMetricType::Histogram => MetricType::Histogram,
        ProtoMetricType::GaugeHistogram => MetricType::GaugeHistogram,
    };
    let mut family = MetricFamily::new(msg.name, msg.help, metric_type);
    family.unit = (!msg.unit.is_empty()).then(|| msg.unit.to_string());
    for m in &msg.metrics {
        family.metrics.push(
            metric_from_message(m, msg.metric_type)
                .map_err(|e| err(format!("{}: {e}", msg.name)))?,
        );
    }
    Ok(family)
}

fn metric_from_message(m: &MetricMessage<'_>, ty: ProtoMetricType) -> Result<Metric, String> {
    let labels = m
        .labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let mut created = None;
    let mut native = None;
    let value = match ty {
        ProtoMetricType::Counter => {
            let c = m.counter.as_ref();
            created = c.and_then(|c| c.created_timestamp);
            MetricValue::Simple(c.map_or(0.0, |c| c.value))
        }
        ProtoMetricType::Gauge => MetricValue::Simple(m.gauge.unwrap_or(0.0)),
        ProtoMetricType::Untyped => MetricValue::Simple(m.untyped.unwrap_or(0.0)),
        ProtoMetricType::Summary => {
            let s = m.summary.clone().unwrap_or_default();
            created = s.created_timestamp;
            MetricValue::Summary {
                count: s.sample_count as f64,
                sum: s.sample_sum,
                quantiles: s.quantiles,
            }
        }
        ProtoMetricType::Histogram | ProtoMetricType::GaugeHistogram => {
            let h = m.histogram.clone().unwrap_or_default();
            created = h.created_timestamp;
            let count = count_of(h.sample_count, h.sample_count_float);
            if h.is_native() {
                native = Some(Box::new(native_from_message(
                    &h,
                    ty == ProtoMetricType::GaugeHistogram,
                )?));
            }
            let buckets = h
                .buckets
                .iter()
                .map(|b| {
                    (
                        b.upper_bound,
                        count_of(b.cumulative_count, b.cumulative_count_float),
                    )
                })
                .collect();
            MetricValue::Histogram {
                count,
                sum: h.sample_sum,
                buckets,
            }
        }
    };
    Ok(Metric {
        labels,
        value,
        timestamp_ms: m.timestamp_ms,
        created_ms: created.map(Timestamp::to_millis),
        native_histogram: native,
    })
}

/// The float variant of a count overrides the integer one when positive.
fn count_of(int: u64, float: f64) -> f64 {
    if float > 0.0 {
        float
    } else {
        int as f64
    }
}

fn native_from_message(h: &HistogramMessage<'_>, gauge: bool) -> Result<FloatHistogram, String> {
    let positive_buckets = bucket_counts(
        &h.positive_spans,
        &h.positive_deltas,
        &h.positive_counts,
        "positive",
    )?;
    let negative_buckets = bucket_counts(
        &h.negative_spans,
        &h.negative_deltas,
        &h.negative_counts,
        "negative",
    )?;
    Ok(FloatHistogram {
        counter_reset_hint: if gauge { 3 } else { 0 },
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: count_of(h.zero_count, h.zero_count_float),
        count: count_of(h.sample_count, h.sample_count_float),
        sum: h.sample_sum,
        positive_spans: h
            .positive_spans
            .iter()
            .copied()
            .filter(|s| s.length > 0 || s.offset != 0)
            .collect(),
        positive_buckets,
        negative_spans: h
            .negative_spans
            .iter()
            .copied()
            .filter(|s| s.length > 0 || s.offset != 0)
            .collect(),
        negative_buckets,
        custom_values: Vec::new(),
    })
}

/// Absolute bucket counts from either deltas (integer histograms) or absolute counts (float
/// histograms), checked against the number of buckets the spans describe.
fn bucket_counts(
    spans: &[Span],
    deltas: &[i64],
    counts: &[f64],
    sign: &str,
) -> Result<Vec<f64>, String> {
    let expected: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    let given = if deltas.is_empty() {
        counts.len()
    } else {
        deltas.len()
    };
    if !deltas.is_empty() && !counts.is_empty() {
        return Err(format!("{sign} buckets given both as deltas and as counts"));
    }
    if expected != given as u64 {
        return Err(format!(
            "{sign} spans describe {expected} buckets but {given} counts are given"
        ));
    }
    if deltas.is_empty() {
        return Ok(counts.to_vec());
    }
    let mut running: i64 = 0;
    let mut out = Vec::with_capacity(deltas.len());
    for d in deltas {
        running = running
            .checked_add(*d)
            .ok_or_else(|| format!("{sign} bucket deltas overflow"))?;
        if running < 0 {
            return Err(format!("{sign} bucket deltas give a negative count"));
        }
        out.push(running as f64);
    }
    Ok(out)
}

/// Appends `families` to `out` in the delimited protobuf format.
///
/// OpenMetrics-only types are sent as the protobuf types Go uses for them (info and state sets
/// as gauges); counts that are whole numbers go in the integer fields, others in the float ones.
pub fn encode_families(families: &[MetricFamily], out: &mut Vec<u8>) {
    for f in families {
        put_length_prefixed(out, |out| encode_family(f, out));
    }
}

fn encode_family(f: &MetricFamily, out: &mut Vec<u8>) {
    let ty = match f.metric_type {
        MetricType::Counter => ProtoMetricType::Counter,
        MetricType::Gauge | MetricType::Info | MetricType::StateSet => ProtoMetricType::Gauge,
        MetricType::Summary => ProtoMetricType::Summary,
        MetricType::Untyped => ProtoMetricType::Untyped,
        MetricType::Histogram => ProtoMetricType::Histogram,
        MetricType::GaugeHistogram => ProtoMetricType::GaugeHistogram,
    };
    put_bytes(out, 1, f.name.as_bytes());
    if !f.help.is_empty() {
        put_bytes(out, 2, f.help.as_bytes());
    }
    put_uint(out, 3, ty.number());
    for m in &f.metrics {
        put_message(out, 4, |out| encode_metric(m, ty, out));
    }
    if let Some(unit) = f.unit.as_deref().filter(|u| !u.is_empty()) {
        put_bytes(out, 5, unit.as_bytes());
    }
}

fn encode_metric(m: &Metric, ty: ProtoMetricType, out: &mut Vec<u8>) {
    for (n, v) in &m.labels {
        put_message(out, 1, |out| {
            put_bytes(out, 1, n.as_bytes());
            put_bytes(out, 2, v.as_bytes());
        });
    }
    let created = m.created_ms.map(Timestamp::from_millis);
    match (&m.value, ty) {
        (MetricValue::Simple(v), ProtoMetricType::Counter) => put_message(out, 3, |out| {
            put_double(out, 1, *v);
            if let Some(t) = created {
                put_message(out, 3, |out| encode_timestamp(t, out));
            }
        }),
        (MetricValue::Simple(v), ProtoMetricType::Untyped) => {
            put_message(out, 5, |out| put_double(out, 1, *v))
        }
        (MetricValue::Simple(v), _) => put_message(out, 2, |out| put_double(out, 1, *v)),
        (
            MetricValue::Summary {
                count,
                sum,
                quantiles,
            },
            _,
        ) => put_message(out, 4, |out| {
            put_count(out, 1, None, *count);
            put_double(out, 2, *sum);
            for (q, v) in quantiles {
                put_message(out, 3, |out| {
                    put_double(out, 1, *q);
                    put_double(out, 2, *v);
                });
            }
            if let Some(t) = created {
                put_message(out, 4, |out| encode_timestamp(t, out));
            }
        }),
        (
            MetricValue::Histogram {
                count,
                sum,
                buckets,
            },
            _,
        ) => put_message(out, 7, |out| {
            put_count(out, 1, Some(4), *count);
            put_double(out, 2, *sum);
            for (le, c) in buckets {
                put_message(out, 3, |out| {
                    put_count(out, 1, Some(4), *c);
                    put_double(out, 2, *le);
                });
            }
            if let Some(native) = &m.native_histogram {
                encode_native(native, out);
            }
            if let Some(t) = created {
                put_message(out, 15, |out| encode_timestamp(t, out));
            }
        }),
    }
    if let Some(ts) = m.timestamp_ms {
        put_uint(out, 6, ts as u64);
    }
}

/// Writes a count in the integer field when it is a whole number, else in the float field
/// (or, without one, as the nearest integer).
fn put_count(out: &mut Vec<u8>, int_field: u32, float_field: Option<u32>, v: f64) {
    let whole = v >= 0.0 && v.fract() == 0.0 && v < 1.8e19;
    match float_field {
        Some(f) if !whole => put_double(out, f, v),
        _ => put_uint(
            out,
            int_field,
            if v.is_finite() && v > 0.0 {
                v as u64
            } else {
                0
            },
        ),
    }
}

fn encode_native(h: &FloatHistogram, out: &mut Vec<u8>) {
    put_key(out, 5, wire::VARINT);
    put_varint(out, zigzag(i64::from(h.schema)));
    put_double(out, 6, h.zero_threshold);
    put_count(out, 7, Some(8), h.zero_count);
    let integral = [&h.positive_buckets, &h.negative_buckets].iter().all(|b| {
        b.iter()
            .all(|c| *c >= 0.0 && c.fract() == 0.0 && *c < 9.0e15)
    });
    for (spans, buckets, span_field, delta_field, count_field) in [
        (&h.negative_spans, &h.negative_buckets, 9, 10, 11),
        (&h.positive_spans, &h.positive_buckets, 12, 13, 14),
    ] {
        for s in spans {
            put_message(out, span_field, |out| {
                put_key(out, 1, wire::VARINT);
                put_varint(out, zigzag(i64::from(s.offset)));
                put_uint(out, 2, u64::from(s.length));
            });
        }
        if buckets.is_empty() {
            continue;
        }
        if integral {
            put_message(out, delta_field, |out| {
                let mut prev = 0i64;
                for c in buckets {
                    let c = *c as i64;
                    put_varint(out, zigzag(c - prev));
                    prev = c;
                }
            });
        } else {
            put_message(out, count_field, |out| {
                for c in buckets {
                    out.extend_from_slice(&c.to_bits().to_le_bytes());
                }
            });
        }
    }
    // An empty native histogram must still be recognisable as native.
    if h.positive_spans.is_empty()
        && h.negative_spans.is_empty()
        && h.zero_threshold == 0.0
        && h.zero_count == 0.0
    {
        put_message(out, 12, |out| {
            put_uint(out, 1, 0);
            put_uint(out, 2, 0);
        });
    }
}

fn encode_timestamp(t: Timestamp, out: &mut Vec<u8>) {
    put_uint(out, 1, t.seconds as u64);
    put_uint(out, 2, t.nanos as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native() -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: 0,
            schema: 3,
            zero_threshold: 1e-128,
            zero_count: 2.0,
            count: 12.0,
            sum: 34.5,
            positive_spans: vec![
                Span {
                    offset: -2,
                    length: 2,
                },
                Span {
                    offset: 3,
                    length: 1,
                },
            ],
            positive_buckets: vec![1.0, 4.0, 2.0],
            negative_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            negative_buckets: vec![3.0],
            custom_values: Vec::new(),
        }
    }

    fn families() -> Vec<MetricFamily> {
        let mut c = MetricFamily::new("req_total", "Requests.", MetricType::Counter);
        c.metrics.push(Metric {
            labels: vec![("code".into(), "200".into())],
            value: MetricValue::Simple(7.0),
            timestamp_ms: Some(-5),
            created_ms: Some(1_700_000_000_250),
            native_histogram: None,
        });
        let g = MetricFamily::single("temp", "", MetricType::Gauge, -1.5);
        let u = MetricFamily::single("u", "", MetricType::Untyped, f64::INFINITY);
        let mut s = MetricFamily::new("rpc", "", MetricType::Summary);
        s.metrics.push(Metric::new(
            vec![],
            MetricValue::Summary {
                count: 3.0,
                sum: 1.0,
                quantiles: vec![(0.5, 0.1), (0.9, 0.7)],
            },
        ));
        let mut h = MetricFamily::new("lat", "L.", MetricType::Histogram);
        h.unit = Some("seconds".into());
        let mut m = Metric::new(
            vec![("a".into(), "ü".into())],
            MetricValue::Histogram {
                count: 12.0,
                sum: 34.5,
                buckets: vec![(0.5, 3.0), (f64::INFINITY, 12.0)],
            },
        );
        m.native_histogram = Some(Box::new(native()));
        h.metrics.push(m);
        let mut fh = MetricFamily::new("float_hist", "", MetricType::GaugeHistogram);
        let mut fm = Metric::new(
            vec![],
            MetricValue::Histogram {
                count: 2.5,
                sum: 1.0,
                buckets: vec![(1.0, 0.5)],
            },
        );
        let mut fnative = native();
        fnative.counter_reset_hint = 3;
        fnative.count = 2.5;
        fnative.sum = 1.0;
        fnative.positive_buckets = vec![0.5, 0.25, 1.0];
        fm.native_histogram = Some(Box::new(fnative));
        fh.metrics.push(fm);
        vec![c, g, u, s, h, fh]
    }

    #[test]
    fn round_trip() {
        let fams = families();
        let mut buf = Vec::new();
        encode_families(&fams, &mut buf);
        assert_eq!(decode_families(&buf), Ok(fams));
    }

    #[test]
    fn streaming_decoder_borrows() {
        let mut buf = Vec::new();
        encode_families(&families(), &mut buf);
        let names: Vec<&str> = FamilyDecoder::new(&buf)
            .map(|f| f.map(|f| f.name).unwrap_or("?"))
            .collect();
        assert_eq!(
            names,
            ["req_total", "temp", "u", "rpc", "lat", "float_hist"]
        );
    }

    #[test]
    fn empty_native_histogram_keeps_noop_span() {
        let mut h = MetricFamily::new("h", "", MetricType::Histogram);
        let mut m = Metric::new(
            vec![],
            MetricValue::Histogram {
                count: 0.0,
                sum: 0.0,
                buckets: vec![],
            },
        );
        m.native_histogram = Some(Box::default());
        h.metrics.push(m);
        let mut buf = Vec::new();
        encode_families(std::slice::from_ref(&h), &mut buf);
        let back = decode_families(&buf).unwrap_or_default();
        assert!(back
            .first()
            .and_then(|f| f.metrics.first())
            .is_some_and(|m| m.native_histogram.is_some()));
    }

    #[test]
    fn unpacked_repeated_and_unknown_fields_are_accepted() {
        // A histogram with unpacked positive deltas and an unknown field 99 (fixed32).
        let mut hist = Vec::new();
        put_uint(&mut hist, 1, 3);
        put_message(&mut hist, 12, |o| {
            put_uint(o, 2, 2);
        });
        put_key(&mut hist, 13, wire::VARINT);
        put_varint(&mut hist, zigzag(1));
        put_key(&mut hist, 13, wire::VARINT);
        put_varint(&mut hist, zigzag(1));
        put_key(&mut hist, 99, wire::FIXED32);
        hist.extend_from_slice(&[1, 2, 3, 4]);
        let mut fam = Vec::new();
        put_bytes(&mut fam, 1, b"h");
        put_uint(&mut fam, 3, 4);
        put_message(&mut fam, 4, |o| put_bytes(o, 7, &hist));
        let mut body = Vec::new();
        put_length_prefixed(&mut body, |o| o.extend_from_slice(&fam));
        let got = decode_families(&body).unwrap_or_default();
        let native = got
            .first()
            .and_then(|f| f.metrics.first())
            .and_then(|m| m.native_histogram.clone());
        assert_eq!(native.map(|n| n.positive_buckets), Some(vec![1.0, 2.0]));
    }

    fn err(body: &[u8]) -> (usize, String) {
        match decode_families(body) {
            Err(ParseError::Protobuf { offset, message }) => (offset, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_bodies() {
        assert_eq!(
            err(&[5, 0x0a, 1]),
            (0, "length 5 exceeds the 2 bytes left".into())
        );
        assert_eq!(err(&[0x80]), (0, "truncated varint".into()));
        // Field 1 (name) with wire type 0.
        assert_eq!(
            err(&[2, 0x08, 1]),
            (
                2,
                "field MetricFamily.name has wire type 0, expected 2".into()
            )
        );
        // Field number 0.
        assert_eq!(err(&[2, 0x00, 1]), (1, "invalid field number 0".into()));
        // Unknown metric type 9.
        assert_eq!(
            err(&[5, 0x0a, 1, b'x', 0x18, 9]),
            (6, "unknown metric type 9".into())
        );
        // Name with invalid UTF-8.
        assert_eq!(
            err(&[3, 0x0a, 1, 0xff]),
            (3, "string is not valid UTF-8".into())
        );
        // Wire type 3 (groups) is not supported.
        assert_eq!(err(&[2, 0x4b, 0]), (2, "unsupported wire type 3".into()));
        // A family without a name.
        assert_eq!(
            err(&[2, 0x18, 1]),
            (0, "metric family without a name".into())
        );
        // Spans that do not match the counts.
        let mut fam = Vec::new();
        put_bytes(&mut fam, 1, b"h");
        put_uint(&mut fam, 3, 4);
        put_message(&mut fam, 4, |o| {
            put_message(o, 7, |o| put_message(o, 12, |o| put_uint(o, 2, 3)))
        });
        let mut body = Vec::new();
        encode_families(
            &[MetricFamily::single("ok", "", MetricType::Gauge, 1.0)],
            &mut body,
        );
        let start = body.len();
        put_length_prefixed(&mut body, |o| o.extend_from_slice(&fam));
        let (offset, message) = err(&body);
        assert_eq!(offset, start);
        assert_eq!(
            message,
            "h: positive spans describe 3 buckets but 0 counts are given"
        );
    }
}
