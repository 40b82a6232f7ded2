//! The per-target scrape cache: from the exposed form of a series (name and labels as the
//! target wrote them) to its final label set after target labels and metric relabeling.
//!
//! Exporters expose the same series on every scrape, so after the first scrape almost every
//! line is a hash lookup on a reused key buffer; no label set is built, relabeled or allocated.
//! The cache also remembers which series each scrape saw, which is what staleness markers are
//! computed from. Each entry also carries the storage's series ref, so that in the steady
//! state a sample goes from the raw line to its series without any further lookup.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use pharos_model::Labels;

/// What the cache knows about one exposed series.
#[derive(Clone, Debug)]
pub(crate) struct CacheEntry {
    /// The final labels; `None` when metric relabeling drops the series.
    pub labels: Option<Labels>,
    /// The scrape iteration that last saw the series.
    pub last_iter: u64,
    /// The iteration that saw it before `last_iter`, to undo a failed scrape.
    pub prev_iter: u64,
    /// The series carried its own timestamp last time it was seen.
    pub explicit_timestamp: bool,
    /// The series ref the sink stored the series under last time; 0 while unknown.
    pub series_ref: u64,
    /// Where the series' sample sits in the batch of the scrape that last saw it, to pick up
    /// the ref the sink resolves for it.
    pub batch_index: u32,
}

/// Series seen by one target's scrapes.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    entries: HashMap<Box<[u8]>, CacheEntry>,
    /// The current scrape iteration; 0 means "never".
    iter: u64,
    /// Reused buffer for building lookup keys.
    key: Vec<u8>,
    /// HELP, TYPE and UNIT per family name as (type, help, unit), from the scrapes so far.
    metadata: std::collections::BTreeMap<String, (String, String, String)>,
    /// Whether `metadata` changed since [`ScrapeCache::take_metadata_update`] last ran.
    metadata_changed: bool,
    /// Exemplars of the scrape in progress, handed to the sink with its samples.
    exemplars: Vec<crate::sink::SinkExemplar>,
    /// Series ref hints of the scrape in progress, by position in the sample batch.
    batch_refs: Vec<u64>,
    /// One shared copy of each label name and value of the cached label sets.
    strings: LabelStrings,
}

/// The label strings of one target's series, each kept once: a target repeats the same
/// names (`le`, `mode`, metric names) over thousands of series, and every separately
/// allocated copy would live as long as the series in the head.
#[derive(Debug, Default)]
pub(crate) struct LabelStrings {
    strings: HashSet<Arc<str>>,
    /// Size of `strings` after the last sweep; the next sweep waits until it doubled.
    swept_at: usize,
}

/// Fewest strings worth sweeping for.
const MIN_STRINGS_TO_SWEEP: usize = 1024;

impl LabelStrings {
    /// The shared copy of `s`.
    pub(crate) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        self.strings.insert(shared.clone());
        shared
    }

    /// Forgets strings no label set uses any more, once the set has doubled since the last
    /// sweep, so that churning label values do not grow it forever at a per-scrape cost.
    fn sweep(&mut self) {
        if self.strings.len() < MIN_STRINGS_TO_SWEEP.max(self.swept_at.saturating_mul(2)) {
            return;
        }
        self.strings.retain(|s| Arc::strong_count(s) > 1);
        self.swept_at = self.strings.len();
    }
}

