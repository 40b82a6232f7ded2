//! The `/api/v1/write` endpoint's semantics, independent of the HTTP framework: content
//! negotiation, snappy, size limits, and Prometheus's status codes and headers.

use pharos_tsdb::Db;

use crate::decode_error::DecodeError;
use crate::ingest::{ingest, IngestReport, RejectPolicy};
use crate::write_batch::WriteBatch;
use crate::write_v1::decode_v1;
use crate::write_v2::decode_v2;

/// Largest decompressed body accepted, as in Prometheus (32 MiB); the compressed body is
/// bounded by the same figure, since snappy never shrinks below it meaningfully for this.
pub const MAX_DECODED_BYTES: usize = 32 << 20;

/// Response header with the number of float samples a 2.0 request stored.
pub const SAMPLES_WRITTEN: &str = "X-Prometheus-Remote-Write-Samples-Written";
/// Response header with the number of histogram samples a 2.0 request stored.
pub const HISTOGRAMS_WRITTEN: &str = "X-Prometheus-Remote-Write-Histograms-Written";
/// Response header with the number of exemplars a 2.0 request stored.
pub const EXEMPLARS_WRITTEN: &str = "X-Prometheus-Remote-Write-Exemplars-Written";

/// The protocol a request declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoVersion {
    /// `prometheus.WriteRequest`.
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
}

/// What to send back.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteResponse {
    /// HTTP status code.
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(&'static str, String)>,
    /// Plain-text body (empty on success).
    pub body: String,
    /// What was stored, when the body got as far as the TSDB.
    pub report: Option<IngestReport>,
}

impl WriteResponse {
    fn error(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        body.push('\n');
        WriteResponse {
            status,
            headers: Vec::new(),
            body,
            report: None,
        }
    }
}

/// Works out the protocol from `Content-Type`. A missing header means 1.0, as Prometheus
/// assumes for senders that predate 2.0.
pub fn negotiate_proto(content_type: Option<&str>) -> Result<ProtoVersion, String> {
    let Some(ct) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(ProtoVersion::V1);
    };
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(format!(
            "unsupported Content-Type {ct:?}: expected application/x-protobuf"
        ));
    }
    let mut proto = ProtoVersion::V1;
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("proto") {
            proto = match v.trim().trim_matches('"') {
                "prometheus.WriteRequest" => ProtoVersion::V1,
                "io.prometheus.write.v2.Request" => ProtoVersion::V2,
                other => {
                    return Err(format!(
                        "unsupported remote write protobuf message {other:?}"
                    ))
                }
            };
        }
    }
    Ok(proto)
}

/// Decompresses a snappy block, refusing bodies that would decompress past the limit.
pub fn decompress(body: &[u8]) -> Result<Vec<u8>, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("invalid snappy body: {e}"))?;
    if len > MAX_DECODED_BYTES {
        return Err(format!(
            "decompressed body of {len} bytes exceeds the {MAX_DECODED_BYTES} byte limit"
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("invalid snappy body: {e}"))
}

/// Decodes an uncompressed body of the given protocol.
pub fn decode(proto: ProtoVersion, body: &[u8]) -> Result<WriteBatch, DecodeError> {
    match proto {
        ProtoVersion::V1 => decode_v1(body),
        ProtoVersion::V2 => decode_v2(body),
    }
}

/// Handles one `POST /api/v1/write` from its headers and raw body, storing into `db`.
pub fn handle_write(
    db: &Db,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> WriteResponse {
    let proto = match negotiate_proto(content_type) {
        Ok(p) => p,
        Err(e) => return WriteResponse::error(415, e),
    };
    // Like Prometheus, a missing Content-Encoding is taken as snappy for old senders.
    if let Some(enc) = content_encoding.map(str::trim).filter(|e| !e.is_empty()) {
        if !enc.eq_ignore_ascii_case("snappy") {
            return WriteResponse::error(
                415,
                format!("unsupported Content-Encoding {enc:?}: only snappy is accepted"),
            );
        }
    }
    if body.len() > MAX_DECODED_BYTES {
        return WriteResponse::error(
            413,
            format!(
                "body of {} bytes exceeds the {MAX_DECODED_BYTES} byte limit",
                body.len()
            ),
        );
    }
    let raw = match decompress(body) {
        Ok(r) => r,
        Err(e) => return WriteResponse::error(400, e),
    };
    let batch = match decode(proto, &raw) {
        Ok(b) => b,
        Err(e) => return WriteResponse::error(400, format!("decoding remote write request: {e}")),
    };
    let policy = match proto {
        ProtoVersion::V1 => RejectPolicy::AllOrNothing,
        ProtoVersion::V2 => RejectPolicy::Partial,
    };
    let report = ingest(db, &batch, policy);
    respond(proto, report)
}

fn respond(proto: ProtoVersion, report: IngestReport) -> WriteResponse {
    let headers = match proto {
        ProtoVersion::V1 => Vec::new(),
        ProtoVersion::V2 => vec![
            (SAMPLES_WRITTEN, report.samples_written.to_string()),
            (HISTOGRAMS_WRITTEN, report.histograms_written.to_string()),
            (EXEMPLARS_WRITTEN, report.exemplars_written.to_string()),
        ],
    };
    let (status, body) = if let Some(e) = &report.storage_error {
        (500, format!("storing remote write request: {e}\n"))
    } else if report.has_rejections() {
        let mut body = format!(
            "{} samples rejected, {} series with invalid labels",
            report.samples_rejected, report.invalid_series
        );
        if proto == ProtoVersion::V1 {
            body.push_str(" (nothing of this request was stored)");
        }
        for e in &report.errors {
            body.push_str("; ");
            body.push_str(e);
        }
        body.push('\n');
        (400, body)
    } else {
        (204, String::new())
    };
    WriteResponse {
        status,
        headers,
        body,
        report: Some(report),
    }
}
