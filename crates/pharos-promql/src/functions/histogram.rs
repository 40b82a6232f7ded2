//! Histogram functions: `histogram_quantile` over classic `le` buckets (with Prometheus's
//! monotonicity fix) and native histograms, and the native-only `histogram_count`, `_sum`,
//! `_avg`, `_stddev`, `_stdvar`, `_fraction`.

use std::collections::HashMap;

use pharos_model::{FloatHistogram, Labels};

use super::FnCall;
use crate::engine::aggregate::kahan_inc;
use crate::engine::EvalError;
use crate::histogram;
use crate::value::{format_float, Sample, Value};

fn native_map(c: &mut FnCall<'_>, f: fn(&FloatHistogram) -> f64) -> Result<Value, EvalError> {
    let v = c.take_vector(0);
    let out = v
        .into_iter()
        .filter_map(|s| {
            s.h.as_ref().map(|h| f(h)).map(|val| Sample {
                metric: s.metric,
                t: c.ts,
                f: val,
                h: None,
                drop_name: true,
            })
        })
        .collect();
    Ok(Value::Vector(out))
}

/// `histogram_count`.
pub fn histogram_count(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    native_map(c, |h| h.count)
}

/// `histogram_sum`.
pub fn histogram_sum(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    native_map(c, |h| h.sum)
}

/// `histogram_avg`.
pub fn histogram_avg(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    native_map(c, |h| h.sum / h.count)
}

fn variance(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let (mut var, mut cv) = (0.0, 0.0);
    for b in histogram::buckets(h) {
        if b.count == 0.0 {
            continue;
        }
        let val = if h.schema == histogram::CUSTOM {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let v = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 {
                -v
            } else {
                v
            }
        };
        let d = val - mean;
        (var, cv) = kahan_inc(b.count * d * d, var, cv);
    }
    (var + cv) / h.count
}

/// `histogram_stddev`.
pub fn histogram_stddev(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    native_map(c, |h| variance(h).sqrt())
}

/// `histogram_stdvar`.
pub fn histogram_stdvar(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    native_map(c, variance)
}

/// `histogram_fraction(lower, upper, v)` over native histograms and classic `le` buckets.
pub fn histogram_fraction(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let (lo, hi) = (c.scalar(0), c.scalar(1));
    by_histogram(
        c,
        2,
        &[lo],
        None,
        false,
        &|_, h| histogram::fraction(lo, hi, h),
        &|_, les| (classic_fraction(lo, hi, les), false),
    )
}

/// Fraction over classic cumulative buckets `(upper bound, cumulative count)`.
fn classic_fraction(lower: f64, upper: f64, les: &mut [Le]) -> f64 {
    les.sort_by(|a, b| a.upper.total_cmp(&b.upper));
    if les.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    let merged = coalesce(les);
    let count = merged.last().map_or(0.0, |b| b.count);
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let mut total = 0.0;
    let mut prev_count = 0.0;
    for (i, b) in merged.iter().enumerate() {
        let mut bl = if i == 0 {
            f64::NEG_INFINITY
        } else {
            merged[i - 1].upper
        };
        if i == 0 && b.upper > 0.0 {
            bl = 0.0;
        }
        let n = b.count - prev_count;
        prev_count = b.count;
        if n != 0.0 {
            total += n * histogram::overlap(lower, upper, bl, b.upper, true);
        }
    }
    total / count
}

fn coalesce(les: &[Le]) -> Vec<Le> {
    let mut merged: Vec<Le> = Vec::with_capacity(les.len());
    for b in les {
        match merged.last_mut() {
            Some(l) if l.upper == b.upper => l.count += b.count,
            _ => merged.push(*b),
        }
    }
    merged
}

/// Quantile over classic cumulative buckets `(upper bound, cumulative count)`.
pub fn classic_quantile(q: f64, les: Vec<(f64, f64)>) -> f64 {
    let mut v: Vec<Le> = les
        .into_iter()
        .map(|(upper, count)| Le { upper, count })
        .collect();
    bucket_quantile(q, &mut v).0
}

/// One classic bucket.
#[derive(Clone, Copy)]
struct Le {
    upper: f64,
    count: f64,
}

