//! Compressed chunks of samples: Gorilla-style XOR for floats and a compact record layout for
//! native histograms.
//!
//! A chunk holds at most [`MAX_SAMPLES_PER_CHUNK`] samples of one kind in strictly increasing
//! timestamp order. Its bytes start with a big-endian `u16` sample count so the head can grow a
//! chunk in place and readers know when to stop without a terminator.

use pharos_model::{FloatHistogram, Span};

use crate::bitstream::{BitReader, BitWriter};
use crate::varint::{put_uvarint, put_varint, ByteReader, DecodeError};

/// Samples per chunk before the head starts a new one; 120 keeps chunks near 128 bytes for
/// 15s-scrape counters while bounding decode work per seek.
pub const MAX_SAMPLES_PER_CHUNK: u16 = 120;

/// The encoding of a chunk's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// Float samples, delta-of-delta timestamps and XOR values.
    Xor = 1,
    /// Native histogram samples.
    Histogram = 2,
    /// Float samples as scaled decimal integers, frame-of-reference bit-packed (sealed
    /// chunks only; see [`crate::packed_chunk`]).
    Packed = 3,
    /// Native histograms with layouts stored once and counts as deltas (sealed chunks; see
    /// [`crate::histogram_chunk`]).
    CompactHistogram = 4,
}

impl Encoding {
    /// Parses the on-disk encoding byte.
    pub fn from_u8(b: u8) -> Result<Self, DecodeError> {
        match b {
            1 => Ok(Encoding::Xor),
            2 => Ok(Encoding::Histogram),
            3 => Ok(Encoding::Packed),
            4 => Ok(Encoding::CompactHistogram),
            other => Err(DecodeError(format!("unknown chunk encoding {other}"))),
        }
    }
}

/// A decoded sample value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A float (possibly NaN, ±Inf or the stale marker).
    Float(f64),
    /// A native histogram.
    Histogram(Box<FloatHistogram>),
}

impl Value {
    /// True when both are the same kind with bit-identical contents (NaN equals NaN), which is
    /// how duplicate appends are told apart from conflicting ones.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Histogram(a), Value::Histogram(b)) => histogram_bytes(a) == histogram_bytes(b),
            _ => false,
        }
    }
}

fn histogram_bytes(h: &FloatHistogram) -> Vec<u8> {
    let mut b = Vec::new();
    put_histogram(&mut b, h);
    b
}

/// Incrementally builds a float chunk.
#[derive(Clone, Debug)]
pub struct XorEncoder {
    w: BitWriter,
    count: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorEncoder {
    fn default() -> Self {
        XorEncoder {
            w: BitWriter::from_parts(vec![0, 0], 0),
            count: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0xff,
            trailing: 0,
        }
    }
}

impl XorEncoder {
    /// Samples so far.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Timestamp of the last sample (meaningless when empty).
    pub fn last_t(&self) -> i64 {
        self.t
    }

    /// The encoded chunk as it stands.
    pub fn bytes(&self) -> &[u8] {
        &self.w.bytes
    }

    /// Heap bytes reserved for the chunk.
    pub fn capacity(&self) -> usize {
        self.w.bytes.capacity()
    }

    /// Finishes the chunk, handing over its bytes without spare capacity.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut b = self.w.bytes;
        b.shrink_to_fit();
        b
    }

    /// Appends a sample; the caller guarantees `t` is greater than the previous timestamp.
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        match self.count {
            0 => {
                let mut b = Vec::with_capacity(10);
                put_varint(&mut b, t);
                for byte in b {
                    self.w.write_bits(u64::from(byte), 8);
                }
                self.w.write_bits(bits, 64);
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                let mut b = Vec::with_capacity(10);
                put_uvarint(&mut b, delta as u64);
                for byte in b {
                    self.w.write_bits(u64::from(byte), 8);
                }
                self.t_delta = delta;
                self.write_value(bits);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.t_delta);
                self.write_dod(dod);
                self.t_delta = delta;
                self.write_value(bits);
            }
        }
        self.t = t;
        self.v = bits;
        self.count += 1;
        let c = self.count.to_be_bytes();
        self.w.bytes[0] = c[0];
        self.w.bytes[1] = c[1];
    }

    fn write_dod(&mut self, dod: i64) {
        let fits = |n: u8| dod >= -(1i64 << (n - 1)) && dod < 1i64 << (n - 1);
        if dod == 0 {
            self.w.write_bit(false);
        } else if fits(14) {
            self.w.write_bits(0b10, 2);
            self.w.write_bits(dod as u64 & ((1 << 14) - 1), 14);
        } else if fits(17) {
            self.w.write_bits(0b110, 3);
            self.w.write_bits(dod as u64 & ((1 << 17) - 1), 17);
        } else if fits(20) {
            self.w.write_bits(0b1110, 4);
            self.w.write_bits(dod as u64 & ((1 << 20) - 1), 20);
        } else {
            self.w.write_bits(0b1111, 4);
            self.w.write_bits(dod as u64, 64);
        }
    }

    fn write_value(&mut self, bits: u64) {
        let x = bits ^ self.v;
        if x == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        let leading = (x.leading_zeros() as u8).min(31);
        let trailing = x.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.w.write_bits(x >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.w.write_bit(true);
            self.w.write_bits(u64::from(leading), 5);
            let sig = 64 - leading - trailing;
            // 64 significant bits do not fit 6 bits; 0 stands for 64 since 0 is impossible here.
            self.w.write_bits(u64::from(sig & 63), 6);
            self.w.write_bits(x >> trailing, sig);
        }
    }
}

