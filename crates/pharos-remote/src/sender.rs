//! One remote write request: encoding a batch as a 1.0 `WriteRequest` or a 2.0 `Request`
//! (strings in a symbols table, metadata on each series), compressing it with snappy and
//! POSTing it with the headers receivers check, then classifying the answer as Prometheus does
//! (5xx and network errors are retried, 429 when configured, other 4xx drop the batch).

use std::collections::HashMap;
use std::time::Duration;

use pharos_http::reqwest::{self, header, Method, StatusCode};
use pharos_http::HttpClient;
use pharos_model::protobuf::wire::{
    put_bytes, put_double, put_key, put_message, put_uint, put_varint, FIXED64,
};
use pharos_model::{FloatHistogram, Labels, MetricType};

use crate::histogram_message::put_histogram_field;
use pharos_tsdb::exemplar::Metadata;

/// Most bytes of an error response kept for the log.
const MAX_ERROR_BODY: usize = 1024;

/// The remote write protocol version header value for 1.0.
pub const REMOTE_WRITE_VERSION_1: &str = "0.1.0";

/// The remote write protocol version header value for 2.0.
pub const REMOTE_WRITE_VERSION_2: &str = "2.0.0";

/// The content type of 2.0 requests.
pub const CONTENT_TYPE_V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// A sample value as the WAL holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleValue {
    /// A float sample.
    Float(f64),
    /// A native histogram sample.
    Histogram(Box<FloatHistogram>),
    /// An exemplar (its own labels and value; the pair's timestamp is the exemplar's).
    Exemplar(Box<(Labels, f64)>),
}

/// One series of a request with its samples in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSamples<'a> {
    /// The labels sent (after external labels and relabeling).
    pub labels: &'a Labels,
    /// (milliseconds, value) pairs.
    pub samples: Vec<(i64, &'a SampleValue)>,
}

fn put_label(out: &mut Vec<u8>, name: &str, value: &str) {
    put_message(out, 1, |m| {
        put_bytes(m, 1, name.as_bytes());
        put_bytes(m, 2, value.as_bytes());
    });
}

fn metric_type_to_wire(t: MetricType) -> u64 {
    match t {
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
        MetricType::Untyped => 0,
    }
}

