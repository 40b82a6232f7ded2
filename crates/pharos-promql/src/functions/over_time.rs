//! Functions over a range of samples of each series: `*_over_time`, `changes`, `resets`,
//! `deriv`, `predict_linear`, `double_exponential_smoothing`.

use pharos_model::FloatHistogram;

use super::FnCall;
use crate::engine::aggregate::{avg, kahan_inc, quantile};
use crate::engine::EvalError;
use crate::histogram;
use crate::value::{format_float, FPoint, Sample, Series, Value};

/// True when going from `prev` to `cur` is a counter reset.
pub fn detect_reset(prev: &FloatHistogram, cur: &FloatHistogram) -> bool {
    if cur.counter_reset_hint == 1 {
        return true;
    }
    if cur.counter_reset_hint == 2 {
        return false;
    }
    if cur.count < prev.count || cur.zero_count < prev.zero_count {
        return true;
    }
    if cur.schema != prev.schema
        && !(prev.schema != histogram::CUSTOM
            && cur.schema != histogram::CUSTOM
            && cur.schema < prev.schema)
    {
        return cur.schema > prev.schema
            || cur.schema == histogram::CUSTOM
            || prev.schema == histogram::CUSTOM;
    }
    if cur.zero_threshold < prev.zero_threshold {
        return true;
    }
    // Any bucket that decreased (after converting prev to the current schema) is a reset.
    match histogram::add(cur, prev, true) {
        Ok((d, _)) => d
            .positive_buckets
            .iter()
            .chain(d.negative_buckets.iter())
            .any(|&c| c < 0.0),
        Err(_) => true,
    }
}

fn name_of(s: &Series) -> String {
    s.metric.metric_name().unwrap_or("").to_string()
}

/// Applies `f` to each series' floats; series with histograms get the `hist` treatment.
fn over_floats(
    c: &mut FnCall<'_>,
    keep_name: bool,
    fname: &str,
    f: impl Fn(&[FPoint]) -> Option<f64>,
) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let pos = c.arg_pos(0);
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        let _ = fname;
        if !s.hists.is_empty() && !s.floats.is_empty() {
            c.annotations.info(
                format!(
                    "ignored histograms in a range vector for metric name {:?}",
                    name_of(&s)
                ),
                pos,
            );
        }
        if s.floats.is_empty() {
            continue;
        }
        if let Some(v) = f(&s.floats) {
            out.push(c.sample(s.metric, v, !keep_name));
        }
    }
    Ok(Value::Vector(out))
}

/// `avg_over_time`.
pub fn avg_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    sum_or_avg(c, true)
}

/// `sum_over_time`.
pub fn sum_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    sum_or_avg(c, false)
}

fn sum_or_avg(c: &mut FnCall<'_>, is_avg: bool) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let pos = c.arg_pos(0);
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        if !s.hists.is_empty() && !s.floats.is_empty() {
            c.annotations.warn(
                format!(
                    "encountered a mix of histograms and floats for metric name {:?}",
                    name_of(&s)
                ),
                pos,
            );
            continue;
        }
        if !s.hists.is_empty() {
            let hs: Vec<&FloatHistogram> = s.hists.iter().map(|p| &*p.h).collect();
            if let Some(h) = histogram::aggregate(is_avg, &hs, pos, c.annotations) {
                let mut smp = c.sample(s.metric, 0.0, true);
                smp.h = Some(Box::new(h));
                out.push(smp);
            }
            continue;
        }
        if s.floats.is_empty() {
            continue;
        }
        let v = if is_avg {
            avg(s.floats.iter().map(|p| p.f))
        } else {
            let (mut sum, mut comp) = (0.0f64, 0.0f64);
            for p in &s.floats {
                (sum, comp) = kahan_inc(p.f, sum, comp);
            }
            if sum.is_infinite() {
                sum
            } else {
                sum + comp
            }
        };
        out.push(c.sample(s.metric, v, true));
    }
    Ok(Value::Vector(out))
}

