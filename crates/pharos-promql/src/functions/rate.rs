//! `rate`, `increase`, `delta` (extrapolated to the window edges exactly as Prometheus does),
//! and `irate`, `idelta` (last two samples).

use pharos_model::FloatHistogram;

use super::FnCall;
use crate::engine::EvalError;
use crate::histogram;
use crate::value::{FPoint, Series, Value};

const COUNTER_SUFFIXES: [&str; 4] = ["_total", "_sum", "_count", "_bucket"];

/// `rate(v range-vector)`.
pub fn rate(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    extrapolated(c, true, true)
}

/// `increase(v range-vector)`.
pub fn increase(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    extrapolated(c, true, false)
}

/// `delta(v range-vector)`.
pub fn delta(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    extrapolated(c, false, false)
}

fn extrapolated(c: &mut FnCall<'_>, is_counter: bool, is_rate: bool) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let Some((range_start, range_end)) = c.window else {
        return Ok(Value::Vector(Vec::new()));
    };
    let (anchored, smoothed) = c.range_flags;
    let pos = c.arg_pos(0);
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        // Borrowed: this loop runs once per series per step, so no allocation here.
        let metric = s.metric.clone();
        let name = metric.metric_name().unwrap_or("");
        if is_counter && !s.floats.is_empty() && lacks_counter_suffix(name) {
            c.annotations.info(
                format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"),
                pos,
            );
        }
        if !s.hists.is_empty() && !s.floats.is_empty() {
            c.annotations.warn(
                format!("encountered a mix of histograms and floats for metric name {name:?}"),
                pos,
            );
            continue;
        }
        if (anchored || smoothed) && !s.hists.is_empty() {
            let edges = (range_start, range_end);
            if let Some(h) = extended_histogram(c, &s, name, edges, is_counter, is_rate, smoothed) {
                let mut smp = c.sample(s.metric, 0.0, true);
                smp.h = Some(Box::new(h));
                out.push(smp);
            }
            continue;
        }
        if anchored || smoothed {
            if let Some(v) = extended(&s, range_start, range_end, is_counter, is_rate, smoothed) {
                out.push(c.sample(s.metric, v, true));
            }
            continue;
        }
        if s.hists.len() > 1 {
            if let Some(h) =
                histogram_rate(c, &s, name, is_counter, is_rate, range_start, range_end)
            {
                let mut smp = c.sample(s.metric, 0.0, true);
                smp.h = Some(Box::new(h));
                out.push(smp);
            }
            continue;
        }
        if let Some(v) = float_change(&s.floats, range_start, range_end, is_counter, is_rate) {
            out.push(c.sample(s.metric, v, true));
        }
    }
    Ok(Value::Vector(out))
}

/// The extrapolated change of float samples over the window `(range_start, range_end]`:
/// `rate` (`is_rate`), `increase` (`is_counter`) or `delta`. `None` below two samples.
pub(crate) fn float_change(
    points: &[FPoint],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (first, last) = match points {
        [first, .., last] => (*first, *last),
        _ => return None,
    };
    let mut result = last.f - first.f;
    if is_counter {
        let mut prev = first.f;
        for p in &points[1..] {
            if p.f < prev {
                result += prev;
            }
            prev = p.f;
        }
    }
    Some(extrapolate_change(
        first,
        last,
        points.len(),
        result,
        (range_start, range_end),
        is_counter,
        is_rate,
    ))
}

/// Extrapolates the raw change `result` between the window's `first` and `last` of `len`
/// samples to the window `(start, end]`, as [`float_change`] does after summing resets.
pub(crate) fn extrapolate_change(
    first: FPoint,
    last: FPoint,
    len: usize,
    result: f64,
    (range_start, range_end): (i64, i64),
    is_counter: bool,
    is_rate: bool,
) -> f64 {
    let n1 = (len.max(2) - 1) as f64;
    let factor = extrapolation_factor(
        first.t,
        last.t,
        n1,
        range_start,
        range_end,
        is_counter && result > 0.0 && first.f >= 0.0,
        first.f,
        result,
        is_rate,
    );
    result * factor
}

/// The "might not be a counter" info applies to float series whose name lacks a counter suffix.
pub(crate) fn lacks_counter_suffix(name: &str) -> bool {
    !name.is_empty() && !COUNTER_SUFFIXES.iter().any(|x| name.ends_with(x))
}

