//! Tails the TSDB's write-ahead log for the remote write sender, like Prometheus's
//! `wlog.Watcher`: series records feed the consumer's ref -> labels map, sample and histogram
//! records become queue items, and the position reached is reported after every record so
//! the sender can record how far it got and resume there after a restart.
//!
//! The watcher reads a segment through an open file handle, so a checkpoint deleting that
//! segment does not cut the read short. When the next segment was deleted before the watcher
//! reached it (the sender fell behind across a checkpoint), the watcher reads the newest
//! checkpoint instead: Pharos's checkpoints hold every sample still in the head, so it sends
//! each series' samples newer than the last one it read and continues after the checkpoint.
//! What is lost is only what had already left the head for a block (at least the last hour,
//! see ARCHITECTURE.md).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pharos_model::{FloatHistogram, Labels};
use pharos_tsdb::exemplar::Exemplar;
use pharos_tsdb::wal::{self, FrameRead};
use pharos_tsdb::wal_record::WalRecord;
use pharos_tsdb::SeriesRef;

/// A place in the WAL: everything before `offset` in `segment` has been read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalPosition {
    /// Segment number.
    pub segment: u32,
    /// Byte offset just past the last record read.
    pub offset: u64,
}

/// Where the watcher starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StartPoint {
    /// At the newest segment, sending only samples newer than `after_ms` (a fresh sender).
    Newest {
        /// Samples at or before this timestamp (ms) are skipped.
        after_ms: i64,
    },
    /// Exactly where a previous run of the sender got to.
    Resume {
        /// The recorded position.
        position: WalPosition,
        /// The newest timestamp (ms) known delivered, used when the position's segment is gone.
        delivered_ms: i64,
    },
}

/// What the watcher feeds.
pub trait WalConsumer {
    /// New series and their refs.
    fn store_series(&mut self, series: &[(SeriesRef, Labels)]);
    /// Float samples to send; returns false when the sender is stopping and the samples were
    /// not all taken (the watcher then stops without advancing its position).
    fn append_samples(&mut self, samples: &[(SeriesRef, i64, f64)]) -> bool;
    /// Native histogram samples to send; false as for [`WalConsumer::append_samples`].
    fn append_histograms(&mut self, histograms: &[(SeriesRef, i64, FloatHistogram)]) -> bool;
    /// Exemplars to send; false as for [`WalConsumer::append_samples`].
    fn append_exemplars(&mut self, exemplars: &[(SeriesRef, Exemplar)]) -> bool;
    /// Everything up to `position` has been handed over.
    fn reached(&mut self, position: WalPosition);
    /// Called when the watcher has caught up and waits for new data.
    fn idle(&mut self);
    /// These series left the head (a checkpoint no longer has them): forget their labels.
    fn forget_series(&mut self, refs: &[SeriesRef]);
}

/// What the watcher remembers per series.
#[derive(Clone, Copy, Debug)]
struct SeriesSeen {
    /// Newest sample timestamp read (ms), `i64::MIN` before any.
    last_t: i64,
    /// Newest segment that mentioned the series (by a series record or a sample).
    segment: u32,
}

