//! The receiver end to end against a real TSDB: requests built with a small encoder, decoded,
//! stored and read back; status codes and headers; hostile bodies.

use pharos_model::protobuf::wire::{
    put_bytes, put_double, put_key, put_message, put_uint, put_varint, zigzag, LEN,
};
use pharos_model::{FloatHistogram, Labels, Matcher, MetricType, Span};
use pharos_remote::receiver::{
    negotiate_proto, EXEMPLARS_WRITTEN, HISTOGRAMS_WRITTEN, SAMPLES_WRITTEN,
};
use pharos_remote::write_v1::decode_v1;
use pharos_remote::write_v2::decode_v2;
use pharos_remote::{handle_write, ProtoVersion};
use pharos_tsdb::{Db, Options, Queryable, ValueKind};

const V1: &str = "application/x-protobuf";
const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// Encodes 1.0 and 2.0 requests (only what the tests need).
mod encode {
    use super::*;

    pub fn v1_label(out: &mut Vec<u8>, field: u32, n: &str, v: &str) {
        put_message(out, field, |m| {
            put_bytes(m, 1, n.as_bytes());
            put_bytes(m, 2, v.as_bytes());
        });
    }

    pub fn sample(out: &mut Vec<u8>, field: u32, t: i64, v: f64) {
        put_message(out, field, |m| {
            put_double(m, 1, v);
            put_uint(m, 2, t as u64);
        });
    }

    /// An integer histogram: positive buckets as deltas.
    pub fn int_histogram(out: &mut Vec<u8>, field: u32, t: i64, counts: &[i64]) {
        put_message(out, field, |m| {
            put_uint(m, 1, counts.iter().sum::<i64>() as u64);
            put_double(m, 3, 10.0);
            put_uint(m, 4, zigzag(0));
            put_double(m, 5, 1e-128);
            put_message(m, 11, |s| {
                put_uint(s, 1, zigzag(0));
                put_uint(s, 2, counts.len() as u64);
            });
            put_key(m, 12, LEN);
            let mut packed = Vec::new();
            let mut prev = 0;
            for c in counts {
                put_varint(&mut packed, zigzag(c - prev));
                prev = *c;
            }
            put_varint(m, packed.len() as u64);
            m.extend_from_slice(&packed);
            put_uint(m, 15, t as u64);
        });
    }

    pub fn v1_series(out: &mut Vec<u8>, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        put_message(out, 1, |ts| {
            for (n, v) in labels {
                v1_label(ts, 1, n, v);
            }
            for (t, v) in samples {
                sample(ts, 2, *t, *v);
            }
        });
    }

    pub fn snappy(raw: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(raw)
            .unwrap_or_default()
    }
}

fn open_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, _) = Db::open(dir.path(), Options::default()).expect("open db");
    (dir, db)
}

fn read_floats(db: &Db, name: &str) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let series = q
        .select(None, &[Matcher::equal("__name__", name)])
        .expect("select");
    series
        .iter()
        .map(|s| {
            let mut it = s.iter();
            let mut points = Vec::new();
            for _ in 0..10_000 {
                match it.next() {
                    ValueKind::Float => points.push(it.at()),
                    ValueKind::Histogram => points.push((it.at_t(), f64::NAN)),
                    ValueKind::None => break,
                }
            }
            (s.labels().clone(), points)
        })
        .collect()
}

#[test]
fn v1_request_decodes_with_labels_samples_histograms_and_metadata() {
    let mut raw = Vec::new();
    encode::v1_series(
        &mut raw,
        &[("job", "a"), ("__name__", "up")],
        &[(1000, 1.0), (2000, 0.0)],
    );
    put_message(&mut raw, 1, |ts| {
        encode::v1_label(ts, 1, "__name__", "lat");
        encode::int_histogram(ts, 4, 3000, &[2, 5, 1]);
        put_message(ts, 3, |e| {
            encode::v1_label(e, 1, "trace_id", "abc");
            put_double(e, 2, 0.5);
            put_uint(e, 3, 3000);
        });
    });
    put_message(&mut raw, 3, |m| {
        put_uint(m, 1, 1);
        put_bytes(m, 2, b"up");
        put_bytes(m, 4, b"Target is up.");
        put_bytes(m, 5, b"");
    });
    let batch = decode_v1(&raw).expect("decode");
    assert_eq!(batch.series.len(), 2);
    let up = &batch.series[0];
    assert_eq!(
        up.labels,
        Ok(Labels::from_pairs([("__name__", "up"), ("job", "a")]))
    );
    assert_eq!(up.samples, vec![(1000, 1.0), (2000, 0.0)]);
    let meta = up.metadata.as_ref().expect("metadata matched by name");
    assert_eq!(meta.metric_type, MetricType::Counter);
    assert_eq!(meta.help, "Target is up.");
    let lat = &batch.series[1];
    let (t, h) = &lat.histograms[0];
    assert_eq!(*t, 3000);
    assert_eq!(h.positive_buckets, vec![2.0, 5.0, 1.0]);
    assert_eq!(
        h.positive_spans,
        vec![Span {
            offset: 0,
            length: 3
        }]
    );
    assert_eq!(h.count, 8.0);
    assert_eq!(h.sum, 10.0);
    assert_eq!(lat.exemplars.len(), 1);
    assert_eq!(lat.exemplars[0].labels.get("trace_id"), Some("abc"));
}

