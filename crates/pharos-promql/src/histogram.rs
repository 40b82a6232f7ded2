//! Native histogram arithmetic for the engine: scaling, addition and subtraction across
//! schemas, aggregation, and bucket iteration for quantiles and fractions.

use std::collections::BTreeMap;

use pharos_model::{FloatHistogram, Span};

use crate::annotations::Annotations;
use crate::engine::EvalError;
use crate::parser::{BinOp, PosRange};

/// The schema number of custom-bucket histograms.
pub const CUSTOM: i32 = -53;

/// Counter reset hint: gauge histogram.
pub const GAUGE: u8 = 3;

/// Expands spans and counts into `(bucket index, count)` pairs.
pub fn expand(spans: &[Span], buckets: &[f64]) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(buckets.len());
    let mut idx = 0i32;
    let mut b = buckets.iter();
    for (n, s) in spans.iter().enumerate() {
        idx = if n == 0 {
            s.offset
        } else {
            idx.saturating_add(s.offset)
        };
        for _ in 0..s.length {
            let Some(&c) = b.next() else { break };
            out.push((idx, c));
            idx = idx.saturating_add(1);
        }
    }
    out
}

/// Packs `(index, count)` pairs (sorted) into spans and counts, keeping zero counts that are
/// inside runs so the layout stays stable.
pub fn compact(pairs: &[(i32, f64)]) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut counts = Vec::new();
    let mut prev: Option<i32> = None;
    for &(i, c) in pairs {
        if c == 0.0 {
            continue;
        }
        match prev {
            Some(p) if p.checked_add(1) == Some(i) => {
                if let Some(s) = spans.last_mut() {
                    s.length += 1;
                }
            }
            Some(p) => spans.push(Span {
                offset: i.saturating_sub(p).saturating_sub(1),
                length: 1,
            }),
            None => spans.push(Span {
                offset: i,
                length: 1,
            }),
        }
        counts.push(c);
        prev = Some(i);
    }
    (spans, counts)
}

/// Multiplies every count and the sum by `f`.
pub fn scale(h: &mut FloatHistogram, f: f64) {
    h.count *= f;
    h.sum *= f;
    h.zero_count *= f;
    h.positive_buckets.iter_mut().for_each(|c| *c *= f);
    h.negative_buckets.iter_mut().for_each(|c| *c *= f);
    if f < 0.0 && h.counter_reset_hint != GAUGE {
        h.counter_reset_hint = GAUGE;
    }
}

fn reduce(pairs: &[(i32, f64)], from: i32, to: i32) -> BTreeMap<i32, f64> {
    let mut m = BTreeMap::new();
    let d = u32::try_from(i64::from(from) - i64::from(to))
        .unwrap_or(0)
        .min(63);
    for &(i, c) in pairs {
        // Bucket i at the finer schema falls into bucket ((i-1) >> d) + 1 at the coarser one.
        let ni = if d == 0 {
            i
        } else {
            (((i64::from(i) - 1) >> d) + 1) as i32
        };
        *m.entry(ni).or_insert(0.0) += c;
    }
    m
}

/// Upper bound of exponential bucket `idx` at `schema`.
pub fn bucket_upper(schema: i32, idx: i32) -> f64 {
    if !(-4..=8).contains(&schema) {
        // Outside the schemas Prometheus defines; compute directly rather than by shifts.
        return 2f64.powf(f64::from(idx) * 2f64.powi(-schema));
    }
    if schema < 0 {
        let exp = (idx as i64) << (-schema) as u32;
        return 2f64.powi(exp as i32);
    }
    let frac_idx = idx & ((1 << schema) - 1);
    let exp = idx >> schema;
    let frac = 2f64.powf(frac_idx as f64 / f64::from(1u32 << schema)) / 2.0;
    if frac_idx == 0 {
        return 2f64.powi(exp);
    }
    frac * 2f64.powi(exp + 1)
}

/// One bucket with bounds, for quantile and fraction calculations.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Count.
    pub count: f64,
    /// Lower bound included (only the zero bucket's lower edge and negative buckets).
    pub lower_inclusive: bool,
}

