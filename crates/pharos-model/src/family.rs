//! Metric families: the structured form of an exposition (`# HELP`, `# TYPE`, samples),
//! used by every component that exposes metrics (node exporter, pushgateway, self-metrics).

use crate::histogram::FloatHistogram;

/// The type of a metric family, as in `# TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// Monotonic counter.
    Counter,
    /// Arbitrary value.
    Gauge,
    /// Classic or native histogram.
    Histogram,
    /// OpenMetrics gauge histogram.
    GaugeHistogram,
    /// Summary with quantiles.
    Summary,
    /// OpenMetrics info metric.
    Info,
    /// OpenMetrics state set.
    StateSet,
    /// No type declared.
    Untyped,
}

impl MetricType {
    /// The name used in the Prometheus text format (`unknown` types render as `untyped`).
    pub fn as_text(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Untyped => "untyped",
        }
    }
}

/// The value of one metric within a family.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    /// A counter, gauge or untyped value.
    Simple(f64),
    /// A summary: count, sum, and (quantile, value) pairs.
    Summary {
        /// Observation count.
        count: f64,
        /// Observation sum.
        sum: f64,
        /// (quantile, value) pairs.
        quantiles: Vec<(f64, f64)>,
    },
    /// A classic histogram: count, sum, and cumulative (upper bound, count) buckets.
    Histogram {
        /// Observation count.
        count: f64,
        /// Observation sum.
        sum: f64,
        /// (le, cumulative count) pairs in increasing `le`; `+Inf` may be omitted.
        buckets: Vec<(f64, f64)>,
    },
}

/// One metric (one label set) of a family.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Label pairs without the metric name, in the order they should be written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: MetricValue,
    /// Explicit timestamp in milliseconds, rarely set by exporters.
    pub timestamp_ms: Option<i64>,
    /// When the counter, summary or histogram was created (reset), in milliseconds since the
    /// epoch; written as OpenMetrics `_created`, ignored by the text format 0.0.4.
    pub created_ms: Option<i64>,
    /// The native (sparse) part of a histogram, when the exposition carried one (protobuf
    /// only); a histogram may have both classic buckets in `value` and a native part here.
    /// On the wire both parts share one count and sum: the writers take them from `value`.
    pub native_histogram: Option<Box<FloatHistogram>>,
}

impl Metric {
    /// A metric with the given labels and value and no timestamps.
    pub fn new(labels: Vec<(String, String)>, value: MetricValue) -> Self {
        Metric {
            labels,
            value,
            timestamp_ms: None,
            created_ms: None,
            native_histogram: None,
        }
    }
}

/// A named group of metrics sharing HELP and TYPE.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricFamily {
    /// Family name (for counters in OpenMetrics, without `_total`).
    pub name: String,
    /// HELP text.
    pub help: String,
    /// TYPE.
    pub metric_type: MetricType,
    /// OpenMetrics UNIT, if any.
    pub unit: Option<String>,
    /// The metrics.
    pub metrics: Vec<Metric>,
}

impl MetricFamily {
    /// An empty family.
    pub fn new(name: impl Into<String>, help: impl Into<String>, metric_type: MetricType) -> Self {
        MetricFamily {
            name: name.into(),
            help: help.into(),
            metric_type,
            unit: None,
            metrics: Vec::new(),
        }
    }

    /// Adds a simple (counter, gauge, untyped) metric with the given labels.
    pub fn push<N: Into<String>, V: Into<String>>(
        &mut self,
        labels: impl IntoIterator<Item = (N, V)>,
        value: f64,
    ) -> &mut Self {
        self.metrics.push(Metric {
            labels: labels
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
            value: MetricValue::Simple(value),
            timestamp_ms: None,
            created_ms: None,
            native_histogram: None,
        });
        self
    }

    /// Convenience: a family with one unlabeled simple metric.
    pub fn single(
        name: impl Into<String>,
        help: impl Into<String>,
        metric_type: MetricType,
        value: f64,
    ) -> Self {
        let mut f = Self::new(name, help, metric_type);
        f.push::<String, String>([], value);
        f
    }
}
