//! Aggregation operators (`sum`, `avg`, `topk`, `quantile`, `count_values`, `limitk` ...).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use pharos_model::{FloatHistogram, Labels, LabelsBuilder, METRIC_NAME};

use super::eval::Evaluator;
use super::EvalError;
use crate::histogram;
use crate::parser::{AggOp, Expr, PosRange};
use crate::value::{format_float, Sample, Value, Vector};

fn group_sig(l: &Labels, grouping: &[String], without: bool) -> u64 {
    let mut h = super::SigHasher::default();
    if without {
        for lab in l.iter() {
            if &*lab.name == METRIC_NAME || grouping.iter().any(|g| *g == *lab.name) {
                continue;
            }
            lab.name.hash(&mut h);
            lab.value.hash(&mut h);
        }
    } else {
        for g in grouping {
            if let Some(v) = l.get(g) {
                g.hash(&mut h);
                v.hash(&mut h);
            }
        }
    }
    h.finish()
}

fn group_labels(l: &Labels, grouping: &[String], without: bool) -> Labels {
    if without {
        let mut b = l.builder();
        b.retain(|x| &*x.name != METRIC_NAME && !grouping.iter().any(|g| *g == *x.name));
        b.build()
    } else {
        let mut b = LabelsBuilder::new();
        for g in grouping {
            if let Some(v) = l.get(g) {
                b.set(g.as_str(), v);
            }
        }
        b.build()
    }
}

/// Kahan–Babuška summation step, as Prometheus does for `sum`/`avg`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

struct Group {
    labels: Labels,
    any_drop_name: bool,
    members: Vec<usize>,
}

