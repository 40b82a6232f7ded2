//! The function table: Go's `text/template` builtins, Prometheus's template functions and the
//! cheap part of Alertmanager's. `and` and `or` are evaluated lazily by the executor and only
//! listed here so the parser knows them.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::env::{Env, QueryResultSample};
use crate::escape;
use crate::gofmt;
use crate::gotime;
use crate::humanize;
use crate::value::Value;

/// Why a function call failed; the executor words the final message like Go.
#[derive(Debug)]
pub(crate) enum FnError {
    /// The function ran and returned an error (`error calling NAME: ...`).
    Call(String),
    /// An argument has the wrong type (reported without the `error calling` prefix).
    Arg(String),
}

/// What a function can see besides its arguments.
pub(crate) struct CallContext<'a> {
    pub env: &'a Env,
}

type FnImpl = fn(&CallContext<'_>, Vec<Value>) -> Result<Value, FnError>;

/// A callable template function.
pub(crate) struct Function {
    pub name: &'static str,
    /// Fixed parameter count, or the count before a variadic tail.
    pub params: usize,
    pub variadic: bool,
    pub call: FnImpl,
}

macro_rules! f {
    ($name:literal, $params:expr, $variadic:expr, $call:expr) => {
        Function {
            name: $name,
            params: $params,
            variadic: $variadic,
            call: $call,
        }
    };
}

static FUNCTIONS: &[Function] = &[
    // Go builtins. `and`/`or` are intercepted by the executor.
    f!("and", 1, true, |_, a| Ok(a
        .into_iter()
        .last()
        .unwrap_or_default())),
    f!("or", 1, true, |_, a| Ok(a
        .into_iter()
        .last()
        .unwrap_or_default())),
    f!("not", 1, false, |_, a| Ok(Value::Bool(
        !first(&a).is_true()
    ))),
    f!("len", 1, false, builtin_len),
    f!("index", 1, true, builtin_index),
    f!("slice", 1, true, builtin_slice),
    f!("print", 0, true, |_, a| Ok(Value::String(gofmt::sprint(
        &a
    )))),
    f!("println", 0, true, |_, a| Ok(Value::String(
        gofmt::sprintln(&a)
    ))),
    f!("printf", 1, true, builtin_printf),
    f!("eq", 1, true, builtin_eq),
    f!("ne", 2, false, |_, a| {
        let eq = compare_eq(first(&a), second(&a))?;
        Ok(Value::Bool(!eq))
    }),
    f!("lt", 2, false, |_, a| Ok(Value::Bool(
        compare_lt(first(&a), second(&a))? == Ordering::Less
    ))),
    f!("le", 2, false, |_, a| Ok(Value::Bool(
        compare_lt(first(&a), second(&a))? != Ordering::Greater
    ))),
    f!("gt", 2, false, |_, a| Ok(Value::Bool(
        compare_lt(first(&a), second(&a))? == Ordering::Greater
    ))),
    f!("ge", 2, false, |_, a| Ok(Value::Bool(
        compare_lt(first(&a), second(&a))? != Ordering::Less
    ))),
    f!("html", 0, true, |_, a| Ok(Value::String(
        escape::html_escape(&escaper_input(&a))
    ))),
    f!("js", 0, true, |_, a| Ok(Value::String(escape::js_escape(
        &escaper_input(&a)
    )))),
    f!("urlquery", 0, true, |_, a| Ok(Value::String(
        escape::query_escape(&escaper_input(&a))
    ))),
    f!("call", 1, true, |_, a| match first(&a) {
        Value::Nil => Err(FnError::Call("call of nil".into())),
        v => Err(FnError::Call(format!(
            "non-function of type {}",
            v.type_name()
        ))),
    }),
    // Prometheus.
    f!("query", 1, false, prom_query),
    f!("first", 1, false, |_, a| {
        let list = arg_list(first(&a), "template.queryResult")?;
        list.first()
            .cloned()
            .ok_or_else(|| FnError::Call("first() called on vector with no elements".into()))
    }),
    f!("label", 2, false, |_, a| {
        let name = arg_string(first(&a))?;
        let s = arg_sample(second(&a))?;
        Ok(Value::String(
            s.labels.get(&name).cloned().unwrap_or_default(),
        ))
    }),
    f!("value", 1, false, |_, a| Ok(Value::Float(
        arg_sample(first(&a))?.value
    ))),
    f!("strvalue", 1, false, |_, a| {
        let s = arg_sample(first(&a))?;
        Ok(Value::String(
            s.labels.get("__value__").cloned().unwrap_or_default(),
        ))
    }),
    f!("sortByLabel", 2, false, |_, a| {
        let name = arg_string(first(&a))?;
        let mut list = arg_list(second(&a), "template.queryResult")?.to_vec();
        let key = |v: &Value| match v {
            Value::Sample(s) => s.labels.get(&name).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        list.sort_by_key(key);
        Ok(Value::List(list))
    }),
    f!("args", 0, true, |_, a| {
        Ok(Value::Map(
            a.into_iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v))
                .collect(),
        ))
    }),
    f!("reReplaceAll", 3, false, |_, a| {
        let pattern = arg_string(first(&a))?;
        let repl = arg_string(second(&a))?;
        let text = arg_string(nth(&a, 2))?;
        let re = compile(&pattern)?;
        replace_all_bounded(&re, &text, &repl).map(Value::String)
    }),
    f!("match", 2, false, |_, a| {
        let pattern = arg_string(first(&a))?;
        let text = arg_string(second(&a))?;
        Ok(Value::Bool(compile(&pattern)?.is_match(&text)))
    }),
    f!("safeHtml", 1, false, |_, a| Ok(Value::SafeHtml(
        arg_string(first(&a))?
    ))),
    f!("title", 1, false, |_, a| Ok(Value::String(go_title(
        &arg_string(first(&a))?
    )))),
    f!("toUpper", 1, false, |_, a| Ok(Value::String(
        arg_string(first(&a))?.chars().map(go_upper).collect()
    ))),
    f!("toLower", 1, false, |_, a| Ok(Value::String(
        arg_string(first(&a))?.chars().map(go_lower).collect()
    ))),
    f!("graphLink", 1, false, |_, a| Ok(Value::String(format!(
        "/graph?g0.expr={}&g0.tab=0",
        escape::query_escape(&arg_string(first(&a))?)
    )))),
    f!("tableLink", 1, false, |_, a| Ok(Value::String(format!(
        "/graph?g0.expr={}&g0.tab=1",
        escape::query_escape(&arg_string(first(&a))?)
    )))),
    f!("humanize", 1, false, |_, a| Ok(Value::String(
        humanize::humanize(to_float(first(&a))?)
    ))),
    f!("humanize1024", 1, false, |_, a| Ok(Value::String(
        humanize::humanize_1024(to_float(first(&a))?)
    ))),
    f!("humanizeDuration", 1, false, |_, a| Ok(Value::String(
        humanize::humanize_duration(to_float(first(&a))?)
    ))),
    f!("humanizePercentage", 1, false, |_, a| Ok(Value::String(
        humanize::humanize_percentage(to_float(first(&a))?)
    ))),
    f!("humanizeTimestamp", 1, false, |_, a| {
        let v = to_float(first(&a))?;
        humanize::humanize_timestamp(v)
            .map(Value::String)
            .map_err(FnError::Call)
    }),
    f!("toTime", 1, false, |_, a| {
        let v = to_float(first(&a))?;
        humanize::float_to_time_ms(v)
            .map(Value::Time)
            .map_err(FnError::Call)
    }),
    f!("toDuration", 1, false, |_, a| {
        let v = to_float(first(&a))?;
        humanize::float_to_duration_ns(v)
            .map(Value::Duration)
            .map_err(FnError::Call)
    }),
    f!("now", 0, false, |ctx, _| {
        let ms = ctx.env.now_ms.unwrap_or_else(system_now_ms);
        Ok(Value::Float(ms as f64 / 1000.0))
    }),
    f!("pathPrefix", 0, false, |ctx, _| Ok(Value::String(
        ctx.env.path_prefix.clone()
    ))),
    f!("externalURL", 0, false, |ctx, _| Ok(Value::String(
        ctx.env.external_url.clone()
    ))),
    f!("parseDuration", 1, false, |_, a| {
        let s = arg_string(first(&a))?;
        humanize::parse_prometheus_duration(&s)
            .map(Value::Float)
            .map_err(FnError::Call)
    }),
    f!("stripPort", 1, false, |_, a| {
        let s = arg_string(first(&a))?;
        Ok(Value::String(match split_host_port(&s) {
            Some((host, _)) => host,
            None => s,
        }))
    }),
    f!("stripDomain", 1, false, |_, a| Ok(Value::String(
        strip_domain(&arg_string(first(&a))?)
    ))),
    // Alertmanager.
    f!("join", 2, false, |_, a| {
        let sep = arg_string(first(&a))?;
        let list = arg_list(second(&a), "[]string")?;
        let parts = list.iter().map(arg_string).collect::<Result<Vec<_>, _>>()?;
        Ok(Value::String(parts.join(&sep)))
    }),
    f!("trimSpace", 1, false, |_, a| Ok(Value::String(
        arg_string(first(&a))?.trim().to_string()
    ))),
    f!("stringSlice", 0, true, |_, a| {
        let parts = a.iter().map(arg_string).collect::<Result<Vec<_>, _>>()?;
        Ok(Value::List(parts.into_iter().map(Value::String).collect()))
    }),
    f!("safeUrl", 1, false, |_, a| Ok(Value::SafeHtml(arg_string(
        first(&a)
    )?))),
    f!("urlUnescape", 1, false, |_, a| {
        escape::query_unescape(&arg_string(first(&a))?)
            .map(Value::String)
            .map_err(FnError::Call)
    }),
    f!("toJson", 1, false, |_, a| Ok(Value::String(
        escape::to_json(first(&a))
    ))),
    f!("date", 2, false, |_, a| {
        let layout = arg_string(first(&a))?;
        let t = arg_time(second(&a))?;
        Ok(Value::String(gotime::format(t, &layout)))
    }),
    f!("tz", 2, false, |_, a| {
        let zone = arg_string(first(&a))?;
        let t = arg_time(second(&a))?;
        // Times are kept in UTC; other zones would need a time zone database.
        match zone.as_str() {
            "UTC" | "" => Ok(Value::Time(t)),
            other => Err(FnError::Call(format!("unknown time zone {other}"))),
        }
    }),
    f!("since", 1, false, |ctx, a| {
        let t = arg_time(first(&a))?;
        let now = ctx.env.now_ms.unwrap_or_else(system_now_ms);
        Ok(Value::Duration(
            now.saturating_sub(t).saturating_mul(1_000_000),
        ))
    }),
];

