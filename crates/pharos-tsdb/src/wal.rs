//! The write-ahead log: numbered segment files of checksummed records, plus checkpoints.
//!
//! Frame layout: `len: u32 BE | crc32(body): u32 BE | body` where `body` is a [`WalRecord`]
//! (its payload snappy-compressed when that helps, flagged in its type byte).
//! A commit is one `write` of all its frames, so a crash leaves at most one torn frame at the
//! end of the newest segment; replay truncates it and keeps going. A checkpoint
//! (`checkpoint.NNNNNNNN/`) holds the head's whole state as of the end of segment `N`, so replay
//! only reads it plus newer segments.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::wal_record::WalRecord;

/// Largest frame body accepted on replay; bigger lengths can only come from corruption.
const MAX_RECORD: usize = 256 << 20;
const FRAME_HEADER: usize = 8;

/// What replay found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records applied.
    pub records: u64,
    /// Bytes cut off torn or corrupt segment tails.
    pub truncated_bytes: u64,
    /// Segments read (excluding the checkpoint).
    pub segments: u64,
    /// The checkpoint used, if any.
    pub checkpoint: Option<u32>,
}

/// Appends records to the newest segment.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    file: File,
    segment: u32,
    segment_len: u64,
    segment_size: u64,
    fsync_interval: Option<Duration>,
    last_sync: Instant,
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}"))
}

/// Numbered segments and checkpoints present in `dir`, each sorted ascending.
fn list(dir: &Path) -> io::Result<(Vec<u32>, Vec<u32>)> {
    let mut segs = Vec::new();
    let mut cps = Vec::new();
    for e in fs::read_dir(dir)? {
        let name = e?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Ok(n) = name.parse::<u32>() {
            segs.push(n);
        } else if let Some(n) = name
            .strip_prefix("checkpoint.")
            .and_then(|s| s.parse::<u32>().ok())
        {
            cps.push(n);
        }
    }
    segs.sort_unstable();
    cps.sort_unstable();
    Ok((segs, cps))
}

/// Frames `records` into one buffer.
fn frame(records: &[WalRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    let mut scratch = Vec::new();
    for r in records {
        body.clear();
        r.encode_compressed(&mut body, &mut scratch);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        out.extend_from_slice(&body);
    }
    out
}

/// Reads the frames of one segment; returns the offset just past the last good frame.
fn read_segment(data: &[u8], f: &mut dyn FnMut(WalRecord)) -> (usize, u64, Option<String>) {
    let mut pos = 0usize;
    let mut n = 0u64;
    while pos < data.len() {
        let Some(hdr) = data.get(pos..pos + FRAME_HEADER) else {
            return (pos, n, Some("torn frame header".into()));
        };
        let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let crc = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if len == 0 || len > MAX_RECORD {
            return (pos, n, Some(format!("impossible frame length {len}")));
        }
        let Some(body) = data.get(pos + FRAME_HEADER..pos + FRAME_HEADER + len) else {
            return (pos, n, Some("torn frame body".into()));
        };
        if crc32fast::hash(body) != crc {
            return (pos, n, Some("checksum mismatch".into()));
        }
        match WalRecord::decode(body) {
            Ok(rec) => f(rec),
            Err(e) => return (pos, n, Some(format!("undecodable record: {e}"))),
        }
        n += 1;
        pos += FRAME_HEADER + len;
    }
    (pos, n, None)
}

/// One frame read from the front of a byte slice by [`decode_frame`].
#[derive(Debug)]
pub enum FrameRead {
    /// A whole frame: its record and the bytes it took.
    Record(WalRecord, usize),
    /// The bytes end inside a frame: a writer may still be appending it.
    Incomplete,
    /// The frame can never become valid (bad length, checksum or record).
    Corrupt(String),
}

/// Decodes the frame at the start of `data`, for readers that tail a segment while the
/// server appends to it (the remote write sender).
pub fn decode_frame(data: &[u8]) -> FrameRead {
    let Some(hdr) = data.get(..FRAME_HEADER) else {
        return FrameRead::Incomplete;
    };
    let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
    let crc = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    if len == 0 || len > MAX_RECORD {
        return FrameRead::Corrupt(format!("impossible frame length {len}"));
    }
    let Some(body) = data.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return FrameRead::Incomplete;
    };
    if crc32fast::hash(body) != crc {
        return FrameRead::Corrupt("checksum mismatch".into());
    }
    match WalRecord::decode(body) {
        Ok(rec) => FrameRead::Record(rec, FRAME_HEADER + len),
        Err(e) => FrameRead::Corrupt(format!("undecodable record: {e}")),
    }
}