/// `count_over_time`.
pub fn count_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let out = m
        .into_iter()
        .filter(|s| !s.floats.is_empty() || !s.hists.is_empty())
        .map(|s| {
            let n = (s.floats.len() + s.hists.len()) as f64;
            c.sample(s.metric, n, true)
        })
        .collect();
    Ok(Value::Vector(out))
}

/// `present_over_time`.
pub fn present_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let out = m
        .into_iter()
        .filter(|s| !s.floats.is_empty() || !s.hists.is_empty())
        .map(|s| c.sample(s.metric, 1.0, true))
        .collect();
    Ok(Value::Vector(out))
}

/// `min_over_time`.
pub fn min_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    over_floats(c, false, "min_over_time", |p| {
        let mut v = p[0].f;
        for x in &p[1..] {
            if x.f < v || v.is_nan() {
                v = x.f;
            }
        }
        Some(v)
    })
}

/// `max_over_time`.
pub fn max_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    over_floats(c, false, "max_over_time", |p| {
        let mut v = p[0].f;
        for x in &p[1..] {
            if x.f > v || v.is_nan() {
                v = x.f;
            }
        }
        Some(v)
    })
}

fn ts_of(c: &mut FnCall<'_>, pick: fn(&[FPoint]) -> usize) -> Result<Value, EvalError> {
    over_floats(c, false, "ts_of", |p| Some(p[pick(p)].t as f64 / 1000.0))
}

/// `ts_of_min_over_time`.
pub fn ts_of_min_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    ts_of(c, |p| {
        let mut best = 0;
        for (i, x) in p.iter().enumerate() {
            if x.f <= p[best].f || p[best].f.is_nan() {
                best = i;
            }
        }
        best
    })
}

/// `ts_of_max_over_time`.
pub fn ts_of_max_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    ts_of(c, |p| {
        let mut best = 0;
        for (i, x) in p.iter().enumerate() {
            if x.f >= p[best].f || p[best].f.is_nan() {
                best = i;
            }
        }
        best
    })
}

/// `ts_of_first_over_time`.
pub fn ts_of_first_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    ts_of_edge(c, false)
}

/// `ts_of_last_over_time`.
pub fn ts_of_last_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    ts_of_edge(c, true)
}

/// The timestamp (in seconds) of the first or last sample of each series, floats and
/// histograms together.
fn ts_of_edge(c: &mut FnCall<'_>, last: bool) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let mut out = Vec::new();
    for s in m {
        let (f, h) = if last {
            (s.floats.last().map(|p| p.t), s.hists.last().map(|p| p.t))
        } else {
            (s.floats.first().map(|p| p.t), s.hists.first().map(|p| p.t))
        };
        let both = f.into_iter().chain(h);
        let t = if last { both.max() } else { both.min() };
        if let Some(t) = t {
            out.push(c.sample(s.metric, t as f64 / 1000.0, true));
        }
    }
    Ok(Value::Vector(out))
}

fn first_or_last(c: &mut FnCall<'_>, last: bool) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let mut out = Vec::new();
    for s in m {
        let f = if last {
            s.floats.last()
        } else {
            s.floats.first()
        };
        let h = if last {
            s.hists.last()
        } else {
            s.hists.first()
        };
        let use_h = match (f, h) {
            (Some(f), Some(h)) => (h.t > f.t) == last,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (None, None) => continue,
        };
        let smp = if use_h {
            let h = h.map(|p| p.h.clone());
            Sample {
                metric: s.metric,
                t: c.ts,
                f: 0.0,
                h,
                drop_name: s.drop_name,
            }
        } else {
            Sample {
                metric: s.metric,
                t: c.ts,
                f: f.map_or(0.0, |p| p.f),
                h: None,
                drop_name: s.drop_name,
            }
        };
        out.push(smp);
    }
    Ok(Value::Vector(out))
}

/// `last_over_time` (keeps the metric name).
pub fn last_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    first_or_last(c, true)
}

/// `first_over_time` (keeps the metric name).
pub fn first_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    first_or_last(c, false)
}

