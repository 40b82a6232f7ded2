//! The records stored in the write-ahead log and in checkpoints.

use pharos_model::{FloatHistogram, Label, Labels};

use crate::chunk::{put_histogram, read_histogram};
use crate::exemplar::{metric_type_code, metric_type_from_code, Exemplar, Metadata};
use crate::head::SeriesRef;
use crate::varint::{put_bytes, put_uvarint, put_varint, ByteReader, DecodeError};

/// One logical WAL record.
#[derive(Clone, Debug, PartialEq)]
pub enum WalRecord {
    /// New series and their refs; always logged before samples that use the refs.
    Series(Vec<(SeriesRef, Labels)>),
    /// Float samples.
    Samples(Vec<(SeriesRef, i64, f64)>),
    /// Native histogram samples.
    Histograms(Vec<(SeriesRef, i64, FloatHistogram)>),
    /// Deleted time ranges `[mint, maxt]` per series.
    Deletes(Vec<(SeriesRef, i64, i64)>),
    /// Exemplars.
    Exemplars(Vec<(SeriesRef, Exemplar)>),
    /// Series metadata.
    Metadata(Vec<(SeriesRef, Metadata)>),
}

const SERIES: u8 = 1;
const SAMPLES: u8 = 2;
const HISTOGRAMS: u8 = 3;
const DELETES: u8 = 4;
const EXEMPLARS: u8 = 5;
const METADATA: u8 = 6;

/// Set in the type byte of a record whose payload is snappy-compressed (raw format), as
/// Prometheus compresses its WAL by default. Records without it (all records of older
/// segments) are read as they are.
const COMPRESSED: u8 = 0x80;
/// Payloads shorter than this are written as they are: compressing them saves next to nothing.
const MIN_COMPRESSED_PAYLOAD: usize = 256;
/// Largest decompressed payload accepted; a bigger claim can only come from corruption.
const MAX_DECOMPRESSED_PAYLOAD: usize = 1 << 30;

fn put_labels(b: &mut Vec<u8>, l: &Labels) {
    put_uvarint(b, l.len() as u64);
    for l in l {
        put_bytes(b, l.name.as_bytes());
        put_bytes(b, l.value.as_bytes());
    }
}

fn read_labels(r: &mut ByteReader<'_>) -> Result<Labels, DecodeError> {
    let n = r.len(r.remaining() / 2)?;
    let mut v: Vec<Label> = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.string()?;
        let value = r.string()?;
        if v.last().is_some_and(|p| &*p.name >= name) || value.is_empty() {
            return Err(DecodeError(
                "label set not sorted, duplicated or with empty value".into(),
            ));
        }
        v.push(Label::new(name, value));
    }
    Ok(Labels::from_sorted(v))
}

impl WalRecord {
    /// Appends the record's type byte and payload to `b`.
    pub fn encode(&self, b: &mut Vec<u8>) {
        match self {
            WalRecord::Series(v) => {
                b.push(SERIES);
                put_uvarint(b, v.len() as u64);
                for (r, l) in v {
                    put_uvarint(b, *r);
                    put_labels(b, l);
                }
            }
            WalRecord::Samples(v) => {
                b.push(SAMPLES);
                put_uvarint(b, v.len() as u64);
                // Timestamps are stored relative to the first one; scrapes share a timestamp.
                let base = v.first().map_or(0, |s| s.1);
                put_varint(b, base);
                for (r, t, val) in v {
                    put_uvarint(b, *r);
                    put_varint(b, t.wrapping_sub(base));
                    b.extend_from_slice(&val.to_bits().to_le_bytes());
                }
            }
            WalRecord::Histograms(v) => {
                b.push(HISTOGRAMS);
                put_uvarint(b, v.len() as u64);
                for (r, t, h) in v {
                    put_uvarint(b, *r);
                    put_varint(b, *t);
                    put_histogram(b, h);
                }
            }
            WalRecord::Deletes(v) => {
                b.push(DELETES);
                put_uvarint(b, v.len() as u64);
                for (r, a, z) in v {
                    put_uvarint(b, *r);
                    put_varint(b, *a);
                    put_varint(b, *z);
                }
            }
            WalRecord::Exemplars(v) => {
                b.push(EXEMPLARS);
                put_uvarint(b, v.len() as u64);
                for (r, e) in v {
                    put_uvarint(b, *r);
                    put_varint(b, e.t);
                    b.extend_from_slice(&e.value.to_bits().to_le_bytes());
                    put_labels(b, &e.labels);
                }
            }
            WalRecord::Metadata(v) => {
                b.push(METADATA);
                put_uvarint(b, v.len() as u64);
                for (r, m) in v {
                    put_uvarint(b, *r);
                    b.push(metric_type_code(m.metric_type));
                    put_bytes(b, m.unit.as_bytes());
                    put_bytes(b, m.help.as_bytes());
                }
            }
        }
    }

