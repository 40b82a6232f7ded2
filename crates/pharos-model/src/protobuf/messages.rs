//! The `io.prometheus.client` messages (metrics.proto), declared by hand and decoded straight
//! from the wire with strings borrowed from the body.
//!
//! Field numbers follow metrics.proto. Fields absent on the wire keep protobuf's defaults
//! (zero, empty), which is what Go's generated getters return.

use super::wire::{unzigzag, Reader, FIXED64, LEN, VARINT};
use crate::histogram::Span;
use crate::parse::ParseError;

/// `MetricType` of metrics.proto.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProtoMetricType {
    /// `COUNTER = 0`.
    #[default]
    Counter,
    /// `GAUGE = 1`.
    Gauge,
    /// `SUMMARY = 2`.
    Summary,
    /// `UNTYPED = 3`.
    Untyped,
    /// `HISTOGRAM = 4`.
    Histogram,
    /// `GAUGE_HISTOGRAM = 5`.
    GaugeHistogram,
}

impl ProtoMetricType {
    /// The enum's number on the wire.
    pub fn number(self) -> u64 {
        match self {
            ProtoMetricType::Counter => 0,
            ProtoMetricType::Gauge => 1,
            ProtoMetricType::Summary => 2,
            ProtoMetricType::Untyped => 3,
            ProtoMetricType::Histogram => 4,
            ProtoMetricType::GaugeHistogram => 5,
        }
    }

    fn from_number(n: u64) -> Option<Self> {
        Some(match n {
            0 => ProtoMetricType::Counter,
            1 => ProtoMetricType::Gauge,
            2 => ProtoMetricType::Summary,
            3 => ProtoMetricType::Untyped,
            4 => ProtoMetricType::Histogram,
            5 => ProtoMetricType::GaugeHistogram,
            _ => return None,
        })
    }
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Timestamp {
    /// Seconds since the epoch.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: i32,
}

impl Timestamp {
    /// Milliseconds since the epoch, saturating on overflow.
    pub fn to_millis(self) -> i64 {
        self.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos) / 1_000_000)
    }

    /// The timestamp for `ms` milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Self {
        Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        }
    }
}

/// `MetricFamily`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FamilyMessage<'a> {
    /// Field 1.
    pub name: &'a str,
    /// Field 2.
    pub help: &'a str,
    /// Field 3.
    pub metric_type: ProtoMetricType,
    /// Field 4.
    pub metrics: Vec<MetricMessage<'a>>,
    /// Field 5.
    pub unit: &'a str,
}

/// `Metric`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MetricMessage<'a> {
    /// Field 1: `LabelPair`s as (name, value).
    pub labels: Vec<(&'a str, &'a str)>,
    /// Field 2: `Gauge.value`.
    pub gauge: Option<f64>,
    /// Field 3.
    pub counter: Option<CounterMessage<'a>>,
    /// Field 4.
    pub summary: Option<SummaryMessage>,
    /// Field 5: `Untyped.value`.
    pub untyped: Option<f64>,
    /// Field 7.
    pub histogram: Option<HistogramMessage<'a>>,
    /// Field 6.
    pub timestamp_ms: Option<i64>,
}

/// `Counter`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CounterMessage<'a> {
    /// Field 1.
    pub value: f64,
    /// Field 2.
    pub exemplar: Option<ExemplarMessage<'a>>,
    /// Field 3.
    pub created_timestamp: Option<Timestamp>,
}

/// `Summary`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SummaryMessage {
    /// Field 1.
    pub sample_count: u64,
    /// Field 2.
    pub sample_sum: f64,
    /// Field 3: `Quantile`s as (quantile, value).
    pub quantiles: Vec<(f64, f64)>,
    /// Field 4.
    pub created_timestamp: Option<Timestamp>,
}

/// `Histogram`, classic and native fields together.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct HistogramMessage<'a> {
    /// Field 1.
    pub sample_count: u64,
    /// Field 4; overrides `sample_count` when positive.
    pub sample_count_float: f64,
    /// Field 2.
    pub sample_sum: f64,
    /// Field 3.
    pub buckets: Vec<BucketMessage<'a>>,
    /// Field 15.
    pub created_timestamp: Option<Timestamp>,
    /// Field 5.
    pub schema: i32,
    /// Field 6.
    pub zero_threshold: f64,
    /// Field 7.
    pub zero_count: u64,
    /// Field 8; overrides `zero_count` when positive.
    pub zero_count_float: f64,
    /// Field 9.
    pub negative_spans: Vec<Span>,
    /// Field 10: bucket counts as deltas to the previous bucket (integer histograms).
    pub negative_deltas: Vec<i64>,
    /// Field 11: absolute bucket counts (float histograms).
    pub negative_counts: Vec<f64>,
    /// Field 12.
    pub positive_spans: Vec<Span>,
    /// Field 13.
    pub positive_deltas: Vec<i64>,
    /// Field 14.
    pub positive_counts: Vec<f64>,
    /// Field 16.
    pub exemplars: Vec<ExemplarMessage<'a>>,
}

