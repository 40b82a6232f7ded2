//! The head: the most recent data, in memory, in compressed chunks.
//!
//! Each series keeps sealed chunks (shared, immutable bytes), one open chunk that grows in place,
//! and a small sorted buffer for samples that arrived out of order within the allowed window.
//! The head is not synchronised itself; [`crate::db::Db`] guards it with a lock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use pharos_model::{FloatHistogram, Labels, Matcher};

use crate::chunk::{self, Encoding, HistogramEncoder, Value, XorEncoder, MAX_SAMPLES_PER_CHUNK};
use crate::exemplar::{Exemplar, Metadata};
use crate::head_chunks::{FileChunkRef, HeadChunkFiles};
use crate::postings::Postings;
use crate::source::SampleSource;

/// Identifies a series in the head; `0` means "not known yet".
pub type SeriesRef = u64;

/// Why a sample was refused. Messages match Prometheus's so clients see familiar errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SampleRejection {
    /// Older than the newest sample of its series and outside the out-of-order window.
    #[error("out of order sample")]
    OutOfOrder,
    /// Older than the data already persisted to blocks.
    #[error("out of bounds")]
    OutOfBounds,
    /// Same timestamp as an existing sample but a different value.
    #[error("duplicate sample for timestamp")]
    Duplicate,
}

/// How an accepted sample will be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Newer than everything in its series: goes to the open chunk.
    InOrder,
    /// Within the out-of-order window: goes to the series' out-of-order buffer.
    OutOfOrder,
    /// Identical to a stored sample: nothing to do.
    AlreadyStored,
}

/// Where a sealed chunk's bytes live.
#[derive(Clone, Debug)]
pub enum ChunkData {
    /// On the heap (no chunk file configured, or writing it failed).
    Mem(Arc<[u8]>),
    /// In a memory-mapped head chunk file.
    File(FileChunkRef),
}

/// A chunk that no longer changes; its bytes are shared with queriers without copying.
/// Kept at 32 bytes: every series holds a handful of these.
#[derive(Clone, Debug)]
pub struct SealedChunk {
    /// First timestamp.
    pub mint: i64,
    /// Encoded bytes.
    pub data: ChunkData,
    /// `maxt - mint`, or `u32::MAX` when that does not fit (then the end is unknown).
    span: u32,
    /// Chunk encoding.
    pub encoding: Encoding,
}

impl SealedChunk {
    fn new(encoding: Encoding, mint: i64, maxt: i64, data: ChunkData) -> Self {
        let span = u32::try_from(maxt.saturating_sub(mint))
            .ok()
            .filter(|s| *s != u32::MAX)
            .unwrap_or(u32::MAX);
        SealedChunk {
            mint,
            data,
            span,
            encoding,
        }
    }

    /// Last timestamp; `i64::MAX` when the span did not fit, which keeps every range test
    /// conservative (the chunk is decoded rather than wrongly skipped or dropped).
    pub fn maxt(&self) -> i64 {
        if self.span == u32::MAX {
            i64::MAX
        } else {
            self.mint.saturating_add(i64::from(self.span))
        }
    }
}

/// Sealed chunk storage: the head chunk files when configured, the heap otherwise.
#[derive(Debug, Default)]
struct ChunkStore {
    files: Option<HeadChunkFiles>,
}

impl ChunkStore {
    fn seal(&mut self, encoding: Encoding, mint: i64, maxt: i64, bytes: Vec<u8>) -> SealedChunk {
        let data = match self.files.as_mut().map(|f| f.write(&bytes, maxt)) {
            Some(Ok(r)) => ChunkData::File(r),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "could not write a head chunk file; keeping the chunk in memory");
                ChunkData::Mem(bytes.into())
            }
            None => ChunkData::Mem(bytes.into()),
        };
        SealedChunk::new(encoding, mint, maxt, data)
    }

    fn bytes<'a>(&'a self, c: &'a SealedChunk) -> Option<&'a [u8]> {
        match &c.data {
            ChunkData::Mem(b) => Some(b),
            ChunkData::File(r) => self.files.as_ref().and_then(|f| f.bytes(*r)),
        }
    }

    fn decode(&self, c: &SealedChunk) -> Vec<(i64, Value)> {
        self.bytes(c)
            .and_then(|b| chunk::decode(c.encoding, b).ok())
            .unwrap_or_default()
    }

    fn source(&self, c: &SealedChunk) -> Option<SampleSource> {
        Some(match &c.data {
            ChunkData::Mem(b) => SampleSource::Encoded {
                encoding: c.encoding,
                data: b.clone(),
            },
            ChunkData::File(r) => SampleSource::HeadFile {
                encoding: c.encoding,
                map: self.files.as_ref()?.map(r.file)?,
                offset: r.offset,
                len: u32::from(r.len),
            },
        })
    }

    fn mapped_bytes(c: &SealedChunk) -> u64 {
        match &c.data {
            ChunkData::Mem(_) => 0,
            ChunkData::File(r) => u64::from(r.len),
        }
    }

    fn len(&self, c: &SealedChunk) -> u64 {
        match &c.data {
            ChunkData::Mem(b) => b.len() as u64,
            ChunkData::File(r) => u64::from(r.len),
        }
    }
}

