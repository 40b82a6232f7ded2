//! Why a remote write body could not be decoded.

use pharos_model::ParseError;

/// A malformed remote write message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The protobuf framing is broken (truncated, bad varint, wrong wire type ...).
    #[error("{0}")]
    Wire(#[from] ParseError),
    /// The framing is fine but a field's content is not acceptable.
    #[error("{0}")]
    Invalid(String),
}