fn bits_err(_: crate::bitstream::EndOfBits) -> DecodeError {
    DecodeError("xor chunk ends early".into())
}

fn sign_extend(v: u64, n: u8) -> i64 {
    let shift = 64 - u32::from(n);
    ((v << shift) as i64) >> shift
}

/// Decodes every sample of a float chunk.
pub fn decode_xor(data: &[u8]) -> Result<Vec<(i64, f64)>, DecodeError> {
    let mut out = Vec::new();
    decode_xor_each(data, &mut |t, v| out.push((t, v)))?;
    Ok(out)
}

/// Decodes a float chunk, handing each sample to `f` (no intermediate vector).
pub fn decode_xor_each(data: &[u8], f: &mut dyn FnMut(i64, f64)) -> Result<(), DecodeError> {
    let mut hdr = ByteReader::new(data);
    let count = usize::from(u16::from_be_bytes([hdr.u8()?, hdr.u8()?]));
    if count == 0 {
        return Ok(());
    }
    let body = data.get(2..).unwrap_or(&[]);
    // The first timestamp and delta are byte-aligned varints at the start of the bit stream.
    let mut r = BitReader::new(body);
    let read_uvarint = |r: &mut BitReader<'_>| -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = r.read_bits(8).map_err(bits_err)?;
            v |= (b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError("timestamp varint too long".into()))
    };
    let zz = read_uvarint(&mut r)?;
    let mut t = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
    let mut v = r.read_bits(64).map_err(bits_err)?;
    f(t, f64::from_bits(v));
    let mut delta: i64 = 0;
    let mut leading: u8 = 0;
    let mut trailing: u8 = 0;
    for i in 1..count {
        if i == 1 {
            delta = read_uvarint(&mut r)? as i64;
        } else {
            let mut prefix = 0u8;
            while prefix < 4 && r.read_bit().map_err(bits_err)? {
                prefix += 1;
            }
            let dod = match prefix {
                0 => 0,
                1 => sign_extend(r.read_bits(14).map_err(bits_err)?, 14),
                2 => sign_extend(r.read_bits(17).map_err(bits_err)?, 17),
                3 => sign_extend(r.read_bits(20).map_err(bits_err)?, 20),
                _ => r.read_bits(64).map_err(bits_err)? as i64,
            };
            delta = delta.wrapping_add(dod);
        }
        t = t.wrapping_add(delta);
        if r.read_bit().map_err(bits_err)? {
            if r.read_bit().map_err(bits_err)? {
                leading = r.read_bits(5).map_err(bits_err)? as u8;
                let mut sig = r.read_bits(6).map_err(bits_err)? as u8;
                if sig == 0 {
                    sig = 64;
                }
                trailing = 64u8
                    .checked_sub(leading + sig)
                    .ok_or_else(|| DecodeError("xor chunk has impossible bit widths".into()))?;
            }
            let sig = 64 - leading - trailing;
            let x = r.read_bits(sig).map_err(bits_err)?;
            v ^= x << trailing;
        }
        f(t, f64::from_bits(v));
    }
    Ok(())
}

