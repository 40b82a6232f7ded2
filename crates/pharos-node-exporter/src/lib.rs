//! A drop-in replacement for Prometheus's node_exporter on Linux.
//!
//! Each collector reads one part of `/proc` or `/sys` and yields metric families with the same
//! names, labels, types and HELP text as node_exporter, so existing dashboards and alerts work.
//! [`exporter::Exporter`] runs the enabled collectors concurrently on each scrape,
//! [`http::router`] serves the result, and [`server`] listens (plain or TLS, per
//! [`web_config::WebConfig`]).

pub mod basic_auth;
pub mod build_info;
pub mod collector;
pub mod collectors;
pub mod exporter;
pub mod http;
pub mod merge;
pub mod options;
pub mod process;
pub mod server;
pub mod web_config;

pub use exporter::{CollectorSelection, Exporter};
pub use http::HttpOptions;
pub use web_config::WebConfig;
