//! Frame-of-reference packed float chunks for sealed (block) data.
//!
//! Gorilla XOR suits the head because it appends one sample at a time, but once a chunk is
//! immutable we can look at all of it at once. Most Prometheus values are exact decimals
//! (counters, byte gauges, bucket counts), so the chunk stores them as integers scaled by a
//! power of ten, differenced once or twice (whichever is narrower), divided by the greatest
//! common divisor of the residuals and bit-packed at one fixed width. Timestamps are stored as
//! packed delta-of-deltas, which costs zero bits per sample for a regular scrape interval.
//!
//! Layout (all varints LEB128, `zz` = zig-zag):
//! `u16be count`, `zz t0`, `u delta1` (if count > 1), packed dods (if count > 2),
//! `u8 scale`, `u8 order`, `zz` seeds (one per differencing round), packed residuals.
//! A packed run is `zz min`, `u gcd`, `u8 width`, then `width` bits per value, MSB first.
//!
//! Values that are not exact decimals (NaN, stale markers, -0, most non-integral floats with
//! long mantissas) make [`encode`] return `None`; the caller then keeps XOR.

use crate::bitstream::{BitReader, BitWriter};
use crate::varint::{put_uvarint, put_varint, ByteReader, DecodeError};

/// Exact powers of ten; every entry is representable, so scaling never adds rounding error.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Largest magnitude of a scaled integer; above it `i64 -> f64` is no longer exact.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Most differencing rounds tried (0 = raw, 1 = delta, 2 = delta of delta).
const MAX_ORDER: usize = 2;

/// The scaled integer for `v` at `scale`, if decoding gives back exactly the same bits.
fn scaled(v: f64, scale: usize) -> Option<i64> {
    let p = *POW10.get(scale)?;
    let x = (v * p).round();
    if x.is_nan() || x.abs() >= MAX_EXACT {
        return None;
    }
    let i = x as i64;
    (unscale(i, scale).to_bits() == v.to_bits()).then_some(i)
}

fn unscale(i: i64, scale: usize) -> f64 {
    let p = POW10.get(scale).copied().unwrap_or(1.0);
    if scale == 0 {
        i as f64
    } else {
        i as f64 / p
    }
}

