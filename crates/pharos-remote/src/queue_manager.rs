//! One remote write queue per `remote_write` entry: a WAL watcher thread feeds shards (series
//! hashed by ref, so each series' samples stay in order), each shard batches up to
//! `max_samples_per_send` samples or `batch_send_deadline`, and sends with exponential
//! backoff between `min_backoff` and `max_backoff`.
//!
//! Progress: the watcher's position is recorded in `<storage>/remote_write/<queue>.position`
//! once every sample read before it has been delivered (or given up on), so a restarted
//! server resumes there. Each shard works in FIFO order, so "delivered up to item N" per shard
//! is one number; a marker remembers, for a WAL position, the last item pushed to each shard,
//! and the position is safe once every shard has completed its item.
//!
//! Resharding follows Prometheus's rule: every 10 s the time spent sending per sample and the
//! rates of samples read and sent give the shards needed to keep up plus work off 5% of the
//! backlog per interval; the count changes (within `min_shards..=max_shards`) only when it is
//! more than 30% off and the last send did not fail recently. Changing the count drains the
//! old shards before new ones start, so each series' samples stay in order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pharos_http::{ClientOptions, HttpClient};
use pharos_model::{FloatHistogram, Labels};
use pharos_scrape::relabel::{relabel, RelabelConfig};
use pharos_tsdb::exemplar::{Exemplar, Metadata};
use pharos_tsdb::{Db, SeriesRef};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::sender::{
    encode_write_request, encode_write_request_v2, SampleValue, SendError, SeriesSamples,
    WriteClient,
};
use crate::wal_watcher::{StartPoint, WalConsumer, WalPosition, WalWatcher};
use crate::write_config::{ProtobufMessage, RemoteWriteConfig};

/// Metadata gathered for sending, as (metric family name, metadata).
pub type MetadataFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Vec<(String, Metadata)>> + Send>>;

/// Where metadata comes from besides the TSDB (the server's scrape targets), asked once per
/// `send_interval`.
pub type MetadataSource = Arc<dyn Fn() -> MetadataFuture + Send + Sync>;

/// Why a queue could not start.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The HTTP client could not be built from the entry's settings.
    #[error("remote_write {name:?}: {source}")]
    Client {
        /// The queue name.
        name: String,
        /// Cause.
        #[source]
        source: pharos_http::HttpConfigError,
    },
    /// Queues run their shards on the caller's tokio runtime, and there was none.
    #[error("remote_write {name:?}: not started inside a tokio runtime")]
    NoRuntime {
        /// The queue name.
        name: String,
    },
    /// The watcher thread could not be started.
    #[error("remote_write {name:?}: starting the WAL watcher: {source}")]
    Thread {
        /// The queue name.
        name: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// The queue's counters, read by the server's `/metrics`.
#[derive(Debug, Default)]
pub struct QueueMetrics {
    /// Samples sent (counted once per batch, whatever the outcome).
    pub samples_total: AtomicU64,
    /// Samples in batches the receiver refused for good.
    pub samples_failed_total: AtomicU64,
    /// Samples resent after a recoverable error (counted per retry).
    pub samples_retried_total: AtomicU64,
    /// Samples read from the WAL but not sent: relabeled away, too old, or of unknown series.
    pub samples_dropped_total: AtomicU64,
    /// Samples queued and not yet sent or given up.
    pub samples_pending: AtomicI64,
    /// Running shards.
    pub shards: AtomicI64,
    /// Shards the last rate calculation asked for.
    pub shards_desired: AtomicI64,
    /// Samples handed to shards.
    pub samples_in_total: AtomicU64,
    /// Nanoseconds spent in successful sends.
    pub send_nanos_total: AtomicU64,
    /// When a send last failed (ms since the epoch; 0 never).
    pub last_send_failure_ms: AtomicI64,
    /// Newest sample timestamp read from the WAL (ms).
    pub highest_read_ms: AtomicI64,
    /// Newest sample timestamp the receiver acknowledged (ms).
    pub highest_sent_ms: AtomicI64,
    /// Exemplars sent (counted once per batch).
    pub exemplars_total: AtomicU64,
    /// Compressed request bytes sent, retries included.
    pub bytes_total: AtomicU64,
    /// Metadata entries sent.
    pub metadata_total: AtomicU64,
    /// Metadata entries in failed requests.
    pub metadata_failed_total: AtomicU64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One sample on its way to a shard.
struct QueueItem {
    seq: u64,
    labels: Arc<Labels>,
    series: SeriesRef,
    t: i64,
    value: SampleValue,
}

/// Per-shard progress shared between the feeder and the shard task.
#[derive(Default)]
struct ShardProgress {
    /// Sequence number of the last item pushed (written by the feeder only).
    pushed: AtomicU64,
    /// Sequence number of the last item sent or given up (FIFO, so all before it too).
    completed: AtomicU64,
}

/// The on-disk record of how far a queue got.
#[derive(Clone, Debug, PartialEq)]
struct Progress {
    position: WalPosition,
    delivered_ms: i64,
}

fn read_progress(path: &Path) -> Option<Progress> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace();
    let segment = it.next()?.parse().ok()?;
    let offset = it.next()?.parse().ok()?;
    let delivered_ms = it.next()?.parse().ok()?;
    Some(Progress {
        position: WalPosition { segment, offset },
        delivered_ms,
    })
}

fn write_progress(path: &Path, p: &Progress) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("position-new");
    std::fs::write(
        &tmp,
        format!(
            "{} {} {}\n",
            p.position.segment, p.position.offset, p.delivered_ms
        ),
    )?;
    std::fs::rename(&tmp, path)
}

/// How long a stopping queue may go without sending anything before it gives up flushing.
const FLUSH_STALL: Duration = Duration::from_secs(3);

/// How long a stopping queue waits for its watcher to read the newest records.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

/// How often a progress marker is taken.
const MARKER_INTERVAL: Duration = Duration::from_secs(1);

