//! Remote read messages (`prometheus.ReadRequest`, `ReadResponse`, `ChunkedReadResponse`),
//! declared by hand like the write messages, plus the length-and-checksum framing of the
//! streamed response.
//!
//! Field numbers: ReadRequest{1 queries, 2 accepted_response_types}; Query{1 start_timestamp_ms,
//! 2 end_timestamp_ms, 3 matchers, 4 hints}; LabelMatcher{1 type, 2 name, 3 value};
//! ReadHints{1 step_ms, 2 func, 3 start_ms, 4 end_ms, 5 grouping, 6 by, 7 range_ms};
//! ReadResponse{1 results}; QueryResult{1 timeseries}; TimeSeries{1 labels, 2 samples,
//! 4 histograms}; ChunkedReadResponse{1 chunked_series, 2 query_index}; ChunkedSeries{1 labels,
//! 2 chunks}; Chunk{1 min_time_ms, 2 max_time_ms, 3 type, 4 data}.

use pharos_model::protobuf::wire::{
    put_bytes, put_key, put_message, put_uint, put_varint, Reader, FIXED64, LEN, VARINT,
};
use pharos_model::{FloatHistogram, Labels, MatchOp, Matcher, ParseError};

use crate::decode_error::DecodeError;
use crate::histogram_message::decode_histogram;

/// The response encodings a client may accept, in `ReadRequest.accepted_response_types`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    /// One snappy-compressed `ReadResponse` with raw samples.
    Samples,
    /// A stream of framed `ChunkedReadResponse` messages carrying XOR chunks.
    StreamedXorChunks,
    /// A value this server does not know.
    Unknown(u64),
}

impl ResponseType {
    fn from_wire(v: u64) -> Self {
        match v {
            0 => ResponseType::Samples,
            1 => ResponseType::StreamedXorChunks,
            other => ResponseType::Unknown(other),
        }
    }

    fn to_wire(self) -> u64 {
        match self {
            ResponseType::Samples => 0,
            ResponseType::StreamedXorChunks => 1,
            ResponseType::Unknown(v) => v,
        }
    }
}

/// `prometheus.ReadHints`: what the query engine will do with the data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadHints {
    /// Query step in milliseconds.
    pub step_ms: i64,
    /// The enclosing function, e.g. `rate`.
    pub func: String,
    /// Earliest timestamp the engine reads.
    pub start_ms: i64,
    /// Latest timestamp the engine reads.
    pub end_ms: i64,
    /// Grouping labels of an enclosing aggregation.
    pub grouping: Vec<String>,
    /// Whether `grouping` is `by` (true) or `without`.
    pub by: bool,
    /// Range of the enclosing range selector in milliseconds.
    pub range_ms: i64,
}

/// `prometheus.Query`: one selector over a time range.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadQuery {
    /// Start of the range (ms, inclusive).
    pub start_ms: i64,
    /// End of the range (ms, inclusive).
    pub end_ms: i64,
    /// The label matchers.
    pub matchers: Vec<Matcher>,
    /// Optional hints.
    pub hints: Option<ReadHints>,
}

/// `prometheus.ReadRequest`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadRequest {
    /// The queries, answered in order.
    pub queries: Vec<ReadQuery>,
    /// Accepted encodings in order of preference; empty means samples only.
    pub accepted_response_types: Vec<ResponseType>,
}

/// One sample value of a series read back.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadValue {
    /// A float sample (possibly the stale marker).
    Float(f64),
    /// A native histogram sample.
    Histogram(Box<FloatHistogram>),
}

/// `prometheus.TimeSeries` as remote read returns it: labels and time-ordered samples.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Samples as (milliseconds, value), in timestamp order.
    pub samples: Vec<(i64, ReadValue)>,
}

/// `prometheus.Chunk` encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkEncoding {
    /// Gorilla XOR float chunk (Prometheus's layout).
    Xor,
    /// Integer native histogram chunk.
    Histogram,
    /// Float native histogram chunk.
    FloatHistogram,
    /// Anything else.
    Unknown(u64),
}

