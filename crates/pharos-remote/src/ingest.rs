//! Storing a decoded request: appends through one [`Appender`], counting what was written and
//! what the TSDB refused, the way Prometheus's receiver reports it.

use pharos_tsdb::{AppendError, Appender, Db};

use crate::write_batch::WriteBatch;

/// What happened to a batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestReport {
    /// Float samples stored.
    pub samples_written: u64,
    /// Histogram samples stored.
    pub histograms_written: u64,
    /// Exemplars stored.
    pub exemplars_written: u64,
    /// Samples refused as out of order, out of bounds or duplicate.
    pub samples_rejected: u64,
    /// Exemplars refused (e.g. for a series whose labels were refused).
    pub exemplars_rejected: u64,
    /// Series skipped because their labels are invalid.
    pub invalid_series: u64,
    /// One message per refusal kind, first occurrence (with its series), for the response body.
    pub errors: Vec<String>,
    /// A storage failure (the WAL): nothing of the batch was stored.
    pub storage_error: Option<String>,
}

impl IngestReport {
    fn note(&mut self, message: String) {
        // A batch of thousands of rejected samples must not produce a huge response.
        if self.errors.len() < 10 {
            self.errors.push(message);
        }
    }

    /// True when anything was refused.
    pub fn has_rejections(&self) -> bool {
        self.samples_rejected > 0 || self.invalid_series > 0
    }
}

/// How a batch treats refused samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectPolicy {
    /// Remote write 1.0: any refused sample discards the whole batch (Prometheus rolls back).
    AllOrNothing,
    /// Remote write 2.0: accepted samples are committed, refused ones reported.
    Partial,
}

/// Appends `batch` to `db` and commits according to `policy`.
pub fn ingest(db: &Db, batch: &WriteBatch, policy: RejectPolicy) -> IngestReport {
    let mut report = IngestReport::default();
    let mut app = db.appender();
    let mut pending = PendingCounts::default();
    for s in &batch.series {
        let labels = match &s.labels {
            Ok(l) => l,
            Err(e) => {
                report.invalid_series += 1;
                report.note(format!("invalid labels: {e}"));
                continue;
            }
        };
        let mut sref = 0;
        for (t, v) in &s.samples {
            match app.append(sref, labels, *t, *v) {
                Ok(r) => {
                    sref = r;
                    pending.samples += 1;
                }
                Err(e) => refuse(&mut report, &e, labels, *t),
            }
        }
        for (t, h) in &s.histograms {
            match app.append_histogram(sref, labels, *t, h.clone()) {
                Ok(r) => {
                    sref = r;
                    pending.histograms += 1;
                }
                Err(e) => refuse(&mut report, &e, labels, *t),
            }
        }
        for e in &s.exemplars {
            match app.append_exemplar(sref, labels, e.clone()) {
                Ok(r) => {
                    sref = r;
                    pending.exemplars += 1;
                }
                Err(_) => report.exemplars_rejected += 1,
            }
        }
        if let Some(m) = &s.metadata {
            // Metadata failures never fail a write in Prometheus either.
            let _ = app.update_metadata(sref, labels, m.clone());
        }
    }
    if policy == RejectPolicy::AllOrNothing && report.has_rejections() {
        app.rollback();
        return report;
    }
    commit(app, pending, &mut report);
    report
}

#[derive(Default)]
struct PendingCounts {
    samples: u64,
    histograms: u64,
    exemplars: u64,
}

fn commit(app: Appender<'_>, pending: PendingCounts, report: &mut IngestReport) {
    match app.commit() {
        Ok(stats) => {
            // Samples a concurrent writer invalidated between append and commit are dropped;
            // attribute them to floats first, which are the vast majority.
            let dropped = stats.dropped;
            let float_drop = dropped.min(pending.samples);
            report.samples_written = pending.samples - float_drop;
            report.histograms_written =
                pending.histograms - (dropped - float_drop).min(pending.histograms);
            report.samples_rejected += dropped;
            report.exemplars_written = pending.exemplars;
        }
        Err(e) => report.storage_error = Some(e.to_string()),
    }
}

fn refuse(report: &mut IngestReport, e: &AppendError, labels: &pharos_model::Labels, t: i64) {
    match e {
        AppendError::InvalidLabels(m) => {
            report.invalid_series += 1;
            report.note(format!("invalid labels: {m}"));
        }
        other => {
            let first_of_kind = report.samples_rejected == 0;
            report.samples_rejected += 1;
            if first_of_kind {
                report.note(format!("{other}: series {labels:?}, timestamp {t}"));
            }
        }
    }
}
