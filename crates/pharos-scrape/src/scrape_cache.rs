//! The per-target scrape cache: from the exposed form of a series (name and labels as the
//! target wrote them) to its final label set after target labels and metric relabeling.
//!
//! Exporters expose the same series on every scrape, so after the first scrape almost every
//! line is a hash lookup on a reused key buffer; no label set is built, relabeled or allocated.
//! The cache also remembers which series each scrape saw, which is what staleness markers are
//! computed from.

use std::collections::HashMap;

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

    /// Looks up the series whose key was last built by [`ScrapeCache::key_for`].
    pub(crate) fn get_current(&mut self) -> Option<&mut CacheEntry> {
        self.entries.get_mut(self.key.as_slice())
    }

    /// Inserts an entry for the series whose key was last built.
    pub(crate) fn insert_current(&mut self, labels: Option<Labels>, explicit_timestamp: bool) {
        let entry = CacheEntry {
            labels,
            last_iter: self.iter,
            prev_iter: 0,
            explicit_timestamp,
        };
        self.entries.insert(self.key.as_slice().into(), entry);
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
