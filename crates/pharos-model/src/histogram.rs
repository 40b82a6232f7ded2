//! Native histograms as data. Arithmetic on them lives with the query engine.

/// A run of consecutive buckets: `offset` buckets skipped since the previous span, then
/// `length` buckets present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Gap (in bucket indices) before this span; for the first span, the starting index.
    pub offset: i32,
    /// Number of consecutive buckets in this span.
    pub length: u32,
}

/// A native histogram with float counts, in the sparse (spans + buckets) layout Prometheus uses.
///
/// Schemas -4..=8 are exponential; schema -53 means custom bucket bounds in `custom_values`.
/// Bucket counts here are absolute, not deltas.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FloatHistogram {
    /// Counter reset hint: 0 unknown, 1 reset, 2 not a reset, 3 gauge histogram.
    pub counter_reset_hint: u8,
    /// Resolution schema.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of positive buckets.
    pub positive_spans: Vec<Span>,
    /// Counts of positive buckets, one per bucket covered by `positive_spans`.
    pub positive_buckets: Vec<f64>,
    /// Spans of negative buckets.
    pub negative_spans: Vec<Span>,
    /// Counts of negative buckets.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of custom buckets (schema -53 only).
    pub custom_values: Vec<f64>,
}

/// The schema number for histograms with custom bucket bounds.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