impl HistogramMessage<'_> {
    /// True when the message carries a native histogram; an empty native histogram marks
    /// itself with a no-op span, as the format prescribes.
    pub fn is_native(&self) -> bool {
        self.zero_threshold > 0.0
            || self.zero_count > 0
            || self.zero_count_float > 0.0
            || !self.positive_spans.is_empty()
            || !self.negative_spans.is_empty()
    }
}

/// `Bucket` of a classic histogram.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BucketMessage<'a> {
    /// Field 1.
    pub cumulative_count: u64,
    /// Field 4; overrides `cumulative_count` when positive.
    pub cumulative_count_float: f64,
    /// Field 2.
    pub upper_bound: f64,
    /// Field 3.
    pub exemplar: Option<ExemplarMessage<'a>>,
}

/// `Exemplar`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ExemplarMessage<'a> {
    /// Field 1.
    pub labels: Vec<(&'a str, &'a str)>,
    /// Field 2.
    pub value: f64,
    /// Field 3.
    pub timestamp: Option<Timestamp>,
}

/// Decodes one `MetricFamily` message occupying all of `r`.
pub fn decode_family<'a>(mut r: Reader<'a>) -> Result<FamilyMessage<'a>, ParseError> {
    let mut f = FamilyMessage::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "MetricFamily.name")?;
                f.name = r.string()?;
            }
            2 => {
                r.expect(wt, LEN, "MetricFamily.help")?;
                f.help = r.string()?;
            }
            3 => {
                r.expect(wt, VARINT, "MetricFamily.type")?;
                let n = r.varint()?;
                f.metric_type = ProtoMetricType::from_number(n)
                    .ok_or_else(|| r.error(format!("unknown metric type {n}")))?;
            }
            4 => {
                r.expect(wt, LEN, "MetricFamily.metric")?;
                f.metrics.push(decode_metric(r.sub()?)?);
            }
            5 => {
                r.expect(wt, LEN, "MetricFamily.unit")?;
                f.unit = r.string()?;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(f)
}

fn decode_metric<'a>(mut r: Reader<'a>) -> Result<MetricMessage<'a>, ParseError> {
    let mut m = MetricMessage::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "Metric.label")?;
                m.labels.push(decode_label(r.sub()?)?);
            }
            2 => {
                r.expect(wt, LEN, "Metric.gauge")?;
                m.gauge = Some(decode_single_double(r.sub()?, "Gauge.value")?);
            }
            3 => {
                r.expect(wt, LEN, "Metric.counter")?;
                m.counter = Some(decode_counter(r.sub()?)?);
            }
            4 => {
                r.expect(wt, LEN, "Metric.summary")?;
                m.summary = Some(decode_summary(r.sub()?)?);
            }
            5 => {
                r.expect(wt, LEN, "Metric.untyped")?;
                m.untyped = Some(decode_single_double(r.sub()?, "Untyped.value")?);
            }
            6 => {
                r.expect(wt, VARINT, "Metric.timestamp_ms")?;
                m.timestamp_ms = Some(r.varint()? as i64);
            }
            7 => {
                r.expect(wt, LEN, "Metric.histogram")?;
                m.histogram = Some(decode_histogram(r.sub()?)?);
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(m)
}

fn decode_label<'a>(mut r: Reader<'a>) -> Result<(&'a str, &'a str), ParseError> {
    let (mut name, mut value) = ("", "");
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "LabelPair.name")?;
                name = r.string()?;
            }
            2 => {
                r.expect(wt, LEN, "LabelPair.value")?;
                value = r.string()?;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok((name, value))
}

/// `Gauge` and `Untyped`: a message whose only field is `double value = 1`.
fn decode_single_double(mut r: Reader<'_>, what: &str) -> Result<f64, ParseError> {
    let mut v = 0.0;
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => v = r.double(wt, what)?,
            _ => r.skip(wt)?,
        }
    }
    Ok(v)
}

fn decode_counter<'a>(mut r: Reader<'a>) -> Result<CounterMessage<'a>, ParseError> {
    let mut c = CounterMessage::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => c.value = r.double(wt, "Counter.value")?,
            2 => {
                r.expect(wt, LEN, "Counter.exemplar")?;
                c.exemplar = Some(decode_exemplar(r.sub()?)?);
            }
            3 => {
                r.expect(wt, LEN, "Counter.created_timestamp")?;
                c.created_timestamp = Some(decode_timestamp(r.sub()?)?);
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(c)
}

fn decode_summary(mut r: Reader<'_>) -> Result<SummaryMessage, ParseError> {
    let mut s = SummaryMessage::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "Summary.sample_count")?;
                s.sample_count = r.varint()?;
            }
            2 => s.sample_sum = r.double(wt, "Summary.sample_sum")?,
            3 => {
                r.expect(wt, LEN, "Summary.quantile")?;
                let mut q = r.sub()?;
                let (mut quantile, mut value) = (0.0, 0.0);
                while !q.is_empty() {
                    let (field, wt) = q.key()?;
                    match field {
                        1 => quantile = q.double(wt, "Quantile.quantile")?,
                        2 => value = q.double(wt, "Quantile.value")?,
                        _ => q.skip(wt)?,
                    }
                }
                s.quantiles.push((quantile, value));
            }
            4 => {
                r.expect(wt, LEN, "Summary.created_timestamp")?;
                s.created_timestamp = Some(decode_timestamp(r.sub()?)?);
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(s)
}

