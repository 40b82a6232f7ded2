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

/// One `[ts, "value"]` pair.
fn point(t: i64, f: f64) -> Json {
    json!([ts(t), format_float(f)])
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

/// The `data` of a query response.
pub fn query_data(v: &Value, eval_t: i64) -> Json {
    let result = match v {
        Value::Scalar(f) => point(eval_t, *f),
        Value::String(s) => json!([ts(eval_t), s]),
        Value::Vector(samples) => Json::Array(
            samples
                .iter()
                .map(|s| match &s.h {
                    Some(h) => json!({"metric": labels_json(&s.metric), "histogram": [ts(s.t), histogram_json(h)]}),
                    None => json!({"metric": labels_json(&s.metric), "value": point(s.t, s.f)}),
                })
                .collect(),
        ),
        Value::Matrix(series) => Json::Array(
            series
                .iter()
                .map(|s| {
                    let mut o = json!({"metric": labels_json(&s.metric)});
                    if !s.floats.is_empty() {
                        o["values"] = Json::Array(s.floats.iter().map(|p| point(p.t, p.f)).collect());
                    }
                    if !s.hists.is_empty() {
                        o["histograms"] = Json::Array(
                            s.hists
                                .iter()
                                .map(|p| json!([ts(p.t), histogram_json(&p.h)]))
                                .collect(),
                        );
                    }
                    o
                })
                .collect(),
        ),
    };
    json!({"resultType": v.value_type().api_name(), "result": result})
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
        assert_eq!(d.to_string(), r#"{"result":[1,"2"],"resultType":"scalar"}"#);
    }
}
