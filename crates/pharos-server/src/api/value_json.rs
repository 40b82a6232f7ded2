//! PromQL values in the API's JSON shapes (`vector`, `matrix`, `scalar`, `string`), with
//! timestamps as float seconds and values as strings, like Prometheus.

use pharos_model::{FloatHistogram, Labels};
use pharos_promql::value::{format_float, Value};
use serde_json::{json, Map, Value as Json};

/// Labels as a JSON object.
pub fn labels_json(l: &Labels) -> Json {
    let mut m = Map::new();
    for x in l.iter() {
        m.insert(x.name.to_string(), Json::String(x.value.to_string()));
    }
    Json::Object(m)
}

#[cfg(test)]
fn ts(t: i64) -> Json {
    // Milliseconds as seconds with at most three decimals, without float noise.
    let secs = t.div_euclid(1000);
    let ms = t.rem_euclid(1000);
    let n = if ms == 0 {
        serde_json::Number::from(secs)
    } else {
        match format!("{secs}.{ms:03}")
            .trim_end_matches('0')
            .parse::<f64>()
        {
            Ok(f) => {
                serde_json::Number::from_f64(f).unwrap_or_else(|| serde_json::Number::from(secs))
            }
            Err(_) => serde_json::Number::from(secs),
        }
    };
    Json::Number(n)
}

/// The bucket boundaries of a native histogram in the API's shape:
/// `[boundary_rule, "lower", "upper", "count"]`.
fn histogram_json(h: &FloatHistogram) -> Json {
    let mut buckets = Vec::new();
    let custom = h.schema == pharos_model::histogram::CUSTOM_BUCKETS_SCHEMA;
    let bound = |idx: i64| -> f64 {
        if custom {
            // Custom buckets: index i covers (custom[i-1], custom[i]].
            usize::try_from(idx)
                .ok()
                .and_then(|i| h.custom_values.get(i).copied())
                .unwrap_or(f64::INFINITY)
        } else {
            (2f64).powf(idx as f64 * (2f64).powi(-h.schema))
        }
    };
    let lower_of = |idx: i64| -> f64 {
        if custom {
            if idx <= 0 {
                f64::NEG_INFINITY
            } else {
                bound(idx - 1)
            }
        } else {
            bound(idx - 1)
        }
    };
    if !custom && h.zero_count != 0.0 {
        buckets.push(json!([
            3,
            format_float(-h.zero_threshold),
            format_float(h.zero_threshold),
            format_float(h.zero_count)
        ]));
    }
    let mut emit = |spans: &[pharos_model::histogram::Span], counts: &[f64], negative: bool| {
        let mut idx: i64 = 0;
        let mut counts_iter = counts.iter();
        for s in spans {
            idx += i64::from(s.offset);
            for _ in 0..s.length {
                let Some(&c) = counts_iter.next() else { return };
                if c != 0.0 {
                    let (lo, hi) = (lower_of(idx), bound(idx));
                    if negative {
                        buckets.push(json!([
                            1,
                            format_float(-hi),
                            format_float(-lo),
                            format_float(c)
                        ]));
                    } else {
                        // Prometheus buckets are upper-inclusive: (lo, hi].
                        buckets.push(json!([
                            0,
                            format_float(lo),
                            format_float(hi),
                            format_float(c)
                        ]));
                    }
                }
                idx += 1;
            }
        }
    };
    emit(&h.negative_spans, &h.negative_buckets, true);
    emit(&h.positive_spans, &h.positive_buckets, false);
    let mut out = json!({"count": format_float(h.count), "sum": format_float(h.sum)});
    if !buckets.is_empty() {
        out["buckets"] = Json::Array(buckets);
    }
    out
}

