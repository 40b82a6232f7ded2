//! The Prometheus-compatible server (`pharos server`, :9090): `prometheus.yml` loading, the
//! wiring of scrape loops into the TSDB, rule evaluation and alert sending ([`alerting`]), remote
//! write senders ([`remote_write_queues`]), the PromQL engine behind HTTP API v1, the embedded web
//! UI, lifecycle endpoints and the server's own metrics.
//!
//! Remote read is served (`api::remote_read_api`) and used: queries read through [`fanout`],
//! which merges local data with every `remote_read` endpoint.

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
