//! The inverted index from label pairs to series IDs, and matcher evaluation over it.
//!
//! The head and every block keep one [`Postings`]; selecting series is set algebra on roaring
//! bitmaps, with direct lookups for `=` and literal alternations and a range scan for regexes
//! with a literal prefix, so most selectors never test a regex against every value.

use std::collections::BTreeMap;
use std::sync::Arc;

use pharos_model::{Labels, MatchOp, Matcher};
use roaring::RoaringBitmap;

/// Label name -> label value -> IDs of series carrying that pair.
#[derive(Clone, Debug, Default)]
pub struct Postings {
    map: BTreeMap<Arc<str>, BTreeMap<Arc<str>, RoaringBitmap>>,
    all: RoaringBitmap,
}

impl Postings {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes series `id` under each of its labels.
    pub fn add(&mut self, id: u32, labels: &Labels) {
        self.all.insert(id);
        for l in labels {
            self.map
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default()
                .insert(id);
        }
    }

    /// Removes series `id` (with these labels) from the index.
    pub fn remove(&mut self, id: u32, labels: &Labels) {
        self.all.remove(id);
        for l in labels {
            if let Some(values) = self.map.get_mut(&*l.name) {
                if let Some(bm) = values.get_mut(&*l.value) {
                    bm.remove(id);
                    if bm.is_empty() {
                        values.remove(&*l.value);
                    }
                }
                if values.is_empty() {
                    self.map.remove(&*l.name);
                }
            }
        }
    }

    /// Inserts a whole posting list (used when loading a block index).
    pub fn insert_list(&mut self, name: Arc<str>, value: Arc<str>, ids: RoaringBitmap) {
        self.all |= &ids;
        self.map.entry(name).or_default().insert(value, ids);
    }

    /// Every series ID.
    pub fn all(&self) -> &RoaringBitmap {
        &self.all
    }

    /// Number of indexed series.
    pub fn len(&self) -> u64 {
        self.all.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// All (name, value, ids) entries in sorted order.
    pub fn entries(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<str>, &RoaringBitmap)> {
        self.map
            .iter()
            .flat_map(|(n, vs)| vs.iter().map(move |(v, ids)| (n, v, ids)))
    }

    /// Values of one label name with their series.
    pub fn values(&self, name: &str) -> Option<&BTreeMap<Arc<str>, RoaringBitmap>> {
        self.map.get(name)
    }

    /// All label names.
    pub fn names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.map.keys()
    }

    /// Series carrying label values accepted by `m` (ignoring series without the label).
    fn with_matching_value(&self, m: &Matcher) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        let Some(values) = self.map.get(m.name.as_str()) else {
            return out;
        };
        if m.op == MatchOp::Equal {
            if let Some(ids) = values.get(m.value.as_str()) {
                out |= ids;
            }
            return out;
        }
        if m.op == MatchOp::Regex {
            if let Some(set) = m.set_matches() {
                for v in set {
                    if let Some(ids) = values.get(v.as_str()) {
                        out |= ids;
                    }
                }
                return out;
            }
            if let Some(prefix) = m.literal_prefix() {
                for (v, ids) in values.range::<str, _>((
                    std::ops::Bound::Included(prefix),
                    std::ops::Bound::Unbounded,
                )) {
                    if !v.starts_with(prefix) {
                        break;
                    }
                    if m.matches(v) {
                        out |= ids;
                    }
                }
                return out;
            }
        }
        for (v, ids) in values {
            if m.matches(v) {
                out |= ids;
            }
        }
        out
    }

    /// Series carrying the label with a value `m` rejects.
    fn with_rejected_value(&self, m: &Matcher) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        let Some(values) = self.map.get(m.name.as_str()) else {
            return out;
        };
        match m.op {
            MatchOp::NotEqual => {
                if let Some(ids) = values.get(m.value.as_str()) {
                    out |= ids;
                }
            }
            MatchOp::NotRegex if m.set_matches().is_some() => {
                for v in m.set_matches().unwrap_or_default() {
                    if let Some(ids) = values.get(v.as_str()) {
                        out |= ids;
                    }
                }
            }
            _ => {
                for (v, ids) in values {
                    if !m.matches(v) {
                        out |= ids;
                    }
                }
            }
        }
        out
    }

    /// IDs of series matching every matcher (all series when `matchers` is empty).
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        // Positive matchers narrow fastest, so intersect those first and subtract the rest.
        let mut result: Option<RoaringBitmap> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let ids = self.with_matching_value(m);
            result = Some(match result {
                None => ids,
                Some(r) => r & ids,
            });
            if result.as_ref().is_some_and(RoaringBitmap::is_empty) {
                return RoaringBitmap::new();
            }
        }
        let mut result = result.unwrap_or_else(|| self.all.clone());
        for m in matchers.iter().filter(|m| m.matches_empty()) {
            result -= self.with_rejected_value(m);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Postings {
        let mut p = Postings::new();
        p.add(
            0,
            &Labels::from_pairs([("__name__", "up"), ("job", "node"), ("i", "a")]),
        );
        p.add(
            1,
            &Labels::from_pairs([("__name__", "up"), ("job", "prom")]),
        );
        p.add(
            2,
            &Labels::from_pairs([("__name__", "http"), ("job", "node"), ("i", "b")]),
        );
        p
    }

    fn ids(p: &Postings, ms: &[Matcher]) -> Vec<u32> {
        p.select(ms).iter().collect()
    }

    #[test]
    fn matcher_kinds() {
        let p = index();
        let re = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
        assert_eq!(ids(&p, &[Matcher::equal("__name__", "up")]), [0, 1]);
        assert_eq!(
            ids(
                &p,
                &[
                    Matcher::equal("__name__", "up"),
                    re(MatchOp::NotEqual, "job", "node")
                ]
            ),
            [1]
        );
        assert_eq!(ids(&p, &[re(MatchOp::Regex, "job", "no.*")]), [0, 2]);
        assert_eq!(
            ids(&p, &[re(MatchOp::Regex, "job", "node|prom")]),
            [0, 1, 2]
        );
        assert_eq!(ids(&p, &[re(MatchOp::Regex, "job", ".*o.*")]), [0, 1, 2]);
        assert_eq!(
            ids(
                &p,
                &[Matcher::equal("__name__", "up"), Matcher::equal("i", "")]
            ),
            [1]
        );
        assert_eq!(
            ids(
                &p,
                &[
                    Matcher::equal("__name__", "up"),
                    re(MatchOp::NotRegex, "i", "a|b")
                ]
            ),
            [1]
        );
        assert_eq!(
            ids(
                &p,
                &[
                    Matcher::equal("__name__", "up"),
                    re(MatchOp::Regex, "i", "a|")
                ]
            ),
            [0, 1]
        );
        assert_eq!(
            ids(&p, &[Matcher::equal("__name__", "nope")]),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn remove_cleans_up() {
        let mut p = index();
        p.remove(
            1,
            &Labels::from_pairs([("__name__", "up"), ("job", "prom")]),
        );
        assert!(p.values("job").is_some_and(|v| !v.contains_key("prom")));
        assert_eq!(p.len(), 2);
    }
}
