//! The database: a data directory with a lock, a WAL-backed head, and blocks; compaction,
//! retention, deletion and snapshots.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use pharos_model::{Labels, Matcher};

use crate::block::{self, Block, BlockCompaction, BlockError};
use crate::chunk::Value;
use crate::exemplar::Exemplar;
use crate::head::{dedup_keep_last, Head, HeadStats};
use crate::head_chunks::{HeadChunkFiles, HEAD_CHUNKS_DIR};
use crate::lock::DirLock;
use crate::wal::{self, Wal};
use crate::wal_record::WalRecord;

/// Two hours, the span of a block cut from the head.
pub const DEFAULT_BLOCK_RANGE: i64 = 2 * 3600 * 1000;

/// Tuning of a [`Db`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Span of blocks cut from the head (ms).
    pub block_range: i64,
    /// Largest block compaction may produce (ms).
    pub max_block_duration: i64,
    /// How far behind the newest sample an out-of-order sample may be (ms); 0 disables.
    pub out_of_order_time_window: i64,
    /// Delete blocks entirely older than this behind the newest data (ms); 0 keeps forever.
    pub retention_time: i64,
    /// Delete the oldest blocks while blocks plus WAL exceed this many bytes; 0 disables.
    pub retention_bytes: u64,
    /// WAL segment size in bytes.
    pub wal_segment_size: u64,
    /// fsync the WAL at most this often; `None` leaves flushing to the OS (data written
    /// before a process crash survives; only a machine crash can lose the unsynced tail).
    pub wal_fsync_interval: Option<Duration>,
    /// Exemplars kept in memory.
    pub max_exemplars: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_range: DEFAULT_BLOCK_RANGE,
            max_block_duration: 31 * 24 * 3600 * 1000,
            out_of_order_time_window: 0,
            retention_time: 15 * 24 * 3600 * 1000,
            retention_bytes: 0,
            wal_segment_size: 128 << 20,
            wal_fsync_interval: Some(Duration::from_secs(1)),
            max_exemplars: 100_000,
        }
    }
}

/// A database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// File system failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// A block failed to write or read.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A write was attempted on a database opened with [`Db::open_read_only`].
    #[error("the database at {0} is open read-only")]
    ReadOnly(PathBuf),
}

pub(crate) fn io_ctx(context: impl Into<String>) -> impl FnOnce(io::Error) -> DbError {
    let context = context.into();
    move |source| DbError::Io { context, source }
}

/// The head and its log, locked together so a commit's WAL write and head update are atomic
/// with respect to readers and checkpoints.
#[derive(Debug)]
pub(crate) struct HeadState {
    pub(crate) head: Head,
    /// `None` when opened read-only.
    pub(crate) wal: Option<Wal>,
}

impl HeadState {
    /// The WAL, or the error a read-only database gives every write.
    pub(crate) fn wal(&mut self) -> io::Result<&mut Wal> {
        self.wal.as_mut().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the database is open read-only",
            )
        })
    }
}

/// An open database directory.
#[derive(Debug)]
pub struct Db {
    dir: PathBuf,
    opts: Options,
    pub(crate) state: RwLock<HeadState>,
    pub(crate) blocks: RwLock<Vec<Arc<Block>>>,
    compaction: Mutex<()>,
    /// `None` when opened read-only (another process may own the directory).
    _lock: Option<DirLock>,
}

/// What [`Db::open`] did.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Blocks loaded.
    pub blocks: usize,
    /// WAL replay results.
    pub replay: wal::ReplayStats,
}

