//! The bridge from scrape loops to storage: each scrape is one TSDB commit, so a scrape is
//! stored whole or not at all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pharos_model::Labels;
use pharos_scrape::{ScrapeSink, SinkError, SinkExemplar, SinkSample, SinkValue};
use pharos_tsdb::series_ref_map::RefMap;
use pharos_tsdb::{AppendError, Db, SeriesRef};

/// Series refs of the label sets appended before, keyed by the address of the label set's
/// shared allocation.
///
/// Scrape loops hand the same `Labels` allocation back on every scrape, so its address
/// identifies the series without hashing or comparing any label string; finding the series
/// by its labels was the largest cost of ingestion. A hint is only a hint: the appender
/// checks that the ref still names this very label set and falls back to a lookup otherwise,
/// so a stale entry (series truncated from the head, address reused) is harmless.
struct RefHints {
    /// Address to (ref, minute of last use).
    refs: RefMap<(SeriesRef, u32)>,
    started: Instant,
    last_sweep: u32,
}

/// Entries unused for this many minutes are forgotten, so series that went away do not keep
/// memory forever.
const HINT_IDLE_MINUTES: u32 = 10;

impl RefHints {
    fn new() -> Self {
        RefHints {
            refs: RefMap::default(),
            started: Instant::now(),
            last_sweep: 0,
        }
    }

    fn minute(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs() / 60).unwrap_or(u32::MAX)
    }

    fn key(labels: &Labels) -> u64 {
        labels.as_slice().as_ptr() as usize as u64
    }

    /// The hinted ref of every sample (0 where none is known).
    fn lookup(&self, samples: &[SinkSample], out: &mut Vec<SeriesRef>) {
        out.clear();
        out.extend(
            samples
                .iter()
                .map(|s| self.refs.get(&Self::key(&s.labels)).map_or(0, |e| e.0)),
        );
    }

    /// Records the refs the appender resolved, and now and then forgets idle entries.
    fn store(&mut self, samples: &[SinkSample], refs: &[SeriesRef]) {
        let now = self.minute();
        for (s, r) in samples.iter().zip(refs) {
            if *r != 0 {
                self.refs.insert(Self::key(&s.labels), (*r, now));
            }
        }
        if now > self.last_sweep {
            self.last_sweep = now;
            let oldest = now.saturating_sub(HINT_IDLE_MINUTES);
            self.refs.retain(|_, e| e.1 >= oldest);
        }
    }
}

/// Appends scraped samples to a [`Db`].
pub struct TsdbSink {
    db: Arc<Db>,
    appended: AtomicU64,
    rejected: AtomicU64,
    hints: Mutex<RefHints>,
}

impl TsdbSink {
    /// A sink writing into `db`.
    pub fn new(db: Arc<Db>) -> Self {
        TsdbSink {
            db,
            appended: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            hints: Mutex::new(RefHints::new()),
        }
    }

    /// Samples committed so far.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// Samples refused one by one (out of order, duplicates) so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

impl ScrapeSink for TsdbSink {
    fn append_batch(&self, samples: &[SinkSample]) -> Result<(), SinkError> {
        self.append_scrape(samples, &[])
    }

    fn append_scrape(
        &self,
        samples: &[SinkSample],
        exemplars: &[SinkExemplar],
    ) -> Result<(), SinkError> {
        let mut refs = Vec::with_capacity(samples.len());
        if let Ok(h) = self.hints.lock() {
            h.lookup(samples, &mut refs);
        }
        refs.resize(samples.len(), 0);
        let mut app = self.db.appender();
        let mut rejected = 0u64;
        for (s, hint) in samples.iter().zip(refs.iter_mut()) {
            let r = match &s.value {
                SinkValue::Float(v) => app.append(*hint, &s.labels, s.t, *v),
                SinkValue::Histogram(h) => {
                    app.append_histogram(*hint, &s.labels, s.t, (**h).clone())
                }
            };
            match r {
                Ok(r) => *hint = r,
                // A single out-of-order or duplicate sample is dropped, as Prometheus does;
                // the rest of the scrape is still stored.
                Err(AppendError::Rejected(_)) => rejected += 1,
                Err(e) => return Err(SinkError(e.to_string())),
            }
        }
        for e in exemplars {
            let exemplar = pharos_tsdb::exemplar::Exemplar {
                labels: e.labels.clone(),
                value: e.value,
                t: e.t,
            };
            // Like Prometheus, an exemplar that cannot be stored never fails the scrape.
            if let Err(err) = app.append_exemplar(0, &e.series, exemplar) {
                tracing::debug!(error = %err, "exemplar dropped");
            }
        }
        let stats = app.commit().map_err(|e| SinkError(e.to_string()))?;
        if let Ok(mut h) = self.hints.lock() {
            h.store(samples, &refs);
        }
        self.appended.fetch_add(stats.samples, Ordering::Relaxed);
        self.rejected
            .fetch_add(rejected + stats.dropped, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::Labels;
    use pharos_tsdb::{Options, Queryable};

    #[test]
    fn a_scrape_lands_in_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Db::open(dir.path(), Options::default()).unwrap();
        let db = Arc::new(db);
        let sink = TsdbSink::new(db.clone());
        let l = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let batch = vec![SinkSample {
            labels: l.clone(),
            t: 1000,
            value: SinkValue::Float(1.0),
        }];
        sink.append_batch(&batch).unwrap();
        // The same timestamp again with another value is rejected but does not fail the batch.
        let again = vec![SinkSample {
            labels: l,
            t: 1000,
            value: SinkValue::Float(2.0),
        }];
        sink.append_batch(&again).unwrap();
        assert_eq!(sink.appended(), 1);
        let q = db.querier(0, 2000).unwrap();
        assert_eq!(q.label_values("job", &[]).unwrap(), vec!["x".to_string()]);
    }

    #[test]
    fn ref_hints_never_misdirect_samples() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Db::open(dir.path(), Options::default()).unwrap();
        let db = Arc::new(db);
        let sink = TsdbSink::new(db.clone());
        let a = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        let b = Labels::from_pairs([("__name__", "b"), ("job", "x")]);
        let sample = |labels: &Labels, t: i64| SinkSample {
            labels: labels.clone(),
            t,
            value: SinkValue::Float(t as f64),
        };
        sink.append_batch(&[sample(&a, 1000), sample(&b, 1000)])
            .unwrap();
        // The same allocations again: served by the hints.
        sink.append_batch(&[sample(&a, 2000), sample(&b, 2000)])
            .unwrap();
        // Equal labels in a new allocation, and a hint pointing at the wrong series.
        let a2 = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        if let Ok(mut h) = sink.hints.lock() {
            let wrong = h.refs.get(&RefHints::key(&b)).map(|e| e.0).unwrap_or(0);
            h.refs.insert(RefHints::key(&a2), (wrong, 0));
        }
        sink.append_batch(&[sample(&a2, 3000)]).unwrap();
        assert_eq!(sink.appended(), 5);
        let q = db.querier(0, 4000).unwrap();
        let count = |name: &str| {
            let m = pharos_model::Matcher::equal("__name__", name);
            let mut n = 0;
            for series in q.select(None, &[m]).unwrap() {
                let mut it = series.iter();
                while it.next() != pharos_tsdb::ValueKind::None {
                    n += 1;
                }
            }
            n
        };
        assert_eq!((count("a"), count("b")), (3, 2));
    }
}
