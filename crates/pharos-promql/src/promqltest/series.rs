//! The series-description syntax of test scripts: `metric{a="b"} 1+2x3 _ stale {{schema:1 ...}}`.

use pharos_model::{FloatHistogram, Labels, LabelsBuilder, Span, STALE_NAN};

use crate::histogram;
use crate::parser::{parse_selector, try_duration};

/// One value of an expanded series description.
#[derive(Clone, Debug, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample at this step.
    Omitted,
    /// A float (possibly the stale marker).
    Float(f64),
    /// A histogram.
    Histogram(FloatHistogram),
}

/// Why a test script line did not parse.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScriptError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ScriptError> {
    Err(ScriptError(msg.into()))
}

/// Parses a duration or plain number of seconds into milliseconds.
pub fn parse_time(s: &str) -> Result<i64, ScriptError> {
    let s = s.trim();
    if let Some((ms, end)) = try_duration(s, 0) {
        if end == s.len() {
            return Ok(ms);
        }
    }
    if let Some(rest) = s.strip_prefix('-') {
        return parse_time(rest).map(|v| -v);
    }
    match s.parse::<f64>() {
        Ok(v) => Ok((v * 1000.0).round() as i64),
        Err(_) => err(format!("invalid duration {s:?}")),
    }
}

/// Splits `metric{...} values` into the selector text and the values text.
pub fn split_series(line: &str) -> (&str, &str) {
    let b = line.as_bytes();
    let mut i = 0;
    let mut depth = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
        } else if c == b'"' || c == b'\'' || c == b'`' {
            quote = Some(c);
        } else if c == b'{' {
            depth += 1;
        } else if c == b'}' {
            depth -= 1;
            if depth == 0 {
                i += 1;
                break;
            }
        } else if depth == 0 && c.is_ascii_whitespace() {
            break;
        }
        i += 1;
    }
    let i = i.min(line.len());
    (line[..i].trim(), line[i..].trim())
}

/// Parses a label set written as a selector (`foo{a="b"}`, `{}`, `{"a.b"}`).
pub fn parse_labels(s: &str) -> Result<Labels, ScriptError> {
    let s = s.trim();
    if s == "{}" {
        return Ok(Labels::empty());
    }
    let vs = parse_selector(s).map_err(|e| ScriptError(format!("bad series {s:?}: {e}")))?;
    let mut b = LabelsBuilder::new();
    for m in &vs.matchers {
        b.set(m.name.as_str(), m.value.as_str());
    }
    Ok(b.build())
}

/// Splits a values string into items, keeping `{{...}}` histograms whole.
fn items(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            depth += 1;
            cur.push_str("{{");
            i += 2;
            continue;
        }
        if c == '}' && chars.get(i + 1) == Some(&'}') && depth > 0 {
            depth -= 1;
            cur.push_str("}}");
            i += 2;
            continue;
        }
        if c.is_whitespace() && depth == 0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => return Some(f64::NAN),
        _ => {}
    }
    // No hex here: `0x5` in a series means "0 repeated".
    t.parse::<f64>().ok()
}

/// Parses a float in a test file (`1`, `-Inf`, `NaN`, `0x1f`).
pub fn parse_float(s: &str) -> Option<f64> {
    parse_number(s)
}

/// Expands a values string into one value per step.
pub fn parse_values(s: &str) -> Result<Vec<SeqValue>, ScriptError> {
    let mut out = Vec::new();
    for item in items(s) {
        expand_item(&item, &mut out)?;
    }
    Ok(out)
}

fn split_times(item: &str) -> Option<(&str, u64)> {
    let i = item.rfind('x')?;
    let n: u64 = item[i + 1..].parse().ok()?;
    if item[..i].ends_with("}}") || !item[..i].contains("{{") {
        Some((&item[..i], n))
    } else {
        None
    }
}

/// The most values one series may expand to; `1x100000000000` would otherwise exhaust memory.
const MAX_SERIES_VALUES: usize = 10_000_000;

