//! Immutable, time-partitioned blocks on disk.
//!
//! A block is a directory named by its ID holding `meta.json`, `index` (symbols, series with
//! their chunk references, postings) and `chunks/000001`, plus an optional `tombstones.json`.
//! Blocks are written under `<id>.tmp` and renamed into place, so a crash never leaves a
//! half-written block where the database would load it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use memmap2::Mmap;
use pharos_model::{Label, Labels, Matcher};
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use crate::chunk::{self, Encoding, Value};
use crate::postings::Postings;
use crate::source::{MappedSlice, SampleSource};
use crate::varint::{put_bytes, put_uvarint, put_varint, ByteReader, DecodeError};

const INDEX_MAGIC: &[u8; 8] = b"PHXIDX01";
const CHUNKS_MAGIC: &[u8; 8] = b"PHXCHK01";
const META_FILE: &str = "meta.json";
const INDEX_FILE: &str = "index";
const CHUNKS_FILE: &str = "chunks/000001";
const TOMBSTONES_FILE: &str = "tombstones.json";

/// A block could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// File system failure.
    #[error("block I/O at {path}: {source}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// A file did not decode.
    #[error("corrupt block file {path}: {reason}")]
    Corrupt {
        /// File involved.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BlockError + '_ {
    move |source| BlockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Sample and series counts of a block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples.
    pub num_samples: u64,
    /// Series.
    pub num_series: u64,
    /// Chunks.
    pub num_chunks: u64,
}

/// How a block came to be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCompaction {
    /// 1 for blocks cut from the head, parents' maximum + 1 after compaction.
    pub level: u32,
    /// IDs of the level-1 blocks whose data this block contains.
    pub sources: Vec<String>,
    /// IDs of the blocks this one replaced; they are deleted if still present at open.
    #[serde(default)]
    pub parents: Vec<String>,
}

/// Contents of `meta.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// Block ID, also the directory name.
    pub ulid: String,
    /// Earliest sample time (inclusive, ms).
    pub min_time: i64,
    /// End of the covered range (exclusive, ms).
    pub max_time: i64,
    /// Counts.
    pub stats: BlockStats,
    /// Provenance.
    pub compaction: BlockCompaction,
    /// Format version.
    pub version: u32,
}

/// A chunk's place in the chunk file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First sample time.
    pub mint: i64,
    /// Last sample time.
    pub maxt: i64,
    /// Encoding.
    pub encoding: Encoding,
    /// Offset of the chunk bytes.
    pub offset: u64,
    /// Length of the chunk bytes (a CRC32 follows them).
    pub len: u32,
}

/// One series of a block.
#[derive(Clone, Debug)]
pub struct BlockSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Its chunks in time order.
    pub chunks: Vec<ChunkMeta>,
}

/// A new, time-sortable, unique block ID.
pub fn new_block_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "{ms:013x}{:06x}{:07x}",
        std::process::id() & 0xff_ffff,
        seq & 0xfff_ffff
    )
    .to_uppercase()
}