/// The Go type of a function parameter, which decides how arguments are checked before the call
/// (Go's `evalArg`/`validateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    /// `interface{}` or `reflect.Value`: anything.
    Any,
    /// `string`.
    Str,
    /// `*template.sample`.
    Sample,
    /// `template.queryResult`.
    QueryResult,
    /// `[]string`.
    StrList,
    /// `time.Time`.
    Time,
}

impl Param {
    /// The Go type name used in error messages.
    pub(crate) fn go_type(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Str => "string",
            Param::Sample => "*template.sample",
            Param::QueryResult => "template.queryResult",
            Param::StrList => "[]string",
            Param::Time => "time.Time",
        }
    }

    /// Whether a value of this type is accepted as is.
    pub(crate) fn accepts(self, v: &Value) -> bool {
        match self {
            Param::Any => true,
            Param::Str => matches!(v, Value::String(_) | Value::SafeHtml(_)),
            Param::Sample => matches!(v, Value::Sample(_)),
            Param::QueryResult | Param::StrList => matches!(v, Value::List(_)),
            Param::Time => matches!(v, Value::Time(_)),
        }
    }
}

/// The declared type of parameter `i` of function `name`.
pub(crate) fn param_type(name: &str, i: usize) -> Param {
    match (name, i) {
        ("printf", 0) => Param::Str,
        (
            "query" | "reReplaceAll" | "match" | "safeHtml" | "title" | "toUpper" | "toLower"
            | "graphLink" | "tableLink" | "stripPort" | "stripDomain" | "parseDuration"
            | "trimSpace" | "safeUrl" | "urlUnescape" | "stringSlice",
            _,
        ) => Param::Str,
        ("label" | "sortByLabel" | "join", 0) => Param::Str,
        ("label", 1) | ("value" | "strvalue", 0) => Param::Sample,
        ("first", 0) | ("sortByLabel", 1) => Param::QueryResult,
        ("join", 1) => Param::StrList,
        ("date" | "tz", 0) => Param::Str,
        ("date" | "tz", 1) | ("since", 0) => Param::Time,
        _ => Param::Any,
    }
}