/// The numbered segments and checkpoints in a WAL directory, each ascending, for readers
/// outside this module. A missing directory has neither.
pub fn list_segments(dir: &Path) -> io::Result<(Vec<u32>, Vec<u32>)> {
    match list(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((Vec::new(), Vec::new())),
        r => r,
    }
}

/// The file of segment `n` in a WAL directory.
pub fn segment_file(dir: &Path, n: u32) -> PathBuf {
    segment_path(dir, n)
}

/// The directory of checkpoint `n` in a WAL directory; its segments are read like the
/// WAL's own (see [`list_segments`] and [`segment_file`]).
pub fn checkpoint_dir(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("checkpoint.{n:08}"))
}

/// Reads a WAL file; a read-only reader tolerates the owner removing it meanwhile (its
/// contents then live in a newer checkpoint, which the owner wrote first).
fn read_file(path: &Path, repair: bool) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if !repair && e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replays the newest checkpoint and every later segment through `f`, truncating damaged
/// segment tails in place.
pub fn replay(dir: &Path, f: &mut dyn FnMut(WalRecord)) -> io::Result<ReplayStats> {
    fs::create_dir_all(dir)?;
    replay_segments(dir, f, true)
}

/// Like [`replay`] but never writes: a damaged or still-being-written tail is only skipped.
/// Used to read a directory a running server owns. A missing directory replays nothing.
pub fn replay_read_only(dir: &Path, f: &mut dyn FnMut(WalRecord)) -> io::Result<ReplayStats> {
    if !dir.exists() {
        return Ok(ReplayStats::default());
    }
    replay_segments(dir, f, false)
}

fn replay_segments(
    dir: &Path,
    f: &mut dyn FnMut(WalRecord),
    repair: bool,
) -> io::Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    let (segs, cps) = list(dir)?;
    let mut after = 0u32;
    if let Some(&cp) = cps.last() {
        let cp_dir = dir.join(format!("checkpoint.{cp:08}"));
        let (cp_segs, _) = list(&cp_dir)?;
        for s in cp_segs {
            let Some(data) = read_file(&segment_path(&cp_dir, s), repair)? else {
                continue;
            };
            let (_, n, err) = read_segment(&data, f);
            stats.records += n;
            if let Some(e) = err {
                // Checkpoints are fsynced before they become visible, so this means disk damage.
                tracing::error!(checkpoint = cp, reason = %e, "checkpoint damaged; data after the damage is lost");
            }
        }
        stats.checkpoint = Some(cp);
        after = cp;
    }
    for s in segs
        .into_iter()
        .filter(|s| stats.checkpoint.is_none() || *s > after)
    {
        let path = segment_path(dir, s);
        let Some(data) = read_file(&path, repair)? else {
            continue;
        };
        let (good, n, err) = read_segment(&data, f);
        stats.records += n;
        stats.segments += 1;
        if let Some(reason) = err {
            let dropped = (data.len() - good) as u64;
            if !repair {
                // The owner may be mid-write; its tail is not ours to judge or repair.
                tracing::debug!(segment = %path.display(), offset = good, %reason, "skipping unreadable WAL tail");
                stats.truncated_bytes += dropped;
                continue;
            }
            tracing::warn!(
                segment = %path.display(),
                offset = good,
                dropped_bytes = dropped,
                %reason,
                "write-ahead log segment damaged at the end; truncating at the last good record"
            );
            OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(good as u64)?;
            stats.truncated_bytes += dropped;
        }
    }
    Ok(stats)
}