impl ChunkEncoding {
    fn from_wire(v: u64) -> Self {
        match v {
            1 => ChunkEncoding::Xor,
            2 => ChunkEncoding::Histogram,
            3 => ChunkEncoding::FloatHistogram,
            other => ChunkEncoding::Unknown(other),
        }
    }

    fn to_wire(self) -> u64 {
        match self {
            ChunkEncoding::Xor => 1,
            ChunkEncoding::Histogram => 2,
            ChunkEncoding::FloatHistogram => 3,
            ChunkEncoding::Unknown(v) => v,
        }
    }
}

/// `prometheus.Chunk`.
#[derive(Clone, Debug, PartialEq)]
pub struct WireChunk {
    /// First sample's timestamp.
    pub min_time_ms: i64,
    /// Last sample's timestamp.
    pub max_time_ms: i64,
    /// How `data` is encoded.
    pub encoding: ChunkEncoding,
    /// The chunk bytes.
    pub data: Vec<u8>,
}

/// `prometheus.ChunkedReadResponse`: one frame of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkedReadResponse {
    /// Series with their chunks (Prometheus sends one per frame).
    pub series: Vec<(Labels, Vec<WireChunk>)>,
    /// Which query of the request this frame answers.
    pub query_index: i64,
}

// ---- decoding ----

/// Decodes an uncompressed `ReadRequest`.
pub fn decode_read_request(body: &[u8]) -> Result<ReadRequest, DecodeError> {
    let mut r = Reader::new(body, 0);
    let mut req = ReadRequest::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "ReadRequest.queries")?;
                req.queries.push(decode_query(r.sub()?)?);
            }
            2 => r.repeated(wt, VARINT, "ReadRequest.accepted_response_types", |p| {
                req.accepted_response_types
                    .push(ResponseType::from_wire(p.varint()?));
                Ok(())
            })?,
            _ => r.skip(wt)?,
        }
    }
    Ok(req)
}

fn decode_query(mut r: Reader<'_>) -> Result<ReadQuery, DecodeError> {
    let mut q = ReadQuery {
        start_ms: 0,
        end_ms: 0,
        matchers: Vec::new(),
        hints: None,
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "Query.start_timestamp_ms")?;
                q.start_ms = r.varint()? as i64;
            }
            2 => {
                r.expect(wt, VARINT, "Query.end_timestamp_ms")?;
                q.end_ms = r.varint()? as i64;
            }
            3 => {
                r.expect(wt, LEN, "Query.matchers")?;
                q.matchers.push(decode_matcher(r.sub()?)?);
            }
            4 => {
                r.expect(wt, LEN, "Query.hints")?;
                q.hints = Some(decode_hints(r.sub()?)?);
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(q)
}

fn decode_matcher(mut r: Reader<'_>) -> Result<Matcher, DecodeError> {
    let (mut kind, mut name, mut value) = (0u64, "", "");
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "LabelMatcher.type")?;
                kind = r.varint()?;
            }
            2 => {
                r.expect(wt, LEN, "LabelMatcher.name")?;
                name = r.string()?;
            }
            3 => {
                r.expect(wt, LEN, "LabelMatcher.value")?;
                value = r.string()?;
            }
            _ => r.skip(wt)?,
        }
    }
    let op = match kind {
        0 => MatchOp::Equal,
        1 => MatchOp::NotEqual,
        2 => MatchOp::Regex,
        3 => MatchOp::NotRegex,
        other => {
            return Err(DecodeError::Invalid(format!(
                "invalid matcher type {other} for label {name:?}"
            )))
        }
    };
    Matcher::new(op, name, value).map_err(|e| DecodeError::Invalid(e.to_string()))
}

