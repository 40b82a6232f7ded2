//! Prometheus remote write: the 1.0 (`prometheus.WriteRequest`) and 2.0
//! (`io.prometheus.write.v2.Request`) wire formats and the receiver that stores requests in the
//! TSDB with Prometheus's status codes and response headers.
//!
//! Messages are decoded by hand with [`pharos_model::protobuf::wire::Reader`] into a
//! [`write_batch::WriteBatch`], the one shape both protocol versions share; [`ingest`] turns a
//! batch into appends and [`receiver`] adds the HTTP semantics (content negotiation, snappy,
//! size limits, status codes) without depending on any HTTP framework.
//!
//! The sender side forwards the TSDB's WAL to `remote_write` destinations:
//! [`write_config`] is the configuration entry, [`wal_watcher`] tails the WAL,
//! [`queue_manager`] shards, batches and retries, and [`sender`] encodes and POSTs requests.
//!
//! Remote read: [`read_message`] declares `ReadRequest`/`ReadResponse`/`ChunkedReadResponse`
//! and the streamed framing, [`read_handler`] answers `/api/v1/read` from any
//! [`pharos_tsdb::Queryable`], [`read_config`] is a `remote_read` entry and [`read_client`]
//! asks a remote for one selector.

pub mod decode_error;
pub mod histogram_message;
pub mod ingest;
pub mod queue_manager;
pub mod read_client;
pub mod read_config;
pub mod read_handler;
pub mod read_message;
pub mod receiver;
pub mod sender;
pub mod symbol_interner;
pub mod wal_watcher;
pub mod write_batch;
pub mod write_config;
pub mod write_v1;
pub mod write_v2;

pub use decode_error::DecodeError;
pub use ingest::{ingest, IngestReport, RejectPolicy};
pub use queue_manager::{MetadataSource, QueueManager, QueueMetrics};
pub use receiver::{handle_write, ProtoVersion, WriteResponse, MAX_DECODED_BYTES};
pub use write_batch::{SeriesWrite, WriteBatch};
pub use write_config::{RemoteWriteConfig, WriteConfigError};
