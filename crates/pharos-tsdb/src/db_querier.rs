//! Reading a [`Db`]: blocks overlapping the range plus the head, merged per series.

use std::collections::BTreeSet;
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

/// Sources of one series, each with the `(first t, last t)` bounds of its samples.
type BoundedSources = Vec<(i64, i64, SampleSource)>;

/// One chunk (or decoded run) of a selected series, with the bounds of its samples.
struct Part {
    mint: i64,
    maxt: i64,
    data: PartData,
    /// Tombstoned ranges of the block the part comes from.
    deleted: Arc<[(i64, i64)]>,
}

enum PartData {
    /// Not decoded yet.
    Lazy(SampleSource),
    /// Already decoded and filtered (decoded at select time to learn whether it is empty).
    Decoded(Vec<(i64, Value)>),
}

impl Part {
    /// Whether the part certainly holds a sample in `[mint, maxt]` without decoding it.
    fn surely_non_empty(&self, mint: i64, maxt: i64) -> bool {
        self.mint >= mint
            && self.maxt <= maxt
            && !self
                .deleted
                .iter()
                .any(|(a, z)| *a <= self.maxt && *z >= self.mint)
    }

    /// Decodes into `out` the samples within `[mint, maxt]` that are not deleted.
    fn load(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, Value)>) -> Result<(), StorageError> {
        let start = out.len();
        match &self.data {
            PartData::Decoded(v) => out.extend(v.iter().cloned()),
            PartData::Lazy(src) => {
                src.decode_into(out).map_err(|e| StorageError::Corrupt {
                    what: "chunk".into(),
                    reason: e.0,
                })?;
                let keep = |t: i64| {
                    t >= mint && t <= maxt && !self.deleted.iter().any(|(a, z)| t >= *a && t <= *z)
                };
                if out
                    .get(start..)
                    .is_some_and(|s| s.iter().any(|(t, _)| !keep(*t)))
                {
                    let mut i = 0;
                    out.retain(|(t, _)| {
                        i += 1;
                        i <= start || keep(*t)
                    });
                }
            }
        }
        Ok(())
    }
}

fn no_tombstones() -> Arc<[(i64, i64)]> {
    Arc::from(Vec::new())
}

