//! The storage side of `POST /api/v1/read`, independent of the HTTP framework: decoding the
//! request, choosing the response type, answering each query from local storage with the
//! server's external labels attached, and Prometheus's limits and status codes.

use pharos_model::{Label, Labels, MatchOp, Matcher};
use pharos_tsdb::chunk::{XorEncoder, MAX_SAMPLES_PER_CHUNK};
use pharos_tsdb::{Queryable, SelectHints, ValueKind};

use crate::read_message::{
    decode_read_request, encode_chunked_response, encode_read_response, labels_size, put_frame,
    ChunkEncoding, ChunkedReadResponse, ReadQuery, ReadRequest, ReadSeries, ReadValue,
    ResponseType, WireChunk,
};
use crate::receiver::{decompress, MAX_DECODED_BYTES};

/// Content type of a samples response.
pub const SAMPLES_CONTENT_TYPE: &str = "application/x-protobuf";
/// Content type of a streamed chunks response.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// The `--storage.remote.read-*` limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Most samples one samples response may return, over all its queries; 0 for no limit.
    pub sample_limit: usize,
    /// Target size of one streamed frame; a frame holds one series' chunks up to this size.
    pub max_bytes_in_frame: usize,
}

impl Default for ReadLimits {
    /// Prometheus's defaults: 5e7 samples and 1 MiB frames.
    fn default() -> Self {
        ReadLimits {
            sample_limit: 50_000_000,
            max_bytes_in_frame: 1 << 20,
        }
    }
}

/// What to send back.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadOutcome {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` of `body`.
    pub content_type: &'static str,
    /// `Content-Encoding`, `snappy` for samples responses.
    pub content_encoding: Option<&'static str>,
    /// The response body (an error text when `status` is not 200).
    pub body: Vec<u8>,
}

impl ReadOutcome {
    fn error(status: u16, message: impl Into<String>) -> Self {
        let mut body = message.into().into_bytes();
        body.push(b'\n');
        ReadOutcome {
            status,
            content_type: "text/plain; charset=utf-8",
            content_encoding: None,
            body,
        }
    }
}

/// A query failure with the status Prometheus gives it.
struct QueryFailure {
    status: u16,
    message: String,
}

impl QueryFailure {
    fn internal(e: impl std::fmt::Display) -> Self {
        QueryFailure {
            status: 500,
            message: e.to_string(),
        }
    }
}

/// Picks the first accepted type this server supports; none listed means samples.
pub fn negotiate_response_type(accepted: &[ResponseType]) -> Result<ResponseType, String> {
    if accepted.is_empty() {
        return Ok(ResponseType::Samples);
    }
    accepted
        .iter()
        .copied()
        .find(|t| matches!(t, ResponseType::Samples | ResponseType::StreamedXorChunks))
        .ok_or_else(|| {
            format!(
                "server does not support any of the requested response types: {accepted:?}; supported: [SAMPLES STREAMED_XOR_CHUNKS]"
            )
        })
}

/// Matchers asking for an external label's exact value are turned into "label absent":
/// stored series do not carry external labels, they are only added on the way out.
pub fn filter_external_label_matchers(matchers: &[Matcher], external: &Labels) -> Vec<Matcher> {
    matchers
        .iter()
        .map(|m| {
            if m.op == MatchOp::Equal && external.get(&m.name).unwrap_or("") == m.value {
                Matcher::equal(m.name.clone(), "")
            } else {
                m.clone()
            }
        })
        .collect()
}

/// Adds `external` to `labels`; a label the series already has wins.
pub fn merge_external_labels(labels: &Labels, external: &Labels) -> Labels {
    if external.is_empty() {
        return labels.clone();
    }
    let mut merged: Vec<Label> = labels.iter().cloned().collect();
    for l in external.iter() {
        if labels.get(&l.name).is_none() {
            merged.push(l.clone());
        }
    }
    merged.sort_by(|a, b| a.name.cmp(&b.name));
    Labels::from_sorted(merged)
}

