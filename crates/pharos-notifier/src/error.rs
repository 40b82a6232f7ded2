//! Why the notifier could not be configured or a notification could not be delivered.

use std::time::Duration;

/// A notifier failure.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// An `alertmanagers` entry's HTTP client could not be built (bad TLS files, proxy URL).
    #[error("{0}")]
    Client(#[from] pharos_http::HttpConfigError),
    /// Credentials for a request could not be read.
    #[error("{0}")]
    Auth(#[from] pharos_http::AuthError),
    /// The request failed before a response arrived.
    #[error("{0}")]
    Request(#[from] pharos_http::reqwest::Error),
    /// The Alertmanager answered with a non-2xx status.
    #[error("bad response status {0}")]
    Status(String),
    /// No response within the entry's timeout.
    #[error("no response within {0:?}")]
    Timeout(Duration),
}