/// Prometheus's quantile over sorted-on-demand values.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN counts as the smallest value.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_aggregate(
    ev: &mut Evaluator<'_>,
    op: AggOp,
    v: Vector,
    param: Option<Value>,
    grouping: &[String],
    without: bool,
    ts: i64,
    pos: PosRange,
    param_expr: Option<&Expr>,
    expr: &Expr,
) -> Result<Value, EvalError> {
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut count_label = String::new();
    if op == AggOp::CountValues {
        let Some(Value::String(s)) = &param else {
            return Err(EvalError::Execution(
                "count_values needs a label name".into(),
            ));
        };
        if !crate::functions::valid_label_name(s) {
            return Err(EvalError::Execution(format!(
                "invalid label name {}",
                crate::functions::go_quote(s)
            )));
        }
        count_label = s.clone();
    }
    let sigs = if op == AggOp::CountValues || (grouping.is_empty() && !without) {
        Vec::new()
    } else {
        let agg = std::ptr::from_ref(expr) as usize;
        ev.group_signatures(agg, v.iter().map(|s| &s.metric), |l| {
            group_sig(l, grouping, without)
        })
    };
    for (i, s) in v.iter().enumerate() {
        let (sig, labels) = if op == AggOp::CountValues {
            // The value label may overwrite a grouping label, so group by the final labels.
            let mut b = group_labels(&s.metric, grouping, without).builder();
            b.set(count_label.as_str(), value_string(s));
            let labels = b.build();
            let mut h = super::SigHasher::default();
            labels.hash(&mut h);
            (h.finish(), Some(labels))
        } else {
            (sigs.get(i).copied().unwrap_or(0), None)
        };
        let gi = *index.entry(sig).or_insert_with(|| {
            let labels = labels.unwrap_or_else(|| group_labels(&s.metric, grouping, without));
            groups.push(Group {
                labels,
                any_drop_name: s.drop_name,
                members: Vec::new(),
            });
            groups.len() - 1
        });
        groups[gi].members.push(i);
        groups[gi].any_drop_name |= s.drop_name;
    }
    let scalar_param = match &param {
        Some(Value::Scalar(f)) => *f,
        _ => f64::NAN,
    };
    let param_pos = param_expr.map_or(pos, Expr::pos);
    let mut out = Vec::new();
    match op {
        AggOp::Topk | AggOp::Bottomk | AggOp::Limitk => {
            if scalar_param.is_nan() {
                return Err(EvalError::Execution("Parameter value is NaN".into()));
            }
            let k = if scalar_param >= i64::MAX as f64 {
                i64::MAX
            } else {
                scalar_param as i64
            };
            if k < 1 {
                return Ok(Value::Vector(Vec::new()));
            }
            let k = usize::try_from(k).unwrap_or(usize::MAX);
            let mut v: Vec<Option<Sample>> = v.into_iter().map(Some).collect();
            for g in &groups {
                let mut members: Vec<usize> = g.members.clone();
                if op != AggOp::Limitk {
                    let had_hist = members
                        .iter()
                        .any(|&i| v[i].as_ref().is_some_and(|s| s.h.is_some()));
                    members.retain(|&i| v[i].as_ref().is_some_and(|s| s.h.is_none()));
                    if had_hist {
                        ev.annotations.info(
                            format!("ignored histogram in {} aggregation", op.as_str()),
                            expr.pos(),
                        );
                    }
                    let val = |i: usize| v[i].as_ref().map_or(f64::NAN, |s| s.f);
                    // NaN sorts last for both directions.
                    members.sort_by(|&a, &b| {
                        let (x, y) = (val(a), val(b));
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ if op == AggOp::Topk => y.total_cmp(&x),
                            _ => x.total_cmp(&y),
                        }
                    });
                }
                for &i in members.iter().take(k) {
                    if let Some(mut s) = v[i].take() {
                        s.t = ts;
                        out.push(s);
                    }
                }
            }
            return Ok(Value::Vector(out));
        }
        AggOp::LimitRatio => {
            if scalar_param.is_nan() {
                return Err(EvalError::Execution("Ratio value is NaN".into()));
            }
            let mut r = scalar_param;
            if !(-1.0..=1.0).contains(&r) {
                r = r.clamp(-1.0, 1.0);
                ev.annotations.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        format_float(scalar_param),
                        format_float(r)
                    ),
                    param_pos,
                );
            }
            for mut s in v {
                let off = crate::functions::ratio_offset(&s.metric);
                let keep = if r >= 0.0 { off < r } else { off >= 1.0 + r };
                if keep {
                    s.t = ts;
                    out.push(s);
                }
            }
            return Ok(Value::Vector(out));
        }
        _ => {}
    }
    if op == AggOp::Quantile && !(0.0..=1.0).contains(&scalar_param) {
        ev.annotations.warn(
            format!(
                "quantile value should be between 0 and 1, got {}",
                format_float(scalar_param)
            ),
            param_pos,
        );
    }
    for g in &groups {
        let members = || g.members.iter().map(|&i| &v[i]);
        let nf = members().filter(|s| s.h.is_none()).count();
        let nh = g.members.len() - nf;
        let drop_name = g.any_drop_name && g.labels.get(METRIC_NAME).is_some();
        let mut push = |f: f64, h: Option<Box<FloatHistogram>>| {
            out.push(Sample {
                metric: g.labels.clone(),
                t: ts,
                f,
                h,
                drop_name,
            });
        };
        match op {
            AggOp::Count => push(g.members.len() as f64, None),
            AggOp::CountValues => push(g.members.len() as f64, None),
            AggOp::Group => push(1.0, None),
            AggOp::Sum | AggOp::Avg => {
                if nf > 0 && nh > 0 {
                    ev.annotations.warn(
                        "encountered a mix of histograms and floats for aggregation",
                        expr.pos(),
                    );
                    continue;
                }
                if nh > 0 {
                    let hs: Vec<&FloatHistogram> =
                        members().filter_map(|s| s.h.as_deref()).collect();
                    match histogram::aggregate(
                        op == AggOp::Avg,
                        &hs,
                        expr.pos(),
                        &mut ev.annotations,
                    ) {
                        Some(h) => push(0.0, Some(Box::new(h))),
                        None => continue,
                    }
                    continue;
                }
                if op == AggOp::Sum {
                    let (mut sum, mut c) = (0.0, 0.0);
                    for s in members() {
                        (sum, c) = kahan_inc(s.f, sum, c);
                    }
                    push(if sum.is_infinite() { sum } else { sum + c }, None);
                } else {
                    push(avg(members().map(|s| s.f)), None);
                }
            }
            AggOp::Min | AggOp::Max => {
                if nh > 0 {
                    ev.annotations.info(
                        format!("ignored histogram in {} aggregation", op.as_str()),
                        expr.pos(),
                    );
                }
                if nf == 0 {
                    continue;
                }
                let mut acc = f64::NAN;
                let mut first = true;
                for s in members().filter(|s| s.h.is_none()) {
                    if first
                        || acc.is_nan()
                        || (op == AggOp::Min && s.f < acc)
                        || (op == AggOp::Max && s.f > acc)
                    {
                        acc = s.f;
                    }
                    first = false;
                }
                push(acc, None);
            }
            AggOp::Stddev | AggOp::Stdvar => {
                if nh > 0 {
                    ev.annotations.info(
                        format!("ignored histogram in {} aggregation", op.as_str()),
                        expr.pos(),
                    );
                }
                if nf == 0 {
                    continue;
                }
                let (mut n, mut mean, mut m2) = (0.0, 0.0, 0.0);
                for s in members().filter(|s| s.h.is_none()) {
                    n += 1.0;
                    let d = s.f - mean;
                    mean += d / n;
                    m2 += d * (s.f - mean);
                }
                let var = m2 / n;
                push(if op == AggOp::Stddev { var.sqrt() } else { var }, None);
            }
            AggOp::Quantile => {
                if nh > 0 {
                    ev.annotations
                        .info("ignored histogram in quantile aggregation", expr.pos());
                }
                if nf == 0 {
                    continue;
                }
                let mut vals: Vec<f64> = members().filter(|s| s.h.is_none()).map(|s| s.f).collect();
                push(quantile(scalar_param, &mut vals), None);
            }
            AggOp::Topk | AggOp::Bottomk | AggOp::Limitk | AggOp::LimitRatio => {}
        }
    }
    Ok(Value::Vector(out))
}

/// Average with Kahan summation, switching to an incremental mean if the sum overflows.
pub(crate) fn avg(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let (mut sum, mut c, mut n) = (0.0f64, 0.0f64, 0.0f64);
    let mut overflow = false;
    for f in values.clone() {
        n += 1.0;
        let (s2, c2) = kahan_inc(f, sum, c);
        if s2.is_infinite() && !f.is_infinite() {
            overflow = true;
            break;
        }
        sum = s2;
        c = c2;
    }
    if !overflow {
        if sum.is_infinite() {
            return sum;
        }
        return sum / n + c / n;
    }
    let (mut mean, mut cm, mut k) = (0.0f64, 0.0f64, 0.0f64);
    for f in values {
        k += 1.0;
        if mean.is_infinite() {
            if f.is_infinite() && (mean > 0.0) != (f > 0.0) {
                mean = f64::NAN;
            }
            continue;
        }
        let q = (k - 1.0) / k;
        (mean, cm) = kahan_inc(f / k, q * mean, q * cm);
    }
    mean + cm
}

fn value_string(s: &Sample) -> String {
    match &s.h {
        Some(h) => histogram::to_string(h),
        None => go_float_f(s.f),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn go_float_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    format!("{f}")
}