/// `quantile_over_time(q, range)`.
pub fn quantile_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let q = c.scalar(0);
    if !(0.0..=1.0).contains(&q) {
        c.annotations.warn(
            format!(
                "quantile value should be between 0 and 1, got {}",
                format_float(q)
            ),
            c.arg_pos(0),
        );
    }
    let m = match c.args.get_mut(1) {
        Some(Value::Matrix(m)) => std::mem::take(m),
        _ => Vec::new(),
    };
    let pos = c.arg_pos(1);
    let mut out = Vec::new();
    for s in m {
        if !s.hists.is_empty() && !s.floats.is_empty() {
            c.annotations.info(
                format!(
                    "ignored histograms in a range vector for metric name {:?}",
                    name_of(&s)
                ),
                pos,
            );
        }
        if s.floats.is_empty() {
            continue;
        }
        let mut v: Vec<f64> = s.floats.iter().map(|p| p.f).collect();
        out.push(c.sample(s.metric, quantile(q, &mut v), true));
    }
    Ok(Value::Vector(out))
}

fn variance(p: &[FPoint]) -> f64 {
    let (mut n, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for x in p {
        n += 1.0;
        let d = x.f - (mean + cm);
        (mean, cm) = kahan_inc(d / n, mean, cm);
        (aux, ca) = kahan_inc(d * (x.f - (mean + cm)), aux, ca);
    }
    (aux + ca) / n
}

/// `stddev_over_time`.
pub fn stddev_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    over_floats(c, false, "stddev_over_time", |p| Some(variance(p).sqrt()))
}

/// `stdvar_over_time`.
pub fn stdvar_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    over_floats(c, false, "stdvar_over_time", |p| Some(variance(p)))
}

/// `mad_over_time`: median absolute deviation.
pub fn mad_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    over_floats(c, false, "mad_over_time", |p| {
        if p.iter().any(|x| x.f.is_nan()) {
            return Some(f64::NAN);
        }
        let mut v: Vec<f64> = p.iter().map(|x| x.f).collect();
        let med = quantile(0.5, &mut v);
        let mut dev: Vec<f64> = p.iter().map(|x| (x.f - med).abs()).collect();
        Some(quantile(0.5, &mut dev))
    })
}

/// `changes`.
pub fn changes(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let mut out = Vec::new();
    for s in m {
        if s.floats.is_empty() && s.hists.is_empty() {
            continue;
        }
        let mut n = 0.0;
        for w in s.floats.windows(2) {
            if w[0].f != w[1].f && !(w[0].f.is_nan() && w[1].f.is_nan()) {
                n += 1.0;
            }
        }
        for w in s.hists.windows(2) {
            if !histogram::hist_equal(&w[0].h, &w[1].h) {
                n += 1.0;
            }
        }
        if !s.floats.is_empty() && !s.hists.is_empty() {
            // Kind changes count too.
            let mut all: Vec<(i64, bool)> = s
                .floats
                .iter()
                .map(|p| (p.t, false))
                .chain(s.hists.iter().map(|p| (p.t, true)))
                .collect();
            all.sort_by_key(|x| x.0);
            n = 0.0;
            let mut prev_f: Option<f64> = None;
            let mut prev_h: Option<&FloatHistogram> = None;
            let (mut fi, mut hi) = (0, 0);
            for (i, (_, is_h)) in all.iter().enumerate() {
                if *is_h {
                    let h = &*s.hists[hi].h;
                    hi += 1;
                    if i > 0
                        && (prev_h.is_none_or(|p| !histogram::hist_equal(p, h)) || prev_f.is_some())
                    {
                        n += 1.0;
                    }
                    prev_h = Some(h);
                    prev_f = None;
                } else {
                    let f = s.floats[fi].f;
                    fi += 1;
                    if i > 0
                        && (prev_h.is_some()
                            || prev_f.is_some_and(|p| p != f && !(p.is_nan() && f.is_nan())))
                    {
                        n += 1.0;
                    }
                    prev_f = Some(f);
                    prev_h = None;
                }
            }
        }
        out.push(c.sample(s.metric, n, true));
    }
    Ok(Value::Vector(out))
}