/// All buckets in ascending order of bounds, zero bucket included.
pub fn buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let mut out = Vec::new();
    if h.schema == CUSTOM {
        for (i, c) in expand(&h.positive_spans, &h.positive_buckets) {
            let i = i as usize;
            let lower = if i == 0 {
                f64::NEG_INFINITY
            } else {
                h.custom_values.get(i - 1).copied().unwrap_or(f64::INFINITY)
            };
            let upper = h.custom_values.get(i).copied().unwrap_or(f64::INFINITY);
            out.push(Bucket {
                lower,
                upper,
                count: c,
                lower_inclusive: false,
            });
        }
        return out;
    }
    for (i, c) in expand(&h.negative_spans, &h.negative_buckets)
        .into_iter()
        .rev()
    {
        out.push(Bucket {
            lower: -bucket_upper(h.schema, i),
            upper: -bucket_upper(h.schema, i - 1),
            count: c,
            lower_inclusive: true,
        });
    }
    if h.zero_count != 0.0 || h.zero_threshold != 0.0 {
        out.push(Bucket {
            lower: -h.zero_threshold,
            upper: h.zero_threshold,
            count: h.zero_count,
            lower_inclusive: true,
        });
    }
    for (i, c) in expand(&h.positive_spans, &h.positive_buckets) {
        out.push(Bucket {
            lower: bucket_upper(h.schema, i - 1),
            upper: bucket_upper(h.schema, i),
            count: c,
            lower_inclusive: false,
        });
    }
    out
}

/// Adds (or, with `negate`, subtracts) `b` into `a`, converting to the coarser schema.
/// Fails for custom-bucket histograms with different bounds.
pub fn add(
    a: &FloatHistogram,
    b: &FloatHistogram,
    negate: bool,
) -> Result<(FloatHistogram, bool), &'static str> {
    let sign = if negate { -1.0 } else { 1.0 };
    let mut mismatched_custom = false;
    if (a.schema == CUSTOM) != (b.schema == CUSTOM) {
        return Err("mixed");
    }
    let mut out = a.clone();
    if a.schema == CUSTOM {
        if a.custom_values != b.custom_values {
            // Reconcile to the common bounds: the intersection of both sets of upper bounds.
            let common: Vec<f64> = a
                .custom_values
                .iter()
                .copied()
                .filter(|v| b.custom_values.contains(v))
                .collect();
            let ra = rebucket_custom(a, &common);
            let rb = rebucket_custom(b, &common);
            let (mut h, _) = add(&ra, &rb, negate)?;
            h.counter_reset_hint = if negate { GAUGE } else { merged_hint(a, b) };
            return Ok((h, true));
        }
        let mut m: BTreeMap<i32, f64> = expand(&a.positive_spans, &a.positive_buckets)
            .into_iter()
            .collect();
        for (i, c) in expand(&b.positive_spans, &b.positive_buckets) {
            *m.entry(i).or_insert(0.0) += sign * c;
        }
        let pairs: Vec<(i32, f64)> = m.into_iter().collect();
        (out.positive_spans, out.positive_buckets) = compact_keep(&pairs);
        out.count = a.count + sign * b.count;
        out.sum = a.sum + sign * b.sum;
        out.counter_reset_hint = if negate { GAUGE } else { merged_hint(a, b) };
        return Ok((out, mismatched_custom));
    }
    if !(-4..=8).contains(&a.schema) || !(-4..=8).contains(&b.schema) {
        return Err("unsupported schema");
    }
    let schema = a.schema.min(b.schema);
    let zt = a.zero_threshold.max(b.zero_threshold);
    let mut pos = reduce(
        &expand(&a.positive_spans, &a.positive_buckets),
        a.schema,
        schema,
    );
    let mut neg = reduce(
        &expand(&a.negative_spans, &a.negative_buckets),
        a.schema,
        schema,
    );
    for (i, c) in reduce(
        &expand(&b.positive_spans, &b.positive_buckets),
        b.schema,
        schema,
    ) {
        *pos.entry(i).or_insert(0.0) += sign * c;
    }
    for (i, c) in reduce(
        &expand(&b.negative_spans, &b.negative_buckets),
        b.schema,
        schema,
    ) {
        *neg.entry(i).or_insert(0.0) += sign * c;
    }
    let mut zero = a.zero_count + sign * b.zero_count;
    // Buckets entirely inside a widened zero bucket move into it.
    if zt > 0.0 {
        pos.retain(|&i, c| {
            if bucket_upper(schema, i) <= zt {
                zero += *c;
                false
            } else {
                true
            }
        });
        neg.retain(|&i, c| {
            if bucket_upper(schema, i) <= zt {
                zero += *c;
                false
            } else {
                true
            }
        });
    }
    out.schema = schema;
    out.zero_threshold = zt;
    out.zero_count = zero;
    let p: Vec<(i32, f64)> = pos.into_iter().collect();
    let n: Vec<(i32, f64)> = neg.into_iter().collect();
    (out.positive_spans, out.positive_buckets) = compact_keep(&p);
    (out.negative_spans, out.negative_buckets) = compact_keep(&n);
    out.count = a.count + sign * b.count;
    out.sum = a.sum + sign * b.sum;
    out.counter_reset_hint = if negate { GAUGE } else { merged_hint(a, b) };
    mismatched_custom = false;
    Ok((out, mismatched_custom))
}