/// `almost.Equal` from Prometheus.
fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Quantile over classic buckets; returns `(value, forced_monotonic)`.
fn bucket_quantile(q: f64, buckets: &mut [Le]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.upper.total_cmp(&b.upper));
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return (f64::NAN, false);
    }
    // Coalesce buckets with the same bound.
    let mut merged = coalesce(buckets);
    let mut forced = false;
    let mut prev = merged[0].count;
    for b in merged.iter_mut().skip(1) {
        let cur = b.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) {
            b.count = prev;
            continue;
        }
        if cur < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    let n = merged.len();
    if n < 2 {
        return (f64::NAN, forced);
    }
    let obs = merged[n - 1].count;
    if obs == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * obs;
    let b = merged[..n - 1].partition_point(|x| x.count < rank);
    if b == n - 1 {
        return (merged[n - 2].upper, forced);
    }
    if b == 0 && merged[0].upper <= 0.0 {
        return (merged[0].upper, forced);
    }
    let mut start = 0.0;
    let end = merged[b].upper;
    let mut count = merged[b].count;
    if b > 0 {
        start = merged[b - 1].upper;
        count -= merged[b - 1].count;
        rank -= merged[b - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Parses an `le` value like Go's `strconv.ParseFloat`.
fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

struct ClassicGroup {
    labels: Labels,
    buckets: Vec<Le>,
    has_native: bool,
}

type NativeFn<'f> = dyn Fn(f64, &FloatHistogram) -> f64 + 'f;
type ClassicFn<'f> = dyn Fn(f64, &mut [Le]) -> (f64, bool) + 'f;

/// Applies a per-histogram calculation to native histograms and to classic bucket groups,
/// once per parameter in `params` (labelled with `param_label` when given).
fn by_histogram(
    c: &mut FnCall<'_>,
    vec_arg: usize,
    params: &[f64],
    param_label: Option<&str>,
    is_quantile: bool,
    native: &NativeFn<'_>,
    classic: &ClassicFn<'_>,
) -> Result<Value, EvalError> {
    let vpos = c.arg_pos(vec_arg);
    let v = c.take_vector(vec_arg);
    let mut groups: Vec<ClassicGroup> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut natives: Vec<Sample> = Vec::new();
    for s in v {
        if s.h.is_some() {
            natives.push(s);
            continue;
        }
        let name = s.metric.metric_name().unwrap_or("").to_string();
        let le = s.metric.get("le").map(str::to_owned);
        let Some(upper) = le.as_deref().and_then(parse_le) else {
            c.annotations.warn(
                format!("bucket label \"le\" is missing or has a malformed value of {:?} for metric name {name:?}", le.unwrap_or_default()),
                vpos,
            );
            continue;
        };
        let mut b = s.metric.builder();
        b.del("le");
        let key = b.build();
        let gi = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(ClassicGroup {
                labels: key,
                buckets: Vec::new(),
                has_native: false,
            });
            groups.len() - 1
        });
        groups[gi].buckets.push(Le { upper, count: s.f });
    }
    let mut out = Vec::new();
    let label_value = |q: f64| {
        let s = format_float(q);
        if s.contains(['.', 'e', 'I', 'N']) {
            s
        } else {
            format!("{s}.0")
        }
    };
    for n in natives {
        if let Some(&gi) = index.get(&n.metric) {
            groups[gi].has_native = true;
            c.annotations.warn(
                format!(
                    "vector contains a mix of classic and native histograms for metric name {:?}",
                    n.metric.metric_name().unwrap_or("")
                ),
                vpos,
            );
            continue;
        }
        let Some(h) = n.h.as_deref() else { continue };
        let nan_obs = histogram::nan_observations(h) > 0.0;
        let name = n.metric.metric_name().unwrap_or("").to_string();
        for &q in params {
            if nan_obs {
                let v = native(q, h);
                let msg = if param_label.is_none() && params.len() == 1 && !is_quantile {
                    format!("input to histogram_fraction has NaN observations, which are excluded from all fractions for metric name {name:?}")
                } else if v.is_nan() {
                    format!("input to histogram_quantile has NaN observations, result is NaN for metric name {name:?}")
                } else {
                    format!("input to histogram_quantile has NaN observations, result is skewed higher for metric name {name:?}")
                };
                c.annotations.info(msg, vpos);
            }
            let mut metric = n.metric.clone();
            if let Some(l) = param_label {
                let mut b = metric.builder();
                b.set(l, label_value(q));
                metric = b.build();
            }
            out.push(Sample {
                metric,
                t: c.ts,
                f: native(q, h),
                h: None,
                drop_name: true,
            });
        }
    }
    for mut g in groups {
        if g.has_native {
            continue;
        }
        for &q in params {
            let (val, forced) = classic(q, &mut g.buckets);
            if forced {
                c.annotations.info(
                    format!(
                        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}",
                        g.labels.metric_name().unwrap_or("")
                    ),
                    vpos,
                );
            }
            let mut metric = g.labels.clone();
            if let Some(l) = param_label {
                let mut b = metric.builder();
                b.set(l, label_value(q));
                metric = b.build();
            }
            out.push(Sample {
                metric,
                t: c.ts,
                f: val,
                h: None,
                drop_name: true,
            });
        }
    }
    Ok(Value::Vector(out))
}

fn quantiles_of(
    c: &mut FnCall<'_>,
    qs: &[f64],
    vec_arg: usize,
    q_label: Option<&str>,
) -> Result<Value, EvalError> {
    for &q in qs {
        if !(0.0..=1.0).contains(&q) {
            let qpos = c.arg_pos(if q_label.is_some() { 2 } else { 0 });
            c.annotations.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_float(q)
                ),
                qpos,
            );
        }
    }
    by_histogram(
        c,
        vec_arg,
        qs,
        q_label,
        true,
        &|q, h| histogram::quantile(q, h),
        &|q, les| bucket_quantile(q, les),
    )
}

/// `histogram_quantile(q, buckets)`.
pub fn histogram_quantile(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let q = c.scalar(0);
    quantiles_of(c, &[q], 1, None)
}

/// `histogram_quantiles(v, label, q...)` (experimental): several quantiles at once, each
/// labelled with its `q` value.
pub fn histogram_quantiles(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let label = c.string(1)?.to_owned();
    if !super::valid_label_name(&label) {
        return Err(EvalError::Execution(format!(
            "invalid label name {}",
            super::go_quote(&label)
        )));
    }
    let qs: Vec<f64> = (2..c.args.len()).map(|i| c.scalar(i)).collect();
    quantiles_of(c, &qs, 0, Some(&label))
}