/// Decodes a request body (snappy-compressed `ReadRequest`) and picks the response type, or
/// says why the request is refused (always a 400).
pub fn decode_request(body: &[u8]) -> Result<(ReadRequest, ResponseType), ReadOutcome> {
    if body.len() > MAX_DECODED_BYTES {
        return Err(ReadOutcome::error(
            400,
            format!(
                "body of {} bytes exceeds the {MAX_DECODED_BYTES} byte limit",
                body.len()
            ),
        ));
    }
    let raw = decompress(body).map_err(|e| ReadOutcome::error(400, e))?;
    let req = decode_read_request(&raw)
        .map_err(|e| ReadOutcome::error(400, format!("decoding remote read request: {e}")))?;
    let kind = negotiate_response_type(&req.accepted_response_types)
        .map_err(|e| ReadOutcome::error(400, e))?;
    Ok((req, kind))
}

/// Answers a decoded request with a samples response (a whole body).
pub fn samples_outcome(
    storage: &dyn Queryable,
    external_labels: &Labels,
    limits: &ReadLimits,
    req: &ReadRequest,
) -> ReadOutcome {
    samples_response(storage, external_labels, limits, &req.queries)
        .unwrap_or_else(|f| ReadOutcome::error(f.status, f.message))
}

/// Answers a decoded request with streamed chunks, handing each finished frame to `emit` as
/// soon as it is built, so memory stays bounded by one frame. `emit` returns false when the
/// client is gone, which stops the work. An error is returned as (status, message).
pub fn stream_chunks(
    storage: &dyn Queryable,
    external_labels: &Labels,
    limits: &ReadLimits,
    req: &ReadRequest,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), (u16, String)> {
    streamed_response(storage, external_labels, limits, &req.queries, emit)
        .map_err(|f| (f.status, f.message))
}

/// Handles one remote read request body against `storage`, the whole response in memory (the
/// server streams chunked responses with [`stream_chunks`] instead).
pub fn handle_read(
    storage: &dyn Queryable,
    external_labels: &Labels,
    limits: &ReadLimits,
    body: &[u8],
) -> ReadOutcome {
    let (req, kind) = match decode_request(body) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    match kind {
        ResponseType::StreamedXorChunks => {
            let mut out = Vec::new();
            let streamed = stream_chunks(storage, external_labels, limits, &req, &mut |frame| {
                out.extend_from_slice(&frame);
                true
            });
            match streamed {
                Ok(()) => ReadOutcome {
                    status: 200,
                    content_type: STREAMED_CONTENT_TYPE,
                    content_encoding: None,
                    body: out,
                },
                Err((status, message)) => ReadOutcome::error(status, message),
            }
        }
        _ => samples_outcome(storage, external_labels, limits, &req),
    }
}

fn hints_of(q: &ReadQuery) -> Option<SelectHints> {
    q.hints.as_ref().map(|h| SelectHints {
        start: h.start_ms,
        end: h.end_ms,
        func: Some(h.func.clone()).filter(|f| !f.is_empty()),
    })
}

/// Counts the samples a request has read against the sample limit (0: no limit).
struct SampleBudget {
    limit: usize,
    read: usize,
}

impl SampleBudget {
    /// Counts one more sample; fails as soon as the limit is passed, so a request asking for
    /// a huge range stops there instead of first holding the whole series in memory.
    fn take_one(&mut self) -> Result<(), QueryFailure> {
        self.read = self.read.saturating_add(1);
        if self.limit > 0 && self.read > self.limit {
            return Err(QueryFailure {
                status: 400,
                message: format!("exceeded sample limit ({})", self.limit),
            });
        }
        Ok(())
    }
}

