//! `sort`, `sort_desc`, `sort_by_label`, `sort_by_label_desc`.

use std::cmp::Ordering;

use super::FnCall;
use crate::engine::EvalError;
use crate::value::Value;

fn by_value(c: &mut FnCall<'_>, desc: bool) -> Result<Value, EvalError> {
    let mut v = c.take_vector(0);
    v.retain(|s| s.h.is_none());
    // NaN goes last either way.
    v.sort_by(|a, b| match (a.f.is_nan(), b.f.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if desc => b.f.total_cmp(&a.f),
        _ => a.f.total_cmp(&b.f),
    });
    Ok(Value::Vector(v))
}

/// `sort(v)`: ascending by value.
pub fn sort(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    by_value(c, false)
}

/// `sort_desc(v)`: descending by value.
pub fn sort_desc(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    by_value(c, true)
}

/// Natural ordering: runs of digits compare as numbers.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = ab[i].cmp(&bb[j]);
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

fn by_label(c: &mut FnCall<'_>, desc: bool) -> Result<Value, EvalError> {
    let names: Vec<String> = (1..c.args.len())
        .filter_map(|i| c.string(i).ok().map(str::to_owned))
        .collect();
    let mut v = c.take_vector(0);
    v.sort_by(|a, b| {
        for n in &names {
            let (x, y) = (a.metric.get(n).unwrap_or(""), b.metric.get(n).unwrap_or(""));
            if x == y {
                continue;
            }
            let o = natural_cmp(x, y);
            return if desc { o.reverse() } else { o };
        }
        let o = a.metric.cmp(&b.metric);
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    Ok(Value::Vector(v))
}

/// `sort_by_label(v, label...)`.
pub fn sort_by_label(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    by_label(c, false)
}

/// `sort_by_label_desc(v, label...)`.
pub fn sort_by_label_desc(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    by_label(c, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a10", "a10"), Ordering::Equal);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
    }
}
