//! The decoded form shared by remote write 1.0 and 2.0: series with their labels resolved.

use pharos_model::{FloatHistogram, Labels};
use pharos_tsdb::exemplar::{Exemplar, Metadata};

/// One series of a request and everything sent for it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesWrite {
    /// The series' labels; invalid sets are kept so that ingest can count and report them.
    pub labels: Result<Labels, String>,
    /// Float samples as (milliseconds, value).
    pub samples: Vec<(i64, f64)>,
    /// Native histogram samples as (milliseconds, histogram).
    pub histograms: Vec<(i64, FloatHistogram)>,
    /// Exemplars attached to the series.
    pub exemplars: Vec<Exemplar>,
    /// Metadata sent with the series (2.0) or matched by metric name (1.0).
    pub metadata: Option<Metadata>,
    /// Created timestamp in milliseconds (2.0 only; 0 when absent).
    pub created_timestamp: i64,
}

/// A decoded write request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// The series, in request order.
    pub series: Vec<SeriesWrite>,
}

/// Builds a label set from wire pairs, refusing what Prometheus refuses: a missing metric
/// name, empty or repeated label names.
pub fn labels_from_pairs(pairs: Vec<(String, String)>) -> Result<Labels, String> {
    let mut names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("duplicate label name {:?}", w[0]));
    }
    if names.iter().any(|n| n.is_empty()) {
        return Err("empty label name".into());
    }
    let labels = Labels::from_pairs(pairs);
    if !matches!(labels.metric_name(), Some(n) if !n.is_empty()) {
        return Err(format!("series without a metric name: {labels:?}"));
    }
    Ok(labels)
}