/// Writes a histogram's fields in the chunk/WAL layout.
pub fn put_histogram(b: &mut Vec<u8>, h: &FloatHistogram) {
    b.push(h.counter_reset_hint);
    put_varint(b, i64::from(h.schema));
    for f in [h.zero_threshold, h.zero_count, h.count, h.sum] {
        b.extend_from_slice(&f.to_le_bytes());
    }
    for (spans, buckets) in [
        (&h.positive_spans, &h.positive_buckets),
        (&h.negative_spans, &h.negative_buckets),
    ] {
        put_uvarint(b, spans.len() as u64);
        for s in spans {
            put_varint(b, i64::from(s.offset));
            put_uvarint(b, u64::from(s.length));
        }
        put_uvarint(b, buckets.len() as u64);
        for v in buckets {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    put_uvarint(b, h.custom_values.len() as u64);
    for v in &h.custom_values {
        b.extend_from_slice(&v.to_le_bytes());
    }
}

/// Reads a histogram written by [`put_histogram`].
pub fn read_histogram(r: &mut ByteReader<'_>) -> Result<FloatHistogram, DecodeError> {
    let counter_reset_hint = r.u8()?;
    let schema = i32::try_from(r.varint()?)
        .map_err(|_| DecodeError("histogram schema out of range".into()))?;
    let (zero_threshold, zero_count, count, sum) = (r.f64()?, r.f64()?, r.f64()?, r.f64()?);
    let read_side = |r: &mut ByteReader<'_>| -> Result<(Vec<Span>, Vec<f64>), DecodeError> {
        let n = r.len(r.remaining() / 2)?;
        let mut spans = Vec::with_capacity(n);
        for _ in 0..n {
            let offset = i32::try_from(r.varint()?)
                .map_err(|_| DecodeError("span offset out of range".into()))?;
            let length = u32::try_from(r.uvarint()?)
                .map_err(|_| DecodeError("span length out of range".into()))?;
            spans.push(Span { offset, length });
        }
        let n = r.len(r.remaining() / 8)?;
        let mut buckets = Vec::with_capacity(n);
        for _ in 0..n {
            buckets.push(r.f64()?);
        }
        Ok((spans, buckets))
    };
    let (positive_spans, positive_buckets) = read_side(r)?;
    let (negative_spans, negative_buckets) = read_side(r)?;
    let n = r.len(r.remaining() / 8)?;
    let mut custom_values = Vec::with_capacity(n);
    for _ in 0..n {
        custom_values.push(r.f64()?);
    }
    Ok(FloatHistogram {
        counter_reset_hint,
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        custom_values,
    })
}

/// Incrementally builds a histogram chunk: per sample a timestamp delta and the histogram.
#[derive(Clone, Debug)]
pub struct HistogramEncoder {
    bytes: Vec<u8>,
    count: u16,
    t: i64,
}

impl Default for HistogramEncoder {
    fn default() -> Self {
        HistogramEncoder {
            bytes: vec![0, 0],
            count: 0,
            t: 0,
        }
    }
}

impl HistogramEncoder {
    /// Samples so far.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The encoded chunk as it stands.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Heap bytes reserved for the chunk.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Finishes the chunk.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.bytes.shrink_to_fit();
        self.bytes
    }

    /// Appends a sample; `t` must exceed the previous timestamp.
    pub fn append(&mut self, t: i64, h: &FloatHistogram) {
        put_varint(&mut self.bytes, t.wrapping_sub(self.t));
        put_histogram(&mut self.bytes, h);
        self.t = t;
        self.count += 1;
        let c = self.count.to_be_bytes();
        self.bytes[0] = c[0];
        self.bytes[1] = c[1];
    }
}

/// Decodes every sample of a histogram chunk.
pub fn decode_histograms(data: &[u8]) -> Result<Vec<(i64, FloatHistogram)>, DecodeError> {
    let mut r = ByteReader::new(data);
    let count = usize::from(u16::from_be_bytes([r.u8()?, r.u8()?]));
    let mut out = Vec::with_capacity(count.min(data.len()));
    let mut t: i64 = 0;
    for _ in 0..count {
        t = t.wrapping_add(r.varint()?);
        out.push((t, read_histogram(&mut r)?));
    }
    Ok(out)
}

/// Decodes a chunk of either encoding into timestamped values.
pub fn decode(encoding: Encoding, data: &[u8]) -> Result<Vec<(i64, Value)>, DecodeError> {
    Ok(match encoding {
        Encoding::Xor => decode_xor(data)?
            .into_iter()
            .map(|(t, v)| (t, Value::Float(v)))
            .collect(),
        Encoding::Histogram => decode_histograms(data)?
            .into_iter()
            .map(|(t, h)| (t, Value::Histogram(Box::new(h))))
            .collect(),
        Encoding::Packed => crate::packed_chunk::decode(data)?
            .into_iter()
            .map(|(t, v)| (t, Value::Float(v)))
            .collect(),
        Encoding::CompactHistogram => crate::histogram_chunk::decode(data)?
            .into_iter()
            .map(|(t, h)| (t, Value::Histogram(Box::new(h))))
            .collect(),
    })
}