#[allow(clippy::too_many_arguments)]
fn extrapolation_factor(
    first_t: i64,
    last_t: i64,
    n_minus_one: f64,
    range_start: i64,
    range_end: i64,
    zero_clamp: bool,
    first_v: f64,
    result: f64,
    is_rate: bool,
) -> f64 {
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = sampled / n_minus_one;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if zero_clamp {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    factor
}

/// [`extended`] for native histograms: the histograms at the window edges are the samples at
/// or before them (anchored) or interpolated between neighbours (smoothed), and resets are
/// found by [`crate::functions::detect_reset`].
fn extended_histogram(
    c: &mut FnCall<'_>,
    s: &Series,
    name: &str,
    (lo, hi): (i64, i64),
    is_counter: bool,
    is_rate: bool,
    smoothed: bool,
) -> Option<FloatHistogram> {
    let pos = c.arg_pos(0);
    let pts = &s.hists;
    let gauges = pts
        .iter()
        .filter(|p| p.h.counter_reset_hint == histogram::GAUGE)
        .count();
    if is_counter && gauges > 0 {
        c.annotations.warn(
            format!("this native histogram metric is not a counter: {name:?}"),
            pos,
        );
    }
    if !is_counter && gauges < pts.len() {
        c.annotations.warn(
            format!("this native histogram metric is not a gauge: {name:?}"),
            pos,
        );
    }
    let mixed = || {
        format!("vector contains a mix of histograms with exponential and custom buckets schemas for metric name {name:?}")
    };
    // The histogram at an edge, with the timestamp of the sample it is when not interpolated.
    type Edge = (FloatHistogram, Option<i64>);
    let value_at = |t: i64| -> Option<Result<Edge, ()>> {
        let i = pts.partition_point(|p| p.t <= t);
        let first = pts.first()?;
        if i == 0 {
            return Some(Ok(((*first.h).clone(), Some(first.t))));
        }
        let a = pts.get(i - 1)?;
        if !smoothed || a.t == t || i == pts.len() {
            return Some(Ok(((*a.h).clone(), Some(a.t))));
        }
        let b = pts.get(i)?;
        let frac = (t - a.t) as f64 / (b.t - a.t) as f64;
        if is_counter && crate::functions::detect_reset(&a.h, &b.h) {
            let mut v = (*b.h).clone();
            histogram::scale(&mut v, frac);
            return Some(Ok((v, None)));
        }
        let Ok((mut step, _)) = histogram::add(&b.h, &a.h, true) else {
            return Some(Err(()));
        };
        histogram::scale(&mut step, frac);
        Some(
            histogram::add(&a.h, &step, false)
                .map(|r| (r.0, None))
                .map_err(|_| ()),
        )
    };
    let (Ok(start_v), Ok(end_v)) = (value_at(lo)?, value_at(hi)?) else {
        c.annotations.warn(mixed(), pos);
        return None;
    };
    let Ok((mut result, _)) = histogram::add(&end_v.0, &start_v.0, true) else {
        c.annotations.warn(mixed(), pos);
        return None;
    };
    if is_counter {
        // The edges and the samples between them, each stored sample once.
        let mut seq: Vec<(&FloatHistogram, Option<i64>)> = vec![(&start_v.0, start_v.1)];
        for p in pts.iter().filter(|p| p.t > lo && p.t <= hi) {
            if seq.last().and_then(|x| x.1) != Some(p.t) {
                seq.push((&p.h, Some(p.t)));
            }
        }
        if seq.last().and_then(|x| x.1).is_none() || seq.last().and_then(|x| x.1) != end_v.1 {
            seq.push((&end_v.0, end_v.1));
        }
        for w in seq.windows(2) {
            let [(prev, pt), (cur, ct)] = w else {
                continue;
            };
            // Interpolated edges already account for a reset they cross; compare those by
            // value only, as their hints belong to the sample they were scaled from.
            let reset = if pt.is_some() && ct.is_some() {
                crate::functions::detect_reset(prev, cur)
            } else {
                let mut plain = (*cur).clone();
                plain.counter_reset_hint = 0;
                crate::functions::detect_reset(prev, &plain)
            };
            if reset {
                let Ok((r, _)) = histogram::add(&result, prev, false) else {
                    c.annotations.warn(mixed(), pos);
                    return None;
                };
                result = r;
            }
        }
    }
    if is_rate {
        histogram::scale(&mut result, 1000.0 / (hi - lo) as f64);
    }
    result.counter_reset_hint = histogram::GAUGE;
    Some(result)
}

/// Anchored and smoothed ranges: no extrapolation; the value at each window edge is taken from
/// the sample at or before it (anchored) or interpolated between neighbours (smoothed).
fn extended(
    s: &Series,
    lo: i64,
    hi: i64,
    is_counter: bool,
    is_rate: bool,
    smoothed: bool,
) -> Option<f64> {
    let pts = &s.floats;
    if pts.is_empty() {
        return None;
    }
    let value_at = |t: i64| -> Option<f64> {
        let i = pts.partition_point(|p| p.t <= t);
        if smoothed {
            if i == 0 {
                return Some(pts[0].f);
            }
            let a = pts[i - 1];
            if a.t == t || i == pts.len() {
                return Some(a.f);
            }
            let b = pts[i];
            if is_counter && b.f < a.f {
                return Some(b.f * (t - a.t) as f64 / (b.t - a.t) as f64);
            }
            Some(a.f + (b.f - a.f) * (t - a.t) as f64 / (b.t - a.t) as f64)
        } else if i == 0 {
            Some(pts[0].f)
        } else {
            Some(pts[i - 1].f)
        }
    };
    let start_v = value_at(lo)?;
    let end_v = value_at(hi)?;
    let mut result = end_v - start_v;
    if is_counter {
        let inner: Vec<f64> = std::iter::once(start_v)
            .chain(pts.iter().filter(|p| p.t > lo && p.t <= hi).map(|p| p.f))
            .chain(std::iter::once(end_v))
            .collect();
        for w in inner.windows(2) {
            if w[1] < w[0] {
                result += w[0];
            }
        }
    }
    if is_rate {
        result /= (hi - lo) as f64 / 1000.0;
    }
    Some(result)
}

fn histogram_rate(
    c: &mut FnCall<'_>,
    s: &Series,
    name: &str,
    is_counter: bool,
    is_rate: bool,
    range_start: i64,
    range_end: i64,
) -> Option<FloatHistogram> {
    let pos = c.arg_pos(0);
    let first = &s.hists[0];
    let last = &s.hists[s.hists.len() - 1];
    if is_counter
        && s.hists
            .iter()
            .any(|h| h.h.counter_reset_hint == histogram::GAUGE)
    {
        c.annotations.warn(
            format!("this native histogram metric is not a counter: {name:?}"),
            pos,
        );
    }
    if !is_counter
        && s.hists
            .iter()
            .any(|h| h.h.counter_reset_hint != histogram::GAUGE)
    {
        c.annotations.warn(
            format!("this native histogram metric is not a gauge: {name:?}"),
            pos,
        );
    }
    // Every sample after the first must use the last one's kind of buckets. The first may
    // differ: the change of kind is then a counter reset at the second sample, so the first
    // sample drops out of the difference and only its count still bounds the extrapolation.
    let schema_custom = last.h.schema == histogram::CUSTOM;
    let rest = s.hists.get(1..).unwrap_or_default();
    if rest
        .iter()
        .any(|h| (h.h.schema == histogram::CUSTOM) != schema_custom)
    {
        c.annotations.warn(
            format!("vector contains a mix of histograms with exponential and custom buckets schemas for metric name {name:?}"),
            pos,
        );
        return None;
    }
    let first_differs = (first.h.schema == histogram::CUSTOM) != schema_custom;
    let mut result = if first_differs {
        (*last.h).clone()
    } else {
        let (diff, mismatch) = histogram::add(&last.h, &first.h, true).ok()?;
        if mismatch {
            c.annotations.info(
                "mismatched custom buckets were reconciled during subtraction",
                pos,
            );
        }
        diff
    };
    if is_counter {
        let (mut prev, tail) = if first_differs {
            (&rest.first()?.h, rest.get(1..).unwrap_or_default())
        } else {
            (&first.h, rest)
        };
        for p in tail {
            if crate::functions::over_time::detect_reset(prev, &p.h) {
                result = histogram::add(&result, prev, false).ok()?.0;
            }
            prev = &p.h;
        }
    }
    // The schema of the result is the minimum of all samples that take part.
    let min_schema = s
        .hists
        .iter()
        .skip(usize::from(first_differs))
        .map(|h| h.h.schema)
        .min()
        .unwrap_or(result.schema);
    if min_schema < result.schema && !schema_custom {
        let zero = FloatHistogram {
            schema: min_schema,
            ..Default::default()
        };
        result = histogram::add(&result, &zero, false).ok()?.0;
    }
    let n1 = (s.hists.len() - 1) as f64;
    let zero_clamp = is_counter && result.count > 0.0 && first.h.count >= 0.0;
    let factor = extrapolation_factor(
        first.t,
        last.t,
        n1,
        range_start,
        range_end,
        zero_clamp,
        first.h.count,
        result.count,
        is_rate,
    );
    histogram::scale(&mut result, factor);
    result.counter_reset_hint = histogram::GAUGE;
    Some(result)
}

/// `irate(v range-vector)`.
pub fn irate(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    instant(c, true)
}

/// `idelta(v range-vector)`.
pub fn idelta(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    instant(c, false)
}

fn instant(c: &mut FnCall<'_>, is_rate: bool) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    let pos = c.arg_pos(0);
    let mut out = Vec::new();
    for s in m {
        if s.floats.len() + s.hists.len() < 2 {
            continue;
        }
        // The last two samples, whatever their kind.
        let mut pts: Vec<(i64, Option<&FloatHistogram>, f64)> = Vec::with_capacity(4);
        pts.extend(s.floats.iter().rev().take(2).map(|p| (p.t, None, p.f)));
        pts.extend(
            s.hists
                .iter()
                .rev()
                .take(2)
                .map(|p| (p.t, Some(&*p.h), 0.0)),
        );
        pts.sort_by_key(|p| std::cmp::Reverse(p.0));
        let (last, prev) = (pts[0], pts[1]);
        let dt = last.0 - prev.0;
        if dt == 0 {
            continue;
        }
        match (last.1, prev.1) {
            (None, None) => {
                let mut v = last.2 - prev.2;
                if is_rate && last.2 < prev.2 {
                    v = last.2;
                }
                if is_rate {
                    v /= dt as f64 / 1000.0;
                }
                out.push(c.sample(s.metric, v, true));
            }
            (Some(lh), Some(ph)) => {
                let name = s.metric.metric_name().unwrap_or("").to_string();
                let gauges = [lh, ph]
                    .iter()
                    .filter(|h| h.counter_reset_hint == histogram::GAUGE)
                    .count();
                if is_rate && gauges > 0 {
                    c.annotations.warn(
                        format!("this native histogram metric is not a counter: {name:?}"),
                        pos,
                    );
                }
                if !is_rate && gauges == 1 {
                    c.annotations.warn(
                        format!("this native histogram metric is not a gauge: {name:?}"),
                        pos,
                    );
                }
                let mut h = if is_rate && crate::functions::over_time::detect_reset(ph, lh) {
                    lh.clone()
                } else {
                    match histogram::add(lh, ph, true) {
                        Ok((h, mismatch)) => {
                            if mismatch {
                                c.annotations.info(
                                    "mismatched custom buckets were reconciled during subtraction",
                                    pos,
                                );
                            }
                            h
                        }
                        Err(_) => {
                            c.annotations.warn(
                                format!("vector contains a mix of histograms with exponential and custom buckets schemas for metric name {name:?}"),
                                pos,
                            );
                            continue;
                        }
                    }
                };
                if is_rate {
                    histogram::scale(&mut h, 1000.0 / dt as f64);
                }
                h.counter_reset_hint = histogram::GAUGE;
                let mut smp = c.sample(s.metric, 0.0, true);
                smp.h = Some(Box::new(h));
                out.push(smp);
            }
            _ => {
                let name = s.metric.metric_name().unwrap_or("").to_string();
                c.annotations.warn(
                    format!("encountered a mix of histograms and floats for metric name {name:?}"),
                    pos,
                );
            }
        }
    }
    Ok(Value::Vector(out))
}