    /// Appends the record like [`WalRecord::encode`], with the payload snappy-compressed
    /// when that makes it smaller. `scratch` is a reusable buffer.
    pub fn encode_compressed(&self, b: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        scratch.clear();
        self.encode(scratch);
        if let Some((&kind, payload)) = scratch.split_first() {
            if payload.len() >= MIN_COMPRESSED_PAYLOAD {
                let start = b.len();
                b.push(kind | COMPRESSED);
                b.resize(start + 1 + snap::raw::max_compress_len(payload.len()), 0);
                let compressed = b
                    .get_mut(start + 1..)
                    .map(|out| snap::raw::Encoder::new().compress(payload, out));
                match compressed {
                    Some(Ok(n)) if n < payload.len() => {
                        b.truncate(start + 1 + n);
                        return;
                    }
                    _ => b.truncate(start),
                }
            }
        }
        b.extend_from_slice(scratch);
    }

    /// Parses a record (type byte and payload, compressed or not).
    pub fn decode(data: &[u8]) -> Result<WalRecord, DecodeError> {
        match data.split_first() {
            Some((&kind, payload)) if kind & COMPRESSED != 0 => {
                let len = snap::raw::decompress_len(payload)
                    .map_err(|e| DecodeError(format!("compressed record: {e}")))?;
                if len > MAX_DECOMPRESSED_PAYLOAD {
                    return Err(DecodeError(format!("compressed record claims {len} bytes")));
                }
                let mut plain = vec![0u8; len + 1];
                if let Some((first, rest)) = plain.split_first_mut() {
                    *first = kind & !COMPRESSED;
                    snap::raw::Decoder::new()
                        .decompress(payload, rest)
                        .map_err(|e| DecodeError(format!("compressed record: {e}")))?;
                }
                Self::decode_plain(&plain)
            }
            _ => Self::decode_plain(data),
        }
    }