#[derive(Clone, Debug, Default)]
enum OpenChunk {
    #[default]
    None,
    Xor(XorEncoder, i64),
    Hist(HistogramEncoder, i64),
}

impl OpenChunk {
    fn mint(&self) -> Option<i64> {
        match self {
            OpenChunk::None => None,
            OpenChunk::Xor(_, m) | OpenChunk::Hist(_, m) => Some(*m),
        }
    }

    fn seal(&mut self, maxt: i64, store: &mut ChunkStore) -> Option<SealedChunk> {
        match std::mem::take(self) {
            OpenChunk::None => None,
            OpenChunk::Xor(e, mint) => Some(store.seal(Encoding::Xor, mint, maxt, e.into_bytes())),
            OpenChunk::Hist(e, mint) => {
                // Sealing is rare, so the chunk is re-encoded compactly here rather than
                // making every histogram append diff against its predecessor.
                let compact = chunk::decode_histograms(e.bytes()).ok().map(|hs| {
                    let refs: Vec<(i64, &FloatHistogram)> =
                        hs.iter().map(|(t, h)| (*t, h)).collect();
                    crate::histogram_chunk::encode(&refs)
                });
                Some(match compact {
                    Some(b) => store.seal(Encoding::CompactHistogram, mint, maxt, b),
                    None => store.seal(Encoding::Histogram, mint, maxt, e.into_bytes()),
                })
            }
        }
    }

    fn as_source(&self) -> Option<SampleSource> {
        match self {
            OpenChunk::None => None,
            OpenChunk::Xor(e, _) => Some(SampleSource::Encoded {
                encoding: Encoding::Xor,
                data: Arc::from(e.bytes()),
            }),
            OpenChunk::Hist(e, _) => Some(SampleSource::Encoded {
                encoding: Encoding::Histogram,
                data: Arc::from(e.bytes()),
            }),
        }
    }
}

/// One series in the head.
#[derive(Debug)]
struct MemSeries {
    labels: Labels,
    sealed: Vec<SealedChunk>,
    open: OpenChunk,
    ooo: Vec<(i64, Value)>,
    max_t: i64,
    /// Whether the WAL already holds this series' record, so commits log it exactly once.
    logged: bool,
}

/// Out-of-order buffer size at which it is folded into the chunks, bounding uncompressed memory.
const OOO_FOLD_THRESHOLD: usize = MAX_SAMPLES_PER_CHUNK as usize;

impl MemSeries {
    fn new(labels: Labels) -> Self {
        MemSeries {
            labels,
            sealed: Vec::new(),
            open: OpenChunk::None,
            ooo: Vec::new(),
            max_t: i64::MIN,
            logged: false,
        }
    }

    fn is_empty(&self) -> bool {
        self.sealed.is_empty() && matches!(self.open, OpenChunk::None) && self.ooo.is_empty()
    }