/// Why the watcher stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The WAL directory could not be read.
    #[error("reading the write-ahead log in {dir}: {source}")]
    Io {
        /// The WAL directory.
        dir: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

/// How often the watcher looks for new data once it has caught up.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Reads one segment through an open handle, keeping a partial frame until it completes.
struct SegmentCursor {
    segment: u32,
    file: File,
    offset: u64,
    pending: Vec<u8>,
}

impl SegmentCursor {
    fn open(dir: &Path, segment: u32) -> io::Result<Option<SegmentCursor>> {
        match File::open(wal::segment_file(dir, segment)) {
            Ok(file) => Ok(Some(SegmentCursor {
                segment,
                file,
                offset: 0,
                pending: Vec::new(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads whatever was appended since the last call.
    fn fill(&mut self) -> io::Result<usize> {
        let before = self.pending.len();
        self.file.read_to_end(&mut self.pending)?;
        Ok(self.pending.len() - before)
    }
}

/// The WAL tailer of one remote write queue.
pub struct WalWatcher<C: WalConsumer> {
    dir: PathBuf,
    consumer: C,
    stop: Arc<AtomicBool>,
    /// Per series: the newest timestamp read (what a checkpoint may still have to add) and
    /// where it was last seen (for forgetting series that left the head).
    seen: HashMap<SeriesRef, SeriesSeen>,
    /// The segment (or checkpoint) being read.
    reading: u32,
    /// The newest checkpoint whose departed series were already forgotten.
    collected: u32,
    /// Samples at or before this are never sent (fresh start).
    floor_ms: i64,
}

/// What handling one record asked for.
enum Flow {
    Continue,
    Stop,
}

impl<C: WalConsumer> WalWatcher<C> {
    /// A watcher over the WAL directory `dir` feeding `consumer` until `stop` is set.
    pub fn new(dir: &Path, consumer: C, stop: Arc<AtomicBool>) -> Self {
        WalWatcher {
            dir: dir.to_path_buf(),
            consumer,
            stop,
            seen: HashMap::new(),
            reading: 0,
            collected: 0,
            floor_ms: i64::MIN,
        }
    }

    /// Gives the consumer back (after [`WalWatcher::run`] returned).
    pub fn into_consumer(self) -> C {
        self.consumer
    }

    fn io_err(&self, source: io::Error) -> WatchError {
        WatchError::Io {
            dir: self.dir.clone(),
            source,
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Tails the WAL from `start` until stopped.
    pub fn run(&mut self, start: StartPoint) -> Result<(), WatchError> {
        let (segs, cps) = wal::list_segments(&self.dir).map_err(|e| self.io_err(e))?;
        let (mut segment, mut skip_to) = match start {
            StartPoint::Newest { after_ms } => {
                self.floor_ms = after_ms;
                (segs.last().copied().unwrap_or(0), 0)
            }
            StartPoint::Resume {
                position,
                delivered_ms,
            } => {
                if segs.contains(&position.segment) {
                    (position.segment, position.offset)
                } else {
                    tracing::warn!(
                        segment = position.segment,
                        "remote write resume position is no longer in the WAL; continuing from the newest checkpoint"
                    );
                    self.floor_ms = delivered_ms;
                    let next = self.catch_up_from_checkpoint(&cps)?;
                    (next.unwrap_or(segs.last().copied().unwrap_or(0)), 0)
                }
            }
        };
        // Series defined before the start point: the checkpoint, then older segments.
        if let Some(&cp) = cps.last().filter(|&&c| c < segment) {
            self.read_checkpoint(cp, false)?;
        }
        for &s in segs.iter().filter(|&&s| s < segment) {
            if cps.last().is_some_and(|&c| s <= c) {
                continue;
            }
            self.read_series_only(s, u64::MAX)?;
        }
        if skip_to > 0 {
            self.read_series_only(segment, skip_to)?;
        }
        loop {
            if self.stopping() {
                return Ok(());
            }
            let Some(mut cursor) =
                SegmentCursor::open(&self.dir, segment).map_err(|e| self.io_err(e))?
            else {
                // The segment vanished (checkpointed) or does not exist yet.
                match self.next_after_gap(segment)? {
                    Some(next) => {
                        segment = next;
                        skip_to = 0;
                        continue;
                    }
                    None => {
                        self.consumer.idle();
                        std::thread::sleep(POLL_INTERVAL);
                        continue;
                    }
                }
            };
            self.reading = segment;
            if skip_to > 0 {
                // Already sent: move the handle past it without keeping the bytes.
                let mut taken = (&mut cursor.file).take(skip_to);
                cursor.offset =
                    io::copy(&mut taken, &mut io::sink()).map_err(|e| self.io_err(e))?;
                skip_to = 0;
            }
            match self.tail(&mut cursor)? {
                Flow::Stop => return Ok(()),
                Flow::Continue => {}
            }
            segment = match self.next_after_gap(segment + 1)? {
                Some(n) => n,
                None => segment + 1,
            };
            self.collect_departed(segment)?;
        }
    }

    /// Reads `cursor` until a newer segment exists and this one is fully read.
    fn tail(&mut self, cursor: &mut SegmentCursor) -> Result<Flow, WatchError> {
        loop {
            if self.stopping() {
                return Ok(Flow::Stop);
            }
            let got = cursor.fill().map_err(|e| self.io_err(e))?;
            if let Flow::Stop = self.drain(cursor)? {
                return Ok(Flow::Stop);
            }
            if got > 0 {
                continue;
            }
            // Nothing new: the writer moved on if a newer segment or checkpoint exists.
            let (segs, cps) = wal::list_segments(&self.dir).map_err(|e| self.io_err(e))?;
            let moved_on = segs.iter().any(|&s| s > cursor.segment)
                || cps.iter().any(|&c| c >= cursor.segment);
            if moved_on {
                // The writer finished this segment before creating the next: one last read.
                cursor.fill().map_err(|e| self.io_err(e))?;
                if let Flow::Stop = self.drain(cursor)? {
                    return Ok(Flow::Stop);
                }
                if !cursor.pending.is_empty() {
                    tracing::warn!(
                        segment = cursor.segment,
                        bytes = cursor.pending.len(),
                        "skipping an incomplete record at the end of a finished WAL segment"
                    );
                }
                return Ok(Flow::Continue);
            }
            self.consumer.idle();
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Hands over every complete record buffered in `cursor`.
    fn drain(&mut self, cursor: &mut SegmentCursor) -> Result<Flow, WatchError> {
        let mut used = 0usize;
        let mut flow = Flow::Continue;
        loop {
            if self.stopping() {
                flow = Flow::Stop;
                break;
            }
            let rest = cursor.pending.get(used..).unwrap_or(&[]);
            match wal::decode_frame(rest) {
                FrameRead::Incomplete => break,
                FrameRead::Corrupt(reason) => {
                    tracing::error!(
                        segment = cursor.segment,
                        offset = cursor.offset,
                        %reason,
                        "corrupt WAL record; skipping the rest of the segment for remote write"
                    );
                    used = cursor.pending.len();
                    break;
                }
                FrameRead::Record(rec, len) => {
                    if !self.handle(rec, true) {
                        flow = Flow::Stop;
                        break;
                    }
                    used += len;
                    cursor.offset += len as u64;
                    self.consumer.reached(WalPosition {
                        segment: cursor.segment,
                        offset: cursor.offset,
                    });
                }
            }
        }
        cursor.pending.drain(..used.min(cursor.pending.len()));
        Ok(flow)
    }

    /// Dispatches one record; with `send` false only series are taken (and read timestamps
    /// noted). Returns false when the consumer is stopping.
    fn handle(&mut self, rec: WalRecord, send: bool) -> bool {
        match rec {
            WalRecord::Series(v) => {
                for (r, _) in &v {
                    self.note(*r, i64::MIN);
                }
                self.consumer.store_series(&v);
                true
            }
            WalRecord::Samples(mut v) => {
                for (r, t, _) in &v {
                    self.note(*r, *t);
                }
                if !send {
                    return true;
                }
                let floor = self.floor_ms;
                v.retain(|s| s.1 > floor);
                v.is_empty() || self.consumer.append_samples(&v)
            }
            WalRecord::Histograms(mut v) => {
                for (r, t, _) in &v {
                    self.note(*r, *t);
                }
                if !send {
                    return true;
                }
                let floor = self.floor_ms;
                v.retain(|s| s.1 > floor);
                v.is_empty() || self.consumer.append_histograms(&v)
            }
            WalRecord::Exemplars(mut v) => {
                if !send {
                    return true;
                }
                let floor = self.floor_ms;
                v.retain(|e| e.1.t > floor);
                v.is_empty() || self.consumer.append_exemplars(&v)
            }
            WalRecord::Deletes(_) | WalRecord::Metadata(_) => true,
        }
    }

    /// Records that series `r` appeared in the segment being read, with a sample at `t`.
    fn note(&mut self, r: SeriesRef, t: i64) {
        let reading = self.reading;
        let e = self.seen.entry(r).or_insert(SeriesSeen {
            last_t: i64::MIN,
            segment: reading,
        });
        e.last_t = e.last_t.max(t);
        e.segment = e.segment.max(reading);
    }

    /// Once reading has passed the newest checkpoint, forgets the series that were last seen
    /// before it and that it no longer holds: they left the head, and a series that comes
    /// back gets a new series record.
    fn collect_departed(&mut self, next_segment: u32) -> Result<(), WatchError> {
        let (_, cps) = wal::list_segments(&self.dir).map_err(|e| self.io_err(e))?;
        let Some(&cp) = cps.iter().rev().find(|&&c| c < next_segment) else {
            return Ok(());
        };
        if cp <= self.collected {
            return Ok(());
        }
        let Some(live) = self.checkpoint_series(cp).map_err(|e| self.io_err(e))? else {
            return Ok(());
        };
        self.collected = cp;
        let gone: Vec<SeriesRef> = self
            .seen
            .iter()
            .filter(|(r, s)| s.segment <= cp && !live.contains(r))
            .map(|(r, _)| *r)
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        for r in &gone {
            self.seen.remove(r);
        }
        tracing::debug!(
            checkpoint = cp,
            series = gone.len(),
            "forgetting series that left the head"
        );
        self.consumer.forget_series(&gone);
        Ok(())
    }

    /// The series refs of checkpoint `cp`, read frame by frame up to the first record that is
    /// not a series record (checkpoints list series first). `None` if it vanished meanwhile.
    fn checkpoint_series(&self, cp: u32) -> io::Result<Option<HashSet<SeriesRef>>> {
        let cp_dir = wal::checkpoint_dir(&self.dir, cp);
        let (files, _) = wal::list_segments(&cp_dir)?;
        let mut out = HashSet::new();
        for f in files {
            let file = match File::open(wal::segment_file(&cp_dir, f)) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut r = BufReader::new(file);
            let mut frame = Vec::new();
            loop {
                frame.clear();
                frame.resize(8, 0);
                if r.read_exact(&mut frame).is_err() {
                    break;
                }
                let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                // Read through `take` so the buffer grows only as far as the file has bytes:
                // a corrupt length must not allocate hundreds of megabytes up front.
                let mut body = Vec::new();
                match (&mut r).take(u64::from(len)).read_to_end(&mut body) {
                    Ok(n) if n as u64 == u64::from(len) => {}
                    _ => break,
                }
                frame.extend_from_slice(&body);
                match wal::decode_frame(&frame) {
                    FrameRead::Record(WalRecord::Series(v), _) => {
                        out.extend(v.into_iter().map(|(r, _)| r));
                    }
                    _ => return Ok(Some(out)),
                }
            }
        }
        Ok(Some(out))
    }

    /// Reads series (and notes timestamps) from the first `upto` bytes of a segment.
    fn read_series_only(&mut self, segment: u32, upto: u64) -> Result<(), WatchError> {
        self.reading = segment;
        let data = match std::fs::read(wal::segment_file(&self.dir, segment)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io_err(e)),
        };
        let end = usize::try_from(upto).unwrap_or(usize::MAX).min(data.len());
        let mut pos = 0usize;
        while pos < end {
            match wal::decode_frame(data.get(pos..end).unwrap_or(&[])) {
                FrameRead::Record(rec, len) => {
                    self.handle(rec, false);
                    pos += len;
                }
                FrameRead::Incomplete | FrameRead::Corrupt(_) => break,
            }
        }
        Ok(())
    }

    /// Reads checkpoint `cp`: its series always; with `send`, also each series' samples newer
    /// than what was read before (or than the floor for series never read).
    fn read_checkpoint(&mut self, cp: u32, send: bool) -> Result<bool, WatchError> {
        self.reading = cp;
        let cp_dir = wal::checkpoint_dir(&self.dir, cp);
        let (files, _) = wal::list_segments(&cp_dir).map_err(|e| self.io_err(e))?;
        if files.is_empty() && !cp_dir.exists() {
            return Ok(false);
        }
        for f in files {
            let data = match std::fs::read(wal::segment_file(&cp_dir, f)) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(self.io_err(e)),
            };
            let mut pos = 0usize;
            while let FrameRead::Record(rec, len) =
                wal::decode_frame(data.get(pos..).unwrap_or(&[]))
            {
                pos += len;
                let rec = match rec {
                    WalRecord::Samples(v) if send => WalRecord::Samples(
                        v.into_iter()
                            .filter(|(r, t, _)| *t > self.seen(*r))
                            .collect(),
                    ),
                    WalRecord::Histograms(v) if send => WalRecord::Histograms(
                        v.into_iter()
                            .filter(|(r, t, _)| *t > self.seen(*r))
                            .collect(),
                    ),
                    other => other,
                };
                // Checkpoint samples bypass the floor check in `handle` via `seen`.
                let saved = std::mem::replace(&mut self.floor_ms, i64::MIN);
                let ok = self.handle(rec, send);
                self.floor_ms = saved;
                if !ok {
                    return Ok(true);
                }
            }
        }
        Ok(true)
    }

    fn seen(&self, r: SeriesRef) -> i64 {
        self.seen.get(&r).map_or(self.floor_ms, |s| {
            if s.last_t == i64::MIN {
                self.floor_ms
            } else {
                s.last_t
            }
        })
    }

    /// Recovery after segments were removed: reads the newest checkpoint with its samples and
    /// returns the segment to continue with.
    fn catch_up_from_checkpoint(&mut self, cps: &[u32]) -> Result<Option<u32>, WatchError> {
        let Some(&cp) = cps.last() else {
            return Ok(None);
        };
        if self.read_checkpoint(cp, true)? {
            Ok(Some(cp + 1))
        } else {
            Ok(None)
        }
    }

    /// The segment to read after reaching `wanted`: `wanted` itself when it exists or is yet
    /// to be written, or the segment after the checkpoint that replaced it (after reading
    /// that checkpoint's samples).
    fn next_after_gap(&mut self, wanted: u32) -> Result<Option<u32>, WatchError> {
        let (segs, cps) = wal::list_segments(&self.dir).map_err(|e| self.io_err(e))?;
        if segs.contains(&wanted) {
            return Ok(Some(wanted));
        }
        let gap = cps.iter().any(|&c| c >= wanted) || segs.iter().any(|&s| s > wanted);
        if !gap {
            return Ok(None);
        }
        tracing::warn!(
            segment = wanted,
            "WAL segment was checkpointed before remote write read it; sending its data from the checkpoint"
        );
        let newer: Vec<u32> = cps.into_iter().filter(|&c| c >= wanted).collect();
        match self.catch_up_from_checkpoint(&newer)? {
            Some(n) => Ok(Some(n)),
            // No checkpoint covers the gap: continue with the next segment that exists.
            None => Ok(segs.into_iter().find(|&s| s > wanted)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_tsdb::wal::Wal;

    #[derive(Default)]
    struct Collect {
        series: HashMap<SeriesRef, Labels>,
        samples: Vec<(String, i64, f64)>,
        last: WalPosition,
        stop_after: Option<usize>,
        stop: Option<Arc<AtomicBool>>,
        forgotten: Vec<SeriesRef>,
    }

    impl WalConsumer for Collect {
        fn store_series(&mut self, series: &[(SeriesRef, Labels)]) {
            for (r, l) in series {
                self.series.insert(*r, l.clone());
            }
        }
        fn append_samples(&mut self, samples: &[(SeriesRef, i64, f64)]) -> bool {
            for (r, t, v) in samples {
                let name = self
                    .series
                    .get(r)
                    .and_then(|l| l.metric_name())
                    .unwrap_or("?")
                    .to_string();
                self.samples.push((name, *t, *v));
            }
            if let (Some(n), Some(stop)) = (self.stop_after, &self.stop) {
                if self.samples.len() >= n {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            true
        }
        fn append_histograms(&mut self, _: &[(SeriesRef, i64, FloatHistogram)]) -> bool {
            true
        }
        fn append_exemplars(&mut self, _: &[(SeriesRef, Exemplar)]) -> bool {
            true
        }
        fn reached(&mut self, position: WalPosition) {
            self.last = position;
        }
        fn forget_series(&mut self, refs: &[SeriesRef]) {
            for r in refs {
                self.series.remove(r);
            }
            self.forgotten.extend_from_slice(refs);
        }
        fn idle(&mut self) {
            if let Some(stop) = &self.stop {
                if self.stop_after.is_none() {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    fn series(r: u64, name: &str) -> WalRecord {
        WalRecord::Series(vec![(r, Labels::from_pairs([("__name__", name)]))])
    }

    /// Sets `stop` after 10 s whatever happens, so a test never hangs.
    fn bound(stop: &Arc<AtomicBool>) {
        let s = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(10));
            s.store(true, Ordering::Relaxed);
        });
    }

    fn run(dir: &Path, start: StartPoint, stop_after: Option<usize>) -> Collect {
        let stop = Arc::new(AtomicBool::new(false));
        bound(&stop);
        let c = Collect {
            stop: Some(stop.clone()),
            stop_after,
            ..Default::default()
        };
        let mut w = WalWatcher::new(dir, c, stop);
        w.run(start).unwrap();
        w.into_consumer()
    }

    #[test]
    fn reads_new_samples_and_resumes_where_it_stopped() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Wal::open(d.path(), 1 << 20, None).unwrap();
        w.log(&[series(1, "a"), WalRecord::Samples(vec![(1, 10, 1.0)])])
            .unwrap();
        w.cut().unwrap();
        w.log(&[
            series(2, "b"),
            WalRecord::Samples(vec![(1, 20, 2.0), (2, 20, 3.0)]),
        ])
        .unwrap();
        w.log(&[WalRecord::Samples(vec![(1, 30, 4.0)])]).unwrap();
        // A fresh sender starts at the newest segment, knowing series from older ones.
        let c = run(d.path(), StartPoint::Newest { after_ms: 0 }, None);
        let got: Vec<_> = c.samples.iter().map(|s| (s.0.as_str(), s.1)).collect();
        assert_eq!(got, vec![("a", 20), ("b", 20), ("a", 30)]);
        // Resuming after the first record of segment 2 yields only the rest.
        let c2 = run(d.path(), StartPoint::Newest { after_ms: 0 }, Some(2));
        let pos = c2.last;
        w.log(&[WalRecord::Samples(vec![(2, 40, 5.0)])]).unwrap();
        let c3 = run(
            d.path(),
            StartPoint::Resume {
                position: pos,
                delivered_ms: 20,
            },
            None,
        );
        let got: Vec<_> = c3.samples.iter().map(|s| (s.0.as_str(), s.1)).collect();
        assert_eq!(got, vec![("a", 30), ("b", 40)]);
    }

    #[test]
    fn checkpointed_segments_are_recovered_from_the_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Wal::open(d.path(), 1 << 20, None).unwrap();
        w.log(&[series(1, "a"), WalRecord::Samples(vec![(1, 10, 1.0)])])
            .unwrap();
        let first = w.segment();
        w.cut().unwrap();
        w.log(&[WalRecord::Samples(vec![(1, 20, 2.0)])]).unwrap();
        let upto = w.cut().unwrap();
        // The checkpoint keeps the head's samples from 20 on; segments up to `upto` go.
        w.checkpoint(
            upto,
            &[series(1, "a"), WalRecord::Samples(vec![(1, 20, 2.0)])],
        )
        .unwrap();
        w.log(&[WalRecord::Samples(vec![(1, 30, 3.0)])]).unwrap();
        let c = run(
            d.path(),
            StartPoint::Resume {
                position: WalPosition {
                    segment: first,
                    offset: 0,
                },
                delivered_ms: 10,
            },
            None,
        );
        let got: Vec<_> = c.samples.iter().map(|s| s.1).collect();
        assert_eq!(got, vec![20, 30]);
    }

    #[test]
    fn series_that_left_the_head_are_forgotten() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Wal::open(d.path(), 1 << 20, None).unwrap();
        w.log(&[series(1, "gone"), series(2, "kept")]).unwrap();
        w.log(&[WalRecord::Samples(vec![(1, 10, 1.0), (2, 10, 1.0)])])
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let c = Collect {
            stop: Some(stop.clone()),
            stop_after: Some(3),
            ..Default::default()
        };
        bound(&stop);
        let mut watcher = WalWatcher::new(d.path(), c, stop.clone());
        // Tail the live segment on a thread while the head checkpoints without series 1.
        let handle = std::thread::spawn(move || {
            watcher.run(StartPoint::Newest { after_ms: 0 }).unwrap();
            watcher.into_consumer()
        });
        std::thread::sleep(Duration::from_millis(300));
        let upto = w.cut().unwrap();
        w.checkpoint(
            upto,
            &[series(2, "kept"), WalRecord::Samples(vec![(2, 10, 1.0)])],
        )
        .unwrap();
        w.log(&[WalRecord::Samples(vec![(2, 20, 2.0)])]).unwrap();
        let c = handle.join().unwrap();
        assert_eq!(c.forgotten, vec![1]);
        let got: Vec<_> = c.samples.iter().map(|s| (s.0.as_str(), s.1)).collect();
        assert_eq!(got, vec![("gone", 10), ("kept", 10), ("kept", 20)]);
    }

    #[test]
    fn a_corrupt_checkpoint_frame_length_ends_the_read_without_a_huge_buffer() {
        let d = tempfile::tempdir().unwrap();
        let cp_dir = wal::checkpoint_dir(d.path(), 7);
        std::fs::create_dir_all(&cp_dir).unwrap();
        // A header claiming a 4 GiB record, followed by a few bytes only.
        let mut bytes = vec![0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0];
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(wal::segment_file(&cp_dir, 0), bytes).unwrap();
        let watcher = WalWatcher::new(
            d.path(),
            Collect::default(),
            Arc::new(AtomicBool::new(true)),
        );
        let got = watcher.checkpoint_series(7).unwrap();
        assert_eq!(got, Some(HashSet::new()));
    }
}
