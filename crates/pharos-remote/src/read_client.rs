//! The client side of remote read: one configured endpoint, asked for one selector at a time
//! with Prometheus's request shape (samples response, snappy, version header), and the
//! query-side rules of a `remote_read` entry (required matchers, external labels, recent data).

use std::time::Duration;

use pharos_http::reqwest::{self, Method};
use pharos_http::{ClientOptions, HttpClient, HttpConfigError};
use pharos_model::{Labels, MatchOp, Matcher};

use crate::read_config::RemoteReadConfig;
use crate::read_message::{
    decode_read_response, encode_read_request, ReadQuery, ReadRequest, ReadSeries, ResponseType,
};
use crate::receiver::decompress;

/// Largest response body read from a remote, compressed (as Prometheus's decode limit).
const MAX_RESPONSE_BYTES: usize = 32 << 20;

/// Why a remote read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadClientError {
    /// The request could not be sent or the response not received.
    #[error("error sending request: {0}")]
    Transport(String),
    /// The remote answered with an error status.
    #[error("remote server {url} returned HTTP status {status}: {body}")]
    Status {
        /// The endpoint.
        url: String,
        /// The status line, e.g. `500 Internal Server Error`.
        status: String,
        /// The start of the response body.
        body: String,
    },
    /// The response did not decode.
    #[error("decoding remote read response: {0}")]
    Decode(String),
}

/// A configured remote read endpoint.
#[derive(Clone)]
pub struct ReadClient {
    config: RemoteReadConfig,
    http: HttpClient,
}

impl std::fmt::Debug for ReadClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadClient")
            .field("name", &self.config.display_name())
            .finish()
    }
}

/// What one select against a remote should ask for, after the entry's rules were applied.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRead {
    /// The query to send.
    pub query: ReadQuery,
    /// External label names added as matchers, to strip from the answer.
    pub added_labels: Vec<String>,
}

impl ReadClient {
    /// Builds the client for one `remote_read` entry.
    pub fn new(config: RemoteReadConfig) -> Result<Self, HttpConfigError> {
        let http = HttpClient::new(&config.http_client, &ClientOptions::default())?;
        Ok(ReadClient { config, http })
    }

    /// The entry this client serves.
    pub fn config(&self) -> &RemoteReadConfig {
        &self.config
    }

    /// Applies the entry's rules to a select over `[mint, maxt]`, or `None` when this remote
    /// must not be asked: a required matcher is missing, or (without `read_recent`) the whole
    /// range is newer than `local_start`, the oldest time local storage covers.
    pub fn plan(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        external_labels: &Labels,
        local_start: Option<i64>,
    ) -> Option<PlannedRead> {
        let required_met = self.config.required_matchers.iter().all(|(name, value)| {
            matchers
                .iter()
                .any(|m| m.op == MatchOp::Equal && &m.name == name && &m.value == value)
        });
        if !required_met {
            return None;
        }
        let mut maxt = maxt;
        if !self.config.read_recent {
            if let Some(start) = local_start {
                if mint > start {
                    return None;
                }
                maxt = maxt.min(start);
            }
        }
        let mut matchers = matchers.to_vec();
        let mut added_labels = Vec::new();
        if self.config.filter_external_labels {
            for l in external_labels.iter() {
                if !matchers.iter().any(|m| m.name == *l.name) {
                    matchers.push(Matcher::equal(l.name.to_string(), l.value.to_string()));
                    added_labels.push(l.name.to_string());
                }
            }
        }
        Some(PlannedRead {
            query: ReadQuery {
                start_ms: mint,
                end_ms: maxt,
                matchers,
                hints: None,
            },
            added_labels,
        })
    }

