//! The Prometheus-compatible server (`pharos server`, :9090): `prometheus.yml` loading, the
//! wiring of scrape loops into the TSDB, the PromQL engine behind HTTP API v1, lifecycle
//! endpoints and the server's own metrics.
//!
//! Not implemented yet, and refused in the configuration rather than ignored: rule evaluation
//! and alerting, remote write and read, federation, the web UI.

pub mod api;
pub mod config;
pub mod routes;
pub mod self_metrics;
pub mod server;
pub mod tsdb_sink;

pub use config::{Config, ConfigError};
pub use server::{run, ServerError, ServerOptions};
