//! `label_replace`, `label_join` and `info`.

use std::collections::HashSet;

use regex::Regex;

use super::{go_quote, valid_label_name, FnCall};
use crate::engine::EvalError;
use crate::value::Value;
use pharos_model::{Labels, MatchOp, METRIC_NAME};

fn check_unique(v: &[crate::value::Sample]) -> Result<(), EvalError> {
    let mut seen: HashSet<&Labels> = HashSet::with_capacity(v.len());
    for s in v {
        if !seen.insert(&s.metric) {
            return Err(EvalError::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
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
    let re = Regex::new(&format!("^(?s:{re_src})$")).map_err(|e| {
        EvalError::Execution(format!(
            "invalid regular expression in label_replace(): {e}"
        ))
    })?;
    if !valid_label_name(&dst) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_replace(): {}",
            go_quote(&dst)
        )));
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
            return Err(EvalError::Execution(format!(
                "invalid source label name in label_join(): {}",
                go_quote(&s)
            )));
        }
        srcs.push(s);
    }
    if !valid_label_name(&dst) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_join(): {}",
            go_quote(&dst)
        )));
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

/// `info(v, [selector])` (experimental): adds the data labels of matching info series (by
/// default `target_info`), joined on the identifying labels `instance` and `job`.
pub fn info(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    const IDENTIFYING: [&str; 2] = ["instance", "job"];
    let base = c.take_vector(0);
    let infos = c.take_vector(1);
    let matchers: Vec<pharos_model::Matcher> = match c.exprs.get(1) {
        Some(crate::parser::Expr::Vector(vs)) => vs.matchers.clone(),
        _ => Vec::new(),
    };
    let (name_ms, data_ms): (Vec<_>, Vec<_>) =
        matchers.into_iter().partition(|m| m.name == METRIC_NAME);
    let drop_if_unmatched = data_ms.iter().any(|m| !m.matches(""));
    if infos.iter().any(|i| i.h.is_some()) {
        return Err(EvalError::Execution(
            "info series must be float samples, but the info selector matches native histograms"
                .into(),
        ));
    }
    let mut infos = infos;
    // Name matchers that only exclude still pick among info metrics, never plain metrics.
    if !name_ms.is_empty()
        && name_ms
            .iter()
            .all(|m| matches!(m.op, MatchOp::NotEqual | MatchOp::NotRegex))
    {
        infos.retain(|i| i.metric.metric_name().is_some_and(|n| n.ends_with("_info")));
    }
    // When info series churn, the most recently sampled one for an identity replaces the
    // others, although those stay visible within the lookback.
    let identity = |l: &Labels| IDENTIFYING.map(|n| l.get(n).map(str::to_owned));
    let mut newest: std::collections::HashMap<[Option<String>; 2], i64> =
        std::collections::HashMap::new();
    for i in &infos {
        let t = newest.entry(identity(&i.metric)).or_insert(i.t);
        *t = (*t).max(i.t);
    }
    infos.retain(|i| newest.get(&identity(&i.metric)) == Some(&i.t));
    let mut out = Vec::with_capacity(base.len());
    for mut s in base {
        // Info metrics themselves are not enriched: those the name matchers pick, or those
        // selected as info series.
        let name = s.metric.metric_name().unwrap_or("");
        let picked_by_name = !name_ms.is_empty()
            && !name.is_empty()
            && !name_ms
                .iter()
                .all(|m| matches!(m.op, MatchOp::NotEqual | MatchOp::NotRegex))
            && name_ms.iter().all(|m| m.matches(name));
        if picked_by_name || infos.iter().any(|i| i.metric == s.metric) {
            out.push(s);
            continue;
        }
        let mut matched = false;
        let mut b = s.metric.builder();
        for i in &infos {
            let same_id = IDENTIFYING
                .iter()
                .all(|l| i.metric.get(l) == s.metric.get(l));
            if !same_id {
                continue;
            }
            matched = true;
            for l in i.metric.iter() {
                let n = &*l.name;
                if n == METRIC_NAME || IDENTIFYING.contains(&n) || s.metric.get(n).is_some() {
                    continue;
                }
                if !data_ms.is_empty() && !data_ms.iter().any(|m| m.name == n) {
                    continue;
                }
                if let Some(prev) = b.get(n) {
                    if prev != &*l.value {
                        return Err(EvalError::Execution(format!(
                            "conflicting label: {n} has the values {prev:?} and {:?} in different info series",
                            &*l.value
                        )));
                    }
                }
                b.set(l.name.clone(), l.value.clone());
            }
        }
        if !matched && drop_if_unmatched {
            continue;
        }
        s.metric = b.build();
        s.t = c.ts;
        out.push(s);
    }
    Ok(Value::Vector(out))
}