    /// Sends one planned read and returns the series, with added external labels removed.
    pub async fn read(&self, planned: &PlannedRead) -> Result<Vec<ReadSeries>, ReadClientError> {
        let raw = encode_read_request(&ReadRequest {
            queries: vec![planned.query.clone()],
            accepted_response_types: vec![ResponseType::Samples],
        });
        let body = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .map_err(|e| ReadClientError::Transport(format!("compressing request: {e}")))?;
        let mut rb = self
            .http
            .request(Method::POST, &self.config.url)
            .await
            .map_err(|e| ReadClientError::Transport(e.to_string()))?
            .timeout(Duration::from_millis(
                self.config.remote_timeout.as_millis(),
            ))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Read-Version", "0.1.0");
        for (k, v) in &self.config.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let mut resp = rb
            .body(body)
            .send()
            .await
            .map_err(|e| ReadClientError::Transport(transport_message(&e)))?;
        let status = resp.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ReadClientError::Transport(transport_message(&e)))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ReadClientError::Decode(format!(
                    "response exceeds the {MAX_RESPONSE_BYTES} byte limit"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(ReadClientError::Status {
                url: self.config.url.clone(),
                status: status.to_string(),
                body: text.trim().chars().take(512).collect(),
            });
        }
        let raw = decompress(&bytes).map_err(ReadClientError::Decode)?;
        let mut results =
            decode_read_response(&raw).map_err(|e| ReadClientError::Decode(e.to_string()))?;
        if results.len() != 1 {
            return Err(ReadClientError::Decode(format!(
                "responses: want 1, got {}",
                results.len()
            )));
        }
        let mut series = results.pop().unwrap_or_default();
        if !planned.added_labels.is_empty() {
            for s in &mut series {
                let mut b = s.labels.builder();
                for name in &planned.added_labels {
                    b.del(name);
                }
                s.labels = b.build();
            }
        }
        Ok(series)
    }
}

fn transport_message(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(yaml: &str) -> ReadClient {
        let mut c: Vec<RemoteReadConfig> = serde_saphyr::from_str(yaml).expect("config");
        ReadClient::new(c.remove(0)).expect("client")
    }

    #[test]
    fn required_matchers_gate_the_remote() {
        let c = client("- url: http://h/\n  read_recent: true\n  required_matchers:\n    job: a\n");
        let ext = Labels::empty();
        assert!(c
            .plan(0, 10, &[Matcher::equal("__name__", "up")], &ext, None)
            .is_none());
        assert!(c
            .plan(
                0,
                10,
                &[Matcher::equal("__name__", "up"), Matcher::equal("job", "a")],
                &ext,
                None
            )
            .is_some());
    }

    #[test]
    fn recent_ranges_are_left_to_local_storage() {
        let c = client("- url: http://h/\n");
        let m = [Matcher::equal("__name__", "up")];
        let ext = Labels::empty();
        assert!(c.plan(100, 200, &m, &ext, Some(50)).is_none());
        let p = c.plan(0, 200, &m, &ext, Some(50)).expect("older part");
        assert_eq!((p.query.start_ms, p.query.end_ms), (0, 50));
        let p = c.plan(100, 200, &m, &ext, None).expect("no local data");
        assert_eq!(p.query.end_ms, 200);
    }

    #[test]
    fn external_labels_become_matchers_unless_given() {
        let c = client("- url: http://h/\n  read_recent: true\n");
        let ext = Labels::from_pairs([("site", "a"), ("region", "eu")]);
        let p = c
            .plan(
                0,
                1,
                &[
                    Matcher::equal("__name__", "up"),
                    Matcher::equal("site", "b"),
                ],
                &ext,
                None,
            )
            .expect("planned");
        assert_eq!(p.added_labels, vec!["region".to_string()]);
        assert!(p
            .query
            .matchers
            .iter()
            .any(|m| m.name == "region" && m.value == "eu"));
        let c = client("- url: http://h/\n  read_recent: true\n  filter_external_labels: false\n");
        let p = c
            .plan(0, 1, &[Matcher::equal("__name__", "up")], &ext, None)
            .expect("planned");
        assert!(p.added_labels.is_empty());
        assert_eq!(p.query.matchers.len(), 1);
    }
}