/// Reads every series of one query, calling `each` with its labels (external labels merged)
/// and its samples within the query's range.
fn read_query(
    storage: &dyn Queryable,
    external_labels: &Labels,
    q: &ReadQuery,
    budget: &mut SampleBudget,
    each: &mut dyn FnMut(Labels, Vec<(i64, ReadValue)>) -> Result<(), QueryFailure>,
) -> Result<(), QueryFailure> {
    let matchers = filter_external_label_matchers(&q.matchers, external_labels);
    let querier = storage
        .querier(q.start_ms, q.end_ms)
        .map_err(QueryFailure::internal)?;
    let hints = hints_of(q);
    let selected = querier
        .select(hints.as_ref(), &matchers)
        .map_err(QueryFailure::internal)?;
    for series in selected {
        let mut it = series.iter();
        let mut samples = Vec::new();
        let mut kind = it.seek(q.start_ms);
        while kind != ValueKind::None {
            let t = it.at_t();
            if t > q.end_ms {
                break;
            }
            budget.take_one()?;
            match kind {
                ValueKind::Float => samples.push((t, ReadValue::Float(it.at().1))),
                ValueKind::Histogram => {
                    samples.push((t, ReadValue::Histogram(Box::new(it.at_histogram().1))))
                }
                ValueKind::None => {}
            }
            kind = it.next();
        }
        if let Some(e) = it.error() {
            return Err(QueryFailure::internal(e));
        }
        if samples.is_empty() {
            continue;
        }
        each(
            merge_external_labels(series.labels(), external_labels),
            samples,
        )?;
    }
    Ok(())
}

fn samples_response(
    storage: &dyn Queryable,
    external_labels: &Labels,
    limits: &ReadLimits,
    queries: &[ReadQuery],
) -> Result<ReadOutcome, QueryFailure> {
    let mut results = Vec::with_capacity(queries.len());
    // The limit covers the whole response: a request repeating a query many times must not
    // multiply what is held in memory.
    let mut budget = SampleBudget {
        limit: limits.sample_limit,
        read: 0,
    };
    for q in queries {
        let mut series = Vec::new();
        read_query(
            storage,
            external_labels,
            q,
            &mut budget,
            &mut |labels, samples| {
                series.push(ReadSeries { labels, samples });
                Ok(())
            },
        )?;
        results.push(series);
    }
    let raw = encode_read_response(&results);
    let body = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .map_err(QueryFailure::internal)?;
    Ok(ReadOutcome {
        status: 200,
        content_type: SAMPLES_CONTENT_TYPE,
        content_encoding: Some("snappy"),
        body,
    })
}

/// Cuts float samples into XOR chunks of at most [`MAX_SAMPLES_PER_CHUNK`] samples.
/// Histogram samples are not sent in this response type yet (see the module's callers).
fn xor_chunks(samples: &[(i64, ReadValue)]) -> Vec<WireChunk> {
    let mut chunks = Vec::new();
    let mut enc = XorEncoder::default();
    let mut min_t = 0;
    for (t, v) in samples {
        let ReadValue::Float(v) = v else { continue };
        if enc.count() == 0 {
            min_t = *t;
        }
        enc.append(*t, *v);
        if enc.count() >= MAX_SAMPLES_PER_CHUNK {
            let max_t = enc.last_t();
            chunks.push(WireChunk {
                min_time_ms: min_t,
                max_time_ms: max_t,
                encoding: ChunkEncoding::Xor,
                data: std::mem::take(&mut enc).into_bytes(),
            });
        }
    }
    if enc.count() > 0 {
        chunks.push(WireChunk {
            min_time_ms: min_t,
            max_time_ms: enc.last_t(),
            encoding: ChunkEncoding::Xor,
            data: enc.into_bytes(),
        });
    }
    chunks
}

/// Set when the client went away mid-stream; not an error worth a status.
const CLIENT_GONE: u16 = 499;

