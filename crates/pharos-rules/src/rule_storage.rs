//! Where rule results are written: the TSDB in a server, a [`MemStorage`] in tests and in
//! `pharos test rules`.

use pharos_model::{FloatHistogram, Labels};
use pharos_tsdb::memstore::MemValue;
use pharos_tsdb::{AppendError, Db, MemStorage, SampleRejection};

/// The value of one sample a rule produced.
#[derive(Clone, Debug)]
pub enum RuleValue {
    /// A float (the stale marker included).
    Float(f64),
    /// A native histogram.
    Histogram(Box<FloatHistogram>),
}

/// One sample a rule produced.
#[derive(Clone, Debug)]
pub struct RuleSample {
    /// The output series.
    pub labels: Labels,
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub value: RuleValue,
}

/// Why one sample was not stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SampleWriteError {
    /// Older than the newest sample of its series.
    #[error("out of order sample")]
    OutOfOrder,
    /// Same timestamp as a stored sample with a different value.
    #[error("duplicate sample for timestamp")]
    Duplicate,
    /// Anything else (too old, bad labels, storage failure).
    #[error("{0}")]
    Other(String),
}

/// The outcome of writing one rule's samples.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    /// Samples refused, by index into the batch.
    pub rejected: Vec<(usize, SampleWriteError)>,
    /// The batch as a whole failed to commit (nothing was stored).
    pub commit_error: Option<String>,
}

/// Storage that accepts rule results in batches, one batch per rule evaluation (Prometheus's
/// appender with its commit).
pub trait RuleAppendable: Send + Sync {
    /// Writes `samples`, reporting refused samples one by one and commit failures as a whole.
    fn write(&self, samples: &[RuleSample]) -> WriteOutcome;
}

impl RuleAppendable for Db {
    fn write(&self, samples: &[RuleSample]) -> WriteOutcome {
        let mut out = WriteOutcome::default();
        if samples.is_empty() {
            return out;
        }
        let mut app = self.appender();
        for (i, s) in samples.iter().enumerate() {
            let r = match &s.value {
                RuleValue::Float(v) => app.append(0, &s.labels, s.t, *v),
                RuleValue::Histogram(h) => app.append_histogram(0, &s.labels, s.t, (**h).clone()),
            };
            if let Err(e) = r {
                out.rejected.push((
                    i,
                    match e {
                        AppendError::Rejected(SampleRejection::OutOfOrder) => {
                            SampleWriteError::OutOfOrder
                        }
                        AppendError::Rejected(SampleRejection::Duplicate) => {
                            SampleWriteError::Duplicate
                        }
                        other => SampleWriteError::Other(other.to_string()),
                    },
                ));
            }
        }
        if let Err(e) = app.commit() {
            out.commit_error = Some(e.to_string());
        }
        out
    }
}

impl RuleAppendable for MemStorage {
    fn write(&self, samples: &[RuleSample]) -> WriteOutcome {
        for s in samples {
            let v = match &s.value {
                RuleValue::Float(v) => MemValue::Float(*v),
                RuleValue::Histogram(h) => MemValue::Histogram((**h).clone()),
            };
            self.append_value(&s.labels, s.t, v);
        }
        WriteOutcome::default()
    }
}

impl<T: RuleAppendable + ?Sized> RuleAppendable for std::sync::Arc<T> {
    fn write(&self, samples: &[RuleSample]) -> WriteOutcome {
        (**self).write(samples)
    }
}
