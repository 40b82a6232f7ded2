//! Compressed native-histogram chunks for sealed data.
//!
//! Consecutive samples of a histogram series almost always share their bucket layout and
//! differ by small count increments, so each sample stores only what changed: timestamps as
//! delta-of-delta varints, the layout (schema, zero threshold, spans, custom bounds) only when
//! it differs from the previous sample, counts as zig-zag varint deltas when they are exact
//! integers, and other floats as the varint of their XOR with the previous value.
//!
//! Layout: `u16be count`, then per sample `zz dod` (first: `zz t`), a flags byte
//! (bit 0 new layout, bit 1 integral counts, bits 4..8 the counter reset hint), the layout
//! when flagged, then `zero_count`, `count`, `sum` and every bucket.

use pharos_model::{FloatHistogram, Span};

use crate::varint::{put_uvarint, put_varint, ByteReader, DecodeError};

const NEW_LAYOUT: u8 = 1;
const INTEGRAL: u8 = 2;

/// Largest integer magnitude an f64 holds exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

fn same_layout(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    a.schema == b.schema
        && a.zero_threshold.to_bits() == b.zero_threshold.to_bits()
        && a.positive_spans == b.positive_spans
        && a.negative_spans == b.negative_spans
        && a.positive_buckets.len() == b.positive_buckets.len()
        && a.negative_buckets.len() == b.negative_buckets.len()
        && a.custom_values.len() == b.custom_values.len()
        && a.custom_values
            .iter()
            .zip(&b.custom_values)
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The counts of a histogram in storage order (zero count, count, then buckets).
fn counts(h: &FloatHistogram) -> impl Iterator<Item = f64> + '_ {
    [h.zero_count, h.count]
        .into_iter()
        .chain(h.positive_buckets.iter().copied())
        .chain(h.negative_buckets.iter().copied())
}

fn is_integral(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() < MAX_EXACT && !(v == 0.0 && v.is_sign_negative())
}

fn put_spans(b: &mut Vec<u8>, spans: &[Span]) {
    put_uvarint(b, spans.len() as u64);
    for s in spans {
        put_varint(b, i64::from(s.offset));
        put_uvarint(b, u64::from(s.length));
    }
}

fn read_spans(r: &mut ByteReader<'_>) -> Result<Vec<Span>, DecodeError> {
    let n = r.len(r.remaining() / 2)?;
    let mut spans = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = i32::try_from(r.varint()?)
            .map_err(|_| DecodeError("span offset out of range".into()))?;
        let length = u32::try_from(r.uvarint()?)
            .map_err(|_| DecodeError("span length out of range".into()))?;
        spans.push(Span { offset, length });
    }
    Ok(spans)
}