/// How many scrapes a series may be absent before its cache entry is forgotten. Keeping it a
/// little while avoids rebuilding label sets for series that flap.
const FORGET_AFTER_ITERATIONS: u64 = 10;

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a scrape iteration; call once before ingesting each scrape's body.
    pub fn begin_iteration(&mut self) {
        self.iter += 1;
        self.exemplars.clear();
        self.batch_refs.clear();
    }

    /// Records the ref hint of the sample at `index` of the batch.
    pub(crate) fn note_batch_ref(&mut self, index: usize, series_ref: u64) {
        if self.batch_refs.len() <= index {
            self.batch_refs.resize(index + 1, 0);
        }
        if let Some(slot) = self.batch_refs.get_mut(index) {
            *slot = series_ref;
        }
    }

    /// The ref hints of a batch of `len` samples (0 where none is known), to hand to the
    /// sink; the sink overwrites them with the refs it stored under.
    pub fn take_batch_refs(&mut self, len: usize) -> Vec<u64> {
        // The hints stay here too, to notice the refs the sink changed.
        self.batch_refs.resize(len, 0);
        self.batch_refs.clone()
    }

    /// Keeps the refs the sink resolved for series that had none or whose ref changed (e.g.
    /// the series was dropped from storage and created anew). Only scrapes with such series
    /// (the first, and ones adding series) pay for the walk over the cache, and only when the
    /// sink resolves refs at all.
    pub fn store_batch_refs(&mut self, refs: Vec<u64>) {
        let changed = refs
            .iter()
            .zip(&self.batch_refs)
            .any(|(new, old)| *new != 0 && new != old);
        if changed {
            let iter = self.iter;
            for e in self.entries.values_mut() {
                if e.last_iter == iter && e.labels.is_some() {
                    match refs.get(e.batch_index as usize) {
                        Some(&r) if r != 0 => e.series_ref = r,
                        _ => {}
                    }
                }
            }
        }
        self.batch_refs.clear();
    }

    /// Forgets the ref hints of the scrape in progress, when its samples are discarded.
    pub(crate) fn discard_batch_refs(&mut self) {
        self.batch_refs.clear();
    }

    /// The current iteration.
    pub(crate) fn iteration(&self) -> u64 {
        self.iter
    }

    /// Keeps an exemplar of the scrape in progress.
    pub(crate) fn push_exemplar(&mut self, e: crate::sink::SinkExemplar) {
        self.exemplars.push(e);
    }

    /// The exemplars of the scrape in progress, leaving none behind.
    pub fn take_exemplars(&mut self) -> Vec<crate::sink::SinkExemplar> {
        std::mem::take(&mut self.exemplars)
    }

    /// Records one metadata field of a family: `which` 0 is the type, 1 the help, 2 the unit.
    /// Families keep what earlier scrapes reported until the target says otherwise.
    pub(crate) fn note_metadata(&mut self, family: &str, which: u8, value: &str) {
        let entry = match self.metadata.get_mut(family) {
            Some(e) => e,
            None => {
                self.metadata_changed = true;
                self.metadata
                    .entry(family.to_string())
                    .or_insert_with(|| ("unknown".to_string(), String::new(), String::new()))
            }
        };
        let slot = match which {
            0 => &mut entry.0,
            1 => &mut entry.1,
            _ => &mut entry.2,
        };
        if slot != value {
            *slot = value.to_string();
            self.metadata_changed = true;
        }
    }

    /// The metadata list when it changed since the last call, sorted by family.
    pub fn take_metadata_update(&mut self) -> Option<Vec<crate::target_status::FamilyMetadata>> {
        if !std::mem::take(&mut self.metadata_changed) {
            return None;
        }
        Some(
            self.metadata
                .iter()
                .map(
                    |(metric, (t, help, unit))| crate::target_status::FamilyMetadata {
                        metric: metric.clone(),
                        metric_type: t.clone(),
                        help: help.clone(),
                        unit: unit.clone(),
                    },
                )
                .collect(),
        )
    }

    /// Number of cached series.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Builds the lookup key for a series in the reused buffer: name and label pairs with
    /// separators that cannot occur in UTF-8 text.
    pub(crate) fn key_for<'l>(
        &mut self,
        name: &str,
        labels: impl Iterator<Item = (&'l str, &'l str)>,
    ) -> &[u8] {
        self.key.clear();
        self.key.extend_from_slice(name.as_bytes());
        for (n, v) in labels {
            self.key.push(0xfe);
            self.key.extend_from_slice(n.as_bytes());
            self.key.push(0xff);
            self.key.extend_from_slice(v.as_bytes());
        }
        &self.key
    }

    /// The shared label strings, for building label sets of new series.
    pub(crate) fn label_strings(&mut self) -> &mut LabelStrings {
        &mut self.strings
    }

    /// Looks up the series whose key was last built by [`ScrapeCache::key_for`].
    pub(crate) fn get_current(&mut self) -> Option<&mut CacheEntry> {
        self.entries.get_mut(self.key.as_slice())
    }

    /// Inserts an entry for the series whose key was last built and returns it.
    pub(crate) fn insert_current(
        &mut self,
        labels: Option<Labels>,
        explicit_timestamp: bool,
    ) -> &mut CacheEntry {
        let entry = CacheEntry {
            labels,
            last_iter: self.iter,
            prev_iter: 0,
            explicit_timestamp,
            series_ref: 0,
            batch_index: 0,
        };
        self.entries
            .entry(self.key.as_slice().into())
            .insert_entry(entry)
            .into_mut()
    }

    /// Marks an entry as seen in this iteration; false if it was already seen (a duplicate).
    pub(crate) fn touch(entry: &mut CacheEntry, iter: u64, explicit_timestamp: bool) -> bool {
        if entry.last_iter == iter {
            return false;
        }
        entry.prev_iter = entry.last_iter;
        entry.last_iter = iter;
        entry.explicit_timestamp = explicit_timestamp;
        true
    }

    /// Forgets what a failed scrape saw, so that every series of the previous scrape counts
    /// as gone and receives a staleness marker.
    pub(crate) fn undo_iteration(&mut self) {
        let iter = self.iter;
        self.entries.retain(|_, e| {
            if e.last_iter == iter {
                e.last_iter = e.prev_iter;
            }
            // Entries created by the failed scrape have never been successfully seen.
            e.last_iter != 0
        });
    }

    /// Labels of series seen in the previous iteration but not in this one, for staleness
    /// markers; series with their own timestamps are skipped unless `track_explicit` is set.
    /// Also forgets entries unseen for a while.
    pub(crate) fn disappeared(&mut self, track_explicit: bool, out: &mut Vec<Labels>) {
        let iter = self.iter;
        for e in self.entries.values() {
            if e.last_iter + 1 == iter && (track_explicit || !e.explicit_timestamp) {
                if let Some(l) = &e.labels {
                    out.push(l.clone());
                }
            }
        }
        self.entries
            .retain(|_, e| e.last_iter + FORGET_AFTER_ITERATIONS >= iter);
        self.strings.sweep();
    }

    /// Labels of every series the last iteration saw, for staleness markers when the target
    /// goes away.
    pub(crate) fn seen_in_last_iteration(&self, track_explicit: bool, out: &mut Vec<Labels>) {
        for e in self.entries.values() {
            if e.last_iter == self.iter && (track_explicit || !e.explicit_timestamp) {
                if let Some(l) = &e.labels {
                    out.push(l.clone());
                }
            }
        }
    }
}