/// Finds a function by name.
pub(crate) fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

static NIL: Value = Value::Nil;

fn nth(a: &[Value], i: usize) -> &Value {
    a.get(i).unwrap_or(&NIL)
}

fn first(a: &[Value]) -> &Value {
    nth(a, 0)
}

fn second(a: &[Value]) -> &Value {
    nth(a, 1)
}

fn wrong_type(expected: &str, v: &Value) -> FnError {
    if matches!(v, Value::Nil) {
        return FnError::Arg(format!("invalid value; expected {expected}"));
    }
    FnError::Arg(format!(
        "wrong type for value; expected {expected}; got {}",
        v.type_name()
    ))
}

fn arg_string(v: &Value) -> Result<String, FnError> {
    match v {
        Value::String(s) | Value::SafeHtml(s) => Ok(s.clone()),
        other => Err(wrong_type("string", other)),
    }
}

fn arg_time(v: &Value) -> Result<i64, FnError> {
    match v {
        Value::Time(ms) => Ok(*ms),
        other => Err(wrong_type("time.Time", other)),
    }
}

fn arg_list<'v>(v: &'v Value, expected: &str) -> Result<&'v [Value], FnError> {
    match v {
        Value::List(l) => Ok(l),
        // A nil slice is an empty one.
        Value::Nil => Ok(&[]),
        other => Err(wrong_type(expected, other)),
    }
}