fn read_lock<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write_lock<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: takes the lock, cleans up after an
    /// interrupted compaction, loads blocks and replays the WAL into the head.
    pub fn open(dir: &Path, opts: Options) -> Result<(Db, OpenReport), DbError> {
        fs::create_dir_all(dir).map_err(io_ctx(format!("create {}", dir.display())))?;
        let lock = DirLock::acquire(dir).map_err(io_ctx("lock data directory"))?;
        let blocks = load_blocks(dir)?;
        let min_valid = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let mut head = Head::new(opts.out_of_order_time_window, opts.max_exemplars, min_valid);
        head.set_chunk_range(opts.block_range);
        let chunk_files = HeadChunkFiles::create(&dir.join(HEAD_CHUNKS_DIR))
            .map_err(io_ctx("prepare head chunk files"))?;
        head.set_chunk_files(chunk_files);
        let wal_dir = dir.join("wal");
        Wal::clean_temporary(&wal_dir).map_err(io_ctx("clean WAL temporaries"))?;
        let replay = wal::replay(&wal_dir, &mut |rec| apply_record(&mut head, rec))
            .map_err(io_ctx("replay write-ahead log"))?;
        if replay.truncated_bytes > 0 {
            tracing::warn!(
                dropped_bytes = replay.truncated_bytes,
                "dropped damaged WAL tail during replay"
            );
        }
        tracing::info!(
            records = replay.records,
            segments = replay.segments,
            series = head.stats().num_series,
            "WAL replay complete"
        );
        let wal = Wal::open(&wal_dir, opts.wal_segment_size, opts.wal_fsync_interval)
            .map_err(io_ctx("open write-ahead log"))?;
        let report = OpenReport {
            blocks: blocks.len(),
            replay,
        };
        let db = Db {
            dir: dir.to_path_buf(),
            opts,
            state: RwLock::new(HeadState {
                head,
                wal: Some(wal),
            }),
            blocks: RwLock::new(blocks),
            compaction: Mutex::new(()),
            _lock: Some(lock),
        };
        Ok((db, report))
    }

    /// Opens `dir` for reading only, the way an inspection tool must treat a directory a
    /// running server may own: no lock is taken, nothing is created, repaired or deleted
    /// (leftover temporaries and already-merged blocks are just skipped), no WAL segment is
    /// started, and the head is rebuilt in memory from the WAL, stopping quietly at a tail
    /// the owner is still writing. Every write returns [`DbError::ReadOnly`].
    pub fn open_read_only(dir: &Path) -> Result<(Db, OpenReport), DbError> {
        if !dir.is_dir() {
            return Err(DbError::Io {
                context: format!("open {} read-only", dir.display()),
                source: io::Error::new(io::ErrorKind::NotFound, "no such data directory"),
            });
        }
        let blocks = scan_blocks(dir, false)?;
        let min_valid = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let opts = Options {
            retention_time: 0,
            retention_bytes: 0,
            ..Options::default()
        };
        let mut head = Head::new(opts.out_of_order_time_window, 0, min_valid);
        let replay =
            wal::replay_read_only(&dir.join("wal"), &mut |rec| apply_record(&mut head, rec))
                .map_err(io_ctx("read write-ahead log"))?;
        let report = OpenReport {
            blocks: blocks.len(),
            replay,
        };
        let db = Db {
            dir: dir.to_path_buf(),
            opts,
            state: RwLock::new(HeadState { head, wal: None }),
            blocks: RwLock::new(blocks),
            compaction: Mutex::new(()),
            _lock: None,
        };
        Ok((db, report))
    }

    /// Whether the database was opened with [`Db::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self._lock.is_none()
    }

    fn check_writable(&self) -> Result<(), DbError> {
        if self.is_read_only() {
            return Err(DbError::ReadOnly(self.dir.clone()));
        }
        Ok(())
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// A new batch of appends.
    pub fn appender(&self) -> crate::appender::Appender<'_> {
        crate::appender::Appender::new(self)
    }

    /// Loaded blocks, oldest first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        read_lock(&self.blocks).clone()
    }

    /// The oldest sample time storage holds, `None` when it is empty: the oldest block's
    /// minimum time when there are blocks (from their metas, as Prometheus's `StartTime`),
    /// otherwise the head's, found from each series' first chunk without the full statistics
    /// walk of [`Db::head_stats`].
    pub fn start_time(&self) -> Option<i64> {
        let blocks_min = read_lock(&self.blocks)
            .iter()
            .map(|b| b.meta().min_time)
            .min();
        if blocks_min.is_some() {
            return blocks_min;
        }
        let head_min = read_lock(&self.state).head.min_t();
        (head_min != i64::MAX).then_some(head_min)
    }

    /// Head counters for `/api/v1/status/tsdb`.
    pub fn head_stats(&self) -> HeadStats {
        read_lock(&self.state).head.stats()
    }

    /// Cardinality analysis of the head's series (see [`crate::analyze`]).
    pub fn analyze_head(&self, limit: usize) -> crate::analyze::Analysis {
        crate::analyze::analyze(read_lock(&self.state).head.postings(), limit)
    }

    /// Flushes the WAL to stable storage.
    pub fn sync(&self) -> Result<(), DbError> {
        match write_lock(&self.state).wal.as_mut() {
            Some(w) => w.sync().map_err(io_ctx("sync write-ahead log")),
            None => Ok(()),
        }
    }

    /// Exemplars of series matching `matchers` within `[mint, maxt]`.
    pub fn exemplars(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<(Labels, Vec<Exemplar>)> {
        let st = read_lock(&self.state);
        let mut out = Vec::new();
        for r in st.head.select_refs(matchers) {
            let ex = st.head.exemplars(r, mint, maxt);
            if let (false, Some(l)) = (ex.is_empty(), st.head.labels_of(r)) {
                out.push((l.clone(), ex));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Metadata recorded for series with the given metric name (or all when `None`).
    pub fn metadata(&self, metric: Option<&str>) -> Vec<(Labels, crate::exemplar::Metadata)> {
        let st = read_lock(&self.state);
        st.head
            .all_metadata()
            .into_iter()
            .filter_map(|(r, m)| st.head.labels_of(r).map(|l| (l.clone(), m)))
            .filter(|(l, _)| metric.is_none() || l.metric_name() == metric)
            .collect()
    }

    /// Deletes samples in `[mint, maxt]` of series matching `matchers`: tombstones in blocks,
    /// a rewrite plus a WAL record in the head.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<(), DbError> {
        self.check_writable()?;
        let _c = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        for b in self.blocks() {
            b.delete(matchers, mint, maxt)?;
        }
        let mut st = write_lock(&self.state);
        let refs = st.head.select_refs(matchers);
        if refs.is_empty() {
            return Ok(());
        }
        let rec = WalRecord::Deletes(refs.iter().map(|r| (*r, mint, maxt)).collect());
        st.wal()
            .and_then(|w| w.log(&[rec]))
            .map_err(io_ctx("log deletion"))?;
        for r in refs {
            st.head.delete_range(r, mint, maxt);
        }
        Ok(())
    }

    /// Rewrites every block that has tombstones without the deleted data (a block left empty
    /// is removed), as Prometheus's `clean_tombstones` admin call does. Head deletions are
    /// applied at delete time, so only blocks need this.
    pub fn clean_tombstones(&self) -> Result<(), DbError> {
        self.check_writable()?;
        let _c = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        for b in self.blocks() {
            if !b.tombstones().is_empty() {
                self.merge_blocks(std::slice::from_ref(&b))?;
            }
        }
        Ok(())
    }

    /// Persists head data older than the current block window, merges blocks and applies
    /// retention. Safe to call at any time from any thread (calls are serialised); a server
    /// drives it with [`crate::Compactor::spawn`] once a minute.
    pub fn compact(&self) -> Result<(), DbError> {
        self.check_writable()?;
        let _c = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let (min_t, max_t) = {
                let st = read_lock(&self.state);
                (st.head.min_t().max(st.head.min_valid_t()), st.head.max_t())
            };
            if min_t == i64::MAX
                || max_t == i64::MIN
                || max_t - min_t <= self.opts.block_range / 2 * 3
            {
                break;
            }
            let start = min_t.div_euclid(self.opts.block_range) * self.opts.block_range;
            self.persist_head_range(start, start + self.opts.block_range)?;
        }
        self.compact_blocks()?;
        self.apply_retention()?;
        Ok(())
    }

    /// Writes everything in the head to a block now, regardless of the block window (used by
    /// shutdown-time flushes, snapshots and tests).
    pub fn flush_head(&self) -> Result<(), DbError> {
        self.check_writable()?;
        let _c = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        let (min_t, max_t) = {
            let st = read_lock(&self.state);
            (st.head.min_t().max(st.head.min_valid_t()), st.head.max_t())
        };
        if min_t == i64::MAX || max_t == i64::MIN || min_t > max_t {
            return Ok(());
        }
        self.persist_head_range(min_t, max_t.saturating_add(1))
    }

    /// Cuts `[start, end)` of the head into a block, then truncates the head and checkpoints.
    fn persist_head_range(&self, start: i64, end: i64) -> Result<(), DbError> {
        let data = {
            let mut st = write_lock(&self.state);
            // Raise the floor first so no append can slip into the range being persisted.
            st.head.set_min_valid_t(end);
            collect_head(&st.head, start, end - 1)
        };
        let meta = block::write_block(
            &self.dir,
            data,
            start,
            end,
            BlockCompaction {
                level: 1,
                ..Default::default()
            },
        )?;
        if let Some(meta) = meta {
            let b = Block::open(&self.dir.join(&meta.ulid))?;
            tracing::info!(block = %meta.ulid, mint = meta.min_time, maxt = meta.max_time, series = meta.stats.num_series, "head persisted to block");
            let mut blocks = write_lock(&self.blocks);
            blocks.push(Arc::new(b));
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        let mut st = write_lock(&self.state);
        st.head.truncate(end);
        checkpoint(&mut st).map_err(io_ctx("checkpoint write-ahead log"))
    }

    fn compact_blocks(&self) -> Result<(), DbError> {
        while let Some(group) = plan_compaction(&self.blocks(), &self.opts) {
            self.merge_blocks(&group)?;
        }
        Ok(())
    }

    /// Merges `group` into one block; parents are removed only after the new block is in place.
    fn merge_blocks(&self, group: &[Arc<Block>]) -> Result<(), DbError> {
        let min_time = group.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
        let max_time = group.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
        let data = merge_block_data(group)?;
        let mut sources: Vec<String> = group
            .iter()
            .flat_map(|b| b.meta().compaction.sources.clone())
            .collect();
        sources.sort();
        sources.dedup();
        let compaction = BlockCompaction {
            level: group
                .iter()
                .map(|b| b.meta().compaction.level)
                .max()
                .unwrap_or(1)
                + 1,
            sources,
            parents: group.iter().map(|b| b.meta().ulid.clone()).collect(),
        };
        let meta = block::write_block(&self.dir, data, min_time, max_time, compaction)?;
        let new_block = match &meta {
            Some(m) => Some(Arc::new(Block::open(&self.dir.join(&m.ulid))?)),
            None => None,
        };
        {
            let mut blocks = write_lock(&self.blocks);
            blocks.retain(|b| !group.iter().any(|g| Arc::ptr_eq(b, g)));
            blocks.extend(new_block);
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        for b in group {
            fs::remove_dir_all(b.dir()).map_err(io_ctx(format!(
                "remove compacted block {}",
                b.dir().display()
            )))?;
        }
        tracing::info!(parents = group.len(), block = ?meta.map(|m| m.ulid), "blocks compacted");
        Ok(())
    }

    fn apply_retention(&self) -> Result<(), DbError> {
        let blocks = self.blocks();
        let mut doomed: Vec<Arc<Block>> = Vec::new();
        if self.opts.retention_time > 0 {
            if let Some(newest) = blocks.iter().map(|b| b.meta().max_time).max() {
                let cutoff = newest - self.opts.retention_time;
                doomed.extend(
                    blocks
                        .iter()
                        .filter(|b| b.meta().max_time <= cutoff)
                        .cloned(),
                );
            }
        }
        if self.opts.retention_bytes > 0 {
            let wal_size = block::dir_size(&self.dir.join("wal"));
            let mut total: u64 = wal_size + blocks.iter().map(|b| b.size()).sum::<u64>();
            for b in &blocks {
                if total <= self.opts.retention_bytes {
                    break;
                }
                total = total.saturating_sub(b.size());
                if !doomed.iter().any(|d| Arc::ptr_eq(d, b)) {
                    doomed.push(b.clone());
                }
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        write_lock(&self.blocks).retain(|b| !doomed.iter().any(|d| Arc::ptr_eq(b, d)));
        for b in doomed {
            tracing::info!(block = %b.meta().ulid, "deleting block past retention");
            fs::remove_dir_all(b.dir())
                .map_err(io_ctx(format!("remove block {}", b.dir().display())))?;
        }
        Ok(())
    }

    /// Writes a consistent copy of the database into `dst`: blocks as hard links (no data
    /// copied) and, with `with_head`, the head as one more block.
    pub fn snapshot(&self, dst: &Path, with_head: bool) -> Result<(), DbError> {
        let _c = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        fs::create_dir_all(dst).map_err(io_ctx(format!("create {}", dst.display())))?;
        for b in self.blocks() {
            let to = dst.join(&b.meta().ulid);
            fs::create_dir_all(to.join("chunks")).map_err(io_ctx("create snapshot block dir"))?;
            for f in ["meta.json", "index", "chunks/000001", "tombstones.json"] {
                let from = b.dir().join(f);
                if from.exists() {
                    fs::hard_link(&from, to.join(f))
                        .map_err(io_ctx(format!("link {}", from.display())))?;
                }
            }
        }
        if with_head {
            let data = {
                let st = read_lock(&self.state);
                collect_head(&st.head, i64::MIN, i64::MAX)
            };
            block::write_block(
                dst,
                data,
                i64::MIN,
                i64::MAX,
                BlockCompaction {
                    level: 1,
                    ..Default::default()
                },
            )?;
        }
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let mut st = write_lock(&self.state);
        let Some(wal) = st.wal.as_mut() else { return };
        if let Err(e) = wal.sync() {
            tracing::error!(error = %e, "could not sync the WAL on close");
        }
    }
}

/// Replays one WAL record into the head.
fn apply_record(head: &mut Head, rec: WalRecord) {
    match rec {
        WalRecord::Series(v) => {
            for (r, l) in v {
                head.create_with_ref(r, l);
            }
        }
        WalRecord::Samples(v) => {
            for (r, t, f) in v {
                head.replay(r, t, Value::Float(f));
            }
        }
        WalRecord::Histograms(v) => {
            for (r, t, h) in v {
                head.replay(r, t, Value::Histogram(Box::new(h)));
            }
        }
        WalRecord::Deletes(v) => {
            for (r, a, z) in v {
                head.delete_range(r, a, z);
            }
        }
        WalRecord::Exemplars(v) => {
            for (r, e) in v {
                head.add_exemplar(r, e);
            }
        }
        WalRecord::Metadata(v) => {
            for (r, m) in v {
                head.set_metadata(r, m);
            }
        }
    }
}

/// A series with its decoded samples.
type SeriesSamples = (Labels, Vec<(i64, Value)>);

/// Head data of `[mint, maxt]`, sorted by labels.
fn collect_head(head: &Head, mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, Value)>)> {
    let mut out: Vec<(Labels, Vec<(i64, Value)>)> = head
        .all_series()
        .into_iter()
        .map(|(r, l)| (l, head.samples(r, mint, maxt)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Writes the head's full state as a checkpoint and drops the segments it covers.
fn checkpoint(st: &mut HeadState) -> io::Result<()> {
    let upto = st.wal()?.cut()?;
    let mut records = Vec::new();
    let series = st.head.all_series();
    for batch in series.chunks(1000) {
        records.push(WalRecord::Series(batch.to_vec()));
    }
    for (r, _) in &series {
        let mut floats = Vec::new();
        let mut hists = Vec::new();
        for (t, v) in st.head.samples(*r, i64::MIN, i64::MAX) {
            match v {
                Value::Float(f) => floats.push((*r, t, f)),
                Value::Histogram(h) => hists.push((*r, t, *h)),
            }
        }
        if !floats.is_empty() {
            records.push(WalRecord::Samples(floats));
        }
        if !hists.is_empty() {
            records.push(WalRecord::Histograms(hists));
        }
    }
    let meta = st.head.all_metadata();
    if !meta.is_empty() {
        records.push(WalRecord::Metadata(meta));
    }
    st.wal()?.checkpoint(upto, &records)
}

/// Opens every block in `dir`, removing temporary directories and blocks already replaced
/// by a compaction that finished writing but crashed before deleting its parents.
fn load_blocks(dir: &Path) -> Result<Vec<Arc<Block>>, DbError> {
    scan_blocks(dir, true)
}

/// Opens the blocks of `dir`; with `repair`, also deletes interrupted writes and blocks a
/// finished compaction replaced (otherwise they are only skipped).
fn scan_blocks(dir: &Path, repair: bool) -> Result<Vec<Arc<Block>>, DbError> {
    let mut blocks = Vec::new();
    for e in fs::read_dir(dir).map_err(io_ctx(format!("list {}", dir.display())))? {
        let e = e.map_err(io_ctx("list data directory"))?;
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !path.is_dir() || name == "wal" {
            continue;
        }
        if name.ends_with(".tmp") && !repair {
            continue;
        }
        if name.ends_with(".tmp") {
            tracing::info!(dir = %path.display(), "removing leftover of an interrupted block write");
            fs::remove_dir_all(&path).map_err(io_ctx(format!("remove {}", path.display())))?;
            continue;
        }
        if !path.join("meta.json").exists() {
            continue;
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(e) => tracing::error!(error = %e, "skipping unreadable block"),
        }
    }
    let replaced: Vec<String> = blocks
        .iter()
        .flat_map(|b| b.meta().compaction.parents.clone())
        .collect();
    let mut kept = Vec::new();
    for b in blocks {
        if replaced.contains(&b.meta().ulid) && !repair {
            continue;
        }
        if replaced.contains(&b.meta().ulid) {
            tracing::info!(block = %b.meta().ulid, "removing block already merged into a newer one");
            fs::remove_dir_all(b.dir()).map_err(io_ctx(format!("remove {}", b.dir().display())))?;
        } else {
            kept.push(b);
        }
    }
    kept.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    Ok(kept)
}

/// Picks blocks to merge next: overlapping blocks first, then complete windows of the
/// compaction levels (3x, 9x, ... the block range).
fn plan_compaction(blocks: &[Arc<Block>], opts: &Options) -> Option<Vec<Arc<Block>>> {
    if blocks.len() < 2 {
        return None;
    }
    // Overlaps (out-of-order data or forced flushes) are merged regardless of size.
    let mut group: Vec<Arc<Block>> = Vec::new();
    let mut group_max = i64::MIN;
    for b in blocks {
        if !group.is_empty() && b.meta().min_time < group_max {
            group.push(b.clone());
            group_max = group_max.max(b.meta().max_time);
            continue;
        }
        if group.len() >= 2 {
            return Some(group);
        }
        group = vec![b.clone()];
        group_max = b.meta().max_time;
    }
    if group.len() >= 2 {
        return Some(group);
    }
    let newest = blocks
        .iter()
        .map(|b| b.meta().max_time)
        .max()
        .unwrap_or(i64::MIN);
    let mut range = opts.block_range.saturating_mul(3);
    while range > 0 && range <= opts.max_block_duration {
        let mut windows: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
        for b in blocks {
            let w = b.meta().min_time.div_euclid(range);
            if b.meta().max_time <= (w + 1).saturating_mul(range) {
                windows.entry(w).or_default().push(b.clone());
            }
        }
        for (w, g) in windows {
            if g.len() >= 2 && (w + 1).saturating_mul(range) <= newest {
                return Some(g);
            }
        }
        range = range.saturating_mul(3);
    }
    None
}

/// All series of `group`, merged by labels, tombstones applied, duplicates removed.
fn merge_block_data(group: &[Arc<Block>]) -> Result<Vec<SeriesSamples>, DbError> {
    let mut merged: BTreeMap<Labels, Vec<(i64, Value)>> = BTreeMap::new();
    for b in group {
        for id in 0..b.num_series() as u32 {
            let Some(s) = b.series(id) else { continue };
            let samples = b.samples(id, i64::MIN, i64::MAX).map_err(|e| {
                DbError::Block(BlockError::Corrupt {
                    path: b.dir().to_path_buf(),
                    reason: e.0,
                })
            })?;
            merged.entry(s.labels.clone()).or_default().extend(samples);
        }
    }
    Ok(merged
        .into_iter()
        .map(|(l, mut s)| {
            s.sort_by_key(|(t, _)| *t);
            dedup_keep_last(&mut s);
            (l, s)
        })
        .collect())
}