fn streamed_response(
    storage: &dyn Queryable,
    external_labels: &Labels,
    limits: &ReadLimits,
    queries: &[ReadQuery],
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), QueryFailure> {
    // Streamed responses hold one series at a time, so, as in Prometheus, no sample limit.
    let mut budget = SampleBudget { limit: 0, read: 0 };
    for (index, q) in queries.iter().enumerate() {
        read_query(
            storage,
            external_labels,
            q,
            &mut budget,
            &mut |labels, samples| {
                // As in Prometheus: one series per frame, chunks added until the frame's budget
                // (minus the labels' size) is spent, then a new frame for the same series.
                let budget = limits
                    .max_bytes_in_frame
                    .saturating_sub(labels_size(&labels));
                let mut frame: Vec<WireChunk> = Vec::new();
                let mut used = 0usize;
                let chunks = xor_chunks(&samples);
                let last = chunks.len();
                for (i, c) in chunks.into_iter().enumerate() {
                    used += c.data.len() + 24;
                    frame.push(c);
                    if used < budget && i + 1 < last {
                        continue;
                    }
                    let msg = encode_chunked_response(&ChunkedReadResponse {
                        series: vec![(labels.clone(), std::mem::take(&mut frame))],
                        query_index: index as i64,
                    });
                    let mut frame_bytes = Vec::with_capacity(msg.len() + 9);
                    put_frame(&mut frame_bytes, &msg);
                    if !emit(frame_bytes) {
                        return Err(QueryFailure {
                            status: CLIENT_GONE,
                            message: "client closed the connection".into(),
                        });
                    }
                    used = 0;
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_message::{
        decode_chunked_response, decode_read_response, encode_read_request, split_frames,
    };
    use pharos_tsdb::MemStorage;

    fn store() -> MemStorage {
        let st = MemStorage::new();
        let a = Labels::from_pairs([("__name__", "m"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "m"), ("job", "b"), ("site", "own")]);
        for t in 0..300 {
            st.append(&a, t * 1000, t as f64);
            st.append(&b, t * 1000, -(t as f64));
        }
        st
    }

    fn request(matchers: Vec<Matcher>, types: Vec<ResponseType>) -> Vec<u8> {
        let raw = encode_read_request(&ReadRequest {
            queries: vec![ReadQuery {
                start_ms: 10_000,
                end_ms: 200_000,
                matchers,
                hints: None,
            }],
            accepted_response_types: types,
        });
        snap::raw::Encoder::new()
            .compress_vec(&raw)
            .expect("snappy")
    }

    fn external() -> Labels {
        Labels::from_pairs([("site", "ext")])
    }

    #[test]
    fn samples_carry_external_labels_and_the_range() {
        let body = request(vec![Matcher::equal("__name__", "m")], vec![]);
        let out = handle_read(&store(), &external(), &ReadLimits::default(), &body);
        assert_eq!(out.status, 200, "{}", String::from_utf8_lossy(&out.body));
        assert_eq!(out.content_encoding, Some("snappy"));
        let raw = decompress(&out.body).expect("snappy");
        let res = decode_read_response(&raw).expect("decodes");
        assert_eq!(res.len(), 1);
        let series = &res[0];
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels.get("site"), Some("ext"));
        // The series' own label wins over the external one.
        assert_eq!(series[1].labels.get("site"), Some("own"));
        assert_eq!(series[0].samples.len(), 191);
        assert_eq!(series[0].samples[0], (10_000, ReadValue::Float(10.0)));
    }

    #[test]
    fn a_matcher_on_an_external_label_selects_series_without_it() {
        let body = request(
            vec![
                Matcher::equal("__name__", "m"),
                Matcher::equal("site", "ext"),
            ],
            vec![],
        );
        let out = handle_read(&store(), &external(), &ReadLimits::default(), &body);
        let res = decode_read_response(&decompress(&out.body).expect("snappy")).expect("ok");
        assert_eq!(res[0].len(), 1);
        assert_eq!(res[0][0].labels.get("job"), Some("a"));
    }

    #[test]
    fn the_sample_limit_is_a_400() {
        let body = request(vec![Matcher::equal("__name__", "m")], vec![]);
        let limits = ReadLimits {
            sample_limit: 100,
            ..ReadLimits::default()
        };
        let out = handle_read(&store(), &external(), &limits, &body);
        assert_eq!(out.status, 400);
        assert!(String::from_utf8_lossy(&out.body).contains("exceeded sample limit (100)"));
    }

    #[test]
    fn the_sample_limit_covers_every_query_of_a_request() {
        // One query reads 2 * 191 samples: under the limit once, over it when repeated.
        let q = ReadQuery {
            start_ms: 10_000,
            end_ms: 200_000,
            matchers: vec![Matcher::equal("__name__", "m")],
            hints: None,
        };
        let limits = ReadLimits {
            sample_limit: 1000,
            ..ReadLimits::default()
        };
        let body_of = |n: usize| {
            let raw = encode_read_request(&ReadRequest {
                queries: vec![q.clone(); n],
                accepted_response_types: vec![],
            });
            snap::raw::Encoder::new()
                .compress_vec(&raw)
                .expect("snappy")
        };
        let once = handle_read(&store(), &external(), &limits, &body_of(1));
        assert_eq!(once.status, 200);
        let many = handle_read(&store(), &external(), &limits, &body_of(1000));
        assert_eq!(many.status, 400);
        assert!(String::from_utf8_lossy(&many.body).contains("exceeded sample limit (1000)"));
    }

    #[test]
    fn streamed_chunks_decode_back_to_the_samples() {
        let body = request(
            vec![Matcher::equal("job", "a")],
            vec![ResponseType::StreamedXorChunks],
        );
        let limits = ReadLimits {
            sample_limit: 0,
            max_bytes_in_frame: 64,
        };
        let out = handle_read(&store(), &external(), &limits, &body);
        assert_eq!(out.status, 200);
        assert_eq!(out.content_type, STREAMED_CONTENT_TYPE);
        let frames = split_frames(&out.body, 1 << 20).expect("frames");
        // 191 samples make two chunks; the tiny frame budget puts each in its own frame.
        assert_eq!(frames.len(), 2);
        let mut samples = Vec::new();
        for f in frames {
            let r = decode_chunked_response(f).expect("frame");
            assert_eq!(r.query_index, 0);
            for (labels, chunks) in r.series {
                assert_eq!(labels.get("site"), Some("ext"));
                for c in chunks {
                    assert_eq!(c.encoding, ChunkEncoding::Xor);
                    let s = pharos_tsdb::chunk::decode_xor(&c.data).expect("xor");
                    assert_eq!(s.first().map(|s| s.0), Some(c.min_time_ms));
                    assert_eq!(s.last().map(|s| s.0), Some(c.max_time_ms));
                    samples.extend(s);
                }
            }
        }
        assert_eq!(samples.len(), 191);
        assert_eq!(samples[0], (10_000, 10.0));
    }

    #[test]
    fn histograms_travel_in_samples_responses() {
        let st = MemStorage::new();
        let l = Labels::from_pairs([("__name__", "h")]);
        let h = pharos_model::FloatHistogram {
            count: 2.0,
            sum: 3.0,
            ..pharos_model::FloatHistogram::default()
        };
        st.append_histogram(&l, 20_000, h.clone());
        let body = request(vec![Matcher::equal("__name__", "h")], vec![]);
        let out = handle_read(&st, &Labels::empty(), &ReadLimits::default(), &body);
        let res = decode_read_response(&decompress(&out.body).expect("snappy")).expect("ok");
        assert_eq!(
            res[0][0].samples,
            vec![(20_000, ReadValue::Histogram(Box::new(h)))]
        );
        // Streamed responses carry XOR chunks only: a histogram-only series sends no frame.
        let body = request(
            vec![Matcher::equal("__name__", "h")],
            vec![ResponseType::StreamedXorChunks],
        );
        let out = handle_read(&st, &Labels::empty(), &ReadLimits::default(), &body);
        assert_eq!(out.status, 200);
        assert!(out.body.is_empty());
    }

    #[test]
    fn bad_bodies_are_clear_400s() {
        let st = store();
        let limits = ReadLimits::default();
        let out = handle_read(&st, &external(), &limits, b"not snappy at all");
        assert_eq!(out.status, 400);
        assert!(String::from_utf8_lossy(&out.body).contains("snappy"));
        let garbage = snap::raw::Encoder::new()
            .compress_vec(&[0x0a, 0x05, 0x01])
            .expect("snappy");
        let out = handle_read(&st, &external(), &limits, &garbage);
        assert_eq!(out.status, 400);
        assert!(String::from_utf8_lossy(&out.body).contains("decoding remote read request"));
        let big = vec![0u8; MAX_DECODED_BYTES + 1];
        let out = handle_read(&st, &external(), &limits, &big);
        assert_eq!(out.status, 400);
        assert!(String::from_utf8_lossy(&out.body).contains("exceeds"));
        let unknown = request(
            vec![Matcher::equal("job", "a")],
            vec![ResponseType::Unknown(7)],
        );
        let out = handle_read(&st, &external(), &limits, &unknown);
        assert_eq!(out.status, 400);
        assert!(String::from_utf8_lossy(&out.body).contains("does not support"));
    }
}
