//! Batched appends: samples are checked as they are added, then logged to the WAL and applied
//! to the head in one step on commit.

use std::collections::{HashMap, HashSet};

use pharos_model::{FloatHistogram, Labels};

use crate::chunk::Value;
use crate::db::Db;
use crate::exemplar::{Exemplar, Metadata};
use crate::head::{SampleRejection, SeriesRef, Verdict};
use crate::wal_record::WalRecord;

/// An append or commit failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The sample was refused; the rest of the batch is unaffected.
    #[error(transparent)]
    Rejected(#[from] SampleRejection),
    /// The label set cannot identify a series.
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// The WAL write failed (e.g. disk full); nothing of the batch was stored.
    #[error("write-ahead log: {0}")]
    Wal(#[source] std::io::Error),
}

/// What a commit stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Samples stored (including ones identical to stored samples).
    pub samples: u64,
    /// Samples dropped because a concurrent commit made them invalid in the meantime.
    pub dropped: u64,
}

/// A batch of appends against a [`Db`]. Dropping it without [`Appender::commit`] discards it.
#[derive(Debug)]
pub struct Appender<'a> {
    db: &'a Db,
    samples: Vec<(SeriesRef, i64, Value)>,
    labels: HashMap<SeriesRef, Labels>,
    pending: HashMap<SeriesRef, Vec<(i64, Value)>>,
    pending_head_max: i64,
    exemplars: Vec<(SeriesRef, Exemplar)>,
    metadata: Vec<(SeriesRef, Metadata)>,
}

impl<'a> Appender<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Appender {
            db,
            samples: Vec::new(),
            labels: HashMap::new(),
            pending: HashMap::new(),
            pending_head_max: i64::MIN,
            exemplars: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Finds the series for `labels`, trusting `sref` when it still names the same series.
    fn resolve(&mut self, sref: SeriesRef, labels: &Labels) -> Result<SeriesRef, AppendError> {
        if sref != 0 && self.labels.get(&sref).is_some_and(|l| l == labels) {
            return Ok(sref);
        }
        if labels.is_empty() {
            return Err(AppendError::InvalidLabels("empty label set".into()));
        }
        {
            let st = self.db.state.read().unwrap_or_else(|e| e.into_inner());
            let found = if sref != 0 && st.head.labels_of(sref).is_some_and(|l| l == labels) {
                Some(sref)
            } else {
                st.head.lookup(labels)
            };
            if let Some(r) = found {
                self.labels.insert(r, labels.clone());
                return Ok(r);
            }
        }
        let mut st = self.db.state.write().unwrap_or_else(|e| e.into_inner());
        let (r, _) = st.head.get_or_create(labels);
        self.labels.insert(r, labels.clone());
        Ok(r)
    }

    fn add(
        &mut self,
        sref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: Value,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.resolve(sref, labels)?;
        let verdict = {
            let st = self.db.state.read().unwrap_or_else(|e| e.into_inner());
            let pending = self.pending.get(&r).map(Vec::as_slice).unwrap_or(&[]);
            st.head.check(r, t, &v, pending, self.pending_head_max)?
        };
        if verdict != Verdict::AlreadyStored {
            self.pending.entry(r).or_default().push((t, v.clone()));
            self.pending_head_max = self.pending_head_max.max(t);
            self.samples.push((r, t, v));
        }
        Ok(r)
    }

    /// Adds a float sample (the stale marker included). Returns the series ref to pass next time.
    pub fn append(
        &mut self,
        sref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        self.add(sref, labels, t, Value::Float(v))
    }

    /// Adds a native histogram sample.
    pub fn append_histogram(
        &mut self,
        sref: SeriesRef,
        labels: &Labels,
        t: i64,
        h: FloatHistogram,
    ) -> Result<SeriesRef, AppendError> {
        self.add(sref, labels, t, Value::Histogram(Box::new(h)))
    }

    /// Attaches an exemplar to a series.
    pub fn append_exemplar(
        &mut self,
        sref: SeriesRef,
        labels: &Labels,
        e: Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.resolve(sref, labels)?;
        self.exemplars.push((r, e));
        Ok(r)
    }

    /// Records a series' metadata.
    pub fn update_metadata(
        &mut self,
        sref: SeriesRef,
        labels: &Labels,
        m: Metadata,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.resolve(sref, labels)?;
        self.metadata.push((r, m));
        Ok(r)
    }

    /// Logs the batch to the WAL and applies it to the head. On a WAL error nothing is stored.
    pub fn commit(mut self) -> Result<CommitStats, AppendError> {
        let mut stats = CommitStats::default();
        if self.samples.is_empty() && self.exemplars.is_empty() && self.metadata.is_empty() {
            return Ok(stats);
        }
        let mut st = self.db.state.write().unwrap_or_else(|e| e.into_inner());
        // A series dropped by head truncation since append() is recreated under a new ref.
        let mut remap: HashMap<SeriesRef, SeriesRef> = HashMap::new();
        for (r, l) in &self.labels {
            if st.head.labels_of(*r) != Some(l) {
                let (nr, _) = st.head.get_or_create(l);
                remap.insert(*r, nr);
            }
        }
        let map = |r: SeriesRef| remap.get(&r).copied().unwrap_or(r);
        let mut seen = HashSet::new();
        let mut new_series = Vec::new();
        let touched = self
            .samples
            .iter()
            .map(|s| s.0)
            .chain(self.exemplars.iter().map(|e| e.0))
            .chain(self.metadata.iter().map(|m| m.0));
        for r in touched.map(map) {
            if seen.insert(r) && !st.head.is_logged(r) {
                if let Some(l) = st.head.labels_of(r) {
                    new_series.push((r, l.clone()));
                }
            }
        }
        let mut floats = Vec::new();
        let mut hists = Vec::new();
        for (r, t, v) in &self.samples {
            match v {
                Value::Float(f) => floats.push((map(*r), *t, *f)),
                Value::Histogram(h) => hists.push((map(*r), *t, (**h).clone())),
            }
        }
        let mut records = Vec::with_capacity(5);
        if !new_series.is_empty() {
            records.push(WalRecord::Series(new_series.clone()));
        }
        if !floats.is_empty() {
            records.push(WalRecord::Samples(floats));
        }
        if !hists.is_empty() {
            records.push(WalRecord::Histograms(hists));
        }
        let exemplars: Vec<(SeriesRef, Exemplar)> =
            self.exemplars.drain(..).map(|(r, e)| (map(r), e)).collect();
        if !exemplars.is_empty() {
            records.push(WalRecord::Exemplars(exemplars.clone()));
        }
        let metadata: Vec<(SeriesRef, Metadata)> =
            self.metadata.drain(..).map(|(r, m)| (map(r), m)).collect();
        if !metadata.is_empty() {
            records.push(WalRecord::Metadata(metadata.clone()));
        }
        st.wal.log(&records).map_err(AppendError::Wal)?;
        for (r, _) in &new_series {
            st.head.mark_logged(*r);
        }
        for (r, t, v) in self.samples.drain(..) {
            match st.head.append(map(r), t, v) {
                Ok(_) => stats.samples += 1,
                Err(_) => stats.dropped += 1,
            }
        }
        for (r, e) in exemplars {
            st.head.add_exemplar(r, e);
        }
        for (r, m) in metadata {
            st.head.set_metadata(r, m);
        }
        Ok(stats)
    }

    /// Discards the batch.
    pub fn rollback(self) {}
}
