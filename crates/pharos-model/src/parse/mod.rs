//! Parsers for the exposition formats a scrape can return: the Prometheus text format 0.0.4,
//! OpenMetrics 1.0 text, and length-delimited protobuf.
//!
//! The main API is streaming: [`TextParser`] yields one [`Entry`] per line, borrowing names and
//! label values from the input wherever no unescaping is needed, and
//! [`crate::protobuf::FamilyDecoder`] yields one decoded family message at a time.
//! [`parse_families`] builds whole [`crate::MetricFamily`] values on top of both, for callers
//! that want the structured form (tests, the pushgateway).

mod families;
mod text;

pub use families::parse_families;
pub use text::{Entry, Exemplar, LabelPair, Series, TextFlavor, TextParser};

/// Why an exposition could not be parsed, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A text or OpenMetrics exposition is malformed.
    #[error("line {line}, column {column}: {message}")]
    Text {
        /// 1-based line number.
        line: usize,
        /// 1-based column, counted in characters.
        column: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// A protobuf exposition is malformed.
    #[error("protobuf byte {offset}: {message}")]
    Protobuf {
        /// Byte offset from the start of the body where the problem was detected.
        offset: usize,
        /// What is wrong.
        message: String,
    },
}

impl ParseError {
    /// The human-readable description without the position.
    pub fn message(&self) -> &str {
        match self {
            ParseError::Text { message, .. } | ParseError::Protobuf { message, .. } => message,
        }
    }
}
