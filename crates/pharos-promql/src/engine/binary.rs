//! Binary operators: arithmetic, comparison and set operations, with vector matching.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use pharos_model::{Labels, LabelsBuilder, METRIC_NAME};

use super::eval::Evaluator;
use super::EvalError;
use crate::histogram;
use crate::parser::{BinOp, Cardinality, Expr, PosRange, VectorMatching};
use crate::value::{Sample, Value, Vector};

/// Arithmetic on two floats; for comparisons returns `(lhs, keep)`.
pub(crate) fn float_op(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (go_mod(l, r), true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eql => (l, l == r),
        BinOp::Neq => (l, l != r),
        BinOp::Gtr => (l, l > r),
        BinOp::Lss => (l, l < r),
        BinOp::Gte => (l, l >= r),
        BinOp::Lte => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (l, true),
        // Trimming applies to histograms only; floats have no result.
        BinOp::TrimUpper | BinOp::TrimLower => (l, false),
    }
}

/// Go's `math.Mod`: the result has the sign of the dividend.
fn go_mod(l: f64, r: f64) -> f64 {
    if r == 0.0 || l.is_infinite() || l.is_nan() || r.is_nan() {
        return f64::NAN;
    }
    l % r
}

fn drops_name(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow | BinOp::Atan2
    )
}

/// The result of one element-wise operation: value, histogram, keep; `None` when the operand
/// types are incompatible.
type Elem = Option<(f64, Option<Box<pharos_model::FloatHistogram>>, bool)>;