/// A 2.0 request: symbols, label refs, samples, a float histogram, exemplar, metadata, CT.
fn v2_request() -> Vec<u8> {
    let mut raw = Vec::new();
    for s in [
        "",
        "__name__",
        "http_requests_total",
        "job",
        "api",
        "Requests.",
        "trace_id",
        "t1",
        "lat",
    ] {
        put_bytes(&mut raw, 4, s.as_bytes());
    }
    put_message(&mut raw, 5, |ts| {
        put_key(ts, 1, LEN);
        let refs = [1u64, 2, 3, 4];
        let mut packed = Vec::new();
        for r in refs {
            put_varint(&mut packed, r);
        }
        put_varint(ts, packed.len() as u64);
        ts.extend_from_slice(&packed);
        encode::sample(ts, 2, 1000, 5.0);
        encode::sample(ts, 2, 2000, 7.0);
        put_message(ts, 4, |e| {
            put_uint(e, 1, 6);
            put_uint(e, 1, 7);
            put_double(e, 2, 1.0);
            put_uint(e, 3, 2000);
        });
        put_message(ts, 5, |m| {
            put_uint(m, 1, 1);
            put_uint(m, 3, 5);
            put_uint(m, 4, 0);
        });
        put_uint(ts, 6, 500);
    });
    put_message(&mut raw, 5, |ts| {
        put_uint(ts, 1, 1);
        put_uint(ts, 1, 8);
        put_message(ts, 3, |h| {
            put_double(h, 2, 3.0);
            put_double(h, 3, 1.5);
            put_uint(h, 4, zigzag(-53));
            put_message(h, 11, |s| {
                put_uint(s, 2, 2);
            });
            put_double(h, 13, 1.0);
            put_double(h, 13, 2.0);
            put_double(h, 16, 0.5);
            put_double(h, 16, 1.0);
            put_uint(h, 15, 3000);
        });
    });
    raw
}

#[test]
fn v2_request_resolves_symbols() {
    let batch = decode_v2(&v2_request()).expect("decode");
    assert_eq!(batch.series.len(), 2);
    let s = &batch.series[0];
    assert_eq!(
        s.labels,
        Ok(Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "api")
        ]))
    );
    assert_eq!(s.samples, vec![(1000, 5.0), (2000, 7.0)]);
    assert_eq!(s.created_timestamp, 500);
    assert_eq!(s.exemplars[0].labels.get("trace_id"), Some("t1"));
    let m = s.metadata.as_ref().expect("metadata");
    assert_eq!(
        (m.metric_type, m.help.as_str(), m.unit.as_str()),
        (MetricType::Counter, "Requests.", "")
    );
    let (t, h) = &batch.series[1].histograms[0];
    assert_eq!(*t, 3000);
    assert_eq!(
        *h,
        FloatHistogram {
            schema: -53,
            count: 3.0,
            sum: 1.5,
            positive_spans: vec![Span {
                offset: 0,
                length: 2
            }],
            positive_buckets: vec![1.0, 2.0],
            custom_values: vec![0.5, 1.0],
            ..FloatHistogram::default()
        }
    );
}

#[test]
fn v2_bad_symbol_reference_is_a_clear_error() {
    let mut raw = Vec::new();
    put_bytes(&mut raw, 4, b"");
    put_message(&mut raw, 5, |ts| {
        put_uint(ts, 1, 0);
        put_uint(ts, 1, 9);
    });
    let err = decode_v2(&raw).expect_err("must fail").to_string();
    assert!(err.contains("symbol reference 9"), "{err}");
}