/// The watcher's consumer: resolves series, applies external labels and relabeling once per
/// series, and pushes samples to shards.
struct QueueFeeder {
    series: HashMap<SeriesRef, Option<Arc<Labels>>>,
    external: Vec<(String, String)>,
    relabel: Vec<RelabelConfig>,
    senders: Vec<mpsc::Sender<QueueItem>>,
    shards: Vec<Arc<ShardProgress>>,
    /// What a reshard needs to start new shard tasks.
    spawner: ShardSpawner,
    /// The shard count the rate calculation wants.
    desired: Arc<AtomicUsize>,
    seq: u64,
    stop: Arc<AtomicBool>,
    metrics: Arc<QueueMetrics>,
    send_histograms: bool,
    send_exemplars: bool,
    markers: VecDeque<(Progress, Vec<u64>)>,
    last_marker: Instant,
    position: WalPosition,
    marked: WalPosition,
    max_read_ms: i64,
    progress_path: PathBuf,
    saved: Option<Progress>,
    /// Counts the times the watcher found nothing new to read.
    idle_ticks: Arc<AtomicU64>,
}

impl QueueFeeder {
    fn build_labels(&self, l: &Labels) -> Option<Arc<Labels>> {
        let mut labels = l.clone();
        if !self.external.is_empty() {
            let mut b = labels.builder();
            for (k, v) in &self.external {
                if l.get(k).is_none() {
                    b.set(k.as_str(), v.as_str());
                }
            }
            labels = b.build();
        }
        let out = relabel(&labels, &self.relabel)?;
        if out.is_empty() {
            return None;
        }
        Some(Arc::new(out))
    }