/// The counter reset hint of a sum, following Prometheus: equal hints stay, a gauge makes a
/// gauge, anything else is unknown.
fn merged_hint(a: &FloatHistogram, b: &FloatHistogram) -> u8 {
    let (x, y) = (a.counter_reset_hint, b.counter_reset_hint);
    if x == y {
        x
    } else if x == GAUGE || y == GAUGE {
        GAUGE
    } else {
        0
    }
}

/// True when adding `a` and `b` mixes a counter reset with a non-reset.
pub fn conflicting_hints(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    matches!(
        (a.counter_reset_hint, b.counter_reset_hint),
        (1, 2) | (2, 1)
    )
}

fn compact_keep(pairs: &[(i32, f64)]) -> (Vec<Span>, Vec<f64>) {
    compact(pairs)
}

fn rebucket_custom(h: &FloatHistogram, bounds: &[f64]) -> FloatHistogram {
    let mut m: BTreeMap<i32, f64> = BTreeMap::new();
    for (i, c) in expand(&h.positive_spans, &h.positive_buckets) {
        let upper = h
            .custom_values
            .get(i as usize)
            .copied()
            .unwrap_or(f64::INFINITY);
        let ni = bounds
            .iter()
            .position(|&b| upper <= b)
            .unwrap_or(bounds.len());
        *m.entry(ni as i32).or_insert(0.0) += c;
    }
    let pairs: Vec<(i32, f64)> = m.into_iter().collect();
    let mut out = h.clone();
    (out.positive_spans, out.positive_buckets) = compact(&pairs);
    out.custom_values = bounds.to_vec();
    out
}

/// Histogram equality ignoring the counter reset hint and empty buckets.
pub fn hist_equal(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let nz = |s: &[Span], c: &[f64]| -> Vec<(i32, f64)> {
        expand(s, c).into_iter().filter(|x| x.1 != 0.0).collect()
    };
    a.schema == b.schema
        && a.count == b.count
        && a.sum == b.sum
        && a.zero_count == b.zero_count
        && a.zero_threshold == b.zero_threshold
        && a.custom_values == b.custom_values
        && nz(&a.positive_spans, &a.positive_buckets) == nz(&b.positive_spans, &b.positive_buckets)
        && nz(&a.negative_spans, &a.negative_buckets) == nz(&b.negative_spans, &b.negative_buckets)
}

/// Float value, histogram value, and whether the element is kept.
pub type ElemResult = (f64, Option<Box<FloatHistogram>>, bool);