fn decode_hints(mut r: Reader<'_>) -> Result<ReadHints, ParseError> {
    let mut h = ReadHints::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 | 3 | 4 | 7 => {
                r.expect(wt, VARINT, "ReadHints")?;
                let v = r.varint()? as i64;
                match field {
                    1 => h.step_ms = v,
                    3 => h.start_ms = v,
                    4 => h.end_ms = v,
                    _ => h.range_ms = v,
                }
            }
            2 => {
                r.expect(wt, LEN, "ReadHints.func")?;
                h.func = r.string()?.to_owned();
            }
            5 => {
                r.expect(wt, LEN, "ReadHints.grouping")?;
                h.grouping.push(r.string()?.to_owned());
            }
            6 => {
                r.expect(wt, VARINT, "ReadHints.by")?;
                h.by = r.varint()? != 0;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(h)
}

/// Decodes an uncompressed `ReadResponse` into one list of series per query.
pub fn decode_read_response(body: &[u8]) -> Result<Vec<Vec<ReadSeries>>, DecodeError> {
    let mut r = Reader::new(body, 0);
    let mut results = Vec::new();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "ReadResponse.results")?;
                let mut qr = r.sub()?;
                let mut series = Vec::new();
                while !qr.is_empty() {
                    let (f, w) = qr.key()?;
                    match f {
                        1 => {
                            qr.expect(w, LEN, "QueryResult.timeseries")?;
                            series.push(decode_read_series(qr.sub()?)?);
                        }
                        _ => qr.skip(w)?,
                    }
                }
                results.push(series);
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(results)
}

fn labels_from_wire(pairs: Vec<(&str, &str)>) -> Result<Labels, DecodeError> {
    let mut names: Vec<&str> = pairs.iter().map(|p| p.0).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w.first() == w.get(1)) {
        return Err(DecodeError::Invalid(format!(
            "duplicate label name {:?} in a series",
            w.first().copied().unwrap_or_default()
        )));
    }
    Ok(Labels::from_pairs(
        pairs
            .into_iter()
            .filter(|(n, v)| !n.is_empty() && !v.is_empty()),
    ))
}

fn decode_read_series(mut r: Reader<'_>) -> Result<ReadSeries, DecodeError> {
    let mut pairs = Vec::new();
    let mut floats: Vec<(i64, f64)> = Vec::new();
    let mut histograms: Vec<(i64, FloatHistogram)> = Vec::new();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "TimeSeries.labels")?;
                pairs.push(crate::write_v1::decode_label(r.sub()?)?);
            }
            2 => {
                r.expect(wt, LEN, "TimeSeries.samples")?;
                floats.push(crate::write_v1::decode_sample(r.sub()?)?);
            }
            4 => {
                r.expect(wt, LEN, "TimeSeries.histograms")?;
                histograms.push(decode_histogram(r.sub()?)?);
            }
            _ => r.skip(wt)?,
        }
    }
    let labels = labels_from_wire(pairs)?;
    let mut samples: Vec<(i64, ReadValue)> = floats
        .into_iter()
        .map(|(t, v)| (t, ReadValue::Float(v)))
        .chain(
            histograms
                .into_iter()
                .map(|(t, h)| (t, ReadValue::Histogram(Box::new(h)))),
        )
        .collect();
    samples.sort_by_key(|s| s.0);
    samples.dedup_by_key(|s| s.0);
    Ok(ReadSeries { labels, samples })
}

/// Decodes one `ChunkedReadResponse` frame body.
pub fn decode_chunked_response(body: &[u8]) -> Result<ChunkedReadResponse, DecodeError> {
    let mut r = Reader::new(body, 0);
    let mut out = ChunkedReadResponse {
        series: Vec::new(),
        query_index: 0,
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "ChunkedReadResponse.chunked_series")?;
                let mut s = r.sub()?;
                let mut pairs = Vec::new();
                let mut chunks = Vec::new();
                while !s.is_empty() {
                    let (f, w) = s.key()?;
                    match f {
                        1 => {
                            s.expect(w, LEN, "ChunkedSeries.labels")?;
                            pairs.push(crate::write_v1::decode_label(s.sub()?)?);
                        }
                        2 => {
                            s.expect(w, LEN, "ChunkedSeries.chunks")?;
                            chunks.push(decode_chunk(s.sub()?, body)?);
                        }
                        _ => s.skip(w)?,
                    }
                }
                out.series.push((labels_from_wire(pairs)?, chunks));
            }
            2 => {
                r.expect(wt, VARINT, "ChunkedReadResponse.query_index")?;
                out.query_index = r.varint()? as i64;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(out)
}