/// The number of values `<base>xN` stands for (`N + 1`), refused when it would make the
/// series longer than [`MAX_SERIES_VALUES`].
fn repeat_count(item: &str, n: u64, so_far: usize) -> Result<usize, ScriptError> {
    n.checked_add(1)
        .and_then(|c| usize::try_from(c).ok())
        .filter(|c| so_far.saturating_add(*c) <= MAX_SERIES_VALUES)
        .ok_or_else(|| {
            ScriptError(format!(
                "series value {item:?} repeats too often: a series holds at most {MAX_SERIES_VALUES} values"
            ))
        })
}

fn expand_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), ScriptError> {
    if item == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if item == "stale" {
        out.push(SeqValue::Float(STALE_NAN));
        return Ok(());
    }
    if let Some(v) = parse_number(item) {
        out.push(SeqValue::Float(v));
        return Ok(());
    }
    if item.starts_with("{{") && item.ends_with("}}") && !item[2..].contains("{{") {
        out.push(SeqValue::Histogram(parse_histogram(item)?));
        return Ok(());
    }
    let Some((base, n)) = split_times(item) else {
        return err(format!("invalid series value {item:?}"));
    };
    let count = repeat_count(item, n, out.len())?;
    if base == "_" {
        // `_xN` is N omitted steps, one fewer than other repetitions.
        out.extend(std::iter::repeat_n(SeqValue::Omitted, count - 1));
        return Ok(());
    }
    if base == "stale" {
        out.extend(std::iter::repeat_n(SeqValue::Float(STALE_NAN), count));
        return Ok(());
    }
    if base.starts_with("{{") {
        // `{{a}}xN` or `{{a}}+{{b}}xN` / `{{a}}-{{b}}xN`.
        let end = base.find("}}").map_or(base.len(), |e| e + 2);
        let start = parse_histogram(&base[..end])?;
        let rest = &base[end..];
        if rest.is_empty() {
            out.extend(std::iter::repeat_n(SeqValue::Histogram(start), count));
            return Ok(());
        }
        let neg = rest.starts_with('-');
        let inc = parse_histogram(&rest[1..])?;
        let mut cur = start;
        for _ in 0..count {
            out.push(SeqValue::Histogram(cur.clone()));
            let (next, _) = histogram::add(&cur, &inc, neg)
                .map_err(|e| ScriptError(format!("histogram series: {e}")))?;
            let mut next = next;
            next.counter_reset_hint = cur.counter_reset_hint;
            cur = next;
        }
        return Ok(());
    }
    if let Some(v) = parse_number(base) {
        out.extend(std::iter::repeat_n(SeqValue::Float(v), count));
        return Ok(());
    }
    // a+b or a-b: the operator is the first +/- after the first character that is not part of
    // an exponent.
    let bytes = base.as_bytes();
    let mut split = None;
    for i in 1..bytes.len() {
        if (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E') {
            split = Some(i);
            break;
        }
    }
    let Some(i) = split else {
        return err(format!("invalid series value {item:?}"));
    };
    let (Some(a), Some(d)) = (parse_number(&base[..i]), parse_number(&base[i + 1..])) else {
        return err(format!("invalid series value {item:?}"));
    };
    let d = if bytes[i] == b'-' { -d } else { d };
    let mut cur = a;
    for _ in 0..count {
        out.push(SeqValue::Float(cur));
        cur += d;
    }
    Ok(())
}

fn list(v: &str) -> Result<Vec<f64>, ScriptError> {
    let inner = v.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split_whitespace()
        .map(|x| {
            parse_number(x).ok_or_else(|| ScriptError(format!("bad number {x:?} in histogram")))
        })
        .collect()
}