fn arg_sample(v: &Value) -> Result<&QueryResultSample, FnError> {
    match v {
        Value::Sample(s) => Ok(s),
        Value::Nil => Err(FnError::Call(
            "runtime error: invalid memory address or nil pointer dereference".into(),
        )),
        other => Err(wrong_type("*template.sample", other)),
    }
}

/// Prometheus's `convertToFloat`: numbers, numeric strings and durations.
fn to_float(v: &Value) -> Result<f64, FnError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Duration(ns) => Ok(*ns as f64 / 1e9),
        Value::String(s) | Value::SafeHtml(s) => parse_go_float(s).ok_or_else(|| {
            FnError::Call(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
        }),
        Value::Nil => Err(FnError::Call("can't convert <nil> to float".into())),
        other => Err(FnError::Call(format!(
            "can't convert {} to float",
            other.type_name()
        ))),
    }
}

/// `strconv.ParseFloat(s, 64)`: decimal, `inf`/`nan` in any case, hexadecimal floats.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return None;
    }
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower.starts_with("0x") && lower.contains('p') {
        if let Ok(Value::Float(f)) = crate::parse::parse_number(&lower) {
            return Some(if neg { -f } else { f });
        }
    }
    None
}

fn compile(pattern: &str) -> Result<regex::Regex, FnError> {
    regex::Regex::new(pattern).map_err(|e| {
        FnError::Call(format!(
            "regexp: Compile({pattern:?}): {}",
            e.to_string().lines().last().unwrap_or("invalid pattern")
        ))
    })
}

