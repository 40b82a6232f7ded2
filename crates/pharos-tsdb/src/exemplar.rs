//! Exemplars and per-series metadata carried alongside samples.

use pharos_model::{Labels, MetricType};

/// A traced example observation attached to a series.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// Exemplar labels, e.g. `trace_id`.
    pub labels: Labels,
    /// Observed value.
    pub value: f64,
    /// Milliseconds since the epoch.
    pub t: i64,
}

/// HELP, TYPE and UNIT of a series, as last reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// Metric type.
    pub metric_type: MetricType,
    /// Unit (may be empty).
    pub unit: String,
    /// Help text (may be empty).
    pub help: String,
}

/// Numeric code of a metric type in the WAL.
pub fn metric_type_code(t: MetricType) -> u8 {
    match t {
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
        MetricType::Untyped => 0,
    }
}

/// Metric type from its WAL code; unknown codes read as untyped.
pub fn metric_type_from_code(c: u8) -> MetricType {
    match c {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Untyped,
    }
}