fn elem_op(
    ev: &mut Evaluator<'_>,
    op: BinOp,
    l: &Sample,
    r: &Sample,
    lf: f64,
    rf: f64,
    pos: PosRange,
) -> Result<Elem, EvalError> {
    match (&l.h, &r.h) {
        (None, None) => {
            let (v, keep) = float_op(op, lf, rf);
            Ok(Some((v, None, keep)))
        }
        (lh, rh) => histogram::binop(
            op,
            lf,
            rf,
            lh.as_deref(),
            rh.as_deref(),
            pos,
            &mut ev.annotations,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_binary(
    ev: &mut Evaluator<'_>,
    op: BinOp,
    l: Value,
    r: Value,
    return_bool: bool,
    matching: Option<&VectorMatching>,
    ts: i64,
    pos: PosRange,
    _lhs_expr: &Expr,
    _rhs_expr: &Expr,
) -> Result<Value, EvalError> {
    match (l, r) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            let (v, keep) = float_op(op, a, b);
            if op.is_comparison() {
                Ok(Value::Scalar(if keep { 1.0 } else { 0.0 }))
            } else {
                Ok(Value::Scalar(v))
            }
        }
        (Value::Vector(v), Value::Scalar(s)) => {
            vector_scalar(ev, op, v, s, false, return_bool, ts, pos)
        }
        (Value::Scalar(s), Value::Vector(v)) => {
            vector_scalar(ev, op, v, s, true, return_bool, ts, pos)
        }
        (Value::Vector(a), Value::Vector(b)) => {
            let default = VectorMatching {
                card: Cardinality::OneToOne,
                on: false,
                labels: vec![],
                include: vec![],
                fill_left: None,
                fill_right: None,
            };
            let m = matching.unwrap_or(&default);
            match op {
                BinOp::And => Ok(Value::Vector(and_unless(a, b, m, true))),
                BinOp::Unless => Ok(Value::Vector(and_unless(a, b, m, false))),
                BinOp::Or => Ok(Value::Vector(or(a, b, m))),
                _ => vector_vector(ev, op, a, b, m, return_bool, ts, pos),
            }
        }
        _ => Err(EvalError::Execution(
            "binary expression on unsupported operand types".into(),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn vector_scalar(
    ev: &mut Evaluator<'_>,
    op: BinOp,
    v: Vector,
    s: f64,
    scalar_left: bool,
    return_bool: bool,
    ts: i64,
    pos: PosRange,
) -> Result<Value, EvalError> {
    let mut out = Vec::with_capacity(v.len());
    let scalar_sample = Sample {
        metric: Labels::empty(),
        t: ts,
        f: s,
        h: None,
        drop_name: false,
    };
    for mut smp in v {
        let (lf, rf) = if scalar_left { (s, smp.f) } else { (smp.f, s) };
        let r = if scalar_left {
            elem_op(ev, op, &scalar_sample, &smp, lf, rf, pos)?
        } else {
            elem_op(ev, op, &smp, &scalar_sample, lf, rf, pos)?
        };
        let Some((mut val, h, keep)) = r else {
            continue;
        };
        // A comparison keeps the vector element's value even when the scalar is on the left.
        if op.is_comparison() && scalar_left {
            val = rf;
        }
        if return_bool {
            smp.f = if keep { 1.0 } else { 0.0 };
            smp.h = None;
            smp.drop_name = true;
        } else if !keep {
            continue;
        } else {
            if op.is_comparison() {
                // Comparisons keep histogram samples as they are.
                if smp.h.is_none() {
                    smp.f = val;
                }
            } else {
                smp.f = val;
                smp.h = h;
            }
            if drops_name(op) {
                smp.drop_name = true;
            }
        }
        smp.t = ts;
        out.push(smp);
    }
    Ok(Value::Vector(out))
}

/// Hashes the labels that take part in matching.
fn signature(l: &Labels, m: &VectorMatching) -> u64 {
    let mut h = super::SigHasher::default();
    if m.on {
        for n in &m.labels {
            n.hash(&mut h);
            l.get(n).unwrap_or("").hash(&mut h);
        }
    } else {
        for lab in l.iter() {
            if &*lab.name == METRIC_NAME || m.labels.iter().any(|x| *x == *lab.name) {
                continue;
            }
            lab.name.hash(&mut h);
            lab.value.hash(&mut h);
        }
    }
    h.finish()
}

fn match_labels(l: &Labels, m: &VectorMatching) -> Labels {
    let mut b = LabelsBuilder::new();
    for lab in l.iter() {
        let listed = m.labels.iter().any(|x| *x == *lab.name);
        if (m.on && listed) || (!m.on && !listed && &*lab.name != METRIC_NAME) {
            b.set(lab.name.clone(), lab.value.clone());
        }
    }
    b.build()
}

fn fmt_all(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|x| {
            format!(
                "{}=\"{}\"",
                x.name,
                pharos_model::labels::escape_label_value(&x.value)
            )
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn and_unless(a: Vector, b: Vector, m: &VectorMatching, and: bool) -> Vector {
    let sigs: HashSet<u64> = b.iter().map(|s| signature(&s.metric, m)).collect();
    a.into_iter()
        .filter(|s| sigs.contains(&signature(&s.metric, m)) == and)
        .collect()
}

fn or(a: Vector, b: Vector, m: &VectorMatching) -> Vector {
    let sigs: HashSet<u64> = a.iter().map(|s| signature(&s.metric, m)).collect();
    let mut out = a;
    out.extend(
        b.into_iter()
            .filter(|s| !sigs.contains(&signature(&s.metric, m))),
    );
    out
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    ev: &mut Evaluator<'_>,
    op: BinOp,
    a: Vector,
    b: Vector,
    m: &VectorMatching,
    return_bool: bool,
    ts: i64,
    pos: PosRange,
) -> Result<Value, EvalError> {
    let (lhs, rhs) = if m.card == Cardinality::OneToMany {
        (b, a)
    } else {
        (a, b)
    };
    let mut right: HashMap<u64, usize> = HashMap::with_capacity(rhs.len());
    for (i, rs) in rhs.iter().enumerate() {
        let sig = signature(&rs.metric, m);
        if let Some(&j) = right.get(&sig) {
            let side = if m.card == Cardinality::OneToMany {
                "left"
            } else {
                "right"
            };
            let dup = &rhs[j];
            return Err(EvalError::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                fmt_all(&match_labels(&rs.metric, m)),
                fmt_all(&dup.metric),
                fmt_all(&rs.metric)
            )));
        }
        right.insert(sig, i);
    }
    let mut matched: HashMap<u64, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    let mut rhs_used: HashSet<u64> = HashSet::new();
    let filler = |metric: Labels, f: f64| Sample {
        metric,
        t: ts,
        f,
        h: None,
        drop_name: false,
    };
    for ls in &lhs {
        let sig = signature(&ls.metric, m);
        let fill_rhs;
        let rs = match right.get(&sig) {
            Some(&ri) => {
                rhs_used.insert(sig);
                &rhs[ri]
            }
            None => match m.fill_right {
                Some(f) => {
                    fill_rhs = filler(Labels::empty(), f);
                    &fill_rhs
                }
                None => continue,
            },
        };
        let (l, r) = if m.card == Cardinality::OneToMany {
            (rs, ls)
        } else {
            (ls, rs)
        };
        let elem = elem_op(ev, op, l, r, l.f, r.f, pos)?;
        let metric = result_metric(&ls.metric, &rs.metric, m);
        match m.card {
            Cardinality::OneToOne => {
                if matched.insert(sig, HashSet::new()).is_some() {
                    return Err(EvalError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
            }
            _ => {
                let set = matched.entry(sig).or_default();
                if !set.insert(metric.clone()) {
                    return Err(EvalError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
            }
        }
        let Some((fv, h, keep)) = elem else { continue };
        let (f, h) = if return_bool {
            (if keep { 1.0 } else { 0.0 }, None)
        } else if !keep {
            continue;
        } else if op.is_comparison() {
            (l.f, l.h.clone())
        } else {
            (fv, h)
        };
        out.push(Sample {
            metric,
            t: ts,
            f,
            h,
            drop_name: return_bool || drops_name(op) || ls.drop_name && !op.is_comparison(),
        });
    }
    if let Some(fl) = m.fill_left {
        // Right-side samples nobody matched get a filled left side, labelled by the match group.
        for rs in &rhs {
            let sig = signature(&rs.metric, m);
            if rhs_used.contains(&sig) {
                continue;
            }
            let ls = filler(match_labels(&rs.metric, m), fl);
            let (l, r) = if m.card == Cardinality::OneToMany {
                (rs, &ls)
            } else {
                (&ls, rs)
            };
            let Some((fv, h, keep)) = elem_op(ev, op, l, r, l.f, r.f, pos)? else {
                continue;
            };
            let (f, h) = if return_bool {
                (if keep { 1.0 } else { 0.0 }, None)
            } else if !keep {
                continue;
            } else if op.is_comparison() {
                (l.f, l.h.clone())
            } else {
                (fv, h)
            };
            out.push(Sample {
                metric: ls.metric.clone(),
                t: ts,
                f,
                h,
                drop_name: false,
            });
        }
    }
    Ok(Value::Vector(out))
}

fn result_metric(l: &Labels, r: &Labels, m: &VectorMatching) -> Labels {
    if m.card == Cardinality::OneToOne && m.labels.is_empty() && !m.on && m.include.is_empty() {
        return l.clone();
    }
    let mut b = l.builder();
    if m.card == Cardinality::OneToOne {
        if m.on {
            b.retain(|x| m.labels.iter().any(|n| *n == *x.name));
        } else {
            for n in &m.labels {
                b.del(n);
            }
        }
    }
    for n in &m.include {
        match r.get(n) {
            Some(v) => {
                b.set(n.as_str(), v);
            }
            None => {
                b.del(n);
            }
        }
    }
    b.build()
}