/// Writes a block holding `series` (sorted by labels, samples sorted by time and inside
/// `[min_time, max_time)`) into `parent`, atomically. Series without samples are skipped.
/// Returns `None` when there was nothing to write.
pub fn write_block(
    parent: &Path,
    series: impl IntoIterator<Item = (Labels, Vec<(i64, Value)>)>,
    min_time: i64,
    max_time: i64,
    compaction: BlockCompaction,
) -> Result<Option<BlockMeta>, BlockError> {
    let id = new_block_id();
    let tmp = parent.join(format!("{id}.tmp"));
    let result = write_block_files(&tmp, &id, series, min_time, max_time, compaction);
    let meta = match result {
        Ok(Some(m)) => m,
        Ok(None) => {
            let _ = fs::remove_dir_all(&tmp);
            return Ok(None);
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let dst = parent.join(&id);
    fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io_err(parent))?;
    Ok(Some(meta))
}

fn write_block_files(
    dir: &Path,
    id: &str,
    series: impl IntoIterator<Item = (Labels, Vec<(i64, Value)>)>,
    min_time: i64,
    max_time: i64,
    mut compaction: BlockCompaction,
) -> Result<Option<BlockMeta>, BlockError> {
    let chunks_path = dir.join(CHUNKS_FILE);
    fs::create_dir_all(dir.join("chunks")).map_err(io_err(dir))?;
    let mut cw = BufWriter::new(File::create(&chunks_path).map_err(io_err(&chunks_path))?);
    cw.write_all(CHUNKS_MAGIC).map_err(io_err(&chunks_path))?;
    let mut offset = CHUNKS_MAGIC.len() as u64;
    let mut all: Vec<BlockSeries> = Vec::new();
    let mut stats = BlockStats::default();
    let mut real_min = i64::MAX;
    let mut real_max = i64::MIN;
    for (labels, samples) in series {
        if samples.is_empty() {
            continue;
        }
        stats.num_samples += samples.len() as u64;
        real_min = real_min.min(samples.first().map_or(i64::MAX, |s| s.0));
        real_max = real_max.max(samples.last().map_or(i64::MIN, |s| s.0));
        let mut metas = Vec::new();
        for (encoding, mint, maxt, data) in
            chunk::encode_sealed(&samples, chunk::MAX_SAMPLES_PER_SEALED_CHUNK)
        {
            cw.write_all(&data).map_err(io_err(&chunks_path))?;
            cw.write_all(&crc32fast::hash(&data).to_be_bytes())
                .map_err(io_err(&chunks_path))?;
            metas.push(ChunkMeta {
                mint,
                maxt,
                encoding,
                offset,
                len: data.len() as u32,
            });
            offset += data.len() as u64 + 4;
        }
        stats.num_chunks += metas.len() as u64;
        all.push(BlockSeries {
            labels,
            chunks: metas,
        });
    }
    if all.is_empty() {
        return Ok(None);
    }
    let file = cw
        .into_inner()
        .map_err(|e| io_err(&chunks_path)(e.into_error()))?;
    file.sync_all().map_err(io_err(&chunks_path))?;
    stats.num_series = all.len() as u64;

    let index_path = dir.join(INDEX_FILE);
    let index = encode_index(&all);
    write_synced(&index_path, &index)?;

    if compaction.sources.is_empty() {
        compaction.sources.push(id.to_owned());
    }
    let meta = BlockMeta {
        ulid: id.to_owned(),
        min_time: min_time.max(real_min),
        max_time: max_time.min(real_max.saturating_add(1)),
        stats,
        compaction,
        version: 1,
    };
    let meta_path = dir.join(META_FILE);
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| BlockError::Corrupt {
        path: meta_path.clone(),
        reason: e.to_string(),
    })?;
    write_synced(&meta_path, &json)?;
    File::open(dir.join("chunks"))
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(Some(meta))
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), BlockError> {
    let mut f = File::create(path).map_err(io_err(path))?;
    f.write_all(data).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn encode_index(series: &[BlockSeries]) -> Vec<u8> {
    let mut symbols: Vec<&str> = series
        .iter()
        .flat_map(|s| s.labels.iter().flat_map(|l| [&*l.name, &*l.value]))
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    let sym = |s: &str| symbols.binary_search(&s).unwrap_or(0) as u64;
    let mut b = Vec::new();
    b.extend_from_slice(INDEX_MAGIC);
    put_uvarint(&mut b, symbols.len() as u64);
    for s in &symbols {
        put_bytes(&mut b, s.as_bytes());
    }
    put_uvarint(&mut b, series.len() as u64);
    let mut postings: BTreeMap<(u64, u64), RoaringBitmap> = BTreeMap::new();
    for (id, s) in series.iter().enumerate() {
        put_uvarint(&mut b, s.labels.len() as u64);
        for l in &s.labels {
            let (n, v) = (sym(&l.name), sym(&l.value));
            put_uvarint(&mut b, n);
            put_uvarint(&mut b, v);
            postings.entry((n, v)).or_default().insert(id as u32);
        }
        put_uvarint(&mut b, s.chunks.len() as u64);
        let mut prev_end = 0u64;
        for c in &s.chunks {
            put_varint(&mut b, c.mint);
            put_uvarint(&mut b, c.maxt.wrapping_sub(c.mint) as u64);
            b.push(c.encoding as u8);
            // Chunks of a series are contiguous, so offsets are stored as gaps.
            put_uvarint(&mut b, c.offset.wrapping_sub(prev_end));
            put_uvarint(&mut b, u64::from(c.len));
            prev_end = c.offset + u64::from(c.len) + 4;
        }
    }
    put_uvarint(&mut b, postings.len() as u64);
    let mut buf = Vec::new();
    for ((n, v), ids) in postings {
        put_uvarint(&mut b, n);
        put_uvarint(&mut b, v);
        buf.clear();
        // Serialising into a Vec cannot fail.
        let _ = ids.serialize_into(&mut buf);
        put_bytes(&mut b, &buf);
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    b
}

fn decode_index(data: &[u8]) -> Result<(Vec<BlockSeries>, Postings), DecodeError> {
    let body_len = data
        .len()
        .checked_sub(4)
        .ok_or_else(|| DecodeError("index too short".into()))?;
    let (body, crc) = data.split_at(body_len);
    if crc32fast::hash(body).to_be_bytes() != crc {
        return Err(DecodeError("index checksum mismatch".into()));
    }
    let mut r = ByteReader::new(body);
    if r.bytes(8)? != INDEX_MAGIC {
        return Err(DecodeError("not a Pharos index (bad magic)".into()));
    }
    let n = r.len(r.remaining())?;
    let mut symbols: Vec<Arc<str>> = Vec::with_capacity(n);
    for _ in 0..n {
        symbols.push(Arc::from(r.string()?));
    }
    let symbol = |i: u64| -> Result<Arc<str>, DecodeError> {
        usize::try_from(i)
            .ok()
            .and_then(|i| symbols.get(i))
            .cloned()
            .ok_or_else(|| DecodeError(format!("symbol {i} out of range")))
    };
    let n = r.len(r.remaining())?;
    let mut series = Vec::with_capacity(n);
    for _ in 0..n {
        let nl = r.len(r.remaining())?;
        let mut labels = Vec::with_capacity(nl);
        for _ in 0..nl {
            let name = symbol(r.uvarint()?)?;
            let value = symbol(r.uvarint()?)?;
            labels.push(Label { name, value });
        }
        if labels.windows(2).any(|w| w[0].name >= w[1].name) {
            return Err(DecodeError("series labels not sorted".into()));
        }
        let nc = r.len(r.remaining())?;
        let mut chunks = Vec::with_capacity(nc);
        let mut prev_end = 0u64;
        for _ in 0..nc {
            let mint = r.varint()?;
            let maxt = mint.wrapping_add(r.uvarint()? as i64);
            let encoding = Encoding::from_u8(r.u8()?)?;
            let offset = prev_end.wrapping_add(r.uvarint()?);
            let len = u32::try_from(r.uvarint()?)
                .map_err(|_| DecodeError("chunk length too large".into()))?;
            prev_end = offset + u64::from(len) + 4;
            chunks.push(ChunkMeta {
                mint,
                maxt,
                encoding,
                offset,
                len,
            });
        }
        series.push(BlockSeries {
            labels: Labels::from_sorted(labels),
            chunks,
        });
    }
    let n = r.len(r.remaining())?;
    let mut postings = Postings::new();
    for _ in 0..n {
        let name = symbol(r.uvarint()?)?;
        let value = symbol(r.uvarint()?)?;
        let bytes = r.length_prefixed()?;
        let ids = RoaringBitmap::deserialize_from(bytes)
            .map_err(|e| DecodeError(format!("postings: {e}")))?;
        if ids.max().is_some_and(|m| m as usize >= series.len()) {
            return Err(DecodeError("postings reference a missing series".into()));
        }
        postings.insert_list(name, value, ids);
    }
    Ok((series, postings))
}

/// Deleted time ranges per series of a block.
pub type Tombstones = BTreeMap<u32, Vec<(i64, i64)>>;

/// An open block.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    series: Vec<BlockSeries>,
    postings: Postings,
    chunks: Arc<Mmap>,
    tombstones: RwLock<Arc<Tombstones>>,
    size: u64,
}

impl Block {
    /// Opens and verifies the block in `dir`.
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
        let meta_path = dir.join(META_FILE);
        let meta_bytes = fs::read(&meta_path).map_err(io_err(&meta_path))?;
        let meta: BlockMeta =
            serde_json::from_slice(&meta_bytes).map_err(|e| BlockError::Corrupt {
                path: meta_path.clone(),
                reason: e.to_string(),
            })?;
        let index_path = dir.join(INDEX_FILE);
        let index = fs::read(&index_path).map_err(io_err(&index_path))?;
        let (series, postings) = decode_index(&index).map_err(|e| BlockError::Corrupt {
            path: index_path.clone(),
            reason: e.0,
        })?;
        let chunks_path = dir.join(CHUNKS_FILE);
        let f = File::open(&chunks_path).map_err(io_err(&chunks_path))?;
        // SAFETY: block files are immutable once renamed into place and nothing in this
        // process writes them; the map is read-only.
        let map = unsafe { Mmap::map(&f) }.map_err(io_err(&chunks_path))?;
        if map.get(..8) != Some(CHUNKS_MAGIC.as_slice()) {
            return Err(BlockError::Corrupt {
                path: chunks_path,
                reason: "bad magic".into(),
            });
        }
        let end = series
            .iter()
            .flat_map(|s| s.chunks.iter())
            .map(|c| c.offset + u64::from(c.len) + 4)
            .max()
            .unwrap_or(0);
        if end > map.len() as u64 {
            return Err(BlockError::Corrupt {
                path: chunks_path,
                reason: "index points past the end of the chunk file".into(),
            });
        }
        let tomb_path = dir.join(TOMBSTONES_FILE);
        let tombstones: Tombstones = match fs::read(&tomb_path) {
            Ok(b) => {
                let list: Vec<(u32, i64, i64)> =
                    serde_json::from_slice(&b).map_err(|e| BlockError::Corrupt {
                        path: tomb_path.clone(),
                        reason: e.to_string(),
                    })?;
                let mut t = Tombstones::new();
                for (id, a, z) in list {
                    t.entry(id).or_default().push((a, z));
                }
                t
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Tombstones::new(),
            Err(e) => return Err(io_err(&tomb_path)(e)),
        };
        let size = dir_size(dir);
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            series,
            postings,
            chunks: Arc::new(map),
            tombstones: RwLock::new(Arc::new(tombstones)),
            size,
        })
    }

    /// The block's metadata.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes on disk.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The postings index.
    pub fn postings(&self) -> &Postings {
        &self.postings
    }

    /// A series by its index position.
    pub fn series(&self, id: u32) -> Option<&BlockSeries> {
        self.series.get(id as usize)
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Current tombstones.
    pub fn tombstones(&self) -> Arc<Tombstones> {
        self.tombstones
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Chunk sources of series `id` overlapping `[mint, maxt]`.
    pub fn sources(&self, id: u32, mint: i64, maxt: i64) -> Vec<SampleSource> {
        let Some(s) = self.series(id) else {
            return Vec::new();
        };
        s.chunks
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
            .map(|c| SampleSource::Mapped {
                encoding: c.encoding,
                slice: MappedSlice {
                    map: self.chunks.clone(),
                    start: c.offset as usize,
                    end: (c.offset + u64::from(c.len)) as usize,
                },
            })
            .collect()
    }

    /// Like [`Block::sources`], each source with its chunk's `(min t, max t)`.
    pub fn bounded_sources(&self, id: u32, mint: i64, maxt: i64) -> Vec<(i64, i64, SampleSource)> {
        let Some(s) = self.series(id) else {
            return Vec::new();
        };
        s.chunks
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
            .map(|c| {
                let src = SampleSource::Mapped {
                    encoding: c.encoding,
                    slice: MappedSlice {
                        map: self.chunks.clone(),
                        start: c.offset as usize,
                        end: (c.offset + u64::from(c.len)) as usize,
                    },
                };
                (c.mint, c.maxt, src)
            })
            .collect()
    }

    /// Verifies a chunk's checksum.
    pub fn verify_chunk(&self, c: &ChunkMeta) -> Result<(), DecodeError> {
        let start = c.offset as usize;
        let end = start + c.len as usize;
        let data = self
            .chunks
            .get(start..end)
            .ok_or_else(|| DecodeError("chunk outside file".into()))?;
        let crc = self
            .chunks
            .get(end..end + 4)
            .ok_or_else(|| DecodeError("chunk checksum outside file".into()))?;
        if crc32fast::hash(data).to_be_bytes() != crc {
            return Err(DecodeError(format!(
                "chunk at offset {start}: checksum mismatch"
            )));
        }
        Ok(())
    }

    /// All samples of series `id` within `[mint, maxt]` with tombstones applied.
    pub fn samples(&self, id: u32, mint: i64, maxt: i64) -> Result<Vec<(i64, Value)>, DecodeError> {
        let tomb = self.tombstones();
        let deleted = tomb.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        let mut out = Vec::new();
        for src in self.sources(id, mint, maxt) {
            out.extend(src.decode()?.into_iter().filter(|(t, _)| {
                *t >= mint && *t <= maxt && !deleted.iter().any(|(a, z)| t >= a && t <= z)
            }));
        }
        Ok(out)
    }

    /// Marks `[mint, maxt]` deleted for every series matching `matchers`; persists atomically.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<(), BlockError> {
        if maxt < self.meta.min_time || mint >= self.meta.max_time {
            return Ok(());
        }
        let ids = self.postings.select(matchers);
        if ids.is_empty() {
            return Ok(());
        }
        let mut guard = self.tombstones.write().unwrap_or_else(|e| e.into_inner());
        let mut t = (**guard).clone();
        for id in &ids {
            t.entry(id).or_default().push((mint, maxt));
        }
        let list: Vec<(u32, i64, i64)> = t
            .iter()
            .flat_map(|(id, iv)| iv.iter().map(move |(a, z)| (*id, *a, *z)))
            .collect();
        let path = self.dir.join(TOMBSTONES_FILE);
        let tmp = self.dir.join("tombstones.json.tmp");
        let json = serde_json::to_vec(&list).map_err(|e| BlockError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_synced(&tmp, &json)?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        *guard = Arc::new(t);
        Ok(())
    }
}

/// Total size of regular files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_open_query_delete() {
        let d = tempfile::tempdir().unwrap();
        let a = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let samples: Vec<(i64, Value)> = (0..300).map(|t| (t, Value::Float(t as f64))).collect();
        let meta = write_block(
            d.path(),
            vec![
                (a.clone(), samples.clone()),
                (b.clone(), vec![(5, Value::Histogram(Box::default()))]),
            ],
            0,
            1000,
            BlockCompaction {
                level: 1,
                ..Default::default()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!((meta.min_time, meta.max_time), (0, 300));
        let blk = Block::open(&d.path().join(&meta.ulid)).unwrap();
        assert_eq!(blk.meta().stats.num_samples, 301);
        let ids = blk.postings().select(&[Matcher::equal("job", "x")]);
        assert_eq!(ids.iter().collect::<Vec<_>>(), [0]);
        assert_eq!(blk.samples(0, 10, 19).unwrap().len(), 10);
        for c in &blk.series(0).unwrap().chunks {
            blk.verify_chunk(c).unwrap();
        }
        blk.delete(&[Matcher::equal("__name__", "a")], 0, 99)
            .unwrap();
        assert_eq!(blk.samples(0, 0, 1000).unwrap().len(), 200);
        let again = Block::open(blk.dir()).unwrap();
        assert_eq!(again.samples(0, 0, 1000).unwrap().len(), 200);
    }

    #[test]
    fn corrupt_index_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let meta = write_block(
            d.path(),
            vec![(
                Labels::from_pairs([("a", "b")]),
                vec![(1, Value::Float(1.0))],
            )],
            0,
            10,
            BlockCompaction::default(),
        )
        .unwrap()
        .unwrap();
        let p = d.path().join(&meta.ulid).join(INDEX_FILE);
        let mut data = fs::read(&p).unwrap();
        data[10] ^= 1;
        fs::write(&p, data).unwrap();
        assert!(matches!(
            Block::open(&d.path().join(&meta.ulid)),
            Err(BlockError::Corrupt { .. })
        ));
    }
}