/// `body` is the whole frame the reader's offsets point into; the data field is sliced from it
/// because the wire reader hands out strings, not raw bytes.
fn decode_chunk(mut r: Reader<'_>, body: &[u8]) -> Result<WireChunk, ParseError> {
    let mut c = WireChunk {
        min_time_ms: 0,
        max_time_ms: 0,
        encoding: ChunkEncoding::Unknown(0),
        data: Vec::new(),
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "Chunk.min_time_ms")?;
                c.min_time_ms = r.varint()? as i64;
            }
            2 => {
                r.expect(wt, VARINT, "Chunk.max_time_ms")?;
                c.max_time_ms = r.varint()? as i64;
            }
            3 => {
                r.expect(wt, VARINT, "Chunk.type")?;
                c.encoding = ChunkEncoding::from_wire(r.varint()?);
            }
            4 => {
                r.expect(wt, LEN, "Chunk.data")?;
                let data = r.sub()?;
                c.data = body
                    .get(data.offset()..r.offset())
                    .unwrap_or_default()
                    .to_vec();
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(c)
}

// ---- encoding ----

fn put_int64(out: &mut Vec<u8>, field: u32, v: i64) {
    // `int64` is a plain varint of the two's complement, not zigzag.
    if v != 0 {
        put_uint(out, field, v as u64);
    }
}

fn put_matcher(out: &mut Vec<u8>, m: &Matcher) {
    put_message(out, 3, |out| {
        let kind = match m.op {
            MatchOp::Equal => 0,
            MatchOp::NotEqual => 1,
            MatchOp::Regex => 2,
            MatchOp::NotRegex => 3,
        };
        if kind != 0 {
            put_uint(out, 1, kind);
        }
        put_bytes(out, 2, m.name.as_bytes());
        put_bytes(out, 3, m.value.as_bytes());
    });
}

/// Encodes a `ReadRequest` (uncompressed).
pub fn encode_read_request(req: &ReadRequest) -> Vec<u8> {
    let mut out = Vec::new();
    for q in &req.queries {
        put_message(&mut out, 1, |out| {
            put_int64(out, 1, q.start_ms);
            put_int64(out, 2, q.end_ms);
            for m in &q.matchers {
                put_matcher(out, m);
            }
            if let Some(h) = &q.hints {
                put_message(out, 4, |out| {
                    put_int64(out, 1, h.step_ms);
                    if !h.func.is_empty() {
                        put_bytes(out, 2, h.func.as_bytes());
                    }
                    put_int64(out, 3, h.start_ms);
                    put_int64(out, 4, h.end_ms);
                    for g in &h.grouping {
                        put_bytes(out, 5, g.as_bytes());
                    }
                    if h.by {
                        put_uint(out, 6, 1);
                    }
                    put_int64(out, 7, h.range_ms);
                });
            }
        });
    }
    if !req.accepted_response_types.is_empty() {
        put_message(&mut out, 2, |out| {
            for t in &req.accepted_response_types {
                put_varint(out, t.to_wire());
            }
        });
    }
    out
}

fn put_labels(out: &mut Vec<u8>, field: u32, labels: &Labels) {
    for l in labels.iter() {
        put_message(out, field, |out| {
            put_bytes(out, 1, l.name.as_bytes());
            put_bytes(out, 2, l.value.as_bytes());
        });
    }
}

/// The encoded size of one series' labels, which Prometheus subtracts from the frame budget.
pub fn labels_size(labels: &Labels) -> usize {
    let mut out = Vec::new();
    put_labels(&mut out, 1, labels);
    out.len()
}

