//! The data model shared by every Pharos component: label sets, samples, native histograms,
//! label matchers, and metric families with their exposition formats (text 0.0.4, OpenMetrics
//! 1.0 and delimited protobuf: content negotiation, writers and streaming parsers).
//!
//! This crate has no I/O and no async: it is the bottom layer that every other crate builds on.

pub mod family;
pub mod histogram;
pub mod labels;
pub mod matcher;
pub mod negotiate;
pub mod parse;
pub mod protobuf;
pub mod sample;
pub mod write;

pub use family::{Metric, MetricFamily, MetricType, MetricValue};
pub use histogram::{FloatHistogram, Span};
pub use labels::{Label, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use negotiate::{negotiate, negotiate_without_openmetrics, ExpositionFormat};
pub use parse::{parse_families, Entry, ParseError, TextFlavor, TextParser};
pub use sample::{is_stale_nan, Sample, STALE_NAN};
