//! `absent` and `absent_over_time`.

use pharos_model::{Labels, LabelsBuilder, MatchOp, METRIC_NAME};

use super::FnCall;
use crate::engine::EvalError;
use crate::parser::Expr;
use crate::value::Value;

/// The labels `absent` reports: those of equality matchers that appear once.
fn absent_labels(e: Option<&Expr>) -> Labels {
    let matchers = match e {
        Some(Expr::Vector(vs)) => &vs.matchers,
        Some(Expr::Matrix(m)) => &m.vs.matchers,
        _ => return Labels::empty(),
    };
    let mut b = LabelsBuilder::new();
    let mut seen = std::collections::HashSet::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && seen.insert(m.name.as_str()) {
            b.set(m.name.as_str(), m.value.as_str());
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

/// `absent(v)`: 1 with the selector's labels when `v` is empty.
pub fn absent(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let v = c.take_vector(0);
    if !v.is_empty() {
        return Ok(Value::Vector(Vec::new()));
    }
    let l = absent_labels(c.exprs.first());
    Ok(Value::Vector(vec![c.sample(l, 1.0, false)]))
}

/// `absent_over_time(range)`: 1 when no series has samples in the range.
pub fn absent_over_time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let m = c.take_matrix(0);
    if m.iter()
        .any(|s| !s.floats.is_empty() || !s.hists.is_empty())
    {
        return Ok(Value::Vector(Vec::new()));
    }
    let e = match c.exprs.first() {
        Some(Expr::Subquery(_)) => None,
        e => e,
    };
    let l = absent_labels(e);
    Ok(Value::Vector(vec![c.sample(l, 1.0, false)]))
}