/// Binary operation where at least one side is a histogram. Returns `(float, histogram, keep)`,
/// or `None` when the operands are incompatible (no result even with `bool`).
pub fn binop(
    op: BinOp,
    lf: f64,
    rf: f64,
    lh: Option<&FloatHistogram>,
    rh: Option<&FloatHistogram>,
    pos: PosRange,
    ann: &mut Annotations,
) -> Result<Option<ElemResult>, EvalError> {
    let name = |op: BinOp| match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        o => o.as_str(),
    };
    match (lh, rh) {
        (Some(a), Some(b)) => match op {
            BinOp::Add | BinOp::Sub => match add(a, b, op == BinOp::Sub) {
                Ok((h, mismatch)) => {
                    if mismatch {
                        let what = if op == BinOp::Add {
                            "addition"
                        } else {
                            "subtraction"
                        };
                        ann.info(
                            format!("mismatched custom buckets were reconciled during {what}"),
                            pos,
                        );
                    }
                    Ok(Some((0.0, Some(Box::new(h)), true)))
                }
                Err(_) => {
                    ann.warn("vector contains a mix of histograms with exponential and custom buckets schemas for metric name", pos);
                    Ok(None)
                }
            },
            BinOp::Eql => Ok(Some((0.0, None, hist_equal(a, b)))),
            BinOp::Neq => Ok(Some((0.0, None, !hist_equal(a, b)))),
            _ => {
                ann.info(format!("incompatible sample types encountered for binary operator \"{}\": histogram {} histogram", name(op), name(op)), pos);
                Ok(None)
            }
        },
        (Some(a), None) => match op {
            BinOp::TrimUpper | BinOp::TrimLower => Ok(Some((
                0.0,
                Some(Box::new(trim(a, rf, op == BinOp::TrimUpper))),
                true,
            ))),
            BinOp::Mul | BinOp::Div => {
                let mut h = a.clone();
                scale(&mut h, if op == BinOp::Mul { rf } else { 1.0 / rf });
                if op == BinOp::Div && rf == 0.0 {
                    // Division by zero leaves only the totals and the zero bucket.
                    h.positive_spans.clear();
                    h.positive_buckets.clear();
                    h.negative_spans.clear();
                    h.negative_buckets.clear();
                }
                Ok(Some((0.0, Some(Box::new(h)), true)))
            }
            _ => {
                ann.info(format!("incompatible sample types encountered for binary operator \"{}\": histogram {} float", name(op), name(op)), pos);
                Ok(None)
            }
        },
        (None, Some(b)) => match op {
            BinOp::Mul => {
                let mut h = b.clone();
                scale(&mut h, lf);
                Ok(Some((0.0, Some(Box::new(h)), true)))
            }
            _ => {
                ann.info(format!("incompatible sample types encountered for binary operator \"{}\": float {} histogram", name(op), name(op)), pos);
                Ok(None)
            }
        },
        (None, None) => Ok(None),
    }
}

/// A custom-bucket histogram as classic cumulative buckets `(upper bound, count)`, including
/// empty buckets so every bucket keeps its lower bound.
pub fn custom_cumulative(h: &FloatHistogram) -> Vec<(f64, f64)> {
    let n = h.custom_values.len() + 1;
    let mut per = vec![0.0; n];
    for (i, c) in expand(&h.positive_spans, &h.positive_buckets) {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| per.get_mut(i)) {
            *slot += c;
        }
    }
    let mut cum = 0.0;
    per.iter()
        .enumerate()
        .map(|(i, c)| {
            cum += c;
            (
                h.custom_values.get(i).copied().unwrap_or(f64::INFINITY),
                cum,
            )
        })
        .collect()
}

/// Sums (or averages) histograms; `None` when they cannot be combined. The `sum` and `count`
/// fields use Kahan summation, as Prometheus does.
pub fn aggregate(
    avg: bool,
    hs: &[&FloatHistogram],
    pos: PosRange,
    ann: &mut Annotations,
) -> Option<FloatHistogram> {
    let first = hs.first()?;
    let mut acc: FloatHistogram = (*first).clone();
    let (mut sum, mut sc) = (first.sum, 0.0);
    let (mut cnt, mut cc) = (first.count, 0.0);
    // A reset and a non-reset anywhere among the inputs conflict, even with a gauge or an
    // unknown hint between them.
    let conflict = hs.iter().any(|h| h.counter_reset_hint == 1)
        && hs.iter().any(|h| h.counter_reset_hint == 2);
    for h in &hs[1..] {
        match add(&acc, h, false) {
            Ok((s, mismatch)) => {
                if mismatch {
                    ann.info(
                        "mismatched custom buckets were reconciled during aggregation",
                        pos,
                    );
                }
                acc = s;
            }
            Err(_) => {
                ann.warn("vector contains a mix of histograms with exponential and custom buckets schemas for metric name", pos);
                return None;
            }
        }
        (sum, sc) = crate::engine::kahan(h.sum, sum, sc);
        (cnt, cc) = crate::engine::kahan(h.count, cnt, cc);
    }
    if conflict {
        ann.warn(
            "conflicting counter resets during histogram aggregation",
            pos,
        );
    }
    acc.sum = if sum.is_infinite() { sum } else { sum + sc };
    acc.count = if cnt.is_infinite() { cnt } else { cnt + cc };
    if avg {
        let n = hs.len() as f64;
        if overflowed(&acc) && hs.iter().all(|h| !overflowed(h)) {
            // The plain sum overflowed although every input is finite: like Prometheus, fall
            // back to an incremental mean, which stays in range. The `sum` field keeps the
            // compensated sum when that one is finite, as it is the more precise of the two.
            let mut mean = incremental_mean(hs)?;
            let direct = acc.sum / n;
            if direct.is_finite() {
                mean.sum = direct;
            }
            mean.counter_reset_hint = acc.counter_reset_hint;
            return Some(mean);
        }
        scale(&mut acc, 1.0 / n);
    }
    Some(acc)
}

