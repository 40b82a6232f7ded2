//! Why a scrape failed, in words a person understands: the text shown as a target's
//! `lastError` in the UI and API.

use std::error::Error as _;
use std::time::Duration;

use pharos_http::PromDuration;

/// Why a scrape failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// Nothing accepted the TCP connection.
    #[error("connection refused: nothing listens on {addr}")]
    ConnectionRefused {
        /// `host:port` that refused.
        addr: String,
    },
    /// The target's host name does not resolve.
    #[error("no such host: {host}")]
    NoSuchHost {
        /// The name that did not resolve.
        host: String,
    },
    /// The scrape did not finish within `scrape_timeout`; Prometheus's wording, with the limit.
    #[error("context deadline exceeded after {}", PromDuration::new(*.after))]
    Timeout {
        /// The configured timeout.
        after: Duration,
    },
    /// The target answered with a non-2xx status.
    #[error("HTTP {status} from {url}")]
    HttpStatus {
        /// Status code and reason, e.g. `404 Not Found`.
        status: String,
        /// The scrape URL.
        url: String,
    },
    /// The uncompressed body exceeded `body_size_limit`.
    #[error("body size limit exceeded: the response is larger than body_size_limit {limit}")]
    BodySizeLimit {
        /// The configured limit, as written (e.g. `10MB`).
        limit: String,
    },
    /// The body is not a valid exposition.
    #[error("parse error at {position}: {message}")]
    Parse {
        /// `line 3, column 7` or `protobuf byte 12`.
        position: String,
        /// What is wrong.
        message: String,
    },
    /// More samples than `sample_limit` after metric relabeling.
    #[error("sample limit exceeded: {got} samples, sample_limit is {limit}")]
    SampleLimit {
        /// Samples in the scrape.
        got: u64,
        /// The limit.
        limit: u64,
    },
    /// A series has more labels than `label_limit`, or a too-long label name or value.
    #[error("{0}")]
    LabelLimit(String),
    /// The TLS handshake failed.
    #[error("TLS handshake with {addr} failed: {message}")]
    Tls {
        /// `host:port`.
        addr: String,
        /// rustls's explanation.
        message: String,
    },
    /// The storage refused the samples.
    #[error("storing samples failed: {0}")]
    Storage(String),
    /// Anything else, described as precisely as the underlying error allows.
    #[error("{0}")]
    Other(String),
}

/// The whole chain of an error's causes, joined with `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

fn host_port(url: Option<&pharos_http::reqwest::Url>) -> String {
    match url {
        Some(u) => {
            let host = u.host_str().unwrap_or("");
            match u.port_or_known_default() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            }
        }
        None => "the target".into(),
    }
}

/// Classifies a request error into a [`ScrapeError`]; `timeout` is the deadline that applied.
pub fn classify_reqwest_error(e: &pharos_http::reqwest::Error, timeout: Duration) -> ScrapeError {
    if e.is_timeout() {
        return ScrapeError::Timeout { after: timeout };
    }
    let addr = host_port(e.url());
    let mut cur: Option<&dyn std::error::Error> = e.source();
    while let Some(s) = cur {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return ScrapeError::ConnectionRefused { addr }
                }
                std::io::ErrorKind::TimedOut => return ScrapeError::Timeout { after: timeout },
                _ => {}
            }
            if let Some(tls) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return ScrapeError::Tls {
                    addr,
                    message: tls.to_string(),
                };
            }
        }
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return ScrapeError::Tls {
                addr,
                message: tls.to_string(),
            };
        }
        let text = s.to_string();
        if text.contains("failed to lookup address") || text.contains("Name or service not known") {
            let host = e.url().and_then(|u| u.host_str()).unwrap_or("").to_string();
            return ScrapeError::NoSuchHost { host };
        }
        cur = s.source();
    }
    ScrapeError::Other(chain(e))
}

/// One-line description of a request error for logs and discovery errors.
pub fn describe_reqwest_error(e: &pharos_http::reqwest::Error) -> String {
    classify_reqwest_error(e, Duration::ZERO).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        assert_eq!(
            ScrapeError::ConnectionRefused {
                addr: "10.0.0.5:9100".into()
            }
            .to_string(),
            "connection refused: nothing listens on 10.0.0.5:9100"
        );
        assert_eq!(
            ScrapeError::Timeout {
                after: Duration::from_secs(10)
            }
            .to_string(),
            "context deadline exceeded after 10s"
        );
        assert_eq!(
            ScrapeError::HttpStatus {
                status: "404 Not Found".into(),
                url: "http://h:1/metrics".into()
            }
            .to_string(),
            "HTTP 404 Not Found from http://h:1/metrics"
        );
        assert_eq!(
            ScrapeError::Parse {
                position: "line 3, column 7".into(),
                message: "expected a value".into()
            }
            .to_string(),
            "parse error at line 3, column 7: expected a value"
        );
    }
}
