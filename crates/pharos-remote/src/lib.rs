//! Prometheus remote write: the 1.0 (`prometheus.WriteRequest`) and 2.0
//! (`io.prometheus.write.v2.Request`) wire formats and the receiver that stores requests in the
//! TSDB with Prometheus's status codes and response headers.
//!
//! Messages are decoded by hand with [`pharos_model::protobuf::wire::Reader`] into a
//! [`write_batch::WriteBatch`], the one shape both protocol versions share; [`ingest`] turns a
//! batch into appends and [`receiver`] adds the HTTP semantics (content negotiation, snappy,
//! size limits, status codes) without depending on any HTTP framework.

pub mod decode_error;
pub mod histogram_message;
pub mod ingest;
pub mod receiver;
pub mod symbol_interner;
pub mod write_batch;
pub mod write_v1;
pub mod write_v2;

pub use decode_error::DecodeError;
pub use ingest::{ingest, IngestReport, RejectPolicy};
pub use receiver::{handle_write, ProtoVersion, WriteResponse, MAX_DECODED_BYTES};
pub use write_batch::{SeriesWrite, WriteBatch};