/// Parses a `{{schema:0 sum:5 count:4 buckets:[1 2 1]}}` literal.
pub fn parse_histogram(s: &str) -> Result<FloatHistogram, ScriptError> {
    let inner = s
        .trim()
        .strip_prefix("{{")
        .and_then(|x| x.strip_suffix("}}"))
        .ok_or_else(|| ScriptError(format!("bad histogram {s:?}")))?;
    let mut h = FloatHistogram::default();
    let mut pos_buckets = Vec::new();
    let mut neg_buckets = Vec::new();
    let mut offset = 0i32;
    let mut n_offset = 0i32;
    // Fields are `key:value` where lists are bracketed and may contain spaces.
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let Some(colon) = rest.find(':') else {
            return err(format!("bad histogram field in {s:?}"));
        };
        let key = rest[..colon].trim();
        rest = rest[colon + 1..].trim_start();
        let (val, next) = if rest.starts_with('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| ScriptError(format!("unterminated list in {s:?}")))?;
            (&rest[..=end], &rest[end + 1..])
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        rest = next.trim_start();
        let num =
            || parse_number(val).ok_or_else(|| ScriptError(format!("bad value {val:?} for {key}")));
        match key {
            "schema" => h.schema = num()? as i32,
            "sum" => h.sum = num()?,
            "count" => h.count = num()?,
            "z_bucket" => h.zero_count = num()?,
            "z_bucket_w" => h.zero_threshold = num()?,
            "offset" => offset = num()? as i32,
            "n_offset" => n_offset = num()? as i32,
            "buckets" => pos_buckets = list(val)?,
            "n_buckets" => neg_buckets = list(val)?,
            "custom_values" => h.custom_values = list(val)?,
            "counter_reset_hint" => {
                h.counter_reset_hint = match val {
                    "unknown" => 0,
                    "reset" => 1,
                    "not_reset" => 2,
                    "gauge" => 3,
                    _ => return err(format!("bad counter_reset_hint {val:?}")),
                }
            }
            _ => return err(format!("unknown histogram field {key:?}")),
        }
    }
    if !pos_buckets.is_empty() {
        h.positive_spans = vec![Span {
            offset,
            length: pos_buckets.len() as u32,
        }];
        h.positive_buckets = pos_buckets;
    }
    if !neg_buckets.is_empty() {
        h.negative_spans = vec![Span {
            offset: n_offset,
            length: neg_buckets.len() as u32,
        }];
        h.negative_buckets = neg_buckets;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(s: &str) -> Vec<Option<f64>> {
        parse_values(s)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                SeqValue::Float(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn expansion() {
        assert_eq!(
            floats("-2+4x3"),
            [Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]
        );
        assert_eq!(floats("1-2x2"), [Some(1.0), Some(-1.0), Some(-3.0)]);
        assert_eq!(floats("1x2"), [Some(1.0); 3]);
        assert_eq!(floats("1 _x2 3"), [Some(1.0), None, None, Some(3.0)]);
        assert_eq!(floats("1e3"), [Some(1000.0)]);
    }

    #[test]
    fn histograms() {
        let v =
            parse_values("{{schema:1 sum:3 count:22 buckets:[5 10 7]}} {{count:1}}+{{count:2}}x2")
                .unwrap();
        assert_eq!(v.len(), 4);
        match &v[3] {
            SeqValue::Histogram(h) => assert_eq!(h.count, 5.0),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn huge_repetition_counts_are_errors() {
        for item in [
            "_x18446744073709551615",
            "1x18446744073709551615",
            "stalex18446744073709551615",
            "0+1x18446744073709551615",
            "{{count:1}}x18446744073709551615",
            "1x100000000000",
        ] {
            let e = parse_values(item).expect_err(item);
            assert!(e.0.contains("repeats too often"), "{item}: {e:?}");
        }
        assert_eq!(
            parse_values("_x9999999").map(|v| v.len()).ok(),
            Some(9_999_999)
        );
    }

    #[test]
    fn splitting() {
        assert_eq!(
            split_series(r#"foo{a="b c"} 1 2"#),
            (r#"foo{a="b c"}"#, "1 2")
        );
        assert_eq!(split_series("foo 1 2"), ("foo", "1 2"));
        assert_eq!(split_series("{} 1"), ("{}", "1"));
    }
}