    fn min_t(&self) -> Option<i64> {
        let chunks = self
            .sealed
            .first()
            .map(|c| c.mint)
            .or_else(|| self.open.mint());
        let ooo = self.ooo.first().map(|(t, _)| *t);
        match (chunks, ooo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Decodes the stored value at exactly `t`, if any.
    fn value_at(&self, t: i64, store: &ChunkStore) -> Option<Value> {
        if let Ok(i) = self.ooo.binary_search_by_key(&t, |(st, _)| *st) {
            return self.ooo.get(i).map(|(_, v)| v.clone());
        }
        let find = |samples: Vec<(i64, Value)>| {
            samples.into_iter().find(|(st, _)| *st == t).map(|(_, v)| v)
        };
        match &self.open {
            OpenChunk::Xor(e, mint) if t >= *mint => {
                return find(chunk::decode(Encoding::Xor, e.bytes()).unwrap_or_default());
            }
            OpenChunk::Hist(e, mint) if t >= *mint => {
                return find(chunk::decode(Encoding::Histogram, e.bytes()).unwrap_or_default());
            }
            _ => {}
        }
        self.sealed
            .iter()
            .filter(|c| c.mint <= t && t <= c.maxt())
            .find_map(|c| find(store.decode(c)))
    }

    /// Every stored sample in time order (out-of-order samples merged in).
    fn all_samples(&self, store: &ChunkStore) -> Vec<(i64, Value)> {
        let mut out = Vec::new();
        for c in &self.sealed {
            out.extend(store.decode(c));
        }
        if let Some(src) = self.open.as_source() {
            out.extend(src.decode().unwrap_or_default());
        }
        if !self.ooo.is_empty() {
            out.extend(self.ooo.iter().cloned());
            out.sort_by_key(|(t, _)| *t);
            // Out-of-order samples never share a timestamp with chunk samples (appends check),
            // but keep the later copy anyway so a bug cannot surface as duplicate points.
            dedup_keep_last(&mut out);
        }
        out
    }

    /// Replaces the series' contents with `samples` (sorted, unique timestamps).
    fn rebuild(&mut self, samples: Vec<(i64, Value)>, store: &mut ChunkStore, range: i64) {
        self.sealed.clear();
        self.open = OpenChunk::None;
        self.ooo.clear();
        self.max_t = i64::MIN;
        // Appending one by one keeps chunk cuts (size, kind, block range) identical to the
        // ones live appends make.
        for (t, v) in samples {
            self.append_in_order(t, v, store, range);
        }
    }

    fn append_in_order(&mut self, t: i64, v: Value, store: &mut ChunkStore, range: i64) {
        let fits = match (&self.open, &v) {
            (OpenChunk::Xor(e, m), Value::Float(_)) => {
                e.count() < MAX_SAMPLES_PER_CHUNK && same_window(*m, t, range)
            }
            (OpenChunk::Hist(e, m), Value::Histogram(_)) => {
                e.count() < MAX_SAMPLES_PER_CHUNK && same_window(*m, t, range)
            }
            _ => false,
        };
        if !fits {
            if let Some(c) = self.open.seal(self.max_t, store) {
                // Exact growth: a series holds few chunks for hours, so doubling's slack
                // would be a large share of its memory; sealing is rare enough to realloc.
                self.sealed.reserve_exact(1);
                self.sealed.push(c);
            }
            self.open = match &v {
                Value::Float(_) => OpenChunk::Xor(XorEncoder::default(), t),
                Value::Histogram(_) => OpenChunk::Hist(HistogramEncoder::default(), t),
            };
        }
        match (&mut self.open, v) {
            (OpenChunk::Xor(e, _), Value::Float(f)) => e.append(t, f),
            (OpenChunk::Hist(e, _), Value::Histogram(h)) => e.append(t, &h),
            _ => {}
        }
        self.max_t = t;
    }

    fn insert_out_of_order(&mut self, t: i64, v: Value, store: &mut ChunkStore, range: i64) {
        match self.ooo.binary_search_by_key(&t, |(st, _)| *st) {
            Ok(i) => {
                if let Some(slot) = self.ooo.get_mut(i) {
                    slot.1 = v;
                }
            }
            Err(i) => self.ooo.insert(i, (t, v)),
        }
        if self.ooo.len() >= OOO_FOLD_THRESHOLD {
            let all = self.all_samples(store);
            self.rebuild(all, store, range);
        }
    }

    /// Heap bytes owned by the series beyond its struct (see [`HeadStats::series_heap_bytes`]).
    fn heap_bytes(&self) -> u64 {
        let open = match &self.open {
            OpenChunk::None => 0,
            OpenChunk::Xor(e, _) => e.capacity(),
            OpenChunk::Hist(e, _) => e.capacity(),
        };
        let in_memory: usize = self
            .sealed
            .iter()
            .map(|c| match &c.data {
                ChunkData::Mem(b) => b.len() + 16,
                ChunkData::File(_) => 0,
            })
            .sum();
        (self.sealed.capacity() * std::mem::size_of::<SealedChunk>()
            + open
            + in_memory
            + self.ooo.capacity() * std::mem::size_of::<(i64, Value)>()) as u64
    }

    /// Drops whole chunks ending before `below`; returns false when a chunk or out-of-order
    /// sample straddles `below`, in which case the caller must rewrite the series.
    fn drop_chunks_before(&mut self, below: i64) -> bool {
        let straddles = self
            .sealed
            .iter()
            .any(|c| c.mint < below && c.maxt() >= below)
            || self
                .open
                .mint()
                .is_some_and(|m| m < below && self.max_t >= below)
            || self.ooo.first().is_some_and(|(t, _)| *t < below);
        if straddles {
            return false;
        }
        self.sealed.retain(|c| c.maxt() >= below);
        self.sealed.shrink_to_fit();
        if self.open.mint().is_some_and(|m| m < below) {
            self.open = OpenChunk::None;
        }
        true
    }
}

/// Whether `a` and `b` fall in the same block-range window, so head chunks never straddle a
/// block boundary and truncation after a block is cut drops whole chunks.
fn same_window(a: i64, b: i64, range: i64) -> bool {
    range <= 0 || a.div_euclid(range) == b.div_euclid(range)
}

/// Keeps the last of each run of equal timestamps in a sorted sample list.
pub fn dedup_keep_last(samples: &mut Vec<(i64, Value)>) {
    let mut out: Vec<(i64, Value)> = Vec::with_capacity(samples.len());
    for s in samples.drain(..) {
        match out.last_mut() {
            Some(last) if last.0 == s.0 => *last = s,
            _ => out.push(s),
        }
    }
    *samples = out;
}

/// Counts for `/api/v1/status/tsdb` and for logs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeadStats {
    /// Live series.
    pub num_series: u64,
    /// Chunks, sealed and open.
    pub num_chunks: u64,
    /// Earliest sample time, or `i64::MAX` when empty.
    pub min_time: i64,
    /// Latest sample time, or `i64::MIN` when empty.
    pub max_time: i64,
    /// Bytes of encoded chunk data, in memory or mapped.
    pub chunk_bytes: u64,
    /// Of `chunk_bytes`, the part living in memory-mapped head chunk files (page cache, not
    /// process heap).
    pub chunk_bytes_mapped: u64,
    /// Accounted heap bytes of the series: their structs, chunk lists, open chunks, chunks
    /// kept in memory, out-of-order buffers and the label lookup table (label strings, which
    /// callers share, and the postings index are not counted).
    pub series_heap_bytes: u64,
    /// Series count per metric name, largest first (top 10).
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Distinct values per label name, largest first (top 10).
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Series count per label pair, largest first (top 10).
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// Recent data in memory.
#[derive(Debug)]
pub struct Head {
    series: Vec<Option<MemSeries>>,
    by_labels: HashMap<Labels, u32>,
    postings: Postings,
    max_t: i64,
    min_valid_t: i64,
    ooo_window: i64,
    exemplars: VecDeque<(u32, Exemplar)>,
    max_exemplars: usize,
    metadata: HashMap<u32, Metadata>,
    store: ChunkStore,
    /// Block range: head chunks are cut at its boundaries (0 = never).
    chunk_range: i64,
    /// Series removed so far; appenders compare it to know their refs are still valid.
    removals: u64,
}

impl Head {
    /// An empty head accepting samples from `min_valid_t` on.
    pub fn new(ooo_window: i64, max_exemplars: usize, min_valid_t: i64) -> Self {
        Head {
            series: vec![None],
            by_labels: HashMap::new(),
            postings: Postings::new(),
            max_t: i64::MIN,
            min_valid_t,
            ooo_window,
            exemplars: VecDeque::new(),
            max_exemplars,
            metadata: HashMap::new(),
            store: ChunkStore::default(),
            chunk_range: 0,
            removals: 0,
        }
    }

    /// How many series were removed (or replaced) since the head was created.
    pub fn removals(&self) -> u64 {
        self.removals
    }

    /// Moves full chunks out of RAM into `files` from now on.
    pub fn set_chunk_files(&mut self, files: HeadChunkFiles) {
        self.store.files = Some(files);
    }

    /// Cuts head chunks at multiples of `range` (the block range) so persisting a block
    /// drops whole chunks instead of rewriting series.
    pub fn set_chunk_range(&mut self, range: i64) {
        self.chunk_range = range.max(0);
    }

    /// A series and the chunk store, borrowed together.
    fn series_and_store(&mut self, r: SeriesRef) -> Option<(&mut MemSeries, &mut ChunkStore)> {
        let s = usize::try_from(r)
            .ok()
            .and_then(|i| self.series.get_mut(i))
            .and_then(Option::as_mut)?;
        Some((s, &mut self.store))
    }

    fn get(&self, r: SeriesRef) -> Option<&MemSeries> {
        usize::try_from(r)
            .ok()
            .and_then(|i| self.series.get(i))
            .and_then(Option::as_ref)
    }

    fn get_mut(&mut self, r: SeriesRef) -> Option<&mut MemSeries> {
        usize::try_from(r)
            .ok()
            .and_then(|i| self.series.get_mut(i))
            .and_then(Option::as_mut)
    }

    /// The series' ref if it exists.
    pub fn lookup(&self, labels: &Labels) -> Option<SeriesRef> {
        self.by_labels.get(labels).map(|id| SeriesRef::from(*id))
    }

    /// Labels of a live series.
    pub fn labels_of(&self, r: SeriesRef) -> Option<&Labels> {
        self.get(r).map(|s| &s.labels)
    }

    /// Finds or creates the series; returns its ref and whether it was created.
    pub fn get_or_create(&mut self, labels: &Labels) -> (SeriesRef, bool) {
        if let Some(r) = self.lookup(labels) {
            return (r, false);
        }
        let id = self.series.len() as u32;
        self.series.push(Some(MemSeries::new(labels.clone())));
        self.by_labels.insert(labels.clone(), id);
        self.postings.add(id, labels);
        (SeriesRef::from(id), true)
    }

    /// Recreates a series under a known ref while replaying the WAL.
    pub fn create_with_ref(&mut self, r: SeriesRef, labels: Labels) {
        let Ok(id) = u32::try_from(r) else { return };
        if id == 0 || self.lookup(&labels).is_some() {
            return;
        }
        let idx = id as usize;
        if self.series.len() <= idx {
            self.series.resize_with(idx + 1, || None);
        }
        if let Some(old) = self.series.get(idx).and_then(Option::as_ref) {
            self.removals += 1;
            let old_labels = old.labels.clone();
            self.by_labels.remove(&old_labels);
            self.postings.remove(id, &old_labels);
        }
        let mut s = MemSeries::new(labels.clone());
        s.logged = true;
        self.series[idx] = Some(s);
        self.by_labels.insert(labels.clone(), id);
        self.postings.add(id, &labels);
    }

    /// Whether the WAL already has this series' record.
    pub fn is_logged(&self, r: SeriesRef) -> bool {
        self.get(r).is_some_and(|s| s.logged)
    }

    /// Records that the WAL now has this series' record.
    pub fn mark_logged(&mut self, r: SeriesRef) {
        if let Some(s) = self.get_mut(r) {
            s.logged = true;
        }
    }

    /// Newest sample time in the head.
    pub fn max_t(&self) -> i64 {
        self.max_t
    }

    /// Oldest sample time still in the head (`i64::MAX` when empty).
    pub fn min_t(&self) -> i64 {
        self.series
            .iter()
            .flatten()
            .filter_map(MemSeries::min_t)
            .min()
            .unwrap_or(i64::MAX)
    }

    /// Samples older than this are refused as out of bounds.
    pub fn min_valid_t(&self) -> i64 {
        self.min_valid_t
    }

    /// Raises the out-of-bounds limit (after data below it went to a block).
    pub fn set_min_valid_t(&mut self, t: i64) {
        self.min_valid_t = self.min_valid_t.max(t);
    }

    /// Decides whether a sample may be appended, given samples of the same series that are
    /// still pending in the caller's batch and the head maximum including that batch.
    pub fn check(
        &self,
        r: SeriesRef,
        t: i64,
        v: &Value,
        pending: &[(i64, Value)],
        pending_head_max: i64,
    ) -> Result<Verdict, SampleRejection> {
        if t < self.min_valid_t {
            return Err(SampleRejection::OutOfBounds);
        }
        let series_max = self.get(r).map_or(i64::MIN, |s| s.max_t);
        let pending_max = pending.iter().map(|(pt, _)| *pt).max().unwrap_or(i64::MIN);
        if t > series_max.max(pending_max) {
            return Ok(Verdict::InOrder);
        }
        let existing = pending
            .iter()
            .rev()
            .find(|(pt, _)| *pt == t)
            .map(|(_, pv)| pv.clone())
            .or_else(|| self.get(r).and_then(|s| s.value_at(t, &self.store)));
        if let Some(existing) = existing {
            return if existing.same_as(v) {
                Ok(Verdict::AlreadyStored)
            } else {
                Err(SampleRejection::Duplicate)
            };
        }
        let head_max = self.max_t.max(pending_head_max);
        if self.ooo_window > 0 && t >= head_max.saturating_sub(self.ooo_window) {
            Ok(Verdict::OutOfOrder)
        } else {
            Err(SampleRejection::OutOfOrder)
        }
    }

    /// Validates and stores a sample.
    pub fn append(&mut self, r: SeriesRef, t: i64, v: Value) -> Result<Verdict, SampleRejection> {
        let verdict = self.check(r, t, &v, &[], i64::MIN)?;
        self.store(r, t, v, verdict);
        Ok(verdict)
    }

    fn store(&mut self, r: SeriesRef, t: i64, v: Value, verdict: Verdict) {
        let range = self.chunk_range;
        let Some((s, store)) = self.series_and_store(r) else {
            return;
        };
        match verdict {
            Verdict::InOrder => s.append_in_order(t, v, store, range),
            Verdict::OutOfOrder => s.insert_out_of_order(t, v, store, range),
            Verdict::AlreadyStored => return,
        }
        self.max_t = self.max_t.max(t);
    }

    /// Stores a sample read back from the WAL or a checkpoint: never refuses anything inside
    /// the valid range, since the sample was accepted before the restart.
    pub fn replay(&mut self, r: SeriesRef, t: i64, v: Value) {
        if t < self.min_valid_t {
            return;
        }
        let Some(s) = self.get(r) else { return };
        let verdict = if t > s.max_t {
            Verdict::InOrder
        } else if s.value_at(t, &self.store).is_some_and(|e| e.same_as(&v)) {
            Verdict::AlreadyStored
        } else {
            Verdict::OutOfOrder
        };
        self.store(r, t, v, verdict);
    }

    /// Removes samples of series `r` within `[mint, maxt]`.
    pub fn delete_range(&mut self, r: SeriesRef, mint: i64, maxt: i64) {
        let range = self.chunk_range;
        let Some((s, store)) = self.series_and_store(r) else {
            return;
        };
        let before = s.all_samples(store);
        if !before.iter().any(|(t, _)| *t >= mint && *t <= maxt) {
            return;
        }
        let kept: Vec<(i64, Value)> = before
            .into_iter()
            .filter(|(t, _)| *t < mint || *t > maxt)
            .collect();
        // Appends keep their ordering state: a deleted range stays "in the past" for the
        // series, matching what a replay of the WAL reconstructs.
        let max_t = s.max_t;
        s.rebuild(kept, store, range);
        s.max_t = s.max_t.max(max_t);
    }

    /// Refs of series matching `matchers`.
    pub fn select_refs(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        self.postings
            .select(matchers)
            .iter()
            .map(SeriesRef::from)
            .collect()
    }

    /// The head's postings index.
    pub fn postings(&self) -> &Postings {
        &self.postings
    }

    /// Samples of one series within `[mint, maxt]`, decoded.
    pub fn samples(&self, r: SeriesRef, mint: i64, maxt: i64) -> Vec<(i64, Value)> {
        let Some(s) = self.get(r) else {
            return Vec::new();
        };
        let mut out = s.all_samples(&self.store);
        out.retain(|(t, _)| *t >= mint && *t <= maxt);
        out
    }

    /// What a querier needs to read one series over `[mint, maxt]` later without the lock:
    /// shared sealed chunks, a copy of the open chunk, and the out-of-order samples.
    pub fn sources(&self, r: SeriesRef, mint: i64, maxt: i64) -> Vec<SampleSource> {
        let Some(s) = self.get(r) else {
            return Vec::new();
        };
        let mut out: Vec<SampleSource> = s
            .sealed
            .iter()
            .filter(|c| c.maxt() >= mint && c.mint <= maxt)
            .filter_map(|c| self.store.source(c))
            .collect();
        if s.open.mint().is_some_and(|m| m <= maxt) && s.max_t >= mint {
            out.extend(s.open.as_source());
        }
        let ooo: Vec<(i64, Value)> = s
            .ooo
            .iter()
            .filter(|(t, _)| *t >= mint && *t <= maxt)
            .cloned()
            .collect();
        if !ooo.is_empty() {
            out.push(SampleSource::Decoded(Arc::new(ooo)));
        }
        out
    }

    /// Like [`Head::sources`], each source with bounds `(first t, last t)` of its samples (the
    /// open chunk's upper bound may be loose after a deletion), so readers can stream chunks
    /// that do not overlap and decode only what they visit.
    pub fn bounded_sources(
        &self,
        r: SeriesRef,
        mint: i64,
        maxt: i64,
    ) -> Vec<(i64, i64, SampleSource)> {
        let Some(s) = self.get(r) else {
            return Vec::new();
        };
        let mut out: Vec<(i64, i64, SampleSource)> = s
            .sealed
            .iter()
            .filter(|c| c.maxt() >= mint && c.mint <= maxt)
            .filter_map(|c| Some((c.mint, c.maxt(), self.store.source(c)?)))
            .collect();
        if let Some(open_mint) = s.open.mint() {
            if open_mint <= maxt && s.max_t >= mint {
                out.extend(s.open.as_source().map(|src| (open_mint, s.max_t, src)));
            }
        }
        let ooo: Vec<(i64, Value)> = s
            .ooo
            .iter()
            .filter(|(t, _)| *t >= mint && *t <= maxt)
            .cloned()
            .collect();
        if let (Some(first), Some(last)) = (ooo.first().map(|x| x.0), ooo.last().map(|x| x.0)) {
            out.push((first, last, SampleSource::Decoded(Arc::new(ooo))));
        }
        out
    }

    /// Drops samples older than `below` (now in a block) and series left empty.
    pub fn truncate(&mut self, below: i64) {
        let mut gone = Vec::new();
        let range = self.chunk_range;
        for (id, slot) in self.series.iter_mut().enumerate() {
            let Some(s) = slot else { continue };
            let needs_rewrite = s.sealed.iter().any(|c| c.mint < below)
                || s.open.mint().is_some_and(|m| m < below)
                || s.ooo.first().is_some_and(|(t, _)| *t < below);
            if !needs_rewrite {
                continue;
            }
            if !s.drop_chunks_before(below) {
                let max_t = s.max_t;
                let kept: Vec<(i64, Value)> = s
                    .all_samples(&self.store)
                    .into_iter()
                    .filter(|(t, _)| *t >= below)
                    .collect();
                s.rebuild(kept, &mut self.store, range);
                s.max_t = s.max_t.max(max_t);
            }
            if s.is_empty() {
                gone.push(id as u32);
            }
        }
        if let Some(f) = self.store.files.as_mut() {
            f.truncate(below);
        }
        for id in gone {
            if let Some(s) = self.series.get_mut(id as usize).and_then(Option::take) {
                self.removals += 1;
                self.by_labels.remove(&s.labels);
                self.postings.remove(id, &s.labels);
                self.metadata.remove(&id);
            }
        }
        self.exemplars.retain(|(_, e)| e.t >= below);
    }

    /// Every live series as (ref, labels), for checkpoints and block writing.
    pub fn all_series(&self) -> Vec<(SeriesRef, Labels)> {
        self.series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as SeriesRef, s.labels.clone())))
            .collect()
    }

    /// Stores an exemplar, evicting the oldest when the ring is full.
    pub fn add_exemplar(&mut self, r: SeriesRef, e: Exemplar) {
        let Ok(id) = u32::try_from(r) else { return };
        if self.max_exemplars == 0 || self.get(r).is_none() {
            return;
        }
        if self.exemplars.len() >= self.max_exemplars {
            self.exemplars.pop_front();
        }
        self.exemplars.push_back((id, e));
    }

    /// Exemplars of series `r` within `[mint, maxt]`.
    pub fn exemplars(&self, r: SeriesRef, mint: i64, maxt: i64) -> Vec<Exemplar> {
        self.exemplars
            .iter()
            .filter(|(id, e)| SeriesRef::from(*id) == r && e.t >= mint && e.t <= maxt)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Sets a series' metadata.
    pub fn set_metadata(&mut self, r: SeriesRef, m: Metadata) {
        if let (Ok(id), true) = (u32::try_from(r), self.get(r).is_some()) {
            self.metadata.insert(id, m);
        }
    }

    /// A series' metadata, if any was recorded.
    pub fn metadata(&self, r: SeriesRef) -> Option<&Metadata> {
        u32::try_from(r).ok().and_then(|id| self.metadata.get(&id))
    }

    /// Every recorded metadata entry.
    pub fn all_metadata(&self) -> Vec<(SeriesRef, Metadata)> {
        self.metadata
            .iter()
            .map(|(id, m)| (SeriesRef::from(*id), m.clone()))
            .collect()
    }

    /// Counts for the status page.
    pub fn stats(&self) -> HeadStats {
        let mut st = HeadStats {
            min_time: self.min_t(),
            max_time: self.max_t,
            ..Default::default()
        };
        st.series_heap_bytes = (self.series.capacity() * std::mem::size_of::<Option<MemSeries>>()
            + self.by_labels.capacity() * (std::mem::size_of::<(Labels, u32)>() + 1))
            as u64;
        for s in self.series.iter().flatten() {
            st.num_series += 1;
            st.num_chunks += s.sealed.len() as u64 + u64::from(s.open.mint().is_some());
            st.chunk_bytes += s.sealed.iter().map(|c| self.store.len(c)).sum::<u64>();
            st.chunk_bytes_mapped += s.sealed.iter().map(ChunkStore::mapped_bytes).sum::<u64>();
            st.series_heap_bytes += s.heap_bytes();
            st.chunk_bytes += match &s.open {
                OpenChunk::None => 0,
                OpenChunk::Xor(e, _) => e.bytes().len() as u64,
                OpenChunk::Hist(e, _) => e.bytes().len() as u64,
            };
        }
        let top = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(10);
            v
        };
        st.series_count_by_metric_name = top(self
            .postings
            .values(pharos_model::METRIC_NAME)
            .map(|vs| {
                vs.iter()
                    .map(|(v, ids)| (v.to_string(), ids.len()))
                    .collect()
            })
            .unwrap_or_default());
        st.label_value_count_by_label_name = top(self
            .postings
            .names()
            .map(|n| {
                (
                    n.to_string(),
                    self.postings.values(n).map_or(0, |v| v.len() as u64),
                )
            })
            .collect());
        st.series_count_by_label_value_pair = top(self
            .postings
            .entries()
            .map(|(n, v, ids)| (format!("{n}={v}"), ids.len()))
            .collect());
        st
    }
}

