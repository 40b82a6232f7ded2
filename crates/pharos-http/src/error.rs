//! Errors from loading HTTP client settings and building clients from them.

use std::path::PathBuf;

/// Why HTTP client settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum HttpConfigError {
    /// A combination of settings that Prometheus also rejects; the message is Prometheus's.
    #[error("{0}")]
    Invalid(String),
    /// A file named in the settings could not be read.
    #[error("unable to read {what} file {path}: {source}")]
    ReadFile {
        /// Which setting named the file, e.g. "ca" or "password".
        what: &'static str,
        /// The path as configured (after resolving against the config directory).
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// PEM content could not be decoded.
    #[error("unable to load {what}: {message}")]
    Pem {
        /// Which setting held the PEM data.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the resulting TLS settings.
    #[error("invalid TLS settings: {0}")]
    Tls(#[from] rustls::Error),
    /// The HTTP client library refused the settings (for example a malformed proxy URL).
    #[error("unable to build HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Why credentials could not be attached to a request.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A credentials file could not be read at request time.
    #[error("unable to read {what} file {path}: {source}")]
    ReadFile {
        /// Which setting named the file.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The OAuth 2.0 token endpoint failed or answered something unusable.
    #[error("oauth2 token request to {url} failed: {message}")]
    OAuth2 {
        /// The token endpoint.
        url: String,
        /// What went wrong.
        message: String,
    },
}