#[test]
fn v1_write_stores_and_answers_204() {
    let (_dir, db) = open_db();
    let mut raw = Vec::new();
    encode::v1_series(
        &mut raw,
        &[("__name__", "up"), ("job", "a")],
        &[(1000, 1.0), (2000, 1.0)],
    );
    let resp = handle_write(&db, Some(V1), Some("snappy"), &encode::snappy(&raw));
    assert_eq!(resp.status, 204, "{}", resp.body);
    assert!(resp.headers.is_empty());
    let got = read_floats(&db, "up");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, vec![(1000, 1.0), (2000, 1.0)]);

    // Resending the same samples (a sender retrying) is not an error.
    let resp = handle_write(&db, None, None, &encode::snappy(&raw));
    assert_eq!(resp.status, 204, "{}", resp.body);
}

#[test]
fn v1_out_of_order_rejects_the_whole_request_with_400() {
    let (_dir, db) = open_db();
    let mut first = Vec::new();
    encode::v1_series(&mut first, &[("__name__", "up")], &[(5000, 1.0)]);
    assert_eq!(
        handle_write(&db, Some(V1), Some("snappy"), &encode::snappy(&first)).status,
        204
    );

    let mut second = Vec::new();
    encode::v1_series(&mut second, &[("__name__", "other")], &[(6000, 1.0)]);
    encode::v1_series(&mut second, &[("__name__", "up")], &[(1000, 2.0)]);
    let resp = handle_write(&db, Some(V1), Some("snappy"), &encode::snappy(&second));
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("out of order"), "{}", resp.body);
    assert!(
        read_floats(&db, "other").iter().all(|(_, p)| p.is_empty()),
        "1.0 rolls back the whole request"
    );

    let mut dup = Vec::new();
    encode::v1_series(&mut dup, &[("__name__", "up")], &[(5000, 9.0)]);
    let resp = handle_write(&db, Some(V1), Some("snappy"), &encode::snappy(&dup));
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("duplicate"), "{}", resp.body);
}

#[test]
fn v2_write_reports_written_counts_and_partial_writes() {
    let (_dir, db) = open_db();
    let body = encode::snappy(&v2_request());
    let resp = handle_write(&db, Some(V2), Some("snappy"), &body);
    assert_eq!(resp.status, 204, "{}", resp.body);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header(SAMPLES_WRITTEN).as_deref(), Some("2"));
    assert_eq!(header(HISTOGRAMS_WRITTEN).as_deref(), Some("1"));
    assert_eq!(header(EXEMPLARS_WRITTEN).as_deref(), Some("1"));
    assert_eq!(
        read_floats(&db, "http_requests_total")[0].1,
        vec![(1000, 5.0), (2000, 7.0)]
    );
    assert_eq!(read_floats(&db, "lat")[0].1.len(), 1);
    let meta = db.metadata(Some("http_requests_total"));
    assert_eq!(
        meta.first().map(|(_, m)| m.help.as_str()),
        Some("Requests.")
    );

    // One good new sample and one out of order: the good one is kept, the answer is 400.
    let mut raw = Vec::new();
    for s in ["", "__name__", "http_requests_total", "job", "api"] {
        put_bytes(&mut raw, 4, s.as_bytes());
    }
    put_message(&mut raw, 5, |ts| {
        for r in [1, 2, 3, 4] {
            put_uint(ts, 1, r);
        }
        encode::sample(ts, 2, 500, 1.0);
        encode::sample(ts, 2, 9000, 8.0);
    });
    let resp = handle_write(&db, Some(V2), Some("snappy"), &encode::snappy(&raw));
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert!(resp.body.contains("1 samples rejected"), "{}", resp.body);
    let written = resp
        .headers
        .iter()
        .find(|(n, _)| *n == SAMPLES_WRITTEN)
        .map(|(_, v)| v.as_str());
    assert_eq!(written, Some("1"));
    assert_eq!(
        read_floats(&db, "http_requests_total")[0].1.last(),
        Some(&(9000, 8.0))
    );
}

