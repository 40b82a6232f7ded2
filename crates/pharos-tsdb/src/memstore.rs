//! A simple in-memory store implementing [`Queryable`]: the reference model for property tests
//! and the backing store for PromQL test scripts.

use std::collections::BTreeMap;
use std::sync::RwLock;

use pharos_model::{FloatHistogram, Labels, Matcher};

use crate::querier::{
    Querier, Queryable, SelectHints, Series, SeriesIterator, StorageError, ValueKind,
};

/// One stored value.
#[derive(Clone, Debug, PartialEq)]
pub enum MemValue {
    /// A float (may be the stale marker).
    Float(f64),
    /// A native histogram.
    Histogram(FloatHistogram),
}

/// Series kept in a sorted map, each a timestamp-ordered map of values.
#[derive(Default)]
pub struct MemStorage {
    series: RwLock<BTreeMap<Labels, BTreeMap<i64, MemValue>>>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or overwrites a float sample.
    pub fn append(&self, labels: &Labels, t: i64, v: f64) {
        self.append_value(labels, t, MemValue::Float(v));
    }

    /// Adds or overwrites a histogram sample.
    pub fn append_histogram(&self, labels: &Labels, t: i64, h: FloatHistogram) {
        self.append_value(labels, t, MemValue::Histogram(h));
    }

    /// Adds or overwrites any value.
    pub fn append_value(&self, labels: &Labels, t: i64, v: MemValue) {
        let mut s = self.series.write().unwrap_or_else(|e| e.into_inner());
        s.entry(labels.clone()).or_default().insert(t, v);
    }

    /// Removes samples of series matching `matchers` within `[mint, maxt]`.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) {
        let mut s = self.series.write().unwrap_or_else(|e| e.into_inner());
        for (l, samples) in s.iter_mut() {
            if matches_all(l, matchers) {
                samples.retain(|t, _| *t < mint || *t > maxt);
            }
        }
        s.retain(|_, samples| !samples.is_empty());
    }

    /// Removes everything.
    pub fn clear(&self) {
        self.series
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn matches_all(l: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
}

struct MemQuerier {
    snapshot: Vec<(Labels, Vec<(i64, MemValue)>)>,
}

impl Queryable for MemStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        let s = self.series.read().unwrap_or_else(|e| e.into_inner());
        let snapshot = s
            .iter()
            .map(|(l, samples)| {
                (
                    l.clone(),
                    samples
                        .range(mint..=maxt)
                        .map(|(t, v)| (*t, v.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        Ok(Box::new(MemQuerier { snapshot }))
    }
}

struct MemSeries<'a> {
    labels: &'a Labels,
    samples: &'a [(i64, MemValue)],
}

impl Series for MemSeries<'_> {
    fn labels(&self) -> &Labels {
        self.labels
    }
    fn iter(&self) -> Box<dyn SeriesIterator + '_> {
        Box::new(MemIter {
            samples: self.samples,
            pos: None,
        })
    }
}

struct MemIter<'a> {
    samples: &'a [(i64, MemValue)],
    pos: Option<usize>,
}

impl MemIter<'_> {
    fn kind(&self) -> ValueKind {
        match self.pos.and_then(|p| self.samples.get(p)) {
            None => ValueKind::None,
            Some((_, MemValue::Float(_))) => ValueKind::Float,
            Some((_, MemValue::Histogram(_))) => ValueKind::Histogram,
        }
    }
}

impl SeriesIterator for MemIter<'_> {
    fn next(&mut self) -> ValueKind {
        self.pos = Some(self.pos.map_or(0, |p| (p + 1).min(self.samples.len())));
        self.kind()
    }
    fn seek(&mut self, t: i64) -> ValueKind {
        let start = self.pos.unwrap_or(0);
        if start < self.samples.len() && self.samples[start].0 >= t && self.pos.is_some() {
            return self.kind();
        }
        let idx = start
            + self.samples[start.min(self.samples.len())..].partition_point(|(st, _)| *st < t);
        self.pos = Some(idx);
        self.kind()
    }
    fn at(&self) -> (i64, f64) {
        match self.pos.and_then(|p| self.samples.get(p)) {
            Some((t, MemValue::Float(v))) => (*t, *v),
            Some((t, _)) => (*t, f64::NAN),
            None => (i64::MIN, f64::NAN),
        }
    }
    fn at_histogram(&self) -> (i64, FloatHistogram) {
        match self.pos.and_then(|p| self.samples.get(p)) {
            Some((t, MemValue::Histogram(h))) => (*t, h.clone()),
            Some((t, _)) => (*t, FloatHistogram::default()),
            None => (i64::MIN, FloatHistogram::default()),
        }
    }
    fn at_t(&self) -> i64 {
        self.pos
            .and_then(|p| self.samples.get(p))
            .map_or(i64::MIN, |(t, _)| *t)
    }
}

impl Querier for MemQuerier {
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
            .snapshot
            .iter()
            .filter(|(l, _)| matches_all(l, matchers))
            .map(|(l, s)| {
                Box::new(MemSeries {
                    labels: l,
                    samples: s,
                }) as Box<dyn Series + '_>
            })
            .collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = self
            .snapshot
            .iter()
            .filter(|(l, _)| matches_all(l, matchers))
            .filter_map(|(l, _)| l.get(name).map(str::to_owned))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = self
            .snapshot
            .iter()
            .filter(|(l, _)| matches_all(l, matchers))
            .flat_map(|(l, _)| l.iter().map(|l| l.name.to_string()))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_and_seek() {
        let st = MemStorage::new();
        let a = Labels::from_pairs([("__name__", "a"), ("x", "1")]);
        for t in 0..10 {
            st.append(&a, t * 10, t as f64);
        }
        let q = st.querier(20, 60).unwrap();
        let s = q.select(None, &[Matcher::equal("__name__", "a")]).unwrap();
        assert_eq!(s.len(), 1);
        let mut it = s[0].iter();
        assert_eq!(it.seek(35), ValueKind::Float);
        assert_eq!(it.at(), (40, 4.0));
        assert_eq!(it.seek(10), ValueKind::Float);
        assert_eq!(it.at(), (40, 4.0));
        assert_eq!(it.next(), ValueKind::Float);
        assert_eq!(it.next(), ValueKind::Float);
        assert_eq!(it.at_t(), 60);
        assert_eq!(it.next(), ValueKind::None);
    }
}