/// `resets`.
pub fn resets(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let mut out = Vec::new();
    for s in m {
        if s.floats.is_empty() && s.hists.is_empty() {
            continue;
        }
        let mut n = 0.0;
        if s.hists.is_empty() || s.floats.is_empty() {
            for w in s.floats.windows(2) {
                if w[1].f < w[0].f {
                    n += 1.0;
                }
            }
            for w in s.hists.windows(2) {
                if detect_reset(&w[0].h, &w[1].h) {
                    n += 1.0;
                }
            }
        } else {
            let mut all: Vec<(i64, Option<&FloatHistogram>, f64)> = s
                .floats
                .iter()
                .map(|p| (p.t, None, p.f))
                .chain(s.hists.iter().map(|p| (p.t, Some(&*p.h), 0.0)))
                .collect();
            all.sort_by_key(|x| x.0);
            for w in all.windows(2) {
                match (w[0].1, w[1].1) {
                    (None, None) if w[1].2 < w[0].2 => n += 1.0,
                    (Some(a), Some(b)) if detect_reset(a, b) => n += 1.0,
                    (None, Some(_)) | (Some(_), None) => n += 1.0,
                    _ => {}
                }
            }
        }
        out.push(c.sample(s.metric, n, true));
    }
    Ok(Value::Vector(out))
}

/// Least-squares fit of `samples`, with x measured in seconds from `intercept_t`.
fn linear_regression(p: &[FPoint], intercept_t: i64) -> (f64, f64) {
    let init = p[0].f;
    let const_y = p.iter().all(|x| x.f == init);
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for s in p {
        n += 1.0;
        let x = (s.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.f, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.f, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `deriv`.
pub fn deriv(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    regression_per_series(c, None)
}

/// `predict_linear(range, seconds)`.
pub fn predict_linear(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let d = c.scalar(1);
    regression_per_series(c, Some(d))
}

/// Fits a line through each series' float samples: the slope (`deriv`, `predict_for` None), or
/// the value predicted `predict_for` seconds after the evaluation time (`predict_linear`).
fn regression_per_series(c: &mut FnCall<'_>, predict_for: Option<f64>) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let pos = c.arg_pos(0);
    let mut out = Vec::new();
    for s in m {
        if !s.hists.is_empty() && !s.floats.is_empty() {
            c.annotations.info(
                format!(
                    "ignored histograms in a range vector for metric name {:?}",
                    name_of(&s)
                ),
                pos,
            );
        }
        if s.floats.len() < 2 {
            continue;
        }
        let v = match predict_for {
            None => linear_regression(&s.floats, s.floats[0].t).0,
            Some(d) => {
                let (slope, intercept) = linear_regression(&s.floats, c.ts);
                slope * d + intercept
            }
        };
        out.push(c.sample(s.metric, v, true));
    }
    Ok(Value::Vector(out))
}

/// `double_exponential_smoothing(range, sf, tf)` (formerly `holt_winters`).
pub fn double_exponential_smoothing(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let sf = c.scalar(1);
    let tf = c.scalar(2);
    if !(sf > 0.0 && sf < 1.0) {
        return Err(EvalError::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            go_f(sf)
        )));
    }
    if !(tf > 0.0 && tf < 1.0) {
        return Err(EvalError::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            go_f(tf)
        )));
    }
    let m = c.take_matrix(0);
    let pos = c.arg_pos(0);
    let mut out = Vec::new();
    for s in m {
        if !s.hists.is_empty() && !s.floats.is_empty() {
            c.annotations.info(
                format!(
                    "ignored histograms in a range vector for metric name {:?}",
                    name_of(&s)
                ),
                pos,
            );
        }
        let p = &s.floats;
        if p.len() < 2 {
            continue;
        }
        let (mut s0, mut s1, mut b) = (0.0, p[0].f, p[1].f - p[0].f);
        for (i, x) in p.iter().enumerate().skip(1) {
            let xs = sf * x.f;
            if i > 1 {
                b = tf * (s1 - s0) + (1.0 - tf) * b;
            }
            let y = (1.0 - sf) * (s1 + b);
            s0 = s1;
            s1 = xs + y;
        }
        out.push(c.sample(s.metric, s1, true));
    }
    Ok(Value::Vector(out))
}

/// Go's `%f`.
fn go_f(v: f64) -> String {
    format!("{v:.6}")
}
