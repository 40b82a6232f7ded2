//! One HTTP scrape: the request Prometheus sends (Accept, Accept-Encoding, timeout header),
//! the status check, and reading the body within `body_size_limit`.

use std::time::Duration;

use pharos_http::reqwest::{header, Method};
use pharos_http::HttpClient;

use crate::scrape_error::{classify_reqwest_error, ScrapeError};

/// The parts of a request that stay the same for every scrape of a target.
#[derive(Clone, Debug)]
pub struct ScrapeRequest {
    /// The scrape URL.
    pub url: String,
    /// The `Accept` header.
    pub accept: String,
    /// Ask for gzip (`enable_compression`).
    pub compression: bool,
    /// The scrape timeout, also sent as `X-Prometheus-Scrape-Timeout-Seconds`.
    pub timeout: Duration,
    /// Largest uncompressed body; 0 is unlimited.
    pub body_size_limit: u64,
}

/// `X-Prometheus-Scrape-Timeout-Seconds` as Go's `FormatFloat(s, 'f', -1, 64)` writes it.
fn timeout_header(t: Duration) -> String {
    let s = t.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// Fetches the body into `buf` (cleared first, capacity reused) and returns the response's
/// `Content-Type`.
pub async fn fetch(
    client: &HttpClient,
    req: &ScrapeRequest,
    buf: &mut Vec<u8>,
) -> Result<String, ScrapeError> {
    buf.clear();
    match tokio::time::timeout(req.timeout, fetch_inner(client, req, buf)).await {
        Ok(r) => r,
        Err(_) => Err(ScrapeError::Timeout { after: req.timeout }),
    }
}

async fn fetch_inner(
    client: &HttpClient,
    req: &ScrapeRequest,
    buf: &mut Vec<u8>,
) -> Result<String, ScrapeError> {
    let rb = client
        .inner()
        .request(Method::GET, req.url.as_str())
        .header(header::ACCEPT, req.accept.as_str())
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            timeout_header(req.timeout),
        );
    // reqwest asks for gzip by itself; naming identity explicitly turns that off.
    let rb = if req.compression {
        rb
    } else {
        rb.header(header::ACCEPT_ENCODING, "identity")
    };
    let rb = client
        .authorize(rb)
        .await
        .map_err(|e| ScrapeError::Other(e.to_string()))?;
    let mut resp = rb
        .send()
        .await
        .map_err(|e| classify_reqwest_error(&e, req.timeout))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(ScrapeError::HttpStatus {
            status: status.to_string(),
            url: req.url.clone(),
        });
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let limit = usize::try_from(req.body_size_limit).unwrap_or(usize::MAX);
    if let Some(len) = resp.content_length() {
        // Uncompressed bodies of known size can be sized once; compressed ones report the
        // compressed length, which is still a good first guess.
        buf.reserve(
            usize::try_from(len)
                .unwrap_or(0)
                .min(if limit == 0 { usize::MAX } else { limit })
                .min(64 << 20),
        );
    }
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| classify_reqwest_error(&e, req.timeout))?
    {
        if limit > 0 && buf.len() + chunk.len() > limit {
            return Err(ScrapeError::BodySizeLimit {
                limit: crate::byte_size::ByteSize(req.body_size_limit).to_string(),
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_header_like_go() {
        assert_eq!(timeout_header(Duration::from_secs(10)), "10");
        assert_eq!(timeout_header(Duration::from_millis(2500)), "2.5");
    }
}
