//! Full head chunks moved out of RAM into memory-mapped files under `chunks_head/`.
//!
//! A sealed head chunk never changes, so keeping its bytes on the heap only costs memory: the
//! head writes it to the current file and keeps a 12-byte reference. Reads go through a shared
//! read-only mapping, so the page cache (not the process heap) holds the bytes and the kernel
//! may drop them under pressure. The files are scratch space, not a recovery source: the WAL
//! stays the source of truth, so every open starts with an empty directory.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

/// Directory (inside the data directory) holding the files.
pub const HEAD_CHUNKS_DIR: &str = "chunks_head";

/// Size each file is created with (sparse: only written bytes use disk).
const DEFAULT_FILE_SIZE: u64 = 64 << 20;

/// Where a chunk's bytes are in the head chunk files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileChunkRef {
    /// Offset in the file.
    pub offset: u32,
    /// File number.
    pub file: u16,
    /// Length in bytes.
    pub len: u16,
}

/// A read-only mapping of one head chunk file, shared with readers.
#[derive(Debug)]
pub struct ChunkFileMap {
    map: MmapRaw,
    /// Bytes written so far; everything below never changes again.
    written: AtomicU64,
}

impl ChunkFileMap {
    /// The bytes at `[offset, offset + len)`, if they were written.
    pub fn bytes(&self, offset: u32, len: u32) -> Option<&[u8]> {
        let end = u64::from(offset) + u64::from(len);
        if end > self.written.load(Ordering::Acquire) || end > self.map.len() as u64 {
            return None;
        }
        // SAFETY: the range lies inside the mapping (checked above) and was written before
        // this map's `written` mark covered it; written ranges are never modified again, and
        // the mapping lives as long as `self`. Only the requested range is referenced, so
        // concurrent writes to later offsets of the file do not alias it.
        Some(unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().add(offset as usize), len as usize)
        })
    }
}

/// The set of head chunk files: one being appended to, older ones kept while referenced.
#[derive(Debug)]
pub struct HeadChunkFiles {
    dir: PathBuf,
    file_size: u64,
    /// Mapping per file number; `None` once the file was removed.
    maps: Vec<Option<Arc<ChunkFileMap>>>,
    /// Newest chunk end time per file, to know when a truncation frees it.
    max_t: Vec<i64>,
    current: Option<File>,
}

impl HeadChunkFiles {
    /// Starts with an empty `dir` (created, or emptied of a previous run's files).
    pub fn create(dir: &Path) -> io::Result<Self> {
        Self::with_file_size(dir, DEFAULT_FILE_SIZE)
    }

    /// Like [`HeadChunkFiles::create`] with a custom file size (tests use small files).
    pub fn with_file_size(dir: &Path, file_size: u64) -> io::Result<Self> {
        match fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs::create_dir_all(dir)?;
        Ok(HeadChunkFiles {
            dir: dir.to_path_buf(),
            file_size: file_size.min(u64::from(u32::MAX)),
            maps: Vec::new(),
            max_t: Vec::new(),
            current: None,
        })
    }

    fn path(&self, file: usize) -> PathBuf {
        self.dir.join(format!("{file:06}"))
    }

    fn start_file(&mut self) -> io::Result<()> {
        let id = self.maps.len();
        let path = self.path(id);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        f.set_len(self.file_size)?;
        let map = MmapOptions::new().map_raw_read_only(&f)?;
        self.maps.push(Some(Arc::new(ChunkFileMap {
            map,
            written: AtomicU64::new(0),
        })));
        self.max_t.push(i64::MIN);
        self.current = Some(f);
        Ok(())
    }