    /// Pushes one item, waiting while its shard is full; false when stopping.
    fn push(&mut self, series: SeriesRef, t: i64, value: SampleValue) -> bool {
        if self.desired.load(Ordering::Relaxed) != self.senders.len() && !self.reshard() {
            return false;
        }
        let labels = match self.series.get(&series) {
            Some(Some(l)) => l.clone(),
            Some(None) => {
                self.metrics
                    .samples_dropped_total
                    .fetch_add(1, Ordering::Relaxed);
                return true;
            }
            None => {
                tracing::debug!(series, "sample for a series not seen in the WAL; dropping");
                self.metrics
                    .samples_dropped_total
                    .fetch_add(1, Ordering::Relaxed);
                return true;
            }
        };
        if !matches!(value, SampleValue::Exemplar(_)) {
            self.metrics.highest_read_ms.fetch_max(t, Ordering::Relaxed);
            self.max_read_ms = self.max_read_ms.max(t);
        }
        let n = self.senders.len().max(1);
        let shard = (series % n as u64) as usize;
        let (Some(tx), Some(progress)) = (self.senders.get(shard), self.shards.get(shard)) else {
            return false;
        };
        self.seq += 1;
        let mut item = QueueItem {
            seq: self.seq,
            labels,
            series,
            t,
            value,
        };
        loop {
            match tx.try_send(item) {
                Ok(()) => {
                    progress.pushed.store(self.seq, Ordering::Release);
                    self.metrics.samples_pending.fetch_add(1, Ordering::Relaxed);
                    self.metrics
                        .samples_in_total
                        .fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(mpsc::error::TrySendError::Full(it)) => {
                    if self.stop.load(Ordering::Relaxed) {
                        return false;
                    }
                    item = it;
                    // The shard is backed up (slow or unreachable receiver): WAL reading
                    // pauses, as in Prometheus, instead of dropping samples.
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
    }

    /// Replaces the shards with the desired number: closes the old channels, waits until
    /// every queued sample is sent, then starts the new shards. False when stopping.
    fn reshard(&mut self) -> bool {
        let want = self.desired.load(Ordering::Relaxed).max(1);
        let from = self.senders.len();
        self.senders.clear();
        loop {
            let drained = self
                .shards
                .iter()
                .all(|s| s.completed.load(Ordering::Acquire) >= s.pushed.load(Ordering::Acquire));
            if drained {
                break;
            }
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            self.settle(false);
            std::thread::sleep(Duration::from_millis(5));
        }
        // Every marker is complete now; record the newest before shard numbers change.
        self.settle(true);
        self.markers.clear();
        let (senders, progress) = self.spawner.spawn(want);
        self.senders = senders;
        self.shards = progress;
        self.metrics.shards.store(want as i64, Ordering::Relaxed);
        tracing::info!(queue = %self.spawner.ctx.name, from, to = want, "remote write resharded");
        true
    }

    /// Takes a progress marker when due and records the newest one all shards are past.
    fn settle(&mut self, force_marker: bool) {
        if self.position != self.marked
            && (force_marker || self.last_marker.elapsed() >= MARKER_INTERVAL)
        {
            let snapshot = self
                .shards
                .iter()
                .map(|s| s.pushed.load(Ordering::Acquire))
                .collect();
            self.markers.push_back((
                Progress {
                    position: self.position,
                    delivered_ms: self.max_read_ms,
                },
                snapshot,
            ));
            self.marked = self.position;
            self.last_marker = Instant::now();
        }
        let mut done = None;
        while let Some((p, snap)) = self.markers.front() {
            let complete = self
                .shards
                .iter()
                .zip(snap)
                .all(|(s, want)| s.completed.load(Ordering::Acquire) >= *want);
            if !complete {
                break;
            }
            done = Some(p.clone());
            self.markers.pop_front();
        }
        if let Some(p) = done {
            if self.saved.as_ref() != Some(&p) {
                if let Err(e) = write_progress(&self.progress_path, &p) {
                    tracing::warn!(error = %e, file = %self.progress_path.display(), "could not record remote write progress");
                }
                self.saved = Some(p);
            }
        }
    }
}

impl WalConsumer for QueueFeeder {
    fn store_series(&mut self, series: &[(SeriesRef, Labels)]) {
        for (r, l) in series {
            let built = self.build_labels(l);
            self.series.insert(*r, built);
        }
    }

    fn append_samples(&mut self, samples: &[(SeriesRef, i64, f64)]) -> bool {
        samples
            .iter()
            .all(|(r, t, v)| self.push(*r, *t, SampleValue::Float(*v)))
    }

    fn append_histograms(&mut self, histograms: &[(SeriesRef, i64, FloatHistogram)]) -> bool {
        if !self.send_histograms {
            self.metrics
                .samples_dropped_total
                .fetch_add(histograms.len() as u64, Ordering::Relaxed);
            return true;
        }
        histograms
            .iter()
            .all(|(r, t, h)| self.push(*r, *t, SampleValue::Histogram(Box::new(h.clone()))))
    }

    fn reached(&mut self, position: WalPosition) {
        self.position = position;
        self.settle(false);
    }

    fn append_exemplars(&mut self, exemplars: &[(SeriesRef, Exemplar)]) -> bool {
        if !self.send_exemplars {
            return true;
        }
        exemplars.iter().all(|(r, e)| {
            self.push(
                *r,
                e.t,
                SampleValue::Exemplar(Box::new((e.labels.clone(), e.value))),
            )
        })
    }

    fn forget_series(&mut self, refs: &[SeriesRef]) {
        for r in refs {
            self.series.remove(r);
        }
    }

    fn idle(&mut self) {
        self.idle_ticks.fetch_add(1, Ordering::Relaxed);
        if self.desired.load(Ordering::Relaxed) != self.senders.len() {
            self.reshard();
        }
        self.settle(true);
    }
}

/// Starts shard tasks; shared by the queue (to stop them) and the feeder (to reshard).
/// Largest queue a shard's channel is given (`queue_config.capacity` is clamped to it).
const MAX_SHARD_CAPACITY: usize = 1 << 30;

/// Most batch slots reserved before samples arrive.
const MAX_BATCH_PREALLOC: usize = 1 << 16;

struct ShardSpawner {
    runtime: tokio::runtime::Handle,
    ctx: Arc<ShardContext>,
    capacity: usize,
    handles: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl ShardSpawner {
    fn spawn(&self, n: usize) -> (Vec<mpsc::Sender<QueueItem>>, Vec<Arc<ShardProgress>>) {
        let mut handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        handles.retain(|h| !h.is_finished());
        let mut senders = Vec::with_capacity(n);
        let mut progress = Vec::with_capacity(n);
        for _ in 0..n {
            // tokio panics above its own maximum; no real queue comes near this one.
            let (tx, rx) = mpsc::channel(self.capacity.clamp(1, MAX_SHARD_CAPACITY));
            let p = Arc::new(ShardProgress::default());
            handles.push(
                self.runtime
                    .spawn(run_shard(rx, p.clone(), self.ctx.clone())),
            );
            senders.push(tx);
            progress.push(p);
        }
        (senders, progress)
    }
}

/// How often the shard count is reconsidered (Prometheus's interval).
const RESHARD_INTERVAL: Duration = Duration::from_secs(10);

/// The shard count Prometheus's rule asks for: the time one sample takes to send times the
/// samples to send per second (the incoming rate plus 5% of the backlog), unchanged while
/// within 30% of `current`, clamped to `min..=max`.
pub fn desired_shards(
    current: usize,
    min: usize,
    max: usize,
    in_rate: f64,
    out_rate: f64,
    send_seconds_per_second: f64,
    pending: f64,
) -> usize {
    if out_rate <= 0.0 || send_seconds_per_second <= 0.0 {
        return current.clamp(min, max);
    }
    let per_sample = send_seconds_per_second / out_rate;
    let want = per_sample * (in_rate + 0.05 * pending.max(0.0));
    let (lower, upper) = (current as f64 * 0.7, current as f64 * 1.3);
    if want > lower && want < upper {
        return current.clamp(min, max);
    }
    (want.ceil().max(1.0) as usize).clamp(min, max)
}

/// Recomputes the desired shard count every [`RESHARD_INTERVAL`] from smoothed rates.
async fn run_resharder(
    metrics: Arc<QueueMetrics>,
    desired: Arc<AtomicUsize>,
    min: usize,
    max: usize,
    deadline: Duration,
) {
    let secs = RESHARD_INTERVAL.as_secs_f64();
    let (mut last_in, mut last_out, mut last_nanos) = (0u64, 0u64, 0u64);
    let mut rates: Option<(f64, f64, f64)> = None;
    loop {
        tokio::time::sleep(RESHARD_INTERVAL).await;
        let now_in = metrics.samples_in_total.load(Ordering::Relaxed);
        let now_out = metrics.samples_total.load(Ordering::Relaxed);
        let now_nanos = metrics.send_nanos_total.load(Ordering::Relaxed);
        let sample = (
            now_in.saturating_sub(last_in) as f64 / secs,
            now_out.saturating_sub(last_out) as f64 / secs,
            now_nanos.saturating_sub(last_nanos) as f64 / 1e9 / secs,
        );
        (last_in, last_out, last_nanos) = (now_in, now_out, now_nanos);
        // Exponentially weighted, as Prometheus smooths these rates.
        let r = match rates {
            None => sample,
            Some(p) => (
                p.0 * 0.8 + sample.0 * 0.2,
                p.1 * 0.8 + sample.1 * 0.2,
                p.2 * 0.8 + sample.2 * 0.2,
            ),
        };
        rates = Some(r);
        let failed_at = metrics.last_send_failure_ms.load(Ordering::Relaxed);
        if failed_at > 0 && now_ms() - failed_at < 2 * deadline.as_millis() as i64 {
            // Adding shards cannot help a receiver that is failing.
            continue;
        }
        let current = desired.load(Ordering::Relaxed);
        let pending = metrics.samples_pending.load(Ordering::Relaxed) as f64;
        let want = desired_shards(current, min, max, r.0, r.1, r.2, pending);
        metrics.shards_desired.store(want as i64, Ordering::Relaxed);
        if want != current {
            desired.store(want, Ordering::Relaxed);
        }
    }
}

/// What every shard of a queue shares.
struct ShardContext {
    client: WriteClient,
    metrics: Arc<QueueMetrics>,
    max_samples: usize,
    deadline: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    sample_age_limit: Duration,
    name: String,
    /// Send 2.0 requests, whose series carry their metadata (from `metadata`).
    v2: bool,
    /// Metadata by metric name, refreshed every `send_interval` (2.0 only).
    metadata: std::sync::RwLock<HashMap<String, Metadata>>,
}

async fn run_shard(
    mut rx: mpsc::Receiver<QueueItem>,
    progress: Arc<ShardProgress>,
    ctx: Arc<ShardContext>,
) {
    // Grown on demand past this: a huge `max_samples_per_send` must not allocate up front.
    let mut batch: Vec<QueueItem> = Vec::with_capacity(ctx.max_samples.min(MAX_BATCH_PREALLOC));
    loop {
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + ctx.deadline;
        let mut closed = false;
        while batch.len() < ctx.max_samples {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(it)) => batch.push(it),
                Ok(None) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        send_batch(&ctx, &batch).await;
        if let Some(last) = batch.last() {
            progress.completed.store(last.seq, Ordering::Release);
        }
        ctx.metrics
            .samples_pending
            .fetch_sub(batch.len() as i64, Ordering::Relaxed);
        batch.clear();
        if closed {
            break;
        }
    }
}

/// A batch encoded for sending.
struct EncodedBatch {
    body: Vec<u8>,
    samples: u64,
    exemplars: u64,
    newest: i64,
}

/// Encodes and compresses `batch`. `None` when it is empty (or compression failed, which is
/// logged and counted).
fn encode_batch(ctx: &ShardContext, batch: &[&QueueItem]) -> Option<EncodedBatch> {
    let mut groups: Vec<SeriesSamples<'_>> = Vec::new();
    let mut index: HashMap<SeriesRef, usize> = HashMap::new();
    let (mut samples, mut exemplars, mut newest) = (0u64, 0u64, i64::MIN);
    for it in batch {
        if matches!(it.value, SampleValue::Exemplar(_)) {
            exemplars += 1;
        } else {
            samples += 1;
            newest = newest.max(it.t);
        }
        let i = *index.entry(it.series).or_insert_with(|| {
            groups.push(SeriesSamples {
                labels: &it.labels,
                samples: Vec::new(),
            });
            groups.len() - 1
        });
        if let Some(g) = groups.get_mut(i) {
            g.samples.push((it.t, &it.value));
        }
    }
    if samples == 0 && exemplars == 0 {
        return None;
    }
    let raw = if ctx.v2 {
        let md = ctx.metadata.read().unwrap_or_else(|e| e.into_inner());
        encode_write_request_v2(&groups, &|name| md.get(name).cloned())
    } else {
        encode_write_request(&groups, &[])
    };
    match snap::raw::Encoder::new().compress_vec(&raw) {
        Ok(body) => Some(EncodedBatch {
            body,
            samples,
            exemplars,
            newest,
        }),
        Err(e) => {
            tracing::error!(queue = %ctx.name, error = %e, "could not compress a remote write request; dropping it");
            ctx.metrics
                .samples_failed_total
                .fetch_add(samples, Ordering::Relaxed);
            None
        }
    }
}

/// Keeps the items young enough for `sample_age_limit` (all when it is zero), counting the
/// rest as dropped.
fn young_enough<'a>(ctx: &ShardContext, items: Vec<&'a QueueItem>) -> Vec<&'a QueueItem> {
    if ctx.sample_age_limit.is_zero() {
        return items;
    }
    let min_t = now_ms() - ctx.sample_age_limit.as_millis() as i64;
    let before = items.len();
    let kept: Vec<&QueueItem> = items.into_iter().filter(|it| it.t >= min_t).collect();
    ctx.metrics
        .samples_dropped_total
        .fetch_add((before - kept.len()) as u64, Ordering::Relaxed);
    kept
}

/// Sends one batch, retrying recoverable failures until it is accepted or refused for good.
/// With `sample_age_limit`, samples that grew too old while retrying are dropped from the
/// next attempt, as Prometheus does.
async fn send_batch(ctx: &ShardContext, batch: &[QueueItem]) {
    let mut items = young_enough(ctx, batch.iter().collect());
    let Some(mut enc) = encode_batch(ctx, &items) else {
        return;
    };
    ctx.metrics
        .samples_total
        .fetch_add(enc.samples, Ordering::Relaxed);
    ctx.metrics
        .exemplars_total
        .fetch_add(enc.exemplars, Ordering::Relaxed);
    let mut backoff = ctx.min_backoff;
    loop {
        ctx.metrics
            .bytes_total
            .fetch_add(enc.body.len() as u64, Ordering::Relaxed);
        let began = Instant::now();
        let result = ctx.client.send(&enc.body).await;
        if result.is_err() {
            ctx.metrics
                .last_send_failure_ms
                .store(now_ms(), Ordering::Relaxed);
        }
        match result {
            Ok(()) => {
                ctx.metrics
                    .send_nanos_total
                    .fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
                ctx.metrics
                    .highest_sent_ms
                    .fetch_max(enc.newest, Ordering::Relaxed);
                return;
            }
            Err(SendError::Unrecoverable { message }) => {
                tracing::error!(queue = %ctx.name, url = %ctx.client.url(), samples = enc.samples, error = %message, "non-recoverable error sending to remote storage; dropping the batch");
                ctx.metrics
                    .samples_failed_total
                    .fetch_add(enc.samples, Ordering::Relaxed);
                return;
            }
            Err(SendError::Recoverable {
                message,
                retry_after,
            }) => {
                ctx.metrics
                    .samples_retried_total
                    .fetch_add(enc.samples, Ordering::Relaxed);
                let wait = retry_after.unwrap_or(backoff);
                tracing::warn!(queue = %ctx.name, url = %ctx.client.url(), error = %message, retry_in = ?wait, "failed to send batch, retrying");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(ctx.max_backoff);
                if !ctx.sample_age_limit.is_zero() {
                    let before = items.len();
                    items = young_enough(ctx, items);
                    if items.len() != before {
                        match encode_batch(ctx, &items) {
                            Some(e) => enc = e,
                            None => return,
                        }
                    }
                }
            }
        }
    }
}

/// Sends all metric metadata every `send_interval`.
async fn run_metadata(
    db: Arc<Db>,
    source: Option<MetadataSource>,
    ctx: Arc<ShardContext>,
    interval: Duration,
    per_send: usize,
) {
    // A first round soon after start, so a receiver sees metadata without waiting a minute.
    let mut next = tokio::time::Instant::now() + interval.min(Duration::from_secs(5));
    loop {
        tokio::time::sleep_until(next).await;
        next = tokio::time::Instant::now() + interval;
        let mut by_name: BTreeMap<String, Metadata> = BTreeMap::new();
        if let Some(src) = &source {
            for (name, m) in src().await {
                by_name.entry(name).or_insert(m);
            }
        }
        let db2 = db.clone();
        let all = match tokio::task::spawn_blocking(move || db2.metadata(None)).await {
            Ok(v) => v,
            Err(_) => continue,
        };
        for (labels, m) in all {
            if let Some(name) = labels.metric_name() {
                by_name.entry(name.to_string()).or_insert(m);
            }
        }
        if ctx.v2 {
            // 2.0 has no metadata-only requests: series carry their metadata.
            let n = by_name.len() as u64;
            *ctx.metadata.write().unwrap_or_else(|e| e.into_inner()) =
                by_name.into_iter().collect();
            ctx.metrics.metadata_total.fetch_add(n, Ordering::Relaxed);
            continue;
        }
        let entries: Vec<(String, Metadata)> = by_name.into_iter().collect();
        for chunk in entries.chunks(per_send.max(1)) {
            let raw = encode_write_request(&[], chunk);
            let Ok(body) = snap::raw::Encoder::new().compress_vec(&raw) else {
                continue;
            };
            // Metadata is resent every interval, so a bounded retry is enough.
            let mut ok = false;
            let mut backoff = ctx.min_backoff;
            for _ in 0..3 {
                ctx.metrics
                    .bytes_total
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                match ctx.client.send(&body).await {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(SendError::Unrecoverable { message }) => {
                        tracing::warn!(queue = %ctx.name, error = %message, "remote storage refused metadata");
                        break;
                    }
                    Err(SendError::Recoverable { retry_after, .. }) => {
                        tokio::time::sleep(retry_after.unwrap_or(backoff)).await;
                        backoff = (backoff * 2).min(ctx.max_backoff);
                    }
                }
            }
            let n = chunk.len() as u64;
            if ok {
                ctx.metrics.metadata_total.fetch_add(n, Ordering::Relaxed);
            } else {
                ctx.metrics
                    .metadata_failed_total
                    .fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

/// A running queue for one `remote_write` entry.
pub struct QueueManager {
    config: RemoteWriteConfig,
    external_labels: BTreeMap<String, String>,
    metrics: Arc<QueueMetrics>,
    stop: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<QueueFeeder>>,
    shards: Arc<Mutex<Vec<JoinHandle<()>>>>,
    metadata: Option<JoinHandle<()>>,
    resharder: Option<JoinHandle<()>>,
    desired: Arc<AtomicUsize>,
    idle_ticks: Arc<AtomicU64>,
}

/// File recording a queue's progress, named after what identifies the destination.
pub fn progress_file(storage_dir: &Path, cfg: &RemoteWriteConfig) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    cfg.name.hash(&mut h);
    cfg.url.hash(&mut h);
    storage_dir
        .join("remote_write")
        .join(format!("{:016x}.position", h.finish()))
}

impl QueueManager {
    /// Starts the queue (inside a tokio runtime): resumes from the recorded progress when
    /// there is one, else at the newest WAL segment with samples from now on. Metadata is
    /// read from `metadata` (when given) and the TSDB.
    pub fn start(
        config: RemoteWriteConfig,
        external_labels: &BTreeMap<String, String>,
        db: Arc<Db>,
        metadata: Option<MetadataSource>,
    ) -> Result<QueueManager, QueueError> {
        let name = config.name.clone();
        let client = HttpClient::new(
            &config.http_client,
            &ClientOptions {
                user_agent: format!("Pharos/{}", env!("CARGO_PKG_VERSION")),
                connect_timeout: Some(config.remote_timeout.as_duration()),
                pool_max_idle_per_host: config.queue_config.max_shards.max(2),
            },
        )
        .map_err(|source| QueueError::Client {
            name: name.clone(),
            source,
        })?;
        let q = &config.queue_config;
        let write_client = WriteClient::new(
            client,
            &config.url,
            config.remote_timeout.as_duration(),
            config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            q.retry_on_http_429,
        )
        .with_protocol_2(config.protobuf_message == ProtobufMessage::V2);
        let metrics = Arc::new(QueueMetrics::default());
        let ctx = Arc::new(ShardContext {
            client: write_client,
            metrics: metrics.clone(),
            max_samples: q.max_samples_per_send,
            deadline: q.batch_send_deadline.as_duration(),
            min_backoff: q.min_backoff.as_duration(),
            max_backoff: q.max_backoff.as_duration(),
            sample_age_limit: q.sample_age_limit.as_duration(),
            name: name.clone(),
            v2: config.protobuf_message == ProtobufMessage::V2,
            metadata: std::sync::RwLock::new(HashMap::new()),
        });
        let n = q.min_shards.max(1);
        let spawner = ShardSpawner {
            runtime: tokio::runtime::Handle::try_current()
                .map_err(|_| QueueError::NoRuntime { name: name.clone() })?,
            ctx: ctx.clone(),
            capacity: q.capacity,
            handles: Arc::new(Mutex::new(Vec::new())),
        };
        let shards = spawner.handles.clone();
        let (senders, progress) = spawner.spawn(n);
        let desired = Arc::new(AtomicUsize::new(n));
        metrics.shards_desired.store(n as i64, Ordering::Relaxed);
        let resharder = (q.max_shards > q.min_shards).then(|| {
            tokio::spawn(run_resharder(
                metrics.clone(),
                desired.clone(),
                q.min_shards.max(1),
                q.max_shards,
                q.batch_send_deadline.as_duration(),
            ))
        });
        metrics.shards.store(n as i64, Ordering::Relaxed);
        let metadata = config.metadata_config.send.then(|| {
            tokio::spawn(run_metadata(
                db.clone(),
                metadata,
                ctx.clone(),
                config.metadata_config.send_interval.as_duration(),
                config.metadata_config.max_samples_per_send,
            ))
        });
        let stop = Arc::new(AtomicBool::new(false));
        let idle_ticks = Arc::new(AtomicU64::new(0));
        let progress_path = progress_file(db.dir(), &config);
        let saved = read_progress(&progress_path);
        let start = match &saved {
            Some(p) => StartPoint::Resume {
                position: p.position,
                delivered_ms: p.delivered_ms,
            },
            None => StartPoint::Newest { after_ms: now_ms() },
        };
        let feeder = QueueFeeder {
            series: HashMap::new(),
            external: external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            relabel: config.write_relabel_configs.clone(),
            senders,
            shards: progress,
            spawner,
            desired: desired.clone(),
            seq: 0,
            stop: stop.clone(),
            metrics: metrics.clone(),
            send_histograms: config.send_native_histograms,
            send_exemplars: config.send_exemplars,
            markers: VecDeque::new(),
            last_marker: Instant::now(),
            position: saved.as_ref().map(|p| p.position).unwrap_or_default(),
            marked: saved.as_ref().map(|p| p.position).unwrap_or_default(),
            max_read_ms: saved.as_ref().map_or(i64::MIN, |p| p.delivered_ms),
            progress_path,
            saved,
            idle_ticks: idle_ticks.clone(),
        };
        let wal_dir = db.dir().join("wal");
        let thread_stop = stop.clone();
        let thread_name = name.clone();
        let watcher = std::thread::Builder::new()
            .name(format!("remote-write-{name}"))
            .spawn(move || {
                let mut w = WalWatcher::new(&wal_dir, feeder, thread_stop);
                if let Err(e) = w.run(start) {
                    tracing::error!(queue = %thread_name, error = %e, "remote write WAL watcher stopped");
                }
                w.into_consumer()
            })
            .map_err(|source| QueueError::Thread {
                name: name.clone(),
                source,
            })?;
        tracing::info!(queue = %name, url = %config.url, shards = n, resumed = matches!(start, StartPoint::Resume { .. }), "remote write queue started");
        Ok(QueueManager {
            config,
            external_labels: external_labels.clone(),
            metrics,
            stop,
            watcher: Some(watcher),
            shards,
            metadata,
            resharder,
            desired,
            idle_ticks,
        })
    }

    /// The entry this queue runs.
    pub fn config(&self) -> &RemoteWriteConfig {
        &self.config
    }

    /// Whether this queue already runs `cfg` with these external labels (a reload keeps it).
    pub fn runs(&self, cfg: &RemoteWriteConfig, external: &BTreeMap<String, String>) -> bool {
        self.config.content_hash() == cfg.content_hash()
            && self.config.name == cfg.name
            && &self.external_labels == external
    }

    /// The queue's counters.
    pub fn metrics(&self) -> Arc<QueueMetrics> {
        self.metrics.clone()
    }

    /// The shard count the queue runs or is moving to.
    pub fn target_shards(&self) -> usize {
        self.desired.load(Ordering::Relaxed)
    }

    /// Stops reading the WAL, sends what is queued for at most `flush_timeout`, then records
    /// the position everything before which was delivered.
    pub async fn stop(mut self, flush_timeout: Duration) {
        let deadline = tokio::time::Instant::now() + flush_timeout;
        // Let the watcher read what was written up to now (the last scrape's staleness
        // markers on shutdown): two idle rounds after this point mean it found nothing newer.
        let ticks = self.idle_ticks.load(Ordering::Relaxed);
        let catch_up = tokio::time::Instant::now() + flush_timeout.min(CATCH_UP_WAIT);
        while self.idle_ticks.load(Ordering::Relaxed) < ticks + 2
            && tokio::time::Instant::now() < catch_up
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        if let Some(m) = self.metadata.take() {
            m.abort();
        }
        if let Some(r) = self.resharder.take() {
            r.abort();
        }
        let watcher = self.watcher.take();
        let mut feeder = match watcher {
            Some(h) => tokio::task::spawn_blocking(move || h.join().ok())
                .await
                .ok()
                .flatten(),
            None => None,
        };
        // Closing the channels lets each shard send its last batch and finish.
        if let Some(f) = feeder.as_mut() {
            f.senders.clear();
        }
        // Wait for the shards while they make progress: a receiver that is down would only
        // hold shutdown up for the whole bound, and what is unsent is resent after a restart.
        let shards = std::mem::take(&mut *self.shards.lock().unwrap_or_else(|e| e.into_inner()));
        let mut last_pending = self.metrics.samples_pending.load(Ordering::Relaxed);
        let mut last_change = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if shards.iter().all(JoinHandle::is_finished)
                || now >= deadline
                || now.duration_since(last_change) >= FLUSH_STALL
            {
                break;
            }
            let pending = self.metrics.samples_pending.load(Ordering::Relaxed);
            if pending != last_pending {
                last_pending = pending;
                last_change = now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for s in shards {
            s.abort();
            let _ = s.await;
        }
        let pending = self.metrics.samples_pending.load(Ordering::Relaxed);
        if pending > 0 {
            tracing::warn!(queue = %self.config.name, samples = pending, "remote write queue stopped with samples unsent; they are sent after a restart");
        }
        if let Some(mut f) = feeder {
            f.settle(true);
        }
        self.metrics.shards.store(0, Ordering::Relaxed);
        tracing::info!(queue = %self.config.name, "remote write queue stopped");
    }
}

impl Drop for QueueManager {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(m) = self.metadata.take() {
            m.abort();
        }
        if let Some(r) = self.resharder.take() {
            r.abort();
        }
        for s in self.shards.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            s.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn progress_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x").join("q.position");
        assert_eq!(read_progress(&p), None);
        let want = Progress {
            position: WalPosition {
                segment: 7,
                offset: 1234,
            },
            delivered_ms: 99,
        };
        write_progress(&p, &want).unwrap();
        assert_eq!(read_progress(&p), Some(want));
    }

    #[test]
    fn shard_count_follows_prometheus_rule() {
        // 1 ms per sample at 2000 samples/s needs 2 shards; 1 is too far off.
        assert_eq!(desired_shards(1, 1, 50, 2000.0, 1000.0, 1.0, 0.0), 2);
        // Within 30% of the current count nothing changes.
        assert_eq!(desired_shards(10, 1, 50, 11_000.0, 1000.0, 1.0, 0.0), 10);
        // A backlog adds 5% of itself per interval; the maximum caps the count.
        assert_eq!(desired_shards(1, 1, 50, 0.0, 1000.0, 1.0, 100_000.0), 5);
        assert_eq!(desired_shards(1, 1, 3, 0.0, 1000.0, 1.0, 100_000.0), 3);
        // Idle queues shrink to the minimum; no data means no change.
        assert_eq!(desired_shards(8, 2, 50, 10.0, 1000.0, 0.01, 0.0), 2);
        assert_eq!(desired_shards(4, 1, 50, 0.0, 0.0, 0.0, 0.0), 4);
    }

    /// Samples a test receiver got, as (metric name, timestamp).
    type Received = Arc<Mutex<Vec<(String, i64)>>>;

    /// A receiver that answers 200 and records the decoded samples.
    fn receiver(accept: Arc<AtomicBool>) -> (String, Received) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let got2 = got.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                let (head_end, len) = loop {
                    let n = c.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break (0, 0);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        break (p + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = c.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                if !accept.load(Ordering::Relaxed) {
                    let _ = c.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                }
                if let Some(body) = buf.get(head_end..head_end + len) {
                    if let Ok(raw) = snap::raw::Decoder::new().decompress_vec(body) {
                        if let Ok(batch) = crate::write_v1::decode_v1(&raw) {
                            let mut g = got2.lock().unwrap();
                            for s in batch.series {
                                let name = s
                                    .labels
                                    .as_ref()
                                    .ok()
                                    .and_then(|l| l.metric_name())
                                    .unwrap_or("")
                                    .to_string();
                                for (t, _) in s.samples {
                                    g.push((name.clone(), t));
                                }
                                for e in s.exemplars {
                                    g.push((format!("exemplar:{name}"), e.t));
                                }
                            }
                        }
                    }
                }
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        (url, got)
    }

    fn config(url: &str) -> RemoteWriteConfig {
        let text = format!(
            "url: {url}\nname: t\nsend_exemplars: true\nmetadata_config:\n  send: false\nwrite_relabel_configs:\n  - source_labels: [__name__]\n    regex: dropped\n    action: drop\nqueue_config:\n  batch_send_deadline: 50ms\n  max_samples_per_send: 7\n  min_shards: 3\n  capacity: 5\n"
        );
        serde_saphyr::from_str(&text).unwrap()
    }

    #[test]
    fn absurd_queue_sizes_start_without_a_panic_or_a_huge_allocation() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let d = tempfile::tempdir().unwrap();
        let (db, _) = pharos_tsdb::Db::open(d.path(), pharos_tsdb::Options::default()).unwrap();
        let mut cfg = config("http://127.0.0.1:9/api/v1/write");
        cfg.queue_config.capacity = usize::MAX;
        cfg.queue_config.max_samples_per_send = usize::MAX;
        let q = rt
            .block_on(async { QueueManager::start(cfg, &BTreeMap::new(), Arc::new(db), None) })
            .unwrap();
        // Let every shard task start and reserve its batch.
        std::thread::sleep(Duration::from_millis(100));
        rt.block_on(q.stop(Duration::from_secs(1)));
    }

    #[test]
    fn queue_sends_every_sample_in_order_and_records_progress() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let d = tempfile::tempdir().unwrap();
        let (db, _) = pharos_tsdb::Db::open(d.path(), pharos_tsdb::Options::default()).unwrap();
        let db = Arc::new(db);
        let (url, got) = receiver(Arc::new(AtomicBool::new(true)));
        let cfg = config(&url);
        let external = BTreeMap::from([("site".to_string(), "x".to_string())]);
        let q = rt
            .block_on(async { QueueManager::start(cfg.clone(), &external, db.clone(), None) })
            .unwrap();
        let start = now_ms() + 1000;
        for i in 0..40i64 {
            // Resharding mid-stream keeps every series in order.
            if i == 15 {
                q.desired.store(1, Ordering::Relaxed);
            }
            if i == 25 {
                q.desired.store(4, Ordering::Relaxed);
            }
            if i % 5 == 0 {
                std::thread::sleep(Duration::from_millis(30));
            }
            let mut app = db.appender();
            for name in ["a", "b", "dropped"] {
                let l = Labels::from_pairs([("__name__", name)]);
                app.append(0, &l, start + i * 10, i as f64).unwrap();
                if i == 3 && name == "a" {
                    let e = Exemplar {
                        labels: Labels::from_pairs([("trace_id", "t1")]),
                        value: 1.0,
                        t: start + 30,
                    };
                    app.append_exemplar(0, &l, e).unwrap();
                }
            }
            app.commit().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.lock().unwrap().len() < 81 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let metrics = q.metrics();
        assert_eq!(metrics.shards.load(Ordering::Relaxed), 4, "resharded");
        rt.block_on(q.stop(Duration::from_secs(5)));
        let got = got.lock().unwrap().clone();
        for name in ["a", "b"] {
            let ts: Vec<i64> = got
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, t)| *t)
                .collect();
            let want: Vec<i64> = (0..40).map(|i| start + i * 10).collect();
            assert_eq!(ts, want, "{name}");
        }
        assert!(got.iter().all(|(n, _)| n != "dropped"));
        let ex: Vec<_> = got
            .iter()
            .filter(|(n, _)| n.starts_with("exemplar:"))
            .collect();
        assert_eq!(ex, vec![&("exemplar:a".to_string(), start + 30)]);
        assert_eq!(metrics.exemplars_total.load(Ordering::Relaxed), 1);
        assert_eq!(metrics.samples_dropped_total.load(Ordering::Relaxed), 40);
        assert_eq!(metrics.samples_total.load(Ordering::Relaxed), 80);
        assert_eq!(metrics.samples_pending.load(Ordering::Relaxed), 0);
        assert_eq!(metrics.shards.load(Ordering::Relaxed), 0, "stopped");
        let p = read_progress(&progress_file(d.path(), &cfg)).expect("progress recorded");
        assert!(p.position.offset > 0);
        assert_eq!(p.delivered_ms, start + 390);
    }

    #[test]
    fn samples_still_in_the_head_survive_a_checkpoint_during_an_outage() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let d = tempfile::tempdir().unwrap();
        // Tiny segments and blocks: every commit gets its own segment, and compaction cuts
        // blocks (checkpointing and deleting segments) after a few seconds of data.
        let opts = pharos_tsdb::Options {
            block_range: 1000,
            wal_segment_size: 64,
            ..pharos_tsdb::Options::default()
        };
        let (db, _) = pharos_tsdb::Db::open(d.path(), opts).unwrap();
        let db = Arc::new(db);
        let accept = Arc::new(AtomicBool::new(false));
        let (url, got) = receiver(accept.clone());
        let text = format!(
            "url: {url}\nmetadata_config:\n  send: false\nqueue_config:\n  batch_send_deadline: 20ms\n  max_samples_per_send: 2\n  capacity: 2\n  min_backoff: 10ms\n  max_backoff: 50ms\n"
        );
        let cfg: RemoteWriteConfig = serde_saphyr::from_str(&text).unwrap();
        let q = rt
            .block_on(async { QueueManager::start(cfg, &BTreeMap::new(), db.clone(), None) })
            .unwrap();
        let start = (now_ms() / 1000 + 2) * 1000;
        let l = Labels::from_pairs([("__name__", "m")]);
        for i in 0..40i64 {
            let mut app = db.appender();
            app.append(0, &l, start + i * 100, i as f64).unwrap();
            app.commit().unwrap();
        }
        // The receiver is down and the queue full: the head cuts blocks and checkpoints,
        // deleting the segments the sender has not read.
        std::thread::sleep(Duration::from_millis(300));
        db.compact().unwrap();
        let (segs, _) = pharos_tsdb::wal::list_segments(&d.path().join("wal")).unwrap();
        assert!(segs.len() < 40, "segments were deleted: {segs:?}");
        accept.store(true, Ordering::Relaxed);
        let last = start + 3900;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !got.lock().unwrap().iter().any(|(_, t)| *t == last) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        rt.block_on(q.stop(Duration::from_secs(2)));
        let ts: Vec<i64> = got.lock().unwrap().iter().map(|(_, t)| *t).collect();
        assert!(
            ts.windows(2).all(|w| w[0] < w[1]),
            "in order, no duplicates: {ts:?}"
        );
        let still_in_head: Vec<i64> = (30..40).map(|i| start + i * 100).collect();
        for t in still_in_head {
            assert!(ts.contains(&t), "{t} missing from {ts:?}");
        }
    }

    #[test]
    fn samples_past_the_age_limit_are_dropped_while_retrying() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let d = tempfile::tempdir().unwrap();
        let (db, _) = pharos_tsdb::Db::open(d.path(), pharos_tsdb::Options::default()).unwrap();
        let db = Arc::new(db);
        let accept = Arc::new(AtomicBool::new(false));
        let (url, got) = receiver(accept.clone());
        let text = format!(
            "url: {url}\nmetadata_config:\n  send: false\nqueue_config:\n  batch_send_deadline: 20ms\n  min_backoff: 50ms\n  max_backoff: 100ms\n  sample_age_limit: 500ms\n"
        );
        let cfg: RemoteWriteConfig = serde_saphyr::from_str(&text).unwrap();
        let q = rt
            .block_on(async { QueueManager::start(cfg, &BTreeMap::new(), db.clone(), None) })
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let l = Labels::from_pairs([("__name__", "m")]);
        let t0 = now_ms();
        let mut app = db.appender();
        app.append(0, &l, t0, 1.0).unwrap();
        app.commit().unwrap();
        let metrics = q.metrics();
        // Retried while the receiver is down, until the sample is too old to send.
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.samples_dropped_total.load(Ordering::Relaxed) == 0
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        accept.store(true, Ordering::Relaxed);
        let mut app = db.appender();
        app.append(0, &l, now_ms(), 2.0).unwrap();
        app.commit().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        rt.block_on(q.stop(Duration::from_secs(2)));
        assert_eq!(metrics.samples_dropped_total.load(Ordering::Relaxed), 1);
        assert!(metrics.samples_retried_total.load(Ordering::Relaxed) >= 1);
        let ts: Vec<i64> = got.lock().unwrap().iter().map(|(_, t)| *t).collect();
        assert_eq!(ts.len(), 1, "only the fresh sample arrives: {ts:?}");
        assert!(ts[0] > t0);
    }
}