/// Decodes a chunk of either encoding, appending its samples to `out`.
pub fn decode_into(
    encoding: Encoding,
    data: &[u8],
    out: &mut Vec<(i64, Value)>,
) -> Result<(), DecodeError> {
    match encoding {
        Encoding::Xor => decode_xor_each(data, &mut |t, v| out.push((t, Value::Float(v)))),
        Encoding::Packed => {
            out.extend(
                crate::packed_chunk::decode(data)?
                    .into_iter()
                    .map(|(t, v)| (t, Value::Float(v))),
            );
            Ok(())
        }
        Encoding::Histogram => {
            out.extend(
                decode_histograms(data)?
                    .into_iter()
                    .map(|(t, h)| (t, Value::Histogram(Box::new(h)))),
            );
            Ok(())
        }
        Encoding::CompactHistogram => {
            out.extend(
                crate::histogram_chunk::decode(data)?
                    .into_iter()
                    .map(|(t, h)| (t, Value::Histogram(Box::new(h)))),
            );
            Ok(())
        }
    }
}

/// Samples per chunk in blocks: sealed chunks are decoded whole and packed once, so larger
/// chunks amortise headers, checksums and index entries without slowing the head.
pub const MAX_SAMPLES_PER_SEALED_CHUNK: usize = 480;

/// Encodes time-ordered samples for a block: runs of floats become packed chunks when every
/// value is an exact decimal and that is smaller, XOR otherwise; histogram runs are
/// delta-compressed. Chunks hold at most `max_per_chunk` samples. Returns (encoding, min t, max t,
/// bytes) per chunk.
pub fn encode_sealed(
    samples: &[(i64, Value)],
    max_per_chunk: usize,
) -> Vec<(Encoding, i64, i64, Vec<u8>)> {
    let max_per_chunk = max_per_chunk.clamp(1, usize::from(u16::MAX));
    let mut out = Vec::new();
    let mut rest = samples;
    while let Some((first, _)) = rest.first() {
        let floats = rest
            .iter()
            .take(max_per_chunk)
            .take_while(|(_, v)| matches!(v, Value::Float(_)))
            .count();
        if floats == 0 {
            let hists: Vec<(i64, &FloatHistogram)> = rest
                .iter()
                .take(max_per_chunk)
                .map_while(|(t, v)| match v {
                    Value::Histogram(h) => Some((*t, &**h)),
                    Value::Float(_) => None,
                })
                .collect();
            let n = hists.len().max(1);
            let last = hists.last().map_or(*first, |h| h.0);
            out.push((
                Encoding::CompactHistogram,
                *first,
                last,
                crate::histogram_chunk::encode(&hists),
            ));
            rest = rest.get(n..).unwrap_or(&[]);
            continue;
        }
        let (run, tail) = rest.split_at(floats);
        let pairs: Vec<(i64, f64)> = run
            .iter()
            .filter_map(|(t, v)| match v {
                Value::Float(f) => Some((*t, *f)),
                Value::Histogram(_) => None,
            })
            .collect();
        let last = pairs.last().map_or(*first, |p| p.0);
        let mut xor = XorEncoder::default();
        for (t, v) in &pairs {
            xor.append(*t, *v);
        }
        let chunk = match crate::packed_chunk::encode(&pairs) {
            Some(p) if p.len() < xor.bytes().len() => (Encoding::Packed, *first, last, p),
            _ => (Encoding::Xor, *first, last, xor.into_bytes()),
        };
        out.push(chunk);
        rest = tail;
    }
    out
}