/// Appends `t` (ms) as JSON seconds: an integer, or up to three decimals without float noise.
fn write_ts(t: i64, out: &mut String) {
    use std::fmt::Write as _;
    if t < 0 {
        out.push('-');
    }
    let abs = t.unsigned_abs();
    let (secs, ms) = (abs / 1000, abs % 1000);
    let _ = write!(out, "{secs}");
    if ms != 0 {
        let frac = format!("{ms:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

/// Appends `s` as a JSON string literal.
fn write_str(s: &str, out: &mut String) {
    // Serialising a &str into a Vec cannot fail; the fallback keeps the output valid JSON anyway.
    match serde_json::to_string(s) {
        Ok(lit) => out.push_str(&lit),
        Err(_) => out.push_str("\"\""),
    }
}

fn write_labels(l: &Labels, out: &mut String) {
    out.push('{');
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(&x.name, out);
        out.push(':');
        write_str(&x.value, out);
    }
    out.push('}');
}

/// Appends a sample value as Prometheus's API renders it: plain decimal digits (shortest
/// round-trip form) unless the magnitude is below 1e-6 or at least 1e21, where Go's exponent form
/// is used.
fn write_value(f: f64, out: &mut String) {
    use std::fmt::Write as _;
    let abs = f.abs();
    if f.is_finite() && (abs == 0.0 || (1e-6..1e21).contains(&abs)) {
        let _ = write!(out, "{f}");
    } else {
        out.push_str(&format_float(f));
    }
}

fn write_point(t: i64, f: f64, out: &mut String) {
    out.push('[');
    write_ts(t, out);
    out.push_str(",\"");
    write_value(f, out);
    out.push_str("\"]");
}

fn write_histogram_point(t: i64, h: &FloatHistogram, out: &mut String) {
    out.push('[');
    write_ts(t, out);
    out.push(',');
    out.push_str(&histogram_json(h).to_string());
    out.push(']');
}

/// The `data` of a query response, serialised.
///
/// Written straight into one buffer rather than through a `serde_json::Value` tree: a range
/// query can return hundreds of thousands of points, and building a tree costs several
/// allocations per point, which profiling showed to dominate large responses.
pub fn query_data(v: &Value, eval_t: i64) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"resultType\":\"");
    out.push_str(v.value_type().api_name());
    out.push_str("\",\"result\":");
    match v {
        Value::Scalar(f) => write_point(eval_t, *f, &mut out),
        Value::String(s) => {
            out.push('[');
            write_ts(eval_t, &mut out);
            out.push(',');
            write_str(s, &mut out);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&s.metric, &mut out);
                match &s.h {
                    Some(h) => {
                        out.push_str(",\"histogram\":");
                        write_histogram_point(s.t, h, &mut out);
                    }
                    None => {
                        out.push_str(",\"value\":");
                        write_point(s.t, s.f, &mut out);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            let points: usize = series.iter().map(|s| s.floats.len()).sum();
            out.reserve(points * 24);
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&s.metric, &mut out);
                if !s.floats.is_empty() {
                    out.push_str(",\"values\":[");
                    for (j, p) in s.floats.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_point(p.t, p.f, &mut out);
                    }
                    out.push(']');
                }
                if !s.hists.is_empty() {
                    out.push_str(",\"histograms\":[");
                    for (j, p) in s.hists.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_histogram_point(p.t, &p.h, &mut out);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_float_seconds() {
        assert_eq!(ts(1_435_781_451_781).to_string(), "1435781451.781");
        assert_eq!(ts(1_000).to_string(), "1");
        assert_eq!(ts(1_500).to_string(), "1.5");
    }

    #[test]
    fn native_histogram_buckets() {
        use pharos_model::Span;
        // Schema 0: bucket i covers (2^(i-1), 2^i].
        let h = FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 6.0,
            sum: 10.0,
            positive_spans: vec![Span {
                offset: 1,
                length: 2,
            }],
            positive_buckets: vec![2.0, 3.0],
            ..FloatHistogram::default()
        };
        let j = histogram_json(&h);
        assert_eq!(j["count"], "6");
        assert_eq!(j["sum"], "10");
        assert_eq!(j["buckets"][0].to_string(), r#"[3,"-0.001","0.001","1"]"#);
        assert_eq!(j["buckets"][1].to_string(), r#"[0,"1","2","2"]"#);
        assert_eq!(j["buckets"][2].to_string(), r#"[0,"2","4","3"]"#);
    }

    #[test]
    fn truncated_bucket_counts_do_not_panic() {
        use pharos_model::Span;
        let h = FloatHistogram {
            positive_spans: vec![Span {
                offset: 0,
                length: 5,
            }],
            positive_buckets: vec![1.0],
            ..FloatHistogram::default()
        };
        assert_eq!(
            histogram_json(&h)["buckets"].as_array().map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn scalar_shape() {
        let d = query_data(&Value::Scalar(2.0), 1000);
        assert_eq!(d, r#"{"resultType":"scalar","result":[1,"2"]}"#);
    }

    #[test]
    fn values_like_prometheus_api() {
        let v = |f: f64| {
            let mut s = String::new();
            write_value(f, &mut s);
            s
        };
        assert_eq!(v(1.5), "1.5");
        assert_eq!(v(0.00005), "0.00005");
        assert_eq!(v(1e20), "100000000000000000000");
        assert_eq!(v(1e-7), "1e-07");
        assert_eq!(v(f64::NAN), "NaN");
        assert_eq!(v(f64::NEG_INFINITY), "-Inf");
        assert_eq!(v(0.0), "0");
    }

    #[test]
    fn written_timestamps_match_the_tree_form() {
        for t in [0, 1_000, 1_500, 1_435_781_451_781, 10, 999] {
            let mut s = String::new();
            write_ts(t, &mut s);
            assert_eq!(s, ts(t).to_string());
        }
        let mut s = String::new();
        write_ts(-1_500, &mut s);
        assert_eq!(s, "-1.5");
    }

    #[test]
    fn matrix_is_valid_json_with_escaped_labels() {
        use pharos_promql::value::{FPoint, Series};
        let m = Value::Matrix(vec![Series {
            metric: Labels::from_pairs([("__name__", "a"), ("q", "x\"y")]),
            floats: vec![
                FPoint { t: 1_000, f: 1.5 },
                FPoint {
                    t: 2_250,
                    f: f64::NAN,
                },
            ],
            hists: vec![],
            drop_name: false,
        }]);
        let parsed: Json = serde_json::from_str(&query_data(&m, 0)).expect("valid JSON");
        assert_eq!(parsed["resultType"], "matrix");
        assert_eq!(parsed["result"][0]["metric"]["q"], "x\"y");
        assert_eq!(
            parsed["result"][0]["values"][1].to_string(),
            r#"[2.25,"NaN"]"#
        );
    }
}