/// Appends one `TimeSeries` (field 1 of `QueryResult`).
pub fn put_read_series(out: &mut Vec<u8>, s: &ReadSeries) {
    put_message(out, 1, |out| {
        put_labels(out, 1, &s.labels);
        for (t, v) in &s.samples {
            if let ReadValue::Float(v) = v {
                put_message(out, 2, |out| {
                    // Unlike proto3 defaults elsewhere, Prometheus always writes the value.
                    put_key(out, 1, FIXED64);
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                    put_int64(out, 2, *t);
                });
            }
        }
        for (t, v) in &s.samples {
            if let ReadValue::Histogram(h) = v {
                crate::histogram_message::put_histogram_field(out, 4, *t, h);
            }
        }
    });
}

/// Encodes a `ReadResponse` (uncompressed) from one list of series per query.
pub fn encode_read_response(results: &[Vec<ReadSeries>]) -> Vec<u8> {
    let mut out = Vec::new();
    for series in results {
        put_message(&mut out, 1, |out| {
            for s in series {
                put_read_series(out, s);
            }
        });
    }
    out
}

/// Encodes one `ChunkedReadResponse` frame body.
pub fn encode_chunked_response(resp: &ChunkedReadResponse) -> Vec<u8> {
    let mut out = Vec::new();
    for (labels, chunks) in &resp.series {
        put_message(&mut out, 1, |out| {
            put_labels(out, 1, labels);
            for c in chunks {
                put_message(out, 2, |out| {
                    put_int64(out, 1, c.min_time_ms);
                    put_int64(out, 2, c.max_time_ms);
                    put_uint(out, 3, c.encoding.to_wire());
                    put_bytes(out, 4, &c.data);
                });
            }
        });
    }
    put_int64(&mut out, 2, resp.query_index);
    out
}

// ---- streamed framing ----

/// CRC-32 with the Castagnoli polynomial, as the streamed framing checksums each message.
fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0x82F6_3B78 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Appends one frame: the message length as a uvarint, its CRC-32C big-endian, then the message.
pub fn put_frame(out: &mut Vec<u8>, message: &[u8]) {
    put_varint(out, message.len() as u64);
    out.extend_from_slice(&crc32c(message).to_be_bytes());
    out.extend_from_slice(message);
}

