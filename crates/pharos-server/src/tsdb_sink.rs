//! The bridge from scrape loops to storage: each scrape is one TSDB commit, so a scrape is
//! stored whole or not at all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pharos_scrape::{ScrapeSink, SinkError, SinkSample, SinkValue};
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
        let mut app = self.db.appender();
        let mut rejected = 0u64;
        for s in samples {
            let r = match &s.value {
                SinkValue::Float(v) => app.append(0, &s.labels, s.t, *v),
                SinkValue::Histogram(h) => app.append_histogram(0, &s.labels, s.t, (**h).clone()),
            };
            match r {
                Ok(_) => {}
                // A single out-of-order or duplicate sample is dropped, as Prometheus does;
                // the rest of the scrape is still stored.
                Err(AppendError::Rejected(_)) => rejected += 1,
                Err(e) => return Err(SinkError(e.to_string())),
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
}
