//! The native histogram message, identical in remote write 1.0 and 2.0 and in remote read:
//! integer histograms carry bucket deltas, float histograms absolute counts; both become a
//! [`FloatHistogram`]. Encoding always writes the float form.

use pharos_model::protobuf::messages::decode_span;
use pharos_model::protobuf::wire::{
    put_double, put_key, put_message, put_uint, put_varint, unzigzag, zigzag, Reader, FIXED64, LEN,
    VARINT,
};
use pharos_model::{FloatHistogram, ParseError, Span};

/// Decodes one `Histogram` message into its timestamp and float form.
pub fn decode_histogram(mut r: Reader<'_>) -> Result<(i64, FloatHistogram), ParseError> {
    let mut h = FloatHistogram::default();
    let mut t = 0i64;
    let mut positive_deltas: Vec<i64> = Vec::new();
    let mut negative_deltas: Vec<i64> = Vec::new();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "Histogram.count_int")?;
                h.count = r.varint()? as f64;
            }
            2 => h.count = r.double(wt, "Histogram.count_float")?,
            3 => h.sum = r.double(wt, "Histogram.sum")?,
            4 => {
                r.expect(wt, VARINT, "Histogram.schema")?;
                let v = unzigzag(r.varint()?);
                h.schema =
                    i32::try_from(v).map_err(|_| r.error(format!("schema {v} out of range")))?;
            }
            5 => h.zero_threshold = r.double(wt, "Histogram.zero_threshold")?,
            6 => {
                r.expect(wt, VARINT, "Histogram.zero_count_int")?;
                h.zero_count = r.varint()? as f64;
            }
            7 => h.zero_count = r.double(wt, "Histogram.zero_count_float")?,
            8 => {
                r.expect(wt, LEN, "Histogram.negative_spans")?;
                h.negative_spans.push(decode_span(r.sub()?)?);
            }
            9 => r.repeated(wt, VARINT, "Histogram.negative_deltas", |p| {
                negative_deltas.push(unzigzag(p.varint()?));
                Ok(())
            })?,
            10 => r.repeated(wt, FIXED64, "Histogram.negative_counts", |p| {
                h.negative_buckets.push(f64::from_bits(p.fixed64()?));
                Ok(())
            })?,
            11 => {
                r.expect(wt, LEN, "Histogram.positive_spans")?;
                h.positive_spans.push(decode_span(r.sub()?)?);
            }
            12 => r.repeated(wt, VARINT, "Histogram.positive_deltas", |p| {
                positive_deltas.push(unzigzag(p.varint()?));
                Ok(())
            })?,
            13 => r.repeated(wt, FIXED64, "Histogram.positive_counts", |p| {
                h.positive_buckets.push(f64::from_bits(p.fixed64()?));
                Ok(())
            })?,
            14 => {
                r.expect(wt, VARINT, "Histogram.reset_hint")?;
                let v = r.varint()?;
                h.counter_reset_hint = u8::try_from(v).ok().filter(|v| *v <= 3).unwrap_or(0);
            }
            15 => {
                r.expect(wt, VARINT, "Histogram.timestamp")?;
                t = r.varint()? as i64;
            }
            16 => r.repeated(wt, FIXED64, "Histogram.custom_values", |p| {
                h.custom_values.push(f64::from_bits(p.fixed64()?));
                Ok(())
            })?,
            _ => r.skip(wt)?,
        }
    }
    // Integer histograms send each bucket as the difference to the previous one.
    if h.positive_buckets.is_empty() {
        h.positive_buckets = accumulate(&positive_deltas);
    }
    if h.negative_buckets.is_empty() {
        h.negative_buckets = accumulate(&negative_deltas);
    }
    check_spans(&h.positive_spans, h.positive_buckets.len(), "positive")
        .and_then(|()| check_spans(&h.negative_spans, h.negative_buckets.len(), "negative"))
        .map_err(|m| r.error(m))?;
    Ok((t, h))
}

fn accumulate(deltas: &[i64]) -> Vec<f64> {
    let mut current = 0i64;
    deltas
        .iter()
        .map(|d| {
            current = current.wrapping_add(*d);
            current as f64
        })
        .collect()
}

/// The spans must cover exactly the buckets sent, or queries would read past the counts.
fn check_spans(spans: &[Span], buckets: usize, side: &str) -> Result<(), String> {
    let covered: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if covered != buckets as u64 {
        return Err(format!(
            "{side} spans cover {covered} buckets but {buckets} bucket counts were sent"
        ));
    }
    Ok(())
}

/// Encodes `h` at time `t` as a float `Histogram` message in field `field` (4 in 1.0's and remote
/// read's `TimeSeries`, 3 in 2.0's); fields at their proto3 default are left out.
pub(crate) fn put_histogram_field(out: &mut Vec<u8>, field: u32, t: i64, h: &FloatHistogram) {
    put_message(out, field, |m| {
        put_double(m, 2, h.count);
        put_double(m, 3, h.sum);
        if h.schema != 0 {
            put_uint(m, 4, zigzag(i64::from(h.schema)));
        }
        put_double(m, 5, h.zero_threshold);
        put_double(m, 7, h.zero_count);
        put_spans(m, 8, &h.negative_spans);
        put_packed_doubles(m, 10, &h.negative_buckets);
        put_spans(m, 11, &h.positive_spans);
        put_packed_doubles(m, 13, &h.positive_buckets);
        if h.counter_reset_hint != 0 {
            put_uint(m, 14, u64::from(h.counter_reset_hint));
        }
        if t != 0 {
            // `int64`: the two's complement as a plain varint, not zigzag.
            put_uint(m, 15, t as u64);
        }
        put_packed_doubles(m, 16, &h.custom_values);
    });
}

fn put_spans(out: &mut Vec<u8>, field: u32, spans: &[Span]) {
    for s in spans {
        put_message(out, field, |m| {
            if s.offset != 0 {
                put_uint(m, 1, zigzag(i64::from(s.offset)));
            }
            if s.length != 0 {
                put_uint(m, 2, u64::from(s.length));
            }
        });
    }
}

fn put_packed_doubles(out: &mut Vec<u8>, field: u32, values: &[f64]) {
    if values.is_empty() {
        return;
    }
    put_key(out, field, LEN);
    put_varint(out, (values.len() * 8) as u64);
    for v in values {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_accumulate_into_counts() {
        assert_eq!(accumulate(&[2, 3, -4]), vec![2.0, 5.0, 1.0]);
        assert_eq!(accumulate(&[]), Vec::<f64>::new());
        // Hostile deltas wrap instead of overflowing.
        assert_eq!(accumulate(&[i64::MAX, 1]).len(), 2);
    }

    #[test]
    fn spans_must_cover_the_buckets() {
        let spans = [
            Span {
                offset: 0,
                length: 2,
            },
            Span {
                offset: 3,
                length: 1,
            },
        ];
        assert!(check_spans(&spans, 3, "positive").is_ok());
        let err = check_spans(&spans, 2, "positive").unwrap_err();
        assert!(err.contains("cover 3 buckets but 2"), "{err}");
    }

    #[test]
    fn an_empty_message_is_an_empty_histogram() {
        let (t, h) = decode_histogram(Reader::new(&[], 0)).expect("empty is valid");
        assert_eq!((t, h), (0, FloatHistogram::default()));
    }
}