#[test]
fn invalid_labels_are_refused_with_400() {
    let (_dir, db) = open_db();
    let mut raw = Vec::new();
    encode::v1_series(&mut raw, &[("job", "no-name")], &[(1000, 1.0)]);
    let resp = handle_write(&db, Some(V1), Some("snappy"), &encode::snappy(&raw));
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("invalid labels"), "{}", resp.body);

    let mut raw = Vec::new();
    encode::v1_series(
        &mut raw,
        &[("__name__", "x"), ("a", "1"), ("a", "2")],
        &[(1000, 1.0)],
    );
    let resp = handle_write(&db, Some(V1), Some("snappy"), &encode::snappy(&raw));
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("duplicate label name"), "{}", resp.body);
}

#[test]
fn headers_are_negotiated_like_prometheus() {
    assert_eq!(negotiate_proto(None), Ok(ProtoVersion::V1));
    assert_eq!(
        negotiate_proto(Some("application/x-protobuf")),
        Ok(ProtoVersion::V1)
    );
    assert_eq!(
        negotiate_proto(Some(
            "application/x-protobuf; proto=prometheus.WriteRequest"
        )),
        Ok(ProtoVersion::V1)
    );
    assert_eq!(negotiate_proto(Some(V2)), Ok(ProtoVersion::V2));
    assert!(negotiate_proto(Some("application/json")).is_err());
    assert!(negotiate_proto(Some("application/x-protobuf;proto=foo.Bar")).is_err());

    let (_dir, db) = open_db();
    let body = encode::snappy(&[]);
    assert_eq!(
        handle_write(&db, Some("text/plain"), Some("snappy"), &body).status,
        415
    );
    assert_eq!(handle_write(&db, Some(V1), Some("gzip"), &body).status, 415);
    assert_eq!(
        handle_write(&db, Some(V1), Some("snappy"), &body).status,
        204
    );
}

#[test]
fn malformed_bodies_get_400_with_a_message() {
    let (_dir, db) = open_db();
    let resp = handle_write(
        &db,
        Some(V1),
        Some("snappy"),
        b"not snappy at all \xff\xff\xff\xff\xff",
    );
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("snappy"), "{}", resp.body);

    // Valid snappy, truncated protobuf.
    let mut raw = Vec::new();
    encode::v1_series(&mut raw, &[("__name__", "up")], &[(1000, 1.0)]);
    raw.truncate(raw.len() - 3);
    let resp = handle_write(&db, Some(V1), Some("snappy"), &encode::snappy(&raw));
    assert_eq!(resp.status, 400);
    assert!(
        resp.body.starts_with("decoding remote write request"),
        "{}",
        resp.body
    );

    // A snappy header announcing an enormous decompressed size is refused before allocating.
    let mut huge = Vec::new();
    put_varint(&mut huge, 1 << 31);
    huge.extend_from_slice(&[0; 8]);
    let resp = handle_write(&db, Some(V1), Some("snappy"), &huge);
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("limit"), "{}", resp.body);
}

/// Deterministic pseudo-random bytes, so failures reproduce.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn hostile_bodies_never_panic() {
    let (_dir, db) = open_db();
    let mut valid_v1 = Vec::new();
    encode::v1_series(
        &mut valid_v1,
        &[("__name__", "up"), ("job", "x")],
        &[(1000, 1.0)],
    );
    let valid_v2 = v2_request();
    for (raw, ct) in [(&valid_v1, V1), (&valid_v2, V2)] {
        // Every truncation, and every single-byte corruption, of a valid request.
        for cut in 0..raw.len() {
            let resp = handle_write(&db, Some(ct), None, &encode::snappy(&raw[..cut]));
            assert!(
                matches!(resp.status, 204 | 400),
                "cut {cut}: {} {}",
                resp.status,
                resp.body
            );
        }
        for i in 0..raw.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = raw.clone();
                bad[i] ^= flip;
                let resp = handle_write(&db, Some(ct), None, &encode::snappy(&bad));
                assert!(
                    matches!(resp.status, 204 | 400),
                    "byte {i}: {} {}",
                    resp.status,
                    resp.body
                );
            }
        }
    }
    for seed in 0..300u64 {
        let garbage = noise(seed, (seed as usize * 7) % 400);
        for ct in [V1, V2] {
            let _ = handle_write(&db, Some(ct), None, &garbage);
            let resp = handle_write(&db, Some(ct), None, &encode::snappy(&garbage));
            assert!(
                matches!(resp.status, 204 | 400),
                "seed {seed}: {}",
                resp.status
            );
        }
    }
}