fn decode_histogram<'a>(mut r: Reader<'a>) -> Result<HistogramMessage<'a>, ParseError> {
    let mut h = HistogramMessage::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "Histogram.sample_count")?;
                h.sample_count = r.varint()?;
            }
            2 => h.sample_sum = r.double(wt, "Histogram.sample_sum")?,
            3 => {
                r.expect(wt, LEN, "Histogram.bucket")?;
                h.buckets.push(decode_bucket(r.sub()?)?);
            }
            4 => h.sample_count_float = r.double(wt, "Histogram.sample_count_float")?,
            5 => {
                r.expect(wt, VARINT, "Histogram.schema")?;
                h.schema = unzigzag(r.varint()?) as i32;
            }
            6 => h.zero_threshold = r.double(wt, "Histogram.zero_threshold")?,
            7 => {
                r.expect(wt, VARINT, "Histogram.zero_count")?;
                h.zero_count = r.varint()?;
            }
            8 => h.zero_count_float = r.double(wt, "Histogram.zero_count_float")?,
            9 => {
                r.expect(wt, LEN, "Histogram.negative_span")?;
                h.negative_spans.push(decode_span(r.sub()?)?);
            }
            10 => r.repeated(wt, VARINT, "Histogram.negative_delta", |r| {
                h.negative_deltas.push(unzigzag(r.varint()?));
                Ok(())
            })?,
            11 => r.repeated(wt, FIXED64, "Histogram.negative_count", |r| {
                h.negative_counts.push(f64::from_bits(r.fixed64()?));
                Ok(())
            })?,
            12 => {
                r.expect(wt, LEN, "Histogram.positive_span")?;
                h.positive_spans.push(decode_span(r.sub()?)?);
            }
            13 => r.repeated(wt, VARINT, "Histogram.positive_delta", |r| {
                h.positive_deltas.push(unzigzag(r.varint()?));
                Ok(())
            })?,
            14 => r.repeated(wt, FIXED64, "Histogram.positive_count", |r| {
                h.positive_counts.push(f64::from_bits(r.fixed64()?));
                Ok(())
            })?,
            15 => {
                r.expect(wt, LEN, "Histogram.created_timestamp")?;
                h.created_timestamp = Some(decode_timestamp(r.sub()?)?);
            }
            16 => {
                r.expect(wt, LEN, "Histogram.exemplars")?;
                h.exemplars.push(decode_exemplar(r.sub()?)?);
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(h)
}

fn decode_bucket<'a>(mut r: Reader<'a>) -> Result<BucketMessage<'a>, ParseError> {
    let mut b = BucketMessage::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "Bucket.cumulative_count")?;
                b.cumulative_count = r.varint()?;
            }
            2 => b.upper_bound = r.double(wt, "Bucket.upper_bound")?,
            3 => {
                r.expect(wt, LEN, "Bucket.exemplar")?;
                b.exemplar = Some(decode_exemplar(r.sub()?)?);
            }
            4 => b.cumulative_count_float = r.double(wt, "Bucket.cumulative_count_float")?,
            _ => r.skip(wt)?,
        }
    }
    Ok(b)
}

/// Decodes a `BucketSpan`, the same message in the exposition and remote write protocols.
/// Values outside the span's integer ranges are errors, not silently truncated.
pub fn decode_span(mut r: Reader<'_>) -> Result<Span, ParseError> {
    let mut span = Span {
        offset: 0,
        length: 0,
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "BucketSpan.offset")?;
                let v = unzigzag(r.varint()?);
                span.offset = i32::try_from(v)
                    .map_err(|_| r.error(format!("span offset {v} out of range")))?;
            }
            2 => {
                r.expect(wt, VARINT, "BucketSpan.length")?;
                let v = r.varint()?;
                span.length = u32::try_from(v)
                    .map_err(|_| r.error(format!("span length {v} out of range")))?;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(span)
}

fn decode_exemplar<'a>(mut r: Reader<'a>) -> Result<ExemplarMessage<'a>, ParseError> {
    let mut e = ExemplarMessage::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "Exemplar.label")?;
                e.labels.push(decode_label(r.sub()?)?);
            }
            2 => e.value = r.double(wt, "Exemplar.value")?,
            3 => {
                r.expect(wt, LEN, "Exemplar.timestamp")?;
                e.timestamp = Some(decode_timestamp(r.sub()?)?);
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(e)
}

fn decode_timestamp(mut r: Reader<'_>) -> Result<Timestamp, ParseError> {
    let mut t = Timestamp::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "Timestamp.seconds")?;
                t.seconds = r.varint()? as i64;
            }
            2 => {
                r.expect(wt, VARINT, "Timestamp.nanos")?;
                t.nanos = r.varint()? as i32;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(t)
}
