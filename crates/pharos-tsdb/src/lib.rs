//! The Pharos time-series database.
//!
//! Writes go through [`Appender`] (batched, WAL-logged on commit) into the in-memory
//! [`head::Head`], whose full chunks move to memory-mapped [`head_chunks`] files;
//! [`Db::compact`] (driven by a [`Compactor`] thread in a server) cuts the head into immutable
//! [`block::Block`]s, merges them and applies retention. Block chunks are re-encoded for size:
//! [`packed_chunk`] for floats that are exact decimals, [`histogram_chunk`] for native
//! histograms, XOR otherwise. Everything above storage (PromQL, rules, the HTTP API, remote
//! read) reads through the [`querier`] traits, which [`Db`] and the in-memory [`MemStorage`]
//! implement; [`Db`]'s selects decode chunks lazily as series are iterated.
//! [`Db::open_read_only`] serves inspection tools on a directory a server owns.

pub mod analyze;
pub mod appender;
pub mod bitstream;
pub mod block;
pub mod chunk;
pub mod compactor;
pub mod db;
pub mod db_querier;
pub mod exemplar;
pub mod head;
pub mod head_chunks;
pub mod histogram_chunk;
pub mod import;
pub mod lock;
pub mod memstore;
pub mod packed_chunk;
pub mod postings;
pub mod querier;
pub mod series_ref_map;
pub mod source;
pub mod varint;
pub mod wal;
pub mod wal_record;

pub use appender::{AppendError, Appender, CommitStats};
pub use compactor::Compactor;
pub use db::{Db, DbError, Options};
pub use head::{SampleRejection, SeriesRef};
pub use memstore::MemStorage;
pub use querier::{
    Querier, Queryable, SelectHints, Series, SeriesIterator, StorageError, ValueKind,
};