impl DbQuerier<'_> {
    /// Matching series with the parts overlapping the range, blocks first (oldest first) then
    /// the head, so later sources win ties; series without samples in range are left out.
    fn series_parts(&self, matchers: &[Matcher]) -> Result<Vec<(Labels, Vec<Part>)>, StorageError> {
        // Collected per source, then sorted and grouped: a block's series come out of its
        // postings already in label order, so the sort mostly checks runs, which costs far
        // less than a map insert per series on large selects.
        let mut found: Vec<(Labels, Vec<Part>)> = Vec::new();
        let empty = no_tombstones();
        for b in &self.blocks {
            let tomb = b.tombstones();
            for id in &b.postings().select(matchers) {
                let Some(s) = b.series(id) else { continue };
                let deleted: Arc<[(i64, i64)]> = match tomb.get(&id) {
                    Some(v) => Arc::from(v.as_slice()),
                    None => empty.clone(),
                };
                let parts: Vec<Part> = b
                    .bounded_sources(id, self.mint, self.maxt)
                    .into_iter()
                    .map(|(mint, maxt, src)| Part {
                        mint,
                        maxt,
                        data: PartData::Lazy(src),
                        deleted: deleted.clone(),
                    })
                    .collect();
                if !parts.is_empty() {
                    found.push((s.labels.clone(), parts));
                }
            }
        }
        // Copy what the head holds under the lock, decode after releasing it.
        let head: Vec<(Labels, BoundedSources)> = {
            let st = self.db.state.read().unwrap_or_else(|e| e.into_inner());
            st.head
                .select_refs(matchers)
                .into_iter()
                .filter_map(|r| {
                    let l = st.head.labels_of(r)?.clone();
                    Some((l, st.head.bounded_sources(r, self.mint, self.maxt)))
                })
                .collect()
        };
        for (l, sources) in head {
            if sources.is_empty() {
                continue;
            }
            let parts = sources
                .into_iter()
                .map(|(mint, maxt, src)| Part {
                    mint,
                    maxt,
                    data: PartData::Lazy(src),
                    deleted: empty.clone(),
                })
                .collect();
            found.push((l, parts));
        }
        // The sort is stable, so one series' parts stay in source order (blocks oldest first,
        // then the head) and later sources keep winning ties.
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::with_capacity(found.len());
        let mut found = found.into_iter().peekable();
        while let Some((labels, mut parts)) = found.next() {
            while let Some((_, more)) = found.next_if(|(l, _)| *l == labels) {
                parts.extend(more);
            }
            if !parts
                .iter()
                .any(|p| p.surely_non_empty(self.mint, self.maxt))
            {
                // Only edge chunks: decode them now, keep the result for iteration.
                let mut any = false;
                for p in &mut parts {
                    let mut v = Vec::new();
                    p.load(self.mint, self.maxt, &mut v)?;
                    any |= !v.is_empty();
                    p.data = PartData::Decoded(v);
                }
                if !any {
                    continue;
                }
            }
            out.push((labels, parts));
        }
        Ok(out)
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
        let (mint, maxt) = (self.mint, self.maxt);
        Ok(self
            .series_parts(matchers)?
            .into_iter()
            .map(|(labels, parts)| {
                Box::new(LazySeries {
                    labels,
                    parts: order_parts(parts),
                    mint,
                    maxt,
                }) as Box<dyn Series + '_>
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
            for (l, _) in self.series_parts(matchers)? {
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
            for (l, _) in self.series_parts(matchers)? {
                out.extend(l.iter().map(|l| l.name.to_string()));
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// Parts of a series in the order they are read: sorted by time when none overlap (then
/// they stream), in source order otherwise (then they are merged on first use).
enum OrderedParts {
    Disjoint(Vec<Part>),
    Overlapping(Vec<Part>),
}

fn order_parts(mut parts: Vec<Part>) -> OrderedParts {
    let mut bounds: Vec<(i64, i64)> = parts.iter().map(|p| (p.mint, p.maxt)).collect();
    bounds.sort_unstable();
    if bounds.windows(2).all(|w| w[0].1 < w[1].0) {
        parts.sort_by_key(|p| p.mint);
        OrderedParts::Disjoint(parts)
    } else {
        // Keep source order: the merge lets later sources win ties.
        OrderedParts::Overlapping(parts)
    }
}

/// A selected series whose chunks are decoded only when iterated.
struct LazySeries {
    labels: Labels,
    parts: OrderedParts,
    mint: i64,
    maxt: i64,
}

impl Series for LazySeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn iter(&self) -> Box<dyn SeriesIterator + '_> {
        match &self.parts {
            OrderedParts::Disjoint(parts) => Box::new(ChunkIter {
                parts,
                next_part: 0,
                buf: Vec::new(),
                pos: None,
                mint: self.mint,
                maxt: self.maxt,
                error: None,
            }),
            OrderedParts::Overlapping(parts) => {
                let mut samples = Vec::new();
                let mut error = None;
                for p in parts {
                    if let Err(e) = p.load(self.mint, self.maxt, &mut samples) {
                        tracing::error!(error = %e, series = %self.labels, "stopping at corrupt chunk");
                        error = Some(e);
                        break;
                    }
                }
                // Stable sort: for equal timestamps the later source (head over blocks) wins.
                samples.sort_by_key(|(t, _)| *t);
                dedup_keep_last(&mut samples);
                Box::new(ChunkIter {
                    parts: &[],
                    next_part: 0,
                    buf: samples,
                    pos: None,
                    mint: self.mint,
                    maxt: self.maxt,
                    error,
                })
            }
        }
    }
}

/// Iterates time-ordered, non-overlapping parts, decoding one at a time into `buf`.
/// `pos == None` means not started.
struct ChunkIter<'a> {
    parts: &'a [Part],
    next_part: usize,
    buf: Vec<(i64, Value)>,
    pos: Option<usize>,
    mint: i64,
    maxt: i64,
    error: Option<StorageError>,
}

impl ChunkIter<'_> {
    fn current(&self) -> Option<&(i64, Value)> {
        self.pos.and_then(|p| self.buf.get(p))
    }

    fn kind(&self) -> ValueKind {
        match self.current() {
            None => ValueKind::None,
            Some((_, Value::Float(_))) => ValueKind::Float,
            Some((_, Value::Histogram(_))) => ValueKind::Histogram,
        }
    }

    /// Loads the next part holding samples, skipping parts that end before `from`; false at
    /// the end (or on a decode error, which is kept for [`SeriesIterator::error`]).
    fn load_next(&mut self, from: i64) -> bool {
        if self.error.is_some() {
            return false;
        }
        while let Some(p) = self.parts.get(self.next_part) {
            self.next_part += 1;
            if p.maxt < from {
                continue;
            }
            self.buf.clear();
            if let Err(e) = p.load(self.mint, self.maxt, &mut self.buf) {
                tracing::error!(error = %e, "stopping at corrupt chunk");
                self.buf.clear();
                self.error = Some(e);
                return false;
            }
            if !self.buf.is_empty() {
                return true;
            }
        }
        false
    }
}

impl SeriesIterator for ChunkIter<'_> {
    fn next(&mut self) -> ValueKind {
        let next = self.pos.map_or(0, |p| p + 1);
        if next < self.buf.len() {
            self.pos = Some(next);
        } else if self.load_next(i64::MIN) {
            self.pos = Some(0);
        } else {
            self.pos = Some(self.buf.len());
        }
        self.kind()
    }

    fn seek(&mut self, t: i64) -> ValueKind {
        if self.current().is_some_and(|(st, _)| *st >= t) {
            return self.kind();
        }
        let start = self.pos.unwrap_or(0);
        loop {
            let rest = self.buf.get(start.min(self.buf.len())..).unwrap_or(&[]);
            let i = rest.partition_point(|(st, _)| *st < t);
            if i < rest.len() {
                self.pos = Some(start.min(self.buf.len()) + i);
                return self.kind();
            }
            if !self.load_next(t) {
                self.pos = Some(self.buf.len());
                return ValueKind::None;
            }
            // Fresh buffer: search it from its start.
            let i = self.buf.partition_point(|(st, _)| *st < t);
            if i < self.buf.len() {
                self.pos = Some(i);
                return self.kind();
            }
        }
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

    fn error(&self) -> Option<&StorageError> {
        self.error.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Options;

    fn lbl(i: &str) -> Labels {
        Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
    }

    fn append(db: &Db, i: &str, t: i64, v: f64) {
        let mut app = db.appender();
        app.append(0, &lbl(i), t, v).unwrap();
        app.commit().unwrap();
    }

    /// Every float `(t, v)` per selected series, with the series' `i` label.
    fn read(db: &Db) -> Vec<(String, Vec<(i64, f64)>)> {
        let q = db.querier(0, i64::MAX).unwrap();
        let set = q.select(None, &[Matcher::equal("__name__", "m")]).unwrap();
        set.iter()
            .map(|s| {
                let mut it = s.iter();
                let mut pts = Vec::new();
                while it.next() == ValueKind::Float {
                    pts.push(it.at());
                }
                (s.labels().get("i").unwrap_or("").to_string(), pts)
            })
            .collect()
    }

    #[test]
    fn series_split_over_blocks_and_head_merge_in_label_order() {
        let d = tempfile::tempdir().unwrap();
        let opts = Options {
            wal_fsync_interval: None,
            retention_time: 0,
            ..Options::default()
        };
        let (db, _) = Db::open(d.path(), opts).unwrap();
        // Block 1 holds "b" and "c"; block 2 holds "a" and "b"; the head holds "c" and "a".
        append(&db, "c", 1_000, 1.0);
        append(&db, "b", 1_000, 2.0);
        db.flush_head().unwrap();
        append(&db, "b", 2_000, 3.0);
        append(&db, "a", 2_000, 4.0);
        db.flush_head().unwrap();
        append(&db, "c", 3_000, 5.0);
        append(&db, "a", 3_000, 6.0);
        assert_eq!(db.blocks().len(), 2);
        assert_eq!(
            read(&db),
            vec![
                ("a".to_string(), vec![(2_000, 4.0), (3_000, 6.0)]),
                ("b".to_string(), vec![(1_000, 2.0), (2_000, 3.0)]),
                ("c".to_string(), vec![(1_000, 1.0), (3_000, 5.0)]),
            ]
        );
    }
}