    /// Parses an uncompressed record.
    fn decode_plain(data: &[u8]) -> Result<WalRecord, DecodeError> {
        let mut r = ByteReader::new(data);
        let kind = r.u8()?;
        let n = r.len(r.remaining())?;
        let rec = match kind {
            SERIES => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push((r.uvarint()?, read_labels(&mut r)?));
                }
                WalRecord::Series(v)
            }
            SAMPLES => {
                let base = r.varint()?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let sref = r.uvarint()?;
                    let t = base.wrapping_add(r.varint()?);
                    v.push((sref, t, r.f64()?));
                }
                WalRecord::Samples(v)
            }
            HISTOGRAMS => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push((r.uvarint()?, r.varint()?, read_histogram(&mut r)?));
                }
                WalRecord::Histograms(v)
            }
            DELETES => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push((r.uvarint()?, r.varint()?, r.varint()?));
                }
                WalRecord::Deletes(v)
            }
            EXEMPLARS => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let sref = r.uvarint()?;
                    let t = r.varint()?;
                    let value = r.f64()?;
                    v.push((
                        sref,
                        Exemplar {
                            labels: read_labels(&mut r)?,
                            value,
                            t,
                        },
                    ));
                }
                WalRecord::Exemplars(v)
            }
            METADATA => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let sref = r.uvarint()?;
                    let metric_type = metric_type_from_code(r.u8()?);
                    let unit = r.string()?.to_owned();
                    let help = r.string()?.to_owned();
                    v.push((
                        sref,
                        Metadata {
                            metric_type,
                            unit,
                            help,
                        },
                    ));
                }
                WalRecord::Metadata(v)
            }
            other => return Err(DecodeError(format!("unknown WAL record type {other}"))),
        };
        if r.remaining() != 0 {
            return Err(DecodeError(format!(
                "{} trailing bytes after WAL record",
                r.remaining()
            )));
        }
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_kind() {
        let l = Labels::from_pairs([("__name__", "x"), ("a", "b")]);
        let recs = vec![
            WalRecord::Series(vec![(1, l.clone()), (7, Labels::empty())]),
            WalRecord::Samples(vec![(1, 1000, 1.5), (7, 900, f64::NAN)]),
            WalRecord::Histograms(vec![(
                1,
                5,
                FloatHistogram {
                    count: 3.0,
                    ..Default::default()
                },
            )]),
            WalRecord::Deletes(vec![(1, -5, 5)]),
            WalRecord::Exemplars(vec![(
                1,
                Exemplar {
                    labels: l.clone(),
                    value: 2.0,
                    t: 4,
                },
            )]),
            WalRecord::Metadata(vec![(
                1,
                Metadata {
                    metric_type: pharos_model::MetricType::Counter,
                    unit: "s".into(),
                    help: "h".into(),
                },
            )]),
        ];
        for rec in recs {
            let mut b = Vec::new();
            rec.encode(&mut b);
            let back = WalRecord::decode(&b).unwrap();
            match (&rec, &back) {
                (WalRecord::Samples(a), WalRecord::Samples(b)) => {
                    assert!(a
                        .iter()
                        .zip(b)
                        .all(|(x, y)| x.0 == y.0 && x.1 == y.1 && x.2.to_bits() == y.2.to_bits()))
                }
                _ => assert_eq!(rec, back),
            }
            for cut in 0..b.len() {
                assert!(WalRecord::decode(&b[..cut]).is_err());
            }
        }
    }

    #[test]
    fn large_records_are_compressed_and_read_back() {
        let series: Vec<(SeriesRef, Labels)> = (1..200u64)
            .map(|i| {
                let v = i.to_string();
                (
                    i,
                    Labels::from_pairs([("__name__", "node_cpu"), ("cpu", &v)]),
                )
            })
            .collect();
        let samples: Vec<(SeriesRef, i64, f64)> = (1..500u64).map(|i| (i, 1000, 1.0)).collect();
        for rec in [WalRecord::Series(series), WalRecord::Samples(samples)] {
            let mut plain = Vec::new();
            rec.encode(&mut plain);
            let mut packed = Vec::new();
            rec.encode_compressed(&mut packed, &mut Vec::new());
            assert!(packed.len() < plain.len());
            assert_ne!(packed[0] & COMPRESSED, 0);
            // Both forms decode: older segments hold uncompressed records only.
            assert_eq!(WalRecord::decode(&packed).unwrap(), rec);
            assert_eq!(WalRecord::decode(&plain).unwrap(), rec);
            for cut in 1..packed.len() {
                assert!(WalRecord::decode(&packed[..cut]).is_err());
            }
        }
        // Small records stay as they are.
        let small = WalRecord::Deletes(vec![(1, -5, 5)]);
        let (mut plain, mut packed) = (Vec::new(), Vec::new());
        small.encode(&mut plain);
        small.encode_compressed(&mut packed, &mut Vec::new());
        assert_eq!(plain, packed);
        // A compressed flag on garbage is an error, not a panic or a huge allocation.
        assert!(WalRecord::decode(&[SAMPLES | COMPRESSED, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err());
    }
}
