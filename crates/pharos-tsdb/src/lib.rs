//! The Pharos time-series database.
//!
//! Everything above storage (PromQL, rules, the HTTP API, remote read) reads through the
//! [`querier`] traits; everything that writes (scrape loops, remote write, rules) goes through
//! the appender.

pub mod memstore;
pub mod querier;

pub use memstore::MemStorage;
pub use querier::{Querier, Queryable, SelectHints, Series, SeriesIterator, StorageError, ValueKind};
