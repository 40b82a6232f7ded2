//! The read interface of storage, shared by the on-disk database and the in-memory store.

use pharos_model::{FloatHistogram, Labels, Matcher};

/// A storage read failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Underlying I/O failure.
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// On-disk data did not decode.
    #[error("corrupt data in {what}: {reason}")]
    Corrupt {
        /// Which file or structure.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// The caller asked for something invalid (bad matcher set, bad time range).
    #[error("{0}")]
    Invalid(String),
}

/// What kind of value an iterator is positioned at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Exhausted (or not yet positioned).
    None,
    /// A float sample; read it with [`SeriesIterator::at`].
    Float,
    /// A native histogram; read it with [`SeriesIterator::at_histogram`].
    Histogram,
}

/// Iterates one series' samples in timestamp order.
pub trait SeriesIterator {
    /// Advances to the next sample.
    fn next(&mut self) -> ValueKind;
    /// Advances to the first sample with timestamp `>= t`; never moves backwards: if already
    /// positioned at or past `t`, stays put and returns the current kind.
    fn seek(&mut self, t: i64) -> ValueKind;
    /// The current float sample.
    fn at(&self) -> (i64, f64);
    /// The current histogram sample.
    fn at_histogram(&self) -> (i64, FloatHistogram);
    /// The timestamp of the current sample, whatever its kind.
    fn at_t(&self) -> i64;
    /// Why iteration stopped early, if it did: storage decodes lazily, so a corrupt chunk
    /// met mid-iteration ends the series and is reported here.
    fn error(&self) -> Option<&StorageError> {
        None
    }
}

/// One selected series: its labels and a way to iterate its samples.
pub trait Series {
    /// The series' labels, including `__name__`.
    fn labels(&self) -> &Labels;
    /// A fresh iterator over the series' samples within the querier's time range.
    fn iter(&self) -> Box<dyn SeriesIterator + '_>;
}

/// Hints from the query engine; storage may use them to skip work, never to change results.
#[derive(Clone, Debug, Default)]
pub struct SelectHints {
    /// Earliest timestamp the caller will read (ms).
    pub start: i64,
    /// Latest timestamp the caller will read (ms).
    pub end: i64,
    /// The enclosing function, e.g. `rate`, if any.
    pub func: Option<String>,
}

/// A read view of storage over a fixed time range `[mint, maxt]` (ms, inclusive).
pub trait Querier {
    /// Series matching all `matchers`, sorted by labels. At least one matcher must not
    /// match the empty string, as in Prometheus.
    fn select(
        &self,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<Box<dyn Series + '_>>, StorageError>;
    /// Sorted distinct values of label `name` over series matching `matchers` (all if empty).
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
    /// Sorted distinct label names over series matching `matchers` (all if empty).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
}

/// Anything that can open a [`Querier`] over a time range.
pub trait Queryable: Send + Sync {
    /// Opens a querier over `[mint, maxt]` (ms, inclusive).
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError>;
}