/// Encodes series as an uncompressed 1.0 `WriteRequest`.
pub fn encode_write_request(
    series: &[SeriesSamples<'_>],
    metadata: &[(String, Metadata)],
) -> Vec<u8> {
    let mut out = Vec::new();
    for s in series {
        put_message(&mut out, 1, |m| {
            for l in s.labels {
                put_label(m, &l.name, &l.value);
            }
            for (t, v) in &s.samples {
                if let SampleValue::Float(f) = v {
                    put_message(m, 2, |sm| {
                        // Zero values are still written: receivers read absent as 0 anyway,
                        // but an explicit field keeps requests easy to inspect.
                        put_key(sm, 1, FIXED64);
                        sm.extend_from_slice(&f.to_bits().to_le_bytes());
                        put_uint(sm, 2, *t as u64);
                    });
                }
            }
            for (t, v) in &s.samples {
                if let SampleValue::Exemplar(e) = v {
                    put_message(m, 3, |em| {
                        for l in &e.0 {
                            put_label(em, &l.name, &l.value);
                        }
                        put_double(em, 2, e.1);
                        put_uint(em, 3, *t as u64);
                    });
                }
            }
            for (t, v) in &s.samples {
                if let SampleValue::Histogram(h) = v {
                    put_histogram_field(m, 4, *t, h);
                }
            }
        });
    }
    for (name, md) in metadata {
        put_message(&mut out, 3, |m| {
            put_uint(m, 1, metric_type_to_wire(md.metric_type));
            put_bytes(m, 2, name.as_bytes());
            if !md.help.is_empty() {
                put_bytes(m, 4, md.help.as_bytes());
            }
            if !md.unit.is_empty() {
                put_bytes(m, 5, md.unit.as_bytes());
            }
        });
    }
    out
}

/// Strings of a 2.0 request, each stored once; index 0 is always the empty string.
#[derive(Default)]
struct SymbolTable {
    index: HashMap<String, u64>,
    symbols: Vec<String>,
}

impl SymbolTable {
    fn new() -> Self {
        let mut t = SymbolTable::default();
        t.get("");
        t
    }

    fn get(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.symbols.len() as u64;
        self.symbols.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

fn put_packed_refs(out: &mut Vec<u8>, field: u32, refs: &[u64]) {
    if refs.is_empty() {
        return;
    }
    let mut packed = Vec::with_capacity(refs.len() * 2);
    for r in refs {
        put_varint(&mut packed, *r);
    }
    put_bytes(out, field, &packed);
}

/// Encodes series as an uncompressed 2.0 `io.prometheus.write.v2.Request`; each series carries
/// the metadata `metadata` has for its metric name.
pub fn encode_write_request_v2(
    series: &[SeriesSamples<'_>],
    metadata: &dyn Fn(&str) -> Option<Metadata>,
) -> Vec<u8> {
    let mut symbols = SymbolTable::new();
    let mut body = Vec::new();
    for s in series {
        put_message(&mut body, 5, |m| {
            let refs: Vec<u64> = s
                .labels
                .iter()
                .flat_map(|l| [symbols.get(&l.name), symbols.get(&l.value)])
                .collect();
            put_packed_refs(m, 1, &refs);
            for (t, v) in &s.samples {
                if let SampleValue::Float(f) = v {
                    put_message(m, 2, |sm| {
                        put_key(sm, 1, FIXED64);
                        sm.extend_from_slice(&f.to_bits().to_le_bytes());
                        put_uint(sm, 2, *t as u64);
                    });
                }
            }
            for (t, v) in &s.samples {
                if let SampleValue::Histogram(h) = v {
                    put_histogram_field(m, 3, *t, h);
                }
            }
            for (t, v) in &s.samples {
                if let SampleValue::Exemplar(e) = v {
                    let refs: Vec<u64> =
                        e.0.iter()
                            .flat_map(|l| [symbols.get(&l.name), symbols.get(&l.value)])
                            .collect();
                    put_message(m, 4, |em| {
                        put_packed_refs(em, 1, &refs);
                        put_double(em, 2, e.1);
                        put_uint(em, 3, *t as u64);
                    });
                }
            }
            if let Some(md) = s.labels.metric_name().and_then(metadata) {
                let help = symbols.get(&md.help);
                let unit = symbols.get(&md.unit);
                put_message(m, 5, |mm| {
                    put_uint(mm, 1, metric_type_to_wire(md.metric_type));
                    if help != 0 {
                        put_uint(mm, 3, help);
                    }
                    if unit != 0 {
                        put_uint(mm, 4, unit);
                    }
                });
            }
        });
    }
    let mut out = Vec::with_capacity(body.len() + symbols.symbols.len() * 8);
    for sym in &symbols.symbols {
        put_bytes(&mut out, 4, sym.as_bytes());
    }
    out.extend_from_slice(&body);
    out
}

/// How a request failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: a network error, a 5xx, or a 429 when retries on 429 are enabled.
    #[error("{message}")]
    Recoverable {
        /// What happened.
        message: String,
        /// The receiver's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// Not worth retrying: the batch is dropped.
    #[error("{message}")]
    Unrecoverable {
        /// What happened.
        message: String,
    },
}

/// POSTs compressed request bodies to one receiver.
#[derive(Clone)]
pub struct WriteClient {
    client: HttpClient,
    url: String,
    timeout: Duration,
    headers: Vec<(String, String)>,
    retry_on_429: bool,
    v2: bool,
}

impl WriteClient {
    /// A client for `url` with the entry's timeout, extra headers and 429 policy.
    pub fn new(
        client: HttpClient,
        url: &str,
        timeout: Duration,
        headers: Vec<(String, String)>,
        retry_on_429: bool,
    ) -> Self {
        WriteClient {
            client,
            url: url.to_string(),
            timeout,
            headers,
            retry_on_429,
            v2: false,
        }
    }

    /// Sends 2.0 requests (content type and version header) instead of 1.0.
    pub fn with_protocol_2(mut self, v2: bool) -> Self {
        self.v2 = v2;
        self
    }

    /// The receiver's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one snappy-compressed body (1.0, or 2.0 after [`WriteClient::with_protocol_2`]).
    pub async fn send(&self, compressed: &[u8]) -> Result<(), SendError> {
        let rb = self
            .client
            .request(Method::POST, &self.url)
            .await
            .map_err(|e| SendError::Recoverable {
                message: format!("preparing credentials: {e}"),
                retry_after: None,
            })?;
        let mut rb = rb
            .timeout(self.timeout)
            .header(header::CONTENT_ENCODING, "snappy")
            .header(
                header::CONTENT_TYPE,
                if self.v2 {
                    CONTENT_TYPE_V2
                } else {
                    "application/x-protobuf"
                },
            )
            .header(
                "X-Prometheus-Remote-Write-Version",
                if self.v2 {
                    REMOTE_WRITE_VERSION_2
                } else {
                    REMOTE_WRITE_VERSION_1
                },
            );
        for (k, v) in &self.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let resp =
            rb.body(compressed.to_vec())
                .send()
                .await
                .map_err(|e| SendError::Recoverable {
                    message: describe_reqwest_error(&e),
                    retry_after: None,
                })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let snippet = error_snippet(resp).await;
        let message = format!("server returned HTTP status {status}: {}", snippet.trim());
        if status.is_server_error()
            || (status == StatusCode::TOO_MANY_REQUESTS && self.retry_on_429)
        {
            Err(SendError::Recoverable {
                message,
                retry_after,
            })
        } else {
            Err(SendError::Unrecoverable { message })
        }
    }
}

/// The start of an error response's body, for the log line. Only the first few kilobytes
/// are read: a receiver answering with an endless body must not fill memory.
async fn error_snippet(mut resp: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    // Four bytes per character at most, so the snippet is never cut short by the cap.
    while bytes.len() < MAX_ERROR_BODY * 4 {
        match resp.chunk().await {
            Ok(Some(c)) => bytes.extend_from_slice(&c),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .take(MAX_ERROR_BODY)
        .collect()
}

fn describe_reqwest_error(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Longest `Retry-After` honoured: a receiver asking for more (e.g. 2^64-1 seconds) would
/// otherwise park the shard for good.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Reads `Retry-After` as seconds, at most [`MAX_RETRY_AFTER`] (the HTTP-date form is rare
/// from receivers and is ignored, falling back to the normal backoff).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::Span;

    #[test]
    fn requests_decode_back_with_the_receiver() {
        let a = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let b = Labels::from_pairs([("__name__", "h")]);
        let v1 = SampleValue::Float(1.0);
        let v0 = SampleValue::Float(0.0);
        let ex = SampleValue::Exemplar(Box::new((Labels::from_pairs([("trace_id", "abc")]), 0.5)));
        let h = SampleValue::Histogram(Box::new(FloatHistogram {
            count: 3.0,
            sum: 4.5,
            schema: 0,
            zero_count: 1.0,
            positive_spans: vec![Span {
                offset: 1,
                length: 2,
            }],
            positive_buckets: vec![1.0, 1.0],
            ..Default::default()
        }));
        let body = encode_write_request(
            &[
                SeriesSamples {
                    labels: &a,
                    samples: vec![(1000, &v1), (1500, &ex), (2000, &v0)],
                },
                SeriesSamples {
                    labels: &b,
                    samples: vec![(3000, &h)],
                },
            ],
            &[(
                "up".into(),
                Metadata {
                    metric_type: MetricType::Gauge,
                    unit: String::new(),
                    help: "Up.".into(),
                },
            )],
        );
        let batch = crate::write_v1::decode_v1(&body).unwrap();
        assert_eq!(batch.series.len(), 2);
        assert_eq!(batch.series[0].labels.as_ref().unwrap(), &a);
        assert_eq!(batch.series[0].samples, vec![(1000, 1.0), (2000, 0.0)]);
        let e = &batch.series[0].exemplars[0];
        assert_eq!((e.t, e.value), (1500, 0.5));
        assert_eq!(e.labels, Labels::from_pairs([("trace_id", "abc")]));
        assert_eq!(batch.series[0].metadata.as_ref().unwrap().help, "Up.");
        let (t, got) = &batch.series[1].histograms[0];
        assert_eq!(*t, 3000);
        let SampleValue::Histogram(want) = &h else {
            unreachable!()
        };
        assert_eq!(got, want.as_ref());
    }

    #[test]
    fn version_2_requests_decode_back_with_the_receiver() {
        let a = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let b = Labels::from_pairs([("__name__", "other"), ("job", "x")]);
        let v = SampleValue::Float(1.0);
        let ex = SampleValue::Exemplar(Box::new((Labels::from_pairs([("trace_id", "abc")]), 0.5)));
        let md = |name: &str| {
            (name == "up").then(|| Metadata {
                metric_type: MetricType::Gauge,
                unit: String::new(),
                help: "Up.".into(),
            })
        };
        let body = encode_write_request_v2(
            &[
                SeriesSamples {
                    labels: &a,
                    samples: vec![(1000, &v), (1500, &ex), (2000, &v)],
                },
                SeriesSamples {
                    labels: &b,
                    samples: vec![(1000, &v)],
                },
            ],
            &md,
        );
        let batch = crate::write_v2::decode_v2(&body).unwrap();
        assert_eq!(batch.series.len(), 2);
        assert_eq!(batch.series[0].labels.as_ref().unwrap(), &a);
        assert_eq!(batch.series[0].samples, vec![(1000, 1.0), (2000, 1.0)]);
        assert_eq!(batch.series[0].exemplars[0].t, 1500);
        let m = batch.series[0].metadata.as_ref().unwrap();
        assert_eq!((m.metric_type, m.help.as_str()), (MetricType::Gauge, "Up."));
        assert_eq!(batch.series[1].labels.as_ref().unwrap(), &b);
        assert!(batch.series[1]
            .metadata
            .as_ref()
            .is_none_or(|m| m.metric_type == MetricType::Untyped));
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn an_endless_error_body_is_not_read_to_the_end() {
        use std::io::{Read as _, Write as _};
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        const CAP: u64 = 256 << 20;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/api/v1/write",
            listener.local_addr().expect("addr")
        );
        let written = Arc::new(AtomicU64::new(0));
        let w = written.clone();
        let server = std::thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut req = [0u8; 4096];
            let _ = conn.read(&mut req);
            let _ = conn.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            let chunk = format!("10000\r\n{}\r\n", "e".repeat(0x10000));
            // Bounded: stops when the client hangs up or after CAP bytes.
            while w.load(Ordering::Relaxed) < CAP && conn.write_all(chunk.as_bytes()).is_ok() {
                w.fetch_add(0x10000, Ordering::Relaxed);
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let http = HttpClient::new(
            &pharos_http::HttpClientConfig::default(),
            &pharos_http::ClientOptions::default(),
        )
        .expect("client");
        let client = WriteClient::new(http, &url, Duration::from_secs(60), Vec::new(), false);
        let result = rt.block_on(client.send(b"x"));
        drop(rt);
        let _ = server.join();
        match result {
            Err(SendError::Recoverable { message, .. }) => {
                assert!(message.contains("500"), "{message}");
                assert!(message.len() < MAX_ERROR_BODY + 100, "{}", message.len());
            }
            other => panic!("want a recoverable error, got {other:?}"),
        }
        // The socket buffers hold a few megabytes; reading everything would reach the cap.
        assert!(
            written.load(Ordering::Relaxed) < CAP,
            "the whole body was read"
        );
    }
}