/// Splits a streamed body into its frames, checking each checksum; `max_frame` bounds the
/// length a frame may claim, so a corrupt length cannot make the reader allocate wildly.
pub fn split_frames(mut body: &[u8], max_frame: usize) -> Result<Vec<&[u8]>, DecodeError> {
    let mut frames = Vec::new();
    while !body.is_empty() {
        let mut r = Reader::new(body, 0);
        let len = r.varint()?;
        let header = r.offset();
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= max_frame)
            .ok_or_else(|| {
                DecodeError::Invalid(format!(
                    "frame of {len} bytes exceeds the {max_frame} byte limit"
                ))
            })?;
        let rest = body.get(header..).unwrap_or_default();
        let needed = len.saturating_add(4);
        if rest.len() < needed {
            return Err(DecodeError::Invalid(format!(
                "truncated frame: {} bytes left, {needed} needed",
                rest.len(),
            )));
        }
        let (crc, rest) = rest.split_at(4);
        let (msg, rest) = rest.split_at(len);
        let want = u32::from_be_bytes([
            crc.first().copied().unwrap_or(0),
            crc.get(1).copied().unwrap_or(0),
            crc.get(2).copied().unwrap_or(0),
            crc.get(3).copied().unwrap_or(0),
        ]);
        if crc32c(msg) != want {
            return Err(DecodeError::Invalid("frame checksum mismatch".into()));
        }
        frames.push(msg);
        body = rest;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(op: MatchOp, n: &str, v: &str) -> Matcher {
        Matcher::new(op, n, v).expect("valid matcher")
    }

    #[test]
    fn request_round_trips() {
        let req = ReadRequest {
            queries: vec![ReadQuery {
                start_ms: -5,
                end_ms: 1_700_000_000_000,
                matchers: vec![
                    matcher(MatchOp::Equal, "__name__", "up"),
                    matcher(MatchOp::NotEqual, "job", ""),
                    matcher(MatchOp::Regex, "instance", "a|b"),
                    matcher(MatchOp::NotRegex, "x", "y.*"),
                ],
                hints: Some(ReadHints {
                    step_ms: 15_000,
                    func: "rate".into(),
                    start_ms: 1,
                    end_ms: 2,
                    grouping: vec!["job".into()],
                    by: true,
                    range_ms: 60_000,
                }),
            }],
            accepted_response_types: vec![ResponseType::StreamedXorChunks, ResponseType::Samples],
        };
        let bytes = encode_read_request(&req);
        assert_eq!(decode_read_request(&bytes).expect("decodes"), req);
    }

    #[test]
    fn response_round_trips_floats_and_histograms() {
        let h = FloatHistogram {
            count: 3.0,
            sum: 4.5,
            schema: 1,
            zero_threshold: 0.001,
            zero_count: 1.0,
            positive_spans: vec![pharos_model::Span {
                offset: -1,
                length: 2,
            }],
            positive_buckets: vec![1.0, 1.0],
            ..FloatHistogram::default()
        };
        let series = ReadSeries {
            labels: Labels::from_pairs([("__name__", "m"), ("a", "b")]),
            samples: vec![
                (1000, ReadValue::Float(1.5)),
                (2000, ReadValue::Histogram(Box::new(h))),
                (3000, ReadValue::Float(0.0)),
            ],
        };
        let bytes = encode_read_response(&[vec![series.clone()], vec![]]);
        let back = decode_read_response(&bytes).expect("decodes");
        assert_eq!(back, vec![vec![series], vec![]]);
    }

    #[test]
    fn chunked_frames_round_trip_and_detect_corruption() {
        let resp = ChunkedReadResponse {
            series: vec![(
                Labels::from_pairs([("__name__", "m")]),
                vec![WireChunk {
                    min_time_ms: 1,
                    max_time_ms: 9,
                    encoding: ChunkEncoding::Xor,
                    data: vec![0, 1, 2, 3],
                }],
            )],
            query_index: 2,
        };
        let mut body = Vec::new();
        put_frame(&mut body, &encode_chunked_response(&resp));
        put_frame(&mut body, &encode_chunked_response(&resp));
        let frames = split_frames(&body, 1 << 20).expect("frames");
        assert_eq!(frames.len(), 2);
        for f in frames {
            assert_eq!(decode_chunked_response(f).expect("decodes"), resp);
        }
        let mut bad = body.clone();
        if let Some(b) = bad.last_mut() {
            *b ^= 0xff;
        }
        assert!(split_frames(&bad, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        assert!(split_frames(&body[..body.len() - 1], 1 << 20).is_err());
        assert!(split_frames(&body, 3)
            .unwrap_err()
            .to_string()
            .contains("exceeds"));
    }

    #[test]
    fn crc32c_matches_the_reference_vector() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [
            &[0xff][..],
            &[0x0a, 0x05, 0x01][..],
            &[0x0a, 0x02, 0x1a, 0x7f][..],
            &[0x12, 0x01][..],
        ] {
            assert!(decode_read_request(body).is_err(), "{body:?}");
        }
        // A matcher of an unknown type names the problem.
        let mut q = Vec::new();
        put_message(&mut q, 1, |out| {
            put_message(out, 3, |out| {
                put_uint(out, 1, 9);
                put_bytes(out, 2, b"a");
            })
        });
        let e = decode_read_request(&q).unwrap_err().to_string();
        assert!(e.contains("invalid matcher type 9"), "{e}");
    }

    #[test]
    fn a_frame_limit_near_usize_max_does_not_overflow() {
        // Length 2^64-1 passes a limit of usize::MAX; the length check must not wrap.
        let body = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0,
        ];
        let e = split_frames(&body, usize::MAX).unwrap_err().to_string();
        assert!(e.contains("truncated frame"), "{e}");
    }

    /// A small xorshift generator: deterministic, so a failure reproduces from its seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
        }
    }

    /// Flips, inserts, deletes and overwrites bytes; inserted runs favour varint edge values.
    fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
        let mut b = seed.to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(b.len() + 1);
            match rng.below(5) {
                0 => {
                    if let Some(x) = b.get_mut(at) {
                        *x ^= 1 << rng.below(8);
                    }
                }
                1 => {
                    let run: &[u8] = match rng.below(4) {
                        0 => &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                        1 => &[0x80, 0x80, 0x80, 0x80, 0x08],
                        2 => &[0x0a, 0x7f],
                        _ => &[0x12, 0x00],
                    };
                    b.splice(at..at, run.iter().copied());
                }
                2 => {
                    let end = (at + rng.below(8)).min(b.len());
                    b.drain(at..end);
                }
                3 => b.truncate(at),
                _ => {
                    if let Some(x) = b.get_mut(at) {
                        *x = (rng.next() & 0xff) as u8;
                    }
                }
            }
        }
        b
    }

    fn seed_request() -> Vec<u8> {
        encode_read_request(&ReadRequest {
            queries: vec![ReadQuery {
                start_ms: -5,
                end_ms: i64::MAX,
                matchers: vec![
                    matcher(MatchOp::Equal, "__name__", "up"),
                    matcher(MatchOp::Regex, "job", "a|b.*"),
                    matcher(MatchOp::NotRegex, "x", ""),
                ],
                hints: Some(ReadHints {
                    step_ms: 15_000,
                    func: "rate".into(),
                    start_ms: 1,
                    end_ms: 2,
                    grouping: vec!["job".into()],
                    by: true,
                    range_ms: 300_000,
                }),
            }],
            accepted_response_types: vec![ResponseType::StreamedXorChunks, ResponseType::Samples],
        })
    }

    fn seed_response() -> Vec<u8> {
        let h = FloatHistogram {
            count: 3.0,
            sum: 4.5,
            schema: 1,
            zero_count: 1.0,
            positive_spans: vec![pharos_model::Span {
                offset: -1,
                length: 2,
            }],
            positive_buckets: vec![1.0, 1.0],
            ..FloatHistogram::default()
        };
        encode_read_response(&[vec![ReadSeries {
            labels: Labels::from_pairs([("__name__", "m"), ("a", "b")]),
            samples: vec![
                (1000, ReadValue::Float(1.5)),
                (2000, ReadValue::Histogram(Box::new(h))),
            ],
        }]])
    }

    fn seed_stream() -> Vec<u8> {
        let resp = ChunkedReadResponse {
            series: vec![(
                Labels::from_pairs([("__name__", "m")]),
                vec![WireChunk {
                    min_time_ms: 1,
                    max_time_ms: 9,
                    encoding: ChunkEncoding::Xor,
                    data: vec![0, 1, 2, 3],
                }],
            )],
            query_index: 1,
        };
        let mut body = Vec::new();
        put_frame(&mut body, &encode_chunked_response(&resp));
        put_frame(&mut body, &encode_chunked_response(&resp));
        body
    }

    #[test]
    fn mutated_read_requests_never_panic() {
        let seed = seed_request();
        assert!(decode_read_request(&seed).is_ok());
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..4000 {
            let _ = decode_read_request(&mutate(&mut rng, &seed));
        }
    }

    #[test]
    fn mutated_read_responses_never_panic() {
        let seed = seed_response();
        assert!(decode_read_response(&seed).is_ok());
        let mut rng = Rng(0x0fed_cba9_8765_4321);
        for _ in 0..4000 {
            let _ = decode_read_response(&mutate(&mut rng, &seed));
        }
    }

    #[test]
    fn mutated_streamed_responses_never_panic() {
        let seed = seed_stream();
        let mut rng = Rng(0x5555_aaaa_3333_cccc);
        for _ in 0..4000 {
            let body = mutate(&mut rng, &seed);
            // The checksum stops most mutations; decode the frames' messages directly too.
            if let Ok(frames) = split_frames(&body, 1 << 20) {
                for f in frames {
                    let _ = decode_chunked_response(f);
                }
            }
            let _ = decode_chunked_response(&body);
        }
    }
}