/// The smallest scale at which every value is an exact decimal integer, with the integers.
fn to_decimal(values: &[f64]) -> Option<(usize, Vec<i64>)> {
    let mut scale = 0;
    'retry: loop {
        let mut out = Vec::with_capacity(values.len());
        for v in values {
            match scaled(*v, scale) {
                Some(i) => out.push(i),
                None => {
                    // Find the scale this value needs, then restart with it for everyone.
                    let need = (scale + 1..POW10.len()).find(|s| scaled(*v, *s).is_some())?;
                    scale = need;
                    continue 'retry;
                }
            }
        }
        return Some((scale, out));
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Frame of reference of a run: its minimum, the common divisor of offsets and the bit width.
struct Frame {
    min: i64,
    gcd: u64,
    width: u8,
}

fn frame(values: &[i64]) -> Frame {
    let min = values.iter().copied().min().unwrap_or(0);
    let g = values
        .iter()
        .fold(0u64, |g, v| gcd(g, v.wrapping_sub(min) as u64));
    let g = g.max(1);
    let max_off = values
        .iter()
        .map(|v| v.wrapping_sub(min) as u64 / g)
        .max()
        .unwrap_or(0);
    Frame {
        min,
        gcd: g,
        width: (64 - max_off.leading_zeros()) as u8,
    }
}

fn put_packed(b: &mut Vec<u8>, values: &[i64]) {
    let f = frame(values);
    put_varint(b, f.min);
    put_uvarint(b, f.gcd);
    b.push(f.width);
    if f.width == 0 {
        return;
    }
    let mut w = BitWriter::default();
    for v in values {
        w.write_bits(v.wrapping_sub(f.min) as u64 / f.gcd, f.width);
    }
    b.extend_from_slice(&w.bytes);
}

fn read_packed(r: &mut ByteReader<'_>, n: usize, out: &mut Vec<i64>) -> Result<(), DecodeError> {
    let min = r.varint()?;
    let g = r.uvarint()?;
    let width = r.u8()?;
    if width > 64 {
        return Err(DecodeError(format!("packed width {width} exceeds 64 bits")));
    }
    if width == 0 {
        out.resize(out.len() + n, min);
        return Ok(());
    }
    let nbytes = (n * usize::from(width)).div_ceil(8);
    let mut bits = BitReader::new(r.bytes(nbytes)?);
    for _ in 0..n {
        let off = bits
            .read_bits(width)
            .map_err(|_| DecodeError("packed chunk ends early".into()))?;
        out.push(min.wrapping_add(off.wrapping_mul(g) as i64));
    }
    Ok(())
}

/// Applies `order` rounds of differencing; the first `order` outputs are the seeds.
fn difference(values: &[i64], order: usize) -> (Vec<i64>, Vec<i64>) {
    let mut cur = values.to_vec();
    let mut seeds = Vec::with_capacity(order);
    for _ in 0..order {
        let Some(first) = cur.first().copied() else {
            break;
        };
        seeds.push(first);
        cur = cur.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    }
    (seeds, cur)
}

/// Undoes [`difference`] in place.
fn integrate(seeds: &[i64], residuals: Vec<i64>) -> Vec<i64> {
    let mut cur = residuals;
    for seed in seeds.iter().rev() {
        let mut next = Vec::with_capacity(cur.len() + 1);
        let mut acc = *seed;
        next.push(acc);
        for d in cur {
            acc = acc.wrapping_add(d);
            next.push(acc);
        }
        cur = next;
    }
    cur
}

fn packed_bits(values: &[i64]) -> usize {
    usize::from(frame(values).width) * values.len()
}

/// Encodes samples (strictly increasing timestamps) as a packed chunk, or `None` when a value
/// is not an exact decimal and XOR should be used instead.
pub fn encode(samples: &[(i64, f64)]) -> Option<Vec<u8>> {
    let count = u16::try_from(samples.len()).ok()?;
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let (scale, ints) = to_decimal(&values)?;
    let mut b = Vec::with_capacity(16 + samples.len());
    b.extend_from_slice(&count.to_be_bytes());
    put_timestamps(&mut b, samples);
    b.push(scale as u8);
    // Raw, delta or delta-of-delta: the narrowest residuals win (ties go to fewer rounds).
    let (order, (seeds, residuals)) = (0..=MAX_ORDER.min(ints.len().saturating_sub(1)))
        .map(|k| (k, difference(&ints, k)))
        .min_by_key(|(k, (_, r))| (packed_bits(r), *k))?;
    b.push(order as u8);
    for s in &seeds {
        put_varint(&mut b, *s);
    }
    put_packed(&mut b, &residuals);
    Some(b)
}

fn put_timestamps(b: &mut Vec<u8>, samples: &[(i64, f64)]) {
    let Some(first) = samples.first() else { return };
    put_varint(b, first.0);
    if let Some(second) = samples.get(1) {
        put_uvarint(b, second.0.wrapping_sub(first.0) as u64);
    }
    if samples.len() > 2 {
        let dods: Vec<i64> = samples
            .windows(3)
            .map(|w| {
                let d1 = w[1].0.wrapping_sub(w[0].0);
                let d2 = w[2].0.wrapping_sub(w[1].0);
                d2.wrapping_sub(d1)
            })
            .collect();
        put_packed(b, &dods);
    }
}

/// Decodes a packed chunk.
pub fn decode(data: &[u8]) -> Result<Vec<(i64, f64)>, DecodeError> {
    let mut r = ByteReader::new(data);
    let count = usize::from(u16::from_be_bytes([r.u8()?, r.u8()?]));
    if count == 0 {
        return Ok(Vec::new());
    }
    let mut ts = Vec::with_capacity(count);
    let mut t = r.varint()?;
    ts.push(t);
    if count > 1 {
        let mut delta = r.uvarint()? as i64;
        t = t.wrapping_add(delta);
        ts.push(t);
        if count > 2 {
            let mut dods = Vec::with_capacity(count - 2);
            read_packed(&mut r, count - 2, &mut dods)?;
            for dod in dods {
                delta = delta.wrapping_add(dod);
                t = t.wrapping_add(delta);
                ts.push(t);
            }
        }
    }
    let scale = usize::from(r.u8()?);
    if scale >= POW10.len() {
        return Err(DecodeError(format!(
            "packed chunk scale {scale} out of range"
        )));
    }
    let order = usize::from(r.u8()?);
    if order > MAX_ORDER || order >= count.max(1) {
        return Err(DecodeError(format!("packed chunk order {order} invalid")));
    }
    let mut seeds = Vec::with_capacity(order);
    for _ in 0..order {
        seeds.push(r.varint()?);
    }
    let mut residuals = Vec::with_capacity(count);
    read_packed(&mut r, count - order, &mut residuals)?;
    let ints = integrate(&seeds, residuals);
    Ok(ts
        .into_iter()
        .zip(ints)
        .map(|(t, i)| (t, unscale(i, scale)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, f64)]) -> Option<usize> {
        let b = encode(samples)?;
        let got = decode(&b).unwrap();
        assert_eq!(got.len(), samples.len());
        for ((t1, v1), (t2, v2)) in got.iter().zip(samples) {
            assert_eq!(t1, t2);
            assert_eq!(v1.to_bits(), v2.to_bits(), "{v1} vs {v2}");
        }
        Some(b.len())
    }

    #[test]
    fn regular_counter_packs_tightly() {
        let s: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * 7 + (i % 3)) as f64))
            .collect();
        let n = round_trip(&s).unwrap();
        // 120 samples of deltas in 7..=9 need 2 bits each plus a small header.
        assert!(n < 60, "{n} bytes");
    }

    #[test]
    fn decimals_and_negatives_round_trip() {
        round_trip(&[(0, 0.005), (1, -0.25), (2, 1e9), (3, 3.5), (4, 0.0)]).unwrap();
        round_trip(&[(10, 0.1), (20, 0.2), (30, 0.30000000000000004)]);
        round_trip(&[(5, 42.0)]).unwrap();
        round_trip(&[(5, 1.0), (7, 1.0)]).unwrap();
        round_trip(&[(-5, -4096.0), (7, 8e15), (8, -8e15)]).unwrap();
    }

    #[test]
    fn non_decimals_are_refused() {
        assert!(encode(&[(0, f64::NAN)]).is_none());
        assert!(encode(&[(0, pharos_model::STALE_NAN)]).is_none());
        assert!(encode(&[(0, -0.0)]).is_none());
        assert!(encode(&[(0, f64::INFINITY)]).is_none());
        assert!(encode(&[(0, 1.0 / 3.0)]).is_none());
        assert!(encode(&[(0, 1e300)]).is_none());
    }

    #[test]
    fn jittery_timestamps_round_trip() {
        let s: Vec<(i64, f64)> = (0..200)
            .map(|i| (i * 15_000 + (i * 7919) % 13 - 6, (i % 5) as f64))
            .collect();
        round_trip(&s).unwrap();
        round_trip(&[(i64::MIN / 2, 1.0), (0, 2.0), (i64::MAX / 2, 3.0)]).unwrap();
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let s: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000, (i * i) as f64)).collect();
        let b = encode(&s).unwrap();
        for cut in 0..b.len() {
            let _ = decode(&b[..cut]);
        }
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0xa5;
            let _ = decode(&bad);
        }
    }
}