/// Re-encodes time-ordered samples into chunks of at most [`MAX_SAMPLES_PER_CHUNK`], cutting
/// whenever the value kind changes. Returns (encoding, min t, max t, bytes) per chunk.
pub fn encode_samples(samples: &[(i64, Value)]) -> Vec<(Encoding, i64, i64, Vec<u8>)> {
    enum Open {
        None,
        Xor(XorEncoder, i64, i64),
        Hist(HistogramEncoder, i64, i64),
    }
    fn flush(open: Open, out: &mut Vec<(Encoding, i64, i64, Vec<u8>)>) {
        match open {
            Open::None => {}
            Open::Xor(e, a, b) => out.push((Encoding::Xor, a, b, e.into_bytes())),
            Open::Hist(e, a, b) => out.push((Encoding::Histogram, a, b, e.into_bytes())),
        }
    }
    let mut out = Vec::new();
    let mut open = Open::None;
    for (t, v) in samples {
        open = match (open, v) {
            (Open::Xor(mut e, a, _), Value::Float(f)) if e.count() < MAX_SAMPLES_PER_CHUNK => {
                e.append(*t, *f);
                Open::Xor(e, a, *t)
            }
            (Open::Hist(mut e, a, _), Value::Histogram(h)) if e.count() < MAX_SAMPLES_PER_CHUNK => {
                e.append(*t, h);
                Open::Hist(e, a, *t)
            }
            (prev, v) => {
                flush(prev, &mut out);
                match v {
                    Value::Float(f) => {
                        let mut e = XorEncoder::default();
                        e.append(*t, *f);
                        Open::Xor(e, *t, *t)
                    }
                    Value::Histogram(h) => {
                        let mut e = HistogramEncoder::default();
                        e.append(*t, h);
                        Open::Hist(e, *t, *t)
                    }
                }
            }
        };
    }
    flush(open, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::STALE_NAN;

    fn round_trip(samples: &[(i64, f64)]) {
        let mut e = XorEncoder::default();
        for (t, v) in samples {
            e.append(*t, *v);
        }
        let got = decode_xor(e.bytes()).unwrap();
        assert_eq!(got.len(), samples.len());
        for ((t1, v1), (t2, v2)) in got.iter().zip(samples) {
            assert_eq!(t1, t2);
            assert_eq!(v1.to_bits(), v2.to_bits());
        }
    }

    #[test]
    fn regular_counter_is_small() {
        let s: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * 7) as f64))
            .collect();
        round_trip(&s);
        let mut e = XorEncoder::default();
        for (t, v) in &s {
            e.append(*t, *v);
        }
        assert!(e.bytes().len() < 300, "{} bytes", e.bytes().len());
    }

    #[test]
    fn special_values_survive() {
        round_trip(&[
            (0, f64::NAN),
            (1, STALE_NAN),
            (2, f64::INFINITY),
            (3, f64::NEG_INFINITY),
            (4, -0.0),
            (5, 0.0),
            (6, f64::MIN_POSITIVE),
            (7, f64::MAX),
            (8, 1.5),
        ]);
    }

    #[test]
    fn jittery_and_huge_gaps() {
        round_trip(&[
            (-5_000, 1.0),
            (0, 2.0),
            (10_000, 3.0),
            (10_001, 3.0),
            (18_193, 3.5),
            (34_577, 3.5),
            (34_578, 3.5),
            (100_114, 3.5),
            (100_115 + (1 << 19), 3.5),
            (9_000_000_000, 4.0),
            (9_000_000_017, 4.0),
            (i64::MAX / 2, 5.0),
        ]);
    }

    #[test]
    fn corrupt_chunk_is_an_error_not_a_panic() {
        let mut e = XorEncoder::default();
        for i in 0..50 {
            e.append(i * 1000, i as f64 * 1.1);
        }
        let b = e.bytes();
        for cut in 0..b.len() {
            let _ = decode_xor(&b[..cut]);
        }
        let mut bad = b.to_vec();
        bad[0] = 0xff;
        assert!(decode_xor(&bad).is_err());
    }

    #[test]
    fn histograms_round_trip() {
        let h = FloatHistogram {
            schema: 3,
            count: 10.0,
            sum: 12.5,
            positive_spans: vec![Span {
                offset: -2,
                length: 2,
            }],
            positive_buckets: vec![4.0, 6.0],
            ..Default::default()
        };
        let mut e = HistogramEncoder::default();
        e.append(100, &h);
        e.append(200, &FloatHistogram::default());
        let got = decode_histograms(e.bytes()).unwrap();
        assert_eq!(got, vec![(100, h), (200, FloatHistogram::default())]);
    }

    #[test]
    fn encode_samples_cuts_on_kind_change_and_size() {
        let mut s: Vec<(i64, Value)> = (0..250).map(|i| (i, Value::Float(i as f64))).collect();
        s.push((300, Value::Histogram(Box::default())));
        s.push((301, Value::Float(1.0)));
        let chunks = encode_samples(&s);
        let kinds: Vec<Encoding> = chunks.iter().map(|c| c.0).collect();
        assert_eq!(
            kinds,
            [
                Encoding::Xor,
                Encoding::Xor,
                Encoding::Xor,
                Encoding::Histogram,
                Encoding::Xor
            ]
        );
        let mut back = Vec::new();
        for (enc, _, _, b) in &chunks {
            back.extend(decode(*enc, b).unwrap());
        }
        assert_eq!(back, s);
    }
}