/// Encodes time-ordered histogram samples (at most `u16::MAX`; more are cut off).
pub fn encode(samples: &[(i64, &FloatHistogram)]) -> Vec<u8> {
    let samples = samples
        .get(..samples.len().min(usize::from(u16::MAX)))
        .unwrap_or(&[]);
    let mut b = Vec::with_capacity(16 + samples.len() * 8);
    b.extend_from_slice(&(samples.len() as u16).to_be_bytes());
    let empty = FloatHistogram::default();
    let mut prev: &FloatHistogram = &empty;
    let (mut prev_t, mut prev_delta) = (0i64, 0i64);
    for (i, (t, h)) in samples.iter().enumerate() {
        match i {
            0 => put_varint(&mut b, *t),
            _ => {
                let delta = t.wrapping_sub(prev_t);
                put_varint(&mut b, delta.wrapping_sub(prev_delta));
                prev_delta = delta;
            }
        }
        prev_t = *t;
        let new_layout = i == 0 || !same_layout(prev, h);
        let base: &FloatHistogram = if new_layout { &empty } else { prev };
        let integral = counts(h).all(is_integral) && counts(base).all(is_integral);
        let mut flags = h.counter_reset_hint.min(15) << 4;
        if new_layout {
            flags |= NEW_LAYOUT;
        }
        if integral {
            flags |= INTEGRAL;
        }
        b.push(flags);
        if new_layout {
            put_varint(&mut b, i64::from(h.schema));
            b.extend_from_slice(&h.zero_threshold.to_le_bytes());
            put_spans(&mut b, &h.positive_spans);
            put_spans(&mut b, &h.negative_spans);
            put_uvarint(&mut b, h.positive_buckets.len() as u64);
            put_uvarint(&mut b, h.negative_buckets.len() as u64);
            put_uvarint(&mut b, h.custom_values.len() as u64);
            for v in &h.custom_values {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        // A new layout has nothing to diff against, so values are taken against zero.
        let base_counts: Vec<f64> = if new_layout {
            vec![0.0; counts(h).count()]
        } else {
            counts(base).collect()
        };
        for (v, p) in counts(h).zip(base_counts) {
            if integral {
                put_varint(&mut b, (v as i64).wrapping_sub(p as i64));
            } else {
                put_uvarint(&mut b, v.to_bits() ^ p.to_bits());
            }
        }
        let base_sum = if new_layout { 0.0 } else { base.sum };
        put_uvarint(&mut b, h.sum.to_bits() ^ base_sum.to_bits());
        prev = h;
    }
    b
}

/// Decodes a chunk written by [`encode`].
pub fn decode(data: &[u8]) -> Result<Vec<(i64, FloatHistogram)>, DecodeError> {
    let mut r = ByteReader::new(data);
    let count = usize::from(u16::from_be_bytes([r.u8()?, r.u8()?]));
    let mut out: Vec<(i64, FloatHistogram)> = Vec::with_capacity(count.min(data.len()));
    let (mut t, mut delta) = (0i64, 0i64);
    for i in 0..count {
        if i == 0 {
            t = r.varint()?;
        } else {
            delta = delta.wrapping_add(r.varint()?);
            t = t.wrapping_add(delta);
        }
        let flags = r.u8()?;
        let mut h = match (flags & NEW_LAYOUT != 0, out.last()) {
            (false, Some((_, p))) => p.clone(),
            (false, None) => {
                return Err(DecodeError(
                    "histogram chunk starts without a layout".into(),
                ))
            }
            (true, _) => {
                let schema = i32::try_from(r.varint()?)
                    .map_err(|_| DecodeError("histogram schema out of range".into()))?;
                let zero_threshold = r.f64()?;
                let positive_spans = read_spans(&mut r)?;
                let negative_spans = read_spans(&mut r)?;
                let np = r.len(r.remaining())?;
                let nn = r.len(r.remaining())?;
                let nc = r.len(r.remaining() / 8)?;
                let mut custom_values = Vec::with_capacity(nc);
                for _ in 0..nc {
                    custom_values.push(r.f64()?);
                }
                FloatHistogram {
                    schema,
                    zero_threshold,
                    positive_spans,
                    negative_spans,
                    positive_buckets: vec![0.0; np],
                    negative_buckets: vec![0.0; nn],
                    custom_values,
                    ..Default::default()
                }
            }
        };
        if flags & NEW_LAYOUT != 0 {
            h.zero_count = 0.0;
            h.count = 0.0;
            h.sum = 0.0;
        }
        h.counter_reset_hint = flags >> 4;
        let integral = flags & INTEGRAL != 0;
        let mut next = |p: f64| -> Result<f64, DecodeError> {
            Ok(if integral {
                (p as i64).wrapping_add(r.varint()?) as f64
            } else {
                f64::from_bits(p.to_bits() ^ r.uvarint()?)
            })
        };
        h.zero_count = next(h.zero_count)?;
        h.count = next(h.count)?;
        for v in h
            .positive_buckets
            .iter_mut()
            .chain(h.negative_buckets.iter_mut())
        {
            *v = next(*v)?;
        }
        h.sum = f64::from_bits(h.sum.to_bits() ^ r.uvarint()?);
        out.push((t, h));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(i: u32, buckets: usize) -> FloatHistogram {
        FloatHistogram {
            schema: 3,
            count: f64::from(i * 10),
            zero_count: f64::from(i),
            sum: f64::from(i) * 1.37,
            positive_spans: vec![Span {
                offset: -2,
                length: buckets as u32,
            }],
            positive_buckets: (0..buckets).map(|b| f64::from(i) + b as f64).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_and_shrink() {
        let hs: Vec<FloatHistogram> = (0..120).map(|i| hist(i, 8)).collect();
        let samples: Vec<(i64, &FloatHistogram)> = hs
            .iter()
            .enumerate()
            .map(|(i, h)| (i as i64 * 15_000, h))
            .collect();
        let b = encode(&samples);
        let got = decode(&b).unwrap();
        assert_eq!(got.len(), 120);
        for ((t1, h1), (t2, h2)) in got.iter().zip(&samples) {
            assert_eq!(t1, t2);
            assert_eq!(h1, *h2);
        }
        let mut raw = Vec::new();
        for h in &hs {
            crate::chunk::put_histogram(&mut raw, h);
        }
        assert!(b.len() * 4 < raw.len(), "{} vs raw {}", b.len(), raw.len());
    }

    fn bits(h: &FloatHistogram) -> Vec<u8> {
        let mut b = Vec::new();
        crate::chunk::put_histogram(&mut b, h);
        b
    }

    #[test]
    fn layout_changes_floats_and_hints_round_trip() {
        let mut a = hist(1, 3);
        a.counter_reset_hint = 2;
        let mut b = hist(2, 5);
        b.positive_buckets[1] = 0.125;
        b.negative_spans = vec![Span {
            offset: 1,
            length: 1,
        }];
        b.negative_buckets = vec![-0.0];
        let c = FloatHistogram {
            custom_values: vec![0.5, 1.0],
            schema: -53,
            ..Default::default()
        };
        let d = FloatHistogram {
            count: f64::NAN,
            sum: f64::INFINITY,
            ..c.clone()
        };
        let samples = vec![(5, &a), (6, &b), (100, &c), (101, &d), (102, &a)];
        let got = decode(&encode(&samples)).unwrap();
        for ((t1, h1), (t2, h2)) in got.iter().zip(&samples) {
            assert_eq!(t1, t2);
            assert_eq!(bits(h1), bits(h2));
        }
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let hs: Vec<FloatHistogram> = (0..10).map(|i| hist(i, 4)).collect();
        let samples: Vec<(i64, &FloatHistogram)> =
            hs.iter().enumerate().map(|(i, h)| (i as i64, h)).collect();
        let b = encode(&samples);
        for cut in 0..b.len() {
            let _ = decode(&b[..cut]);
        }
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x5a;
            let _ = decode(&bad);
        }
    }
}
