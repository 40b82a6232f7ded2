//! Reading a [`Db`]: blocks overlapping the range plus the head, merged per series.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use pharos_model::{FloatHistogram, Labels, Matcher};

use crate::block::Block;
use crate::chunk::Value;
use crate::db::Db;
use crate::head::dedup_keep_last;
use crate::querier::{
    Querier, Queryable, SelectHints, Series, SeriesIterator, StorageError, ValueKind,
};
use crate::source::SampleSource;

/// A querier over a fixed set of blocks plus the live head.
struct DbQuerier<'a> {
    db: &'a Db,
    blocks: Vec<Arc<Block>>,
    mint: i64,
    maxt: i64,
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        if mint > maxt {
            return Err(StorageError::Invalid(format!(
                "invalid time range: start {mint} after end {maxt}"
            )));
        }
        let blocks = self
            .blocks()
            .into_iter()
            .filter(|b| b.meta().min_time <= maxt && b.meta().max_time > mint)
            .collect();
        Ok(Box::new(DbQuerier {
            db: self,
            blocks,
            mint,
            maxt,
        }))
    }
}

fn corrupt(what: &Block, reason: String) -> StorageError {
    StorageError::Corrupt {
        what: what.dir().display().to_string(),
        reason,
    }
}

impl DbQuerier<'_> {
    /// Decoded, merged samples per matching series; series without samples in range are left out.
    fn collect(
        &self,
        matchers: &[Matcher],
    ) -> Result<BTreeMap<Labels, Vec<(i64, Value)>>, StorageError> {
        let mut merged: BTreeMap<Labels, Vec<(i64, Value)>> = BTreeMap::new();
        for b in &self.blocks {
            for id in &b.postings().select(matchers) {
                let Some(s) = b.series(id) else { continue };
                let samples = b
                    .samples(id, self.mint, self.maxt)
                    .map_err(|e| corrupt(b, e.0))?;
                if !samples.is_empty() {
                    merged.entry(s.labels.clone()).or_default().extend(samples);
                }
            }
        }
        // Copy what the head holds under the lock, decode after releasing it.
        let head_sources: Vec<(Labels, Vec<SampleSource>)> = {
            let st = self.db.state.read().unwrap_or_else(|e| e.into_inner());
            st.head
                .select_refs(matchers)
                .into_iter()
                .filter_map(|r| {
                    let l = st.head.labels_of(r)?.clone();
                    Some((l, st.head.sources(r, self.mint, self.maxt)))
                })
                .collect()
        };
        for (l, sources) in head_sources {
            let mut samples = Vec::new();
            for src in sources {
                let decoded = src.decode().map_err(|e| StorageError::Corrupt {
                    what: "head chunk".into(),
                    reason: e.0,
                })?;
                samples.extend(
                    decoded
                        .into_iter()
                        .filter(|(t, _)| *t >= self.mint && *t <= self.maxt),
                );
            }
            if !samples.is_empty() {
                merged.entry(l).or_default().extend(samples);
            }
        }
        for samples in merged.values_mut() {
            // Stable sort: for equal timestamps the later source (head over blocks) wins.
            samples.sort_by_key(|(t, _)| *t);
            dedup_keep_last(samples);
        }
        Ok(merged)
    }
}

impl Querier for DbQuerier<'_> {
    fn select(
        &self,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<Box<dyn Series + '_>>, StorageError> {
        if !matchers.is_empty() && matchers.iter().all(Matcher::matches_empty) {
            return Err(StorageError::Invalid(
                "vector selector must contain at least one non-empty matcher".into(),
            ));
        }
        Ok(self
            .collect(matchers)?
            .into_iter()
            .map(|(labels, samples)| {
                Box::new(MaterializedSeries { labels, samples }) as Box<dyn Series + '_>
            })
            .collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            for b in &self.blocks {
                out.extend(
                    b.postings()
                        .values(name)
                        .into_iter()
                        .flat_map(|v| v.keys().map(|k| k.to_string())),
                );
            }
            let st = self.db.state.read().unwrap_or_else(|e| e.into_inner());
            out.extend(
                st.head
                    .postings()
                    .values(name)
                    .into_iter()
                    .flat_map(|v| v.keys().map(|k| k.to_string())),
            );
        } else {
            for l in self.collect(matchers)?.keys() {
                out.extend(l.get(name).map(str::to_owned));
            }
        }
        Ok(out.into_iter().collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            for b in &self.blocks {
                out.extend(b.postings().names().map(|n| n.to_string()));
            }
            let st = self.db.state.read().unwrap_or_else(|e| e.into_inner());
            out.extend(st.head.postings().names().map(|n| n.to_string()));
        } else {
            for l in self.collect(matchers)?.keys() {
                out.extend(l.iter().map(|l| l.name.to_string()));
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// A selected series with its samples decoded.
struct MaterializedSeries {
    labels: Labels,
    samples: Vec<(i64, Value)>,
}

impl Series for MaterializedSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn iter(&self) -> Box<dyn SeriesIterator + '_> {
        Box::new(SliceIter {
            samples: &self.samples,
            pos: None,
        })
    }
}

/// Iterates decoded samples; `pos == None` means not started.
struct SliceIter<'a> {
    samples: &'a [(i64, Value)],
    pos: Option<usize>,
}

impl SliceIter<'_> {
    fn current(&self) -> Option<&(i64, Value)> {
        self.pos.and_then(|p| self.samples.get(p))
    }
    fn kind(&self) -> ValueKind {
        match self.current() {
            None => ValueKind::None,
            Some((_, Value::Float(_))) => ValueKind::Float,
            Some((_, Value::Histogram(_))) => ValueKind::Histogram,
        }
    }
}

impl SeriesIterator for SliceIter<'_> {
    fn next(&mut self) -> ValueKind {
        self.pos = Some(self.pos.map_or(0, |p| (p + 1).min(self.samples.len())));
        self.kind()
    }
    fn seek(&mut self, t: i64) -> ValueKind {
        let start = self.pos.unwrap_or(0).min(self.samples.len());
        if self.pos.is_some() && self.current().is_some_and(|(st, _)| *st >= t) {
            return self.kind();
        }
        let rest = self.samples.get(start..).unwrap_or(&[]);
        self.pos = Some(start + rest.partition_point(|(st, _)| *st < t));
        self.kind()
    }
    fn at(&self) -> (i64, f64) {
        match self.current() {
            Some((t, Value::Float(v))) => (*t, *v),
            Some((t, _)) => (*t, f64::NAN),
            None => (i64::MIN, f64::NAN),
        }
    }
    fn at_histogram(&self) -> (i64, FloatHistogram) {
        match self.current() {
            Some((t, Value::Histogram(h))) => (*t, (**h).clone()),
            Some((t, _)) => (*t, FloatHistogram::default()),
            None => (i64::MIN, FloatHistogram::default()),
        }
    }
    fn at_t(&self) -> i64 {
        self.current().map_or(i64::MIN, |(t, _)| *t)
    }
}