/// `Regexp.ReplaceAllString` with `$1`/`${name}` expansion, refusing results larger than
/// [`crate::value::MAX_STRING`] as it goes (an empty pattern matches between every byte).
fn replace_all_bounded(re: &regex::Regex, text: &str, repl: &str) -> Result<String, FnError> {
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(text) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(text.get(last..m.start()).unwrap_or(""));
        caps.expand(repl, &mut out);
        last = m.end();
        if out.len() > crate::value::MAX_STRING {
            return Err(FnError::Call(format!(
                "result exceeds {} bytes",
                crate::value::MAX_STRING
            )));
        }
    }
    out.push_str(text.get(last..).unwrap_or(""));
    Ok(out)
}

fn prom_query(ctx: &CallContext<'_>, a: Vec<Value>) -> Result<Value, FnError> {
    let expr = arg_string(first(&a))?;
    let Some(q) = &ctx.env.query else {
        return Err(FnError::Call(
            "query is not available in this context".into(),
        ));
    };
    let samples = q.query(&expr).map_err(FnError::Call)?;
    Ok(Value::List(
        samples.into_iter().map(Value::Sample).collect(),
    ))
}

fn builtin_printf(_: &CallContext<'_>, a: Vec<Value>) -> Result<Value, FnError> {
    let format = arg_string(first(&a))?;
    Ok(Value::String(gofmt::sprintf(
        &format,
        a.get(1..).unwrap_or(&[]),
    )))
}

fn builtin_len(_: &CallContext<'_>, a: Vec<Value>) -> Result<Value, FnError> {
    let n = match first(&a) {
        Value::String(s) | Value::SafeHtml(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::Nil => return Err(FnError::Call("len of nil pointer".into())),
        other => return Err(FnError::Call(format!("len of type {}", other.type_name()))),
    };
    Ok(Value::from(n))
}

fn index_int(v: &Value) -> Result<i64, FnError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Duration(i) => Ok(*i),
        Value::Nil => Err(FnError::Call("cannot index slice/array with nil".into())),
        other => Err(FnError::Call(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        ))),
    }
}

/// The zero value a missing map key yields: `""` for maps of strings (Go's `map[string]string`,
/// as labels are), nil otherwise.
pub(crate) fn map_zero(m: &BTreeMap<String, Value>) -> Value {
    if m.values().all(|v| matches!(v, Value::String(_))) {
        Value::String(String::new())
    } else {
        Value::Nil
    }
}

fn builtin_index(_: &CallContext<'_>, a: Vec<Value>) -> Result<Value, FnError> {
    let mut it = a.into_iter();
    let mut item = it.next().unwrap_or_default();
    for idx in it {
        item = match item {
            Value::List(l) => {
                let i = index_int(&idx)?;
                let len = l.len();
                usize::try_from(i)
                    .ok()
                    .and_then(|u| l.into_iter().nth(u))
                    .ok_or_else(|| FnError::Call(format!("index out of range: {i}")))
                    .inspect_err(|_| {
                        let _ = len;
                    })?
            }
            Value::String(s) | Value::SafeHtml(s) => {
                let i = index_int(&idx)?;
                let b = usize::try_from(i)
                    .ok()
                    .and_then(|u| s.as_bytes().get(u).copied())
                    .ok_or_else(|| FnError::Call(format!("index out of range: {i}")))?;
                Value::Int(i64::from(b))
            }
            Value::Map(mut m) => match idx {
                Value::String(k) | Value::SafeHtml(k) => {
                    let zero = map_zero(&m);
                    m.remove(&k).unwrap_or(zero)
                }
                Value::Nil => {
                    return Err(FnError::Call(
                        "value is nil; should be of type string".into(),
                    ))
                }
                other => {
                    return Err(FnError::Call(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    )))
                }
            },
            Value::Nil => return Err(FnError::Call("index of untyped nil".into())),
            other => {
                return Err(FnError::Call(format!(
                    "can't index item of type {}",
                    other.type_name()
                )))
            }
        };
    }
    Ok(item)
}

