//! Batched appends: samples are checked as they are added, then logged to the WAL and applied
//! to the head in one step on commit.

use pharos_model::{FloatHistogram, Labels};

use crate::chunk::Value;
use crate::db::Db;
use crate::exemplar::{Exemplar, Metadata};
use crate::head::{SampleRejection, SeriesRef, Verdict};
use crate::series_ref_map::{RefMap, RefSet};
use crate::wal_record::WalRecord;

/// Label equality that first checks whether both share one allocation, which is the norm
/// for scrape loops passing back the labels they appended before; comparing the strings
/// every time was the single largest cost of an append.
fn same_labels(a: &Labels, b: &Labels) -> bool {
    std::ptr::eq(a.as_slice(), b.as_slice()) || a == b
}

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
    labels: RefMap<Labels>,
    /// Newest pending timestamp per series: a sample newer than it (and than the head) needs
    /// no look at the batch, which keeps the common in-order path free of per-series lists.
    pending_max: RefMap<i64>,
    pending_head_max: i64,
    /// The head's series-removal count when the batch started; unchanged at commit means
    /// every ref resolved here is still valid.
    removals: Option<u64>,
    exemplars: Vec<(SeriesRef, Exemplar)>,
    metadata: Vec<(SeriesRef, Metadata)>,
}

impl<'a> Appender<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Appender {
            db,
            samples: Vec::new(),
            labels: RefMap::default(),
            pending_max: RefMap::default(),
            pending_head_max: i64::MIN,
            removals: None,
            exemplars: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Makes room for `samples` more samples of as many series, so that a large batch (a
    /// whole scrape) does not regrow its per-series tables again and again while it fills.
    pub fn reserve(&mut self, samples: usize) {
        self.samples.reserve(samples);
        self.labels.reserve(samples);
        self.pending_max.reserve(samples);
    }

    /// Finds the series for `labels`, trusting `sref` when it still names the same series.
    fn resolve(&mut self, sref: SeriesRef, labels: &Labels) -> Result<SeriesRef, AppendError> {
        if sref != 0
            && self
                .labels
                .get(&sref)
                .is_some_and(|l| same_labels(l, labels))
        {
            return Ok(sref);
        }
        if labels.is_empty() {
            return Err(AppendError::InvalidLabels("empty label set".into()));
        }
        {
            let st = self.db.state.read().unwrap_or_else(|e| e.into_inner());
            self.removals.get_or_insert(st.head.removals());
            let found = if sref != 0
                && st
                    .head
                    .labels_of(sref)
                    .is_some_and(|l| same_labels(l, labels))
            {
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
        self.removals.get_or_insert(st.head.removals());
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
        let newest_pending = self.pending_max.get(&r).copied();
        let verdict = {
            let st = self.db.state.read().unwrap_or_else(|e| e.into_inner());
            if !matches!(newest_pending, Some(m) if t <= m) {
                st.head.check(r, t, &v, &[], self.pending_head_max)?
            } else {
                // Rare: the batch already holds a sample of this series at or after `t`.
                let pending: Vec<(i64, Value)> = self
                    .samples
                    .iter()
                    .filter(|s| s.0 == r)
                    .map(|s| (s.1, s.2.clone()))
                    .collect();
                st.head.check(r, t, &v, &pending, self.pending_head_max)?
            }
        };
        if verdict != Verdict::AlreadyStored {
            let m = self.pending_max.entry(r).or_insert(t);
            *m = (*m).max(t);
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
        let mut remap: RefMap<SeriesRef> = RefMap::default();
        if self.removals != Some(st.head.removals()) {
            for (r, l) in &self.labels {
                if !st.head.labels_of(*r).is_some_and(|h| same_labels(h, l)) {
                    let (nr, _) = st.head.get_or_create(l);
                    remap.insert(*r, nr);
                }
            }
        }
        let map = |r: SeriesRef| remap.get(&r).copied().unwrap_or(r);
        let mut seen = RefSet::default();
        let mut new_series = Vec::new();
        let touched = self
            .samples
            .iter()
            .map(|s| s.0)
            .chain(self.exemplars.iter().map(|e| e.0))
            .chain(self.metadata.iter().map(|m| m.0));
        for r in touched.map(map) {
            if !st.head.is_logged(r) && seen.insert(r) {
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
        st.wal()
            .and_then(|w| w.log(&records))
            .map_err(AppendError::Wal)?;
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
