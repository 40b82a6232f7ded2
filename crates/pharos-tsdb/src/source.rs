//! Where a selected series' samples come from: head chunks, block chunks in mapped files, or
//! already-decoded samples. Decoding is deferred until a series is actually iterated.

use std::sync::Arc;

use memmap2::Mmap;

use crate::chunk::{self, Encoding, Value};
use crate::head_chunks::ChunkFileMap;
use crate::varint::DecodeError;

/// A byte range inside a memory-mapped file, kept alive by the shared map.
#[derive(Clone, Debug)]
pub struct MappedSlice {
    /// The mapped file.
    pub map: Arc<Mmap>,
    /// Start offset.
    pub start: usize,
    /// End offset (exclusive).
    pub end: usize,
}

impl MappedSlice {
    /// The bytes, or an error if the range lies outside the file.
    pub fn bytes(&self) -> Result<&[u8], DecodeError> {
        self.map.get(self.start..self.end).ok_or_else(|| {
            DecodeError(format!(
                "chunk range {}..{} outside file",
                self.start, self.end
            ))
        })
    }
}

/// One source of samples for a series.
#[derive(Clone, Debug)]
pub enum SampleSource {
    /// An encoded chunk held in memory.
    Encoded {
        /// Encoding of `data`.
        encoding: Encoding,
        /// Chunk bytes.
        data: Arc<[u8]>,
    },
    /// An encoded chunk in a block's chunk file.
    Mapped {
        /// Encoding of the bytes.
        encoding: Encoding,
        /// Where the bytes are.
        slice: MappedSlice,
    },
    /// A sealed head chunk in a memory-mapped head chunk file.
    HeadFile {
        /// Encoding of the bytes.
        encoding: Encoding,
        /// The file's mapping.
        map: Arc<ChunkFileMap>,
        /// Offset of the chunk.
        offset: u32,
        /// Length of the chunk.
        len: u32,
    },
    /// Samples already decoded (the head's out-of-order buffer).
    Decoded(Arc<Vec<(i64, Value)>>),
}

impl SampleSource {
    /// Decodes every sample of this source, appending to `out`.
    pub fn decode_into(&self, out: &mut Vec<(i64, Value)>) -> Result<(), DecodeError> {
        match self {
            SampleSource::Encoded { encoding, data } => chunk::decode_into(*encoding, data, out),
            SampleSource::Mapped { encoding, slice } => {
                chunk::decode_into(*encoding, slice.bytes()?, out)
            }
            SampleSource::HeadFile {
                encoding,
                map,
                offset,
                len,
            } => chunk::decode_into(
                *encoding,
                map.bytes(*offset, *len)
                    .ok_or_else(|| DecodeError("head chunk outside its file".into()))?,
                out,
            ),
            SampleSource::Decoded(v) => {
                out.extend(v.iter().cloned());
                Ok(())
            }
        }
    }

    /// Decodes every sample of this source.
    pub fn decode(&self) -> Result<Vec<(i64, Value)>, DecodeError> {
        match self {
            SampleSource::Encoded { encoding, data } => chunk::decode(*encoding, data),
            SampleSource::Mapped { encoding, slice } => chunk::decode(*encoding, slice.bytes()?),
            SampleSource::HeadFile {
                encoding,
                map,
                offset,
                len,
            } => chunk::decode(
                *encoding,
                map.bytes(*offset, *len)
                    .ok_or_else(|| DecodeError("head chunk outside its file".into()))?,
            ),
            SampleSource::Decoded(v) => Ok(v.as_ref().clone()),
        }
    }
}
