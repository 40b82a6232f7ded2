//! A drop-in replacement for Prometheus's node_exporter on Linux.
//!
//! Each collector reads one part of `/proc` or `/sys` and yields metric families with the same
//! names, labels, types and HELP text as node_exporter, so existing dashboards and alerts work.

pub mod collector;
pub mod collectors;
pub mod options;
