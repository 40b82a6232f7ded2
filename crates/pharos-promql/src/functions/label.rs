//! `label_replace`, `label_join` and `info`.

use std::collections::HashSet;

use regex::Regex;

use super::{go_quote, valid_label_name, FnCall};
use crate::engine::EvalError;
use crate::value::Value;
use pharos_model::{Labels, METRIC_NAME};

fn check_unique(v: &[crate::value::Sample]) -> Result<(), EvalError> {
    let mut seen: HashSet<&Labels> = HashSet::with_capacity(v.len());
    for s in v {
        if !seen.insert(&s.metric) {
            return Err(EvalError::Execution("vector cannot contain metrics with the same labelset".into()));
        }
    }
    Ok(())
}

/// `label_replace(v, dst, replacement, src, regex)`.
pub fn label_replace(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let dst = c.string(1)?.to_owned();
    let repl = c.string(2)?.to_owned();
    let src = c.string(3)?.to_owned();
    let re_src = c.string(4)?.to_owned();
    let re = Regex::new(&format!("^(?s:{re_src})$"))
        .map_err(|e| EvalError::Execution(format!("invalid regular expression in label_replace(): {e}")))?;
    if !valid_label_name(&dst) {
        return Err(EvalError::Execution(format!("invalid destination label name in label_replace(): {}", go_quote(&dst))));
    }
    let mut v = c.take_vector(0);
    for s in &mut v {
        let val = s.metric.get(&src).unwrap_or("");
        if let Some(caps) = re.captures(val) {
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            let mut b = s.metric.builder();
            b.set(dst.as_str(), res.as_str());
            s.metric = b.build();
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
        s.t = c.ts;
    }
    check_unique(&v)?;
    Ok(Value::Vector(v))
}

/// `label_join(v, dst, separator, src...)`.
pub fn label_join(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let dst = c.string(1)?.to_owned();
    let sep = c.string(2)?.to_owned();
    let mut srcs = Vec::new();
    for i in 3..c.args.len() {
        let s = c.string(i)?.to_owned();
        if !valid_label_name(&s) {
            return Err(EvalError::Execution(format!("invalid source label name in label_join(): {}", go_quote(&s))));
        }
        srcs.push(s);
    }
    if !valid_label_name(&dst) {
        return Err(EvalError::Execution(format!("invalid destination label name in label_join(): {}", go_quote(&dst))));
    }
    let mut v = c.take_vector(0);
    for s in &mut v {
        let joined: Vec<&str> = srcs.iter().map(|n| s.metric.get(n).unwrap_or("")).collect();
        let joined = joined.join(&sep);
        let mut b = s.metric.builder();
        b.set(dst.as_str(), joined.as_str());
        s.metric = b.build();
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
        s.t = c.ts;
    }
    check_unique(&v)?;
    Ok(Value::Vector(v))
}

/// `info(v, [selector])`: experimental; adds data labels from matching info metrics. Pharos
/// returns the input unchanged when no info series match.
pub fn info(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let v = c.take_vector(0);
    Ok(Value::Vector(v))
}
