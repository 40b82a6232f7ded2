//! HTTP client settings as Prometheus configuration files spell them (`basic_auth`,
//! `authorization`, `oauth2`, `tls_config`, proxies, redirects, HTTP/2), their validation, and
//! building a ready-to-use client from them.
//!
//! The client is `reqwest` without default features, on rustls with the ring provider: it
//! brings gzip decoding, per-request timeouts, proxies with `no_proxy` matching and HTTP/2 in
//! one well-tested package, where hyper-util's client would need all four written here.
//! Scraping, remote write and notifiers all build their clients through [`HttpClient::new`].

pub mod client;
pub mod config;
pub mod duration;
mod embedded_fields;
pub mod error;
mod oauth2;
mod tls;

pub use client::{ClientOptions, HttpClient};
pub use config::{
    Authorization, BasicAuth, HttpClientConfig, OAuth2, Secret, TlsConfig, TlsVersion,
};
pub use duration::{DurationError, PromDuration};
pub use error::{AuthError, HttpConfigError};
pub use reqwest;