    /// Writes a sealed chunk and returns where it went, or an error (the caller then keeps the
    /// chunk in memory; a full disk must not fail appends).
    pub fn write(&mut self, data: &[u8], maxt: i64) -> io::Result<FileChunkRef> {
        let len = data.len() as u64;
        // References stay 8 bytes per chunk; the rare larger chunk stays on the heap.
        if len > u64::from(u16::MAX) || self.maps.len() > usize::from(u16::MAX) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "chunk too large for a head chunk file reference",
            ));
        }
        if len > self.file_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "chunk larger than a head chunk file",
            ));
        }
        let fits = self
            .maps
            .last()
            .and_then(Option::as_ref)
            .is_some_and(|m| m.written.load(Ordering::Relaxed) + len <= self.file_size);
        if !fits || self.current.is_none() {
            self.start_file()?;
        }
        let id = self.maps.len() - 1;
        let (Some(file), Some(Some(map))) = (self.current.as_ref(), self.maps.get(id)) else {
            return Err(io::Error::other("head chunk file missing"));
        };
        let offset = map.written.load(Ordering::Relaxed);
        file.write_all_at(data, offset)?;
        // Publish only after the bytes are in the page cache, so readers never see a gap.
        map.written.store(offset + len, Ordering::Release);
        if let Some(m) = self.max_t.get_mut(id) {
            *m = (*m).max(maxt);
        }
        Ok(FileChunkRef {
            offset: offset as u32,
            file: id as u16,
            len: len as u16,
        })
    }

    /// The mapping of a file, for readers that outlive the head lock.
    pub fn map(&self, file: u16) -> Option<Arc<ChunkFileMap>> {
        self.maps.get(file as usize).and_then(Clone::clone)
    }

    /// The bytes of a chunk.
    pub fn bytes(&self, r: FileChunkRef) -> Option<&[u8]> {
        self.maps
            .get(r.file as usize)
            .and_then(Option::as_ref)
            .and_then(|m| m.bytes(r.offset, u32::from(r.len)))
    }

    /// Removes files whose chunks all end before `below` (they were dropped from the head).
    /// The file being written is kept. Mappings still held by readers stay valid.
    pub fn truncate(&mut self, below: i64) {
        let last = self.maps.len().saturating_sub(1);
        for id in 0..last {
            let old = self.max_t.get(id).copied().unwrap_or(i64::MAX) < below;
            if old && self.maps.get(id).is_some_and(Option::is_some) {
                if let Some(slot) = self.maps.get_mut(id) {
                    *slot = None;
                }
                if let Err(e) = fs::remove_file(self.path(id)) {
                    tracing::warn!(error = %e, file = id, "could not remove head chunk file");
                }
            }
        }
    }

    /// Bytes written to files still in use.
    pub fn size(&self) -> u64 {
        self.maps
            .iter()
            .flatten()
            .map(|m| m.written.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_roll_over_and_truncate() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join(HEAD_CHUNKS_DIR);
        let mut f = HeadChunkFiles::with_file_size(&dir, 100).unwrap();
        let a = f.write(&[1; 60], 10).unwrap();
        let held = f.map(a.file).unwrap();
        let b = f.write(&[2; 60], 20).unwrap();
        assert_ne!(a.file, b.file, "second chunk must roll over to a new file");
        let c = f.write(&[3; 30], 30).unwrap();
        assert_eq!(f.bytes(a), Some(&[1u8; 60][..]));
        assert_eq!(f.bytes(b), Some(&[2u8; 60][..]));
        assert_eq!(f.bytes(c), Some(&[3u8; 30][..]));
        assert!(f.write(&[0; 101], 40).is_err());
        f.truncate(15);
        assert_eq!(f.bytes(a), None);
        // A reader's mapping outlives the file's removal.
        assert_eq!(held.bytes(a.offset, u32::from(a.len)), Some(&[1u8; 60][..]));
        assert_eq!(f.bytes(c), Some(&[3u8; 30][..]));
        assert!(held.bytes(0, 1000).is_none());
        // A fresh store clears what a previous run left behind.
        drop(f);
        let f = HeadChunkFiles::with_file_size(&dir, 100).unwrap();
        assert_eq!(f.size(), 0);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    }
}