impl Wal {
    /// Opens the log for appending in a fresh segment after any existing ones.
    pub fn open(
        dir: &Path,
        segment_size: u64,
        fsync_interval: Option<Duration>,
    ) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        let (segs, cps) = list(dir)?;
        let next = segs
            .last()
            .copied()
            .max(cps.last().copied())
            .map_or(1, |n| n + 1);
        let file = Self::create_segment(dir, next)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            segment: next,
            segment_len: 0,
            segment_size,
            fsync_interval,
            last_sync: Instant::now(),
        })
    }

    fn create_segment(dir: &Path, n: u32) -> io::Result<File> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, n))?;
        File::open(dir)?.sync_all()?;
        Ok(f)
    }

    /// The segment being written.
    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// Writes one commit's records; on failure nothing of them stays in the log.
    pub fn log(&mut self, records: &[WalRecord]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let buf = frame(records);
        if self.segment_len > 0 && self.segment_len + buf.len() as u64 > self.segment_size {
            self.cut()?;
        }
        if let Err(e) = self.file.write_all(&buf) {
            // Remove a partial write so later commits never follow a torn frame mid-segment.
            if self.file.set_len(self.segment_len).is_err() {
                tracing::error!("could not roll back a failed WAL write; starting a new segment");
                let _ = self.cut();
            }
            return Err(e);
        }
        self.segment_len += buf.len() as u64;
        if let Some(iv) = self.fsync_interval {
            if self.last_sync.elapsed() >= iv {
                self.file.sync_data()?;
                self.last_sync = Instant::now();
            }
        }
        Ok(())
    }

    /// Flushes the current segment to stable storage.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Closes the current segment and starts the next; returns the closed segment's number.
    pub fn cut(&mut self) -> io::Result<u32> {
        self.file.sync_data()?;
        let closed = self.segment;
        self.file = Self::create_segment(&self.dir, closed + 1)?;
        self.segment = closed + 1;
        self.segment_len = 0;
        Ok(closed)
    }

    /// Makes `records` the state as of the end of segment `upto`, then deletes that segment,
    /// older ones and older checkpoints.
    pub fn checkpoint(&mut self, upto: u32, records: &[WalRecord]) -> io::Result<()> {
        let final_dir = self.dir.join(format!("checkpoint.{upto:08}"));
        let tmp = self.dir.join(format!("checkpoint.{upto:08}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        {
            let mut f = File::create(segment_path(&tmp, 0))?;
            // Bounded frames keep a checkpoint readable record by record.
            for batch in records.chunks(1) {
                f.write_all(&frame(batch))?;
            }
            f.sync_all()?;
        }
        File::open(&tmp)?.sync_all()?;
        if final_dir.exists() {
            fs::remove_dir_all(&final_dir)?;
        }
        fs::rename(&tmp, &final_dir)?;
        File::open(&self.dir)?.sync_all()?;
        let (segs, cps) = list(&self.dir)?;
        for s in segs.into_iter().filter(|s| *s <= upto) {
            fs::remove_file(segment_path(&self.dir, s))?;
        }
        for c in cps.into_iter().filter(|c| *c < upto) {
            fs::remove_dir_all(self.dir.join(format!("checkpoint.{c:08}")))?;
        }
        Ok(())
    }

    /// Removes leftovers of interrupted checkpoints.
    pub fn clean_temporary(dir: &Path) -> io::Result<()> {
        if !dir.exists() {
            return Ok(());
        }
        for e in fs::read_dir(dir)? {
            let e = e?;
            if e.file_name().to_str().is_some_and(|n| n.ends_with(".tmp")) {
                fs::remove_dir_all(e.path())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(n: u64) -> WalRecord {
        WalRecord::Samples((0..n).map(|i| (i + 1, i as i64, i as f64)).collect())
    }

    fn count(dir: &Path) -> (u64, ReplayStats) {
        let mut n = 0;
        let st = replay(dir, &mut |_| n += 1).unwrap();
        (n, st)
    }

    #[test]
    fn log_replay_cut_and_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Wal::open(d.path(), 200, None).unwrap();
        for _ in 0..20 {
            w.log(&[samples(3)]).unwrap();
        }
        assert!(w.segment() > 2, "small segment size rolls over");
        assert_eq!(count(d.path()).0, 20);
        let upto = w.cut().unwrap();
        w.checkpoint(upto, &[samples(1), samples(2)]).unwrap();
        w.log(&[samples(1)]).unwrap();
        drop(w);
        let (n, st) = count(d.path());
        assert_eq!(n, 3);
        assert_eq!(st.checkpoint, Some(upto));
        // Reopening starts a new segment after the checkpoint and the old segments.
        let w = Wal::open(d.path(), 200, None).unwrap();
        assert!(w.segment() > upto + 1);
    }

    #[test]
    fn torn_and_flipped_tails_are_truncated() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Wal::open(d.path(), 1 << 20, None).unwrap();
        for _ in 0..10 {
            w.log(&[samples(5)]).unwrap();
        }
        let seg = segment_path(d.path(), w.segment());
        drop(w);
        let full = fs::read(&seg).unwrap();
        fs::write(&seg, &full[..full.len() - 3]).unwrap();
        let (n, st) = count(d.path());
        assert_eq!(n, 9);
        assert!(st.truncated_bytes > 0);
        assert_eq!(
            count(d.path()).1.truncated_bytes,
            0,
            "second replay finds a clean log"
        );
        let mut data = fs::read(&seg).unwrap();
        let len = data.len();
        data[len - 10] ^= 0x40;
        fs::write(&seg, &data).unwrap();
        assert_eq!(count(d.path()).0, 8);
    }
}
