//! The Prometheus-compatible server (`pharos server`, :9090): `prometheus.yml` loading, the
//! wiring of scrape loops into the TSDB, the PromQL engine behind HTTP API v1, lifecycle
//! endpoints and the server's own metrics.
//!
//! Not implemented yet: rule evaluation and alerting (rule files and Alertmanagers are parsed,
//! and a warning says nothing is evaluated or sent), the web UI. Remote read is served
//! (`api::remote_read_api`) and used: queries read through [`fanout`], which merges local data
//! with every `remote_read` endpoint.

pub mod alerting;
pub mod api;
pub mod config;
pub mod fanout;
pub mod federation;
pub mod query_log;
pub mod remote_write_queues;
pub mod routes;
pub mod self_metrics;
pub mod server;
pub mod tsdb_sink;

pub use config::{Config, ConfigError};
pub use server::{prepare, run, PreparedServer, ServerError, ServerOptions};