fn builtin_slice(_: &CallContext<'_>, a: Vec<Value>) -> Result<Value, FnError> {
    let item = first(&a);
    let idx = a.get(1..).unwrap_or(&[]);
    if idx.len() > 3 {
        return Err(FnError::Call(format!(
            "too many slice indexes: {}",
            idx.len()
        )));
    }
    let len = match item {
        Value::String(s) | Value::SafeHtml(s) => {
            if idx.len() == 3 {
                return Err(FnError::Call("cannot 3-index slice a string".into()));
            }
            s.len()
        }
        Value::List(l) => l.len(),
        Value::Nil => return Err(FnError::Call("slice of untyped nil".into())),
        other => {
            return Err(FnError::Call(format!(
                "can't slice item of type {}",
                other.type_name()
            )))
        }
    };
    let mut bounds = [0usize, len, len];
    for (i, v) in idx.iter().enumerate() {
        let n = index_int(v)?;
        let u = usize::try_from(n)
            .ok()
            .filter(|u| *u <= len)
            .ok_or_else(|| FnError::Call(format!("index out of range: {n}")))?;
        bounds[i] = u;
    }
    if idx.len() < 2 {
        bounds[1] = if idx.is_empty() {
            len
        } else {
            len.max(bounds[0])
        };
    }
    if bounds[0] > bounds[1] {
        return Err(FnError::Call(format!(
            "invalid slice index: {} > {}",
            bounds[0], bounds[1]
        )));
    }
    if idx.len() == 3 && bounds[1] > bounds[2] {
        return Err(FnError::Call(format!(
            "invalid slice index: {} > {}",
            bounds[1], bounds[2]
        )));
    }
    match item {
        Value::String(s) | Value::SafeHtml(s) => s
            .as_bytes()
            .get(bounds[0]..bounds[1])
            .map(|b| Value::String(String::from_utf8_lossy(b).into_owned()))
            .ok_or_else(|| FnError::Call("slice index out of range".into())),
        Value::List(l) => l
            .get(bounds[0]..bounds[1])
            .map(|s| Value::List(s.to_vec()))
            .ok_or_else(|| FnError::Call("slice index out of range".into())),
        _ => Ok(Value::Nil),
    }
}

/// Go's comparison kinds.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Duration(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) | Value::SafeHtml(_) => Kind::String,
        _ => Kind::Other,
    }
}

fn compare_eq(a: &Value, b: &Value) -> Result<bool, FnError> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        if matches!(a, Value::Nil) || matches!(b, Value::Nil) {
            return Ok(false);
        }
        return Err(FnError::Call("incompatible types for comparison".into()));
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x) | Value::SafeHtml(x), Value::String(y) | Value::SafeHtml(y)) => x == y,
        _ if ka == Kind::Int => int_of(a) == int_of(b),
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            // Go names the second operand, printed with %s, and its type.
            return Err(FnError::Call(format!(
                "non-comparable type {}: {}",
                gofmt::sprintf("%s", std::slice::from_ref(b)),
                b.type_name()
            )));
        }
        (Value::Nil, Value::Nil) => true,
        (Value::Time(x), Value::Time(y)) => x == y,
        (Value::Sample(x), Value::Sample(y)) => x == y,
        (Value::Struct { .. }, Value::Struct { .. }) => a == b,
        _ => false,
    })
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Duration(i) => *i,
        _ => 0,
    }
}

fn builtin_eq(_: &CallContext<'_>, a: Vec<Value>) -> Result<Value, FnError> {
    let arg1 = first(&a);
    let rest = a.get(1..).unwrap_or(&[]);
    if rest.is_empty() {
        return Err(FnError::Call("missing argument for comparison".into()));
    }
    for b in rest {
        if compare_eq(arg1, b)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn compare_lt(a: &Value, b: &Value) -> Result<Ordering, FnError> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Other | Kind::Bool) || matches!(kb, Kind::Other | Kind::Bool) {
        return Err(FnError::Call("invalid type for comparison".into()));
    }
    if ka != kb {
        return Err(FnError::Call("incompatible types for comparison".into()));
    }
    Ok(match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Greater),
        (Value::String(x) | Value::SafeHtml(x), Value::String(y) | Value::SafeHtml(y)) => x.cmp(y),
        _ => int_of(a).cmp(&int_of(b)),
    })
}