/// True when a count of `h` is infinite.
fn overflowed(h: &FloatHistogram) -> bool {
    h.count.is_infinite()
        || h.zero_count.is_infinite()
        || h.positive_buckets.iter().any(|c| c.is_infinite())
        || h.negative_buckets.iter().any(|c| c.is_infinite())
}

/// The mean of `hs` computed as `mean += x/n - mean/n`, which never exceeds the largest input.
fn incremental_mean(hs: &[&FloatHistogram]) -> Option<FloatHistogram> {
    let mut mean: FloatHistogram = (*hs.first()?).clone();
    for (k, h) in hs.iter().enumerate().skip(1) {
        let n = (k + 1) as f64;
        let mut part = (*h).clone();
        scale(&mut part, 1.0 / n);
        let mut shrink = mean.clone();
        scale(&mut shrink, 1.0 / n);
        let (delta, _) = add(&part, &shrink, true).ok()?;
        mean = add(&mean, &delta, false).ok()?.0;
    }
    Some(mean)
}

/// Renders a histogram the way Prometheus prints one (used for `count_values`).
pub fn to_string(h: &FloatHistogram) -> String {
    let mut parts = vec![format!("count:{}", h.count), format!("sum:{}", h.sum)];
    if h.counter_reset_hint != 0 {
        let hint = ["unknown", "reset", "not_reset", "gauge"]
            .get(usize::from(h.counter_reset_hint))
            .unwrap_or(&"?");
        parts.push(format!("hint:{hint}"));
    }
    if h.schema != 0 {
        parts.push(format!("schema:{}", h.schema));
    }
    for b in buckets(h) {
        let is_zero =
            h.schema != CUSTOM && b.lower == -h.zero_threshold && b.upper == h.zero_threshold;
        let (l, r) = if is_zero {
            ("[", "]")
        } else if b.lower_inclusive {
            ("[", ")")
        } else {
            ("(", "]")
        };
        parts.push(format!("{l}{},{}{r}:{}", b.lower, b.upper, b.count));
    }
    format!("{{{}}}", parts.join(", "))
}

/// Quantile of a native histogram, interpolating exponentially within exponential buckets and
/// linearly within custom or zero buckets, as Prometheus does.
pub fn quantile(q: f64, h: &FloatHistogram) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    if h.schema == CUSTOM {
        return crate::functions::classic_quantile(q, custom_cumulative(h));
    }
    let bs = buckets(h);
    let rank = q * h.count;
    // NaN observations sit above every bucket: a rank among them has no value.
    if nan_observations(h) > 0.0 && rank > bs.iter().map(|b| b.count).sum::<f64>() {
        return f64::NAN;
    }
    let mut cum = 0.0;
    let mut chosen: Option<Bucket> = None;
    let mut iter = bs.iter().filter(|b| b.count > 0.0).peekable();
    while let Some(b) = iter.next() {
        cum += b.count;
        if cum >= rank {
            // Exactly at the end of a bucket followed by empty buckets: the answer is the
            // lower bound of the next populated bucket.
            if cum == rank && rank > 0.0 {
                if let Some(next) = iter.peek() {
                    if next.lower > b.upper {
                        return next.lower;
                    }
                }
            }
            chosen = Some(*b);
            break;
        }
    }
    let Some(b) = chosen.or_else(|| bs.iter().rev().find(|b| b.count > 0.0).copied()) else {
        return f64::NAN;
    };
    if b.lower == f64::NEG_INFINITY && h.schema == CUSTOM {
        return if b.upper <= 0.0 {
            b.upper
        } else {
            0f64.min(b.upper)
        };
    }
    if b.upper == f64::INFINITY {
        return b.lower;
    }
    let count_before = cum - b.count;
    let frac = (rank - count_before) / b.count;
    let frac = frac.clamp(0.0, 1.0);
    let is_zero = b.lower == -h.zero_threshold && b.upper == h.zero_threshold && h.schema != CUSTOM;
    if h.schema == CUSTOM || is_zero || b.lower <= 0.0 && b.upper >= 0.0 {
        let (lo, hi) = if is_zero {
            // The zero bucket interpolates from 0 when there are no negative observations.
            let has_neg = !h.negative_buckets.iter().all(|&c| c == 0.0);
            let has_pos = !h.positive_buckets.iter().all(|&c| c == 0.0);
            if !has_neg && has_pos {
                (0.0, b.upper)
            } else if has_neg && !has_pos {
                (b.lower, 0.0)
            } else {
                (b.lower, b.upper)
            }
        } else {
            (b.lower, b.upper)
        };
        return lo + (hi - lo) * frac;
    }
    if b.upper <= 0.0 {
        // Negative buckets: interpolate on absolute values, mirrored.
        let (l, u) = (-b.upper, -b.lower);
        let f = 1.0 - frac;
        return -(l * (u / l).powf(f));
    }
    b.lower * (b.upper / b.lower).powf(frac)
}