/// Convenience for tests and replay: a histogram value.
pub fn histogram_value(h: FloatHistogram) -> Value {
    Value::Histogram(Box::new(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::STALE_NAN;

    #[test]
    fn sealed_chunk_stays_small() {
        assert_eq!(std::mem::size_of::<SealedChunk>(), 32);
        let c = SealedChunk::new(
            Encoding::Xor,
            -5,
            i64::MAX,
            ChunkData::Mem(Arc::from(&[][..])),
        );
        assert_eq!(c.maxt(), i64::MAX);
        let c = SealedChunk::new(Encoding::Xor, 10, 20, ChunkData::Mem(Arc::from(&[][..])));
        assert_eq!(c.maxt(), 20);
    }

    fn lbl(n: &str) -> Labels {
        Labels::from_pairs([("__name__", n)])
    }

    #[test]
    fn in_order_out_of_order_and_duplicates() {
        let mut h = Head::new(0, 0, i64::MIN);
        let (r, created) = h.get_or_create(&lbl("a"));
        assert!(created);
        assert_eq!(h.get_or_create(&lbl("a")), (r, false));
        for t in 0..300 {
            assert_eq!(
                h.append(r, t * 10, Value::Float(t as f64)),
                Ok(Verdict::InOrder)
            );
        }
        assert_eq!(
            h.append(r, 100, Value::Float(10.0)),
            Ok(Verdict::AlreadyStored)
        );
        assert_eq!(
            h.append(r, 100, Value::Float(11.0)),
            Err(SampleRejection::Duplicate)
        );
        assert_eq!(
            h.append(r, 105, Value::Float(11.0)),
            Err(SampleRejection::OutOfOrder)
        );
        assert_eq!(
            h.append(r, 2990, Value::Float(STALE_NAN)),
            Err(SampleRejection::Duplicate)
        );
        assert_eq!(
            h.append(r, 3000, Value::Float(STALE_NAN)),
            Ok(Verdict::InOrder)
        );
        let s = h.samples(r, 0, i64::MAX);
        assert_eq!(s.len(), 301);
        assert!(matches!(s[300].1, Value::Float(v) if pharos_model::is_stale_nan(v)));
        h.set_min_valid_t(5000);
        assert_eq!(
            h.append(r, 4000, Value::Float(1.0)),
            Err(SampleRejection::OutOfBounds)
        );
    }

    #[test]
    fn out_of_order_window_and_fold() {
        let mut h = Head::new(1000, 0, i64::MIN);
        let (r, _) = h.get_or_create(&lbl("a"));
        h.append(r, 10_000, Value::Float(1.0)).unwrap();
        assert_eq!(
            h.append(r, 8_000, Value::Float(1.0)),
            Err(SampleRejection::OutOfOrder)
        );
        for t in (9_000..10_000).rev() {
            assert_eq!(
                h.append(r, t, Value::Float(t as f64)),
                Ok(Verdict::OutOfOrder),
                "t={t}"
            );
        }
        let s = h.samples(r, 0, i64::MAX);
        assert_eq!(s.len(), 1001);
        assert!(s.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            h.append(r, 9_500, Value::Float(1.0)),
            Err(SampleRejection::Duplicate)
        );
        h.append(r, 10_001, Value::Float(2.0)).unwrap();
        assert_eq!(h.samples(r, 10_000, 10_001).len(), 2);
    }

    #[test]
    fn delete_and_truncate() {
        let mut h = Head::new(0, 0, i64::MIN);
        let (a, _) = h.get_or_create(&lbl("a"));
        let (b, _) = h.get_or_create(&lbl("b"));
        for t in 0..500 {
            h.append(a, t, Value::Float(1.0)).unwrap();
            h.append(b, t, histogram_value(FloatHistogram::default()))
                .unwrap();
        }
        h.delete_range(a, 100, 199);
        assert_eq!(h.samples(a, 0, 1000).len(), 400);
        assert_eq!(
            h.append(a, 150, Value::Float(1.0)),
            Err(SampleRejection::OutOfOrder)
        );
        h.truncate(300);
        assert_eq!(h.samples(a, 0, 1000).len(), 200);
        assert_eq!(h.samples(b, 0, 1000).first().map(|s| s.0), Some(300));
        h.truncate(1000);
        assert!(h.lookup(&lbl("a")).is_none());
        assert_eq!(h.stats().num_series, 0);
    }
}
