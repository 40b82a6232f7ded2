//! The bridge from scrape loops to storage: each scrape is one TSDB commit, so a scrape is
//! stored whole or not at all.
//!
//! Scrape loops keep each series' ref in their scrape cache and pass it back as a hint, so
//! the steady state finds every series without hashing or comparing label strings; the
//! appender checks that a hinted ref still names the sample's label set and falls back to a
//! lookup otherwise, so a stale hint is harmless.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pharos_scrape::{ScrapeSink, SinkError, SinkExemplar, SinkSample, SinkValue};
use pharos_tsdb::{AppendError, Db};

/// Appends scraped samples to a [`Db`].
pub struct TsdbSink {
    db: Arc<Db>,
    appended: AtomicU64,
    rejected: AtomicU64,
}

impl TsdbSink {
    /// A sink writing into `db`.
    pub fn new(db: Arc<Db>) -> Self {
        TsdbSink {
            db,
            appended: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
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
        let mut refs = vec![0; samples.len()];
        self.append_scrape_with_refs(samples, exemplars, &mut refs)
    }

    fn append_scrape_with_refs(
        &self,
        samples: &[SinkSample],
        exemplars: &[SinkExemplar],
        refs: &mut [u64],
    ) -> Result<(), SinkError> {
        if refs.len() != samples.len() {
            return Err(SinkError(format!(
                "{} series ref hints for {} samples",
                refs.len(),
                samples.len()
            )));
        }
        let mut app = self.db.appender();
        app.reserve(samples.len());
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
        let mut refs = vec![0, 0];
        sink.append_scrape_with_refs(&[sample(&a, 1000), sample(&b, 1000)], &[], &mut refs)
            .unwrap();
        let (ra, rb) = (refs[0], refs[1]);
        assert!(ra != 0 && rb != 0 && ra != rb);
        // The refs handed back are hints for the next scrape.
        sink.append_scrape_with_refs(&[sample(&a, 2000), sample(&b, 2000)], &[], &mut refs)
            .unwrap();
        assert_eq!(refs, vec![ra, rb]);
        // Equal labels in a new allocation, hinted with the other series' ref.
        let a2 = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        let mut wrong = vec![rb];
        sink.append_scrape_with_refs(&[sample(&a2, 3000)], &[], &mut wrong)
            .unwrap();
        assert_eq!(wrong, vec![ra]);
        // A hint count that does not match the samples is refused, not guessed at.
        assert!(sink
            .append_scrape_with_refs(&[sample(&a, 4000)], &[], &mut [])
            .is_err());
        assert_eq!(sink.appended(), 5);
        let q = db.querier(0, 5000).unwrap();
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
