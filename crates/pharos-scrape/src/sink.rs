//! Where scraped samples go: a small trait the server implements on top of the TSDB, and an
//! in-memory implementation for tests and benchmarks.

use std::sync::{Arc, Mutex};

use pharos_model::{FloatHistogram, Labels};

/// A sample value: a float (possibly the staleness marker) or a native histogram.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkValue {
    /// A float sample.
    Float(f64),
    /// A native histogram sample.
    Histogram(Arc<FloatHistogram>),
}

/// One sample for one series.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkSample {
    /// The complete label set, metric name included. Cloning it is a reference-count bump:
    /// the scrape cache hands out the same label set on every scrape.
    pub labels: Labels,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value.
    pub value: SinkValue,
}

/// An exemplar exposed with one scraped series (OpenMetrics), for sinks that keep them.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkExemplar {
    /// The final labels of the series it belongs to.
    pub series: Labels,
    /// The exemplar's own labels, e.g. `trace_id`.
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// Milliseconds since the epoch; the scrape time when the target gave none.
    pub t: i64,
}

/// Why the sink refused a batch; the scrape is then reported as failed with this text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Receives the samples of each scrape, in one call per scrape, so that a storage engine can
/// commit them atomically: either the whole scrape is stored or none of it.
pub trait ScrapeSink: Send + Sync + 'static {
    /// Stores one scrape's samples (including report series and staleness markers).
    fn append_batch(&self, samples: &[SinkSample]) -> Result<(), SinkError>;

    /// Stores one scrape's samples together with the exemplars exposed with them. Sinks that
    /// keep no exemplars need not implement it: the default stores the samples only.
    fn append_scrape(
        &self,
        samples: &[SinkSample],
        exemplars: &[SinkExemplar],
    ) -> Result<(), SinkError> {
        let _ = exemplars;
        self.append_batch(samples)
    }

    /// Stores one scrape like [`ScrapeSink::append_scrape`], with a series ref hint per
    /// sample: `refs[i]` is the ref `samples[i]` was stored under before (0 when unknown),
    /// and the sink overwrites it with the ref it stores the sample under now. Scrape loops
    /// keep these refs with their cached series so that a storage engine need not look the
    /// series up by its labels on every scrape. A hint is only a hint: a sink must check it
    /// still names the sample's series. Sinks without refs need not implement it.
    fn append_scrape_with_refs(
        &self,
        samples: &[SinkSample],
        exemplars: &[SinkExemplar],
        refs: &mut [u64],
    ) -> Result<(), SinkError> {
        let _ = refs;
        self.append_scrape(samples, exemplars)
    }
}

/// Keeps every sample in memory, in arrival order.
#[derive(Default)]
pub struct MemorySink {
    samples: Mutex<Vec<SinkSample>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything received so far.
    pub fn samples(&self) -> Vec<SinkSample> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Samples of the series whose metric name is `name`, in arrival order.
    pub fn series_named(&self, name: &str) -> Vec<SinkSample> {
        self.samples()
            .into_iter()
            .filter(|s| s.labels.metric_name() == Some(name))
            .collect()
    }
}

impl ScrapeSink for MemorySink {
    fn append_batch(&self, samples: &[SinkSample]) -> Result<(), SinkError> {
        let mut guard = self
            .samples
            .lock()
            .map_err(|_| SinkError("memory sink poisoned".into()))?;
        guard.extend_from_slice(samples);
        Ok(())
    }
}