/// How many observations are NaN: a NaN sum with a count above the bucket total.
pub fn nan_observations(h: &FloatHistogram) -> f64 {
    if !h.sum.is_nan() {
        return 0.0;
    }
    let regular: f64 = h.zero_count
        + h.positive_buckets.iter().sum::<f64>()
        + h.negative_buckets.iter().sum::<f64>();
    (h.count - regular).max(0.0)
}

/// Fraction of observations between `lower` and `upper`: buckets fully inside count fully,
/// buckets of infinite width count only when fully inside, others are interpolated (linearly
/// for custom and zero buckets, logarithmically for exponential ones).
pub fn fraction(lower: f64, upper: f64, h: &FloatHistogram) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let has_neg = h.negative_buckets.iter().any(|&c| c != 0.0);
    let has_pos = h.positive_buckets.iter().any(|&c| c != 0.0);
    let mut total = 0.0;
    for (i, b) in buckets(h).into_iter().enumerate() {
        if b.count == 0.0 {
            continue;
        }
        let is_zero =
            h.schema != CUSTOM && b.lower == -h.zero_threshold && b.upper == h.zero_threshold;
        let (mut bl, mut bu) = (b.lower, b.upper);
        if is_zero {
            if !has_neg && has_pos {
                bl = 0.0;
            } else if has_neg && !has_pos {
                bu = 0.0;
            }
        }
        if h.schema == CUSTOM && i == 0 && bl == f64::NEG_INFINITY && bu > 0.0 {
            bl = 0.0;
        }
        total += b.count * overlap(lower, upper, bl, bu, h.schema == CUSTOM || is_zero);
    }
    total / h.count
}

/// The share of bucket `[bl, bu]` that lies within `[lower, upper]`. A point inside a bucket
/// of infinite width counts as being at its finite edge, as Prometheus does.
pub fn overlap(lower: f64, upper: f64, bl: f64, bu: f64, linear: bool) -> f64 {
    let position = |x: f64| -> f64 {
        if x <= bl {
            return 0.0;
        }
        if x >= bu {
            return 1.0;
        }
        if bu.is_infinite() {
            return 0.0;
        }
        if bl.is_infinite() {
            return 1.0;
        }
        if linear || bl <= 0.0 && bu >= 0.0 {
            (x - bl) / (bu - bl)
        } else if bl > 0.0 {
            (x / bl).ln() / (bu / bl).ln()
        } else {
            1.0 - ((-x) / (-bu)).ln() / ((-bl) / (-bu)).ln()
        }
    };
    position(upper) - position(lower)
}

