//! Server-side web plumbing shared by every Pharos component that serves HTTP, the equivalent
//! of Prometheus's exporter toolkit.
//!
//! [`web_config::WebConfig`] reads `--web.config.file` (TLS, client certificates, basic auth
//! with bcrypt hashes, security headers); [`listener`] binds addresses and runs the plain or
//! TLS serve loop with graceful shutdown; [`web_layer::apply`] puts basic auth and the headers
//! in front of any axum `Router`.

pub mod basic_auth;
pub mod listener;
pub mod web_config;
pub mod web_layer;

pub use web_config::{WebConfig, WebConfigError};