/// The string `html`, `js` and `urlquery` work on: a lone string as is, anything else printed.
fn escaper_input(a: &[Value]) -> String {
    if let [Value::String(s) | Value::SafeHtml(s)] = a {
        return s.clone();
    }
    let printable: Vec<Value> = a
        .iter()
        .map(|v| match v {
            Value::Nil => Value::String("<no value>".into()),
            other => other.clone(),
        })
        .collect();
    gofmt::sprint(&printable)
}

/// Go's `unicode.ToUpper`: the one-to-one mapping only (`ß` stays `ß`; Rust's full mapping
/// would give `SS`).
fn go_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower`, one-to-one.
fn go_lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Go's `unicode.ToTitle`: upper case, except the Latin digraphs, which have title forms.
fn go_title_case(c: char) -> char {
    match c {
        '\u{1C4}'..='\u{1C6}' => '\u{1C5}',
        '\u{1C7}'..='\u{1C9}' => '\u{1C8}',
        '\u{1CA}'..='\u{1CC}' => '\u{1CB}',
        '\u{1F1}'..='\u{1F3}' => '\u{1F2}',
        c => go_upper(c),
    }
}

/// Go's `strings.Title`: upper-cases the first letter of every word.
fn go_title(s: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_separator(prev) {
            out.push(go_title_case(c));
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Go's `net.SplitHostPort`; `None` where Go returns an error.
fn split_host_port(s: &str) -> Option<(String, String)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        if port.contains(':') || host.contains('[') {
            return None;
        }
        return Some((host.to_string(), port.to_string()));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') || host.contains('[') || host.contains(']') || port.contains(']') {
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Prometheus's `stripDomain`: drops everything after the first dot of a host name, keeping
/// the port and leaving IP addresses alone.
fn strip_domain(s: &str) -> String {
    let (host, port) = match split_host_port(s) {
        Some((h, p)) => (h, Some(p)),
        None => (s.to_string(), None),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s.to_string();
    }
    let short = host.split('.').next().unwrap_or("");
    match port {
        Some(p) if !p.is_empty() => join_host_port(short, &p),
        _ => short.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_like_go() {
        assert_eq!(
            go_title("hello wORLD foo_bar x-y"),
            "Hello WORLD Foo_bar X-Y"
        );
        assert_eq!(go_title("aaa.bbb"), "Aaa.Bbb");
        assert_eq!(go_title("ǆemal"), "ǅemal");
        assert_eq!("straße".chars().map(go_upper).collect::<String>(), "STRAßE");
        assert_eq!(
            "İSTANBUL".chars().map(go_lower).collect::<String>(),
            "istanbul"
        );
    }

    #[test]
    fn host_port_like_go() {
        assert_eq!(
            split_host_port("example.com:80"),
            Some(("example.com".into(), "80".into()))
        );
        assert_eq!(
            split_host_port("[::1]:80"),
            Some(("::1".into(), "80".into()))
        );
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("host"), None);
        assert_eq!(strip_domain("foo.example.com:9090"), "foo:9090");
        assert_eq!(strip_domain("foo.example.com"), "foo");
        assert_eq!(strip_domain("192.168.0.1:9090"), "192.168.0.1:9090");
        assert_eq!(strip_domain("[2001:db8::1]:80"), "[2001:db8::1]:80");
        assert_eq!(strip_domain("localhost"), "localhost");
    }

    #[test]
    fn parses_go_floats() {
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_go_float("0x1p4"), Some(16.0));
        assert_eq!(parse_go_float("abc"), None);
        assert_eq!(parse_go_float(""), None);
    }
}