/// The share of bucket `[bl, bu]` kept by a trim to `[lo, hi]`. The observations of a bucket
/// with an infinite bound are taken to lie at that infinite end.
fn trim_share(lo: f64, hi: f64, bl: f64, bu: f64, linear: bool) -> f64 {
    if hi <= bl || lo >= bu {
        return 0.0;
    }
    if lo <= bl && hi >= bu {
        return 1.0;
    }
    match (bl.is_infinite(), bu.is_infinite()) {
        (true, true) => 0.0,
        (false, true) => f64::from(u8::from(hi.is_infinite())),
        (true, false) => f64::from(u8::from(lo.is_infinite())),
        (false, false) => overlap(lo, hi, bl, bu, linear),
    }
}

/// Keeps only the observations below (`keep_below`) or above `cutoff`, interpolating inside the
/// bucket that contains it, and re-estimates the sum from the kept bucket ranges.
pub fn trim(h: &FloatHistogram, cutoff: f64, keep_below: bool) -> FloatHistogram {
    let (lo, hi) = if keep_below {
        (f64::NEG_INFINITY, cutoff)
    } else {
        (cutoff, f64::INFINITY)
    };
    let has_neg = h.negative_buckets.iter().any(|&c| c != 0.0);
    let has_pos = h.positive_buckets.iter().any(|&c| c != 0.0);
    let custom = h.schema == CUSTOM;
    let mut all_kept = true;
    let mut sum = 0.0;
    let mut count = 0.0;
    // Trims one bucket; returns the kept count.
    // `rep_bl` is the lower bound used to estimate the kept observations' values (a first
    // custom bucket with a positive bound is taken to start at 0).
    let mut one = |c: f64, bl: f64, bu: f64, linear: bool, rep_bl: f64| -> f64 {
        if c == 0.0 {
            return 0.0;
        }
        let share = trim_share(lo, hi, bl, bu, linear);
        if share != 1.0 {
            all_kept = false;
        }
        let kept = c * share;
        if kept != 0.0 {
            let (a, b) = (lo.max(rep_bl), hi.min(bu));
            let rep = if a.is_infinite() {
                b
            } else if b.is_infinite() {
                a
            } else if linear || a <= 0.0 && b >= 0.0 {
                (a + b) / 2.0
            } else if a > 0.0 {
                (a * b).sqrt()
            } else {
                -(a * b).sqrt()
            };
            sum += kept * rep;
            count += kept;
        }
        kept
    };
    let mut out = h.clone();
    if custom {
        let mut idx = expand(&h.positive_spans, &h.positive_buckets).into_iter();
        let mut new = Vec::with_capacity(h.positive_buckets.len());
        for (i, c) in idx.by_ref() {
            let i = i as usize;
            let mut bl = if i == 0 {
                f64::NEG_INFINITY
            } else {
                h.custom_values.get(i - 1).copied().unwrap_or(f64::INFINITY)
            };
            let bu = h.custom_values.get(i).copied().unwrap_or(f64::INFINITY);
            // A first bucket with a positive finite bound is taken to start at 0, unless the
            // cutoff is negative (then it stays unbounded and is dropped).
            let from_zero = i == 0 && bu > 0.0 && bu.is_finite();
            // Keeping what lies below a negative cutoff keeps none of it either.
            if from_zero && (cutoff >= 0.0 || keep_below) {
                bl = 0.0;
            }
            let rep_bl = if from_zero { 0.0 } else { bl };
            new.push(one(c, bl, bu, true, rep_bl));
        }
        out.positive_buckets = new;
    } else {
        let neg: Vec<f64> = expand(&h.negative_spans, &h.negative_buckets)
            .into_iter()
            .map(|(i, c)| {
                let bl = -bucket_upper(h.schema, i);
                one(c, bl, -bucket_upper(h.schema, i - 1), false, bl)
            })
            .collect();
        let (mut zl, mut zu) = (-h.zero_threshold, h.zero_threshold);
        if !has_neg && has_pos {
            zl = 0.0;
        } else if has_neg && !has_pos {
            zu = 0.0;
        }
        let zero = one(h.zero_count, zl, zu, true, zl);
        let pos: Vec<f64> = expand(&h.positive_spans, &h.positive_buckets)
            .into_iter()
            .map(|(i, c)| {
                let bl = bucket_upper(h.schema, i - 1);
                one(c, bl, bucket_upper(h.schema, i), false, bl)
            })
            .collect();
        out.negative_buckets = neg;
        out.positive_buckets = pos;
        out.zero_count = zero;
    }
    if all_kept {
        return h.clone();
    }
    out.count = count;
    out.sum = sum;
    out
}
