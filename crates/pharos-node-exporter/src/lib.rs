//! A drop-in replacement for Prometheus's node_exporter on Linux.
//!
//! Each collector reads one part of `/proc` or `/sys` and yields metric families with the same
//! names, labels, types and HELP text as node_exporter, so existing dashboards and alerts work.
//! [`exporter::Exporter`] runs the enabled collectors concurrently on each scrape,
//! [`http::router`] serves the result, and [`server`] listens (plain or TLS, per
//! [`web_config::WebConfig`]). The web plumbing lives in `pharos-web`, shared with the other
//! components; it is re-exported here under the names the exporter has always used.

pub mod build_info;
pub mod collector;
pub mod collectors;
pub mod exporter;
pub mod http;
pub mod merge;
pub mod options;
pub mod process;

pub use exporter::{CollectorSelection, Exporter};
pub use http::HttpOptions;
pub use pharos_web::listener as server;
pub use pharos_web::{basic_auth, web_config, WebConfig};
