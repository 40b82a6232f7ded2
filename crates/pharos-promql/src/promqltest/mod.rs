//! A runner for Prometheus's PromQL test-script language (`load`, `clear`, `eval`, `expect`).
//!
//! Each `eval` is one evaluation that passes or fails; a [`FileReport`] counts them and keeps
//! the failures with what was expected and what came back.

pub mod series;

use std::collections::HashMap;
use std::path::Path;

use pharos_model::{FloatHistogram, Labels, LabelsBuilder};
use pharos_tsdb::memstore::MemValue;
use pharos_tsdb::MemStorage;
use regex::Regex;

use crate::engine::{Engine, EngineOptions, QueryResult};
use crate::histogram;
use crate::value::{format_float, Value};
use series::{
    parse_float, parse_labels, parse_time, parse_values, split_series, ScriptError, SeqValue,
};

/// One failed evaluation.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Line number of the `eval` (1-based).
    pub line: usize,
    /// The `eval` line.
    pub command: String,
    /// What went wrong, with expected and actual values.
    pub message: String,
}

/// Results of one script.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    /// File name (or `<script>`).
    pub name: String,
    /// Evaluations that passed.
    pub passed: usize,
    /// Evaluations that failed.
    pub failed: usize,
    /// Details of failures, in file order.
    pub failures: Vec<Failure>,
}

/// The engine settings Prometheus's own test harness uses.
pub fn test_engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta: 5 * 60 * 1000,
        timeout: std::time::Duration::from_secs(100),
        max_samples: 10_000,
        max_concurrency: 4,
        default_subquery_step: 60_000,
        experimental_functions: true,
    }
}

/// Runs a script file.
pub fn run_file(path: &Path) -> std::io::Result<FileReport> {
    let text = std::fs::read_to_string(path)?;
    let mut r = run_script(&text);
    r.name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(r)
}

#[derive(Default)]
struct Expect {
    fail: bool,
    fail_msgs: Vec<Matcher>,
    warn: Option<Vec<Matcher>>,
    info: Option<Vec<Matcher>>,
    no_warn: bool,
    no_info: bool,
    ordered: bool,
    string: Option<String>,
    range_vector: Option<(i64, i64, i64)>,
}

#[derive(Clone)]
enum Matcher {
    Any,
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Exact(e) => e == s,
            Matcher::Regex(r) => r.is_match(s),
        }
    }
}

struct ExpectedSeries {
    labels: Labels,
    values: Vec<SeqValue>,
}

struct Eval {
    line: usize,
    command: String,
    query: String,
    range: Option<(i64, i64, i64)>,
    at: i64,
    expect: Expect,
    scalar: Option<f64>,
    series: Vec<ExpectedSeries>,
}

/// Runs a whole script from text.
pub fn run_script(text: &str) -> FileReport {
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                String::new()
            } else {
                t.to_string()
            }
        })
        .collect();
    let mut report = FileReport {
        name: "<script>".into(),
        ..Default::default()
    };
    let storage = MemStorage::new();
    let engine = Engine::new(test_engine_options());
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let block_end = (i + 1..lines.len())
            .find(|&j| lines[j].is_empty())
            .unwrap_or(lines.len());
        let body: Vec<(usize, &str)> = (i + 1..block_end)
            .map(|j| (j + 1, lines[j].as_str()))
            .collect();
        if line == "clear" {
            storage.clear();
            i += 1;
            continue;
        } else if let Some(rest) = line
            .strip_prefix("load_with_nhcb ")
            .or_else(|| line.strip_prefix("load "))
        {
            let nhcb = line.starts_with("load_with_nhcb");
            if let Err(e) = load(&storage, rest, &body, nhcb) {
                report.failed += 1;
                report.failures.push(Failure {
                    line: i + 1,
                    command: line.clone(),
                    message: format!("load failed: {e}"),
                });
            }
        } else if line.starts_with("eval") {
            match parse_eval(i + 1, line, &body) {
                Ok(ev) => match check(&engine, &storage, &ev) {
                    Ok(()) => report.passed += 1,
                    Err(msg) => {
                        report.failed += 1;
                        report.failures.push(Failure {
                            line: ev.line,
                            command: ev.command.clone(),
                            message: msg,
                        });
                    }
                },
                Err(e) => {
                    report.failed += 1;
                    report.failures.push(Failure {
                        line: i + 1,
                        command: line.clone(),
                        message: format!("bad eval: {e}"),
                    });
                }
            }
        } else {
            report.failures.push(Failure {
                line: i + 1,
                command: line.clone(),
                message: "unknown command".into(),
            });
        }
        i = block_end;
    }
    report
}

fn load(
    storage: &MemStorage,
    interval: &str,
    body: &[(usize, &str)],
    nhcb: bool,
) -> Result<(), ScriptError> {
    let step = parse_time(interval)?;
    let mut loaded: Vec<(Labels, Vec<SeqValue>)> = Vec::new();
    for (_, l) in body {
        let (sel, vals) = split_series(l);
        let labels = parse_labels(sel)?;
        let mut values = parse_values(vals)?;
        set_counter_reset_hints(&mut values);
        for (k, v) in values.iter().enumerate() {
            let t = k as i64 * step;
            match v {
                SeqValue::Omitted => {}
                SeqValue::Float(f) => storage.append(&labels, t, *f),
                SeqValue::Histogram(h) => storage.append_histogram(&labels, t, h.clone()),
            }
        }
        loaded.push((labels, values));
    }
    if nhcb {
        load_nhcb(storage, &loaded, step);
    }
    Ok(())
}

/// Sets the counter reset hints the way storage reports them when read back: after the first
/// histogram of a series, each is either a reset or not, unless it is a gauge.
fn set_counter_reset_hints(values: &mut [SeqValue]) {
    let mut prev: Option<FloatHistogram> = None;
    for v in values.iter_mut() {
        match v {
            SeqValue::Histogram(h) => {
                if let Some(p) = &prev {
                    if h.counter_reset_hint == 0 {
                        let mut raw = h.clone();
                        raw.counter_reset_hint = 0;
                        // A detected reset reads back as "unknown": the engine then detects
                        // it from the values.
                        h.counter_reset_hint = if crate::functions::detect_reset(p, &raw) {
                            0
                        } else {
                            2
                        };
                    }
                }
                prev = Some(h.clone());
            }
            SeqValue::Float(_) => prev = None,
            SeqValue::Omitted => {}
        }
    }
}

/// Converts classic histogram series (`_bucket`/`_sum`/`_count`) into custom-bucket native
/// histograms stored under the base name.
fn load_nhcb(storage: &MemStorage, loaded: &[(Labels, Vec<SeqValue>)], step: i64) {
    struct Acc {
        buckets: Vec<(f64, Vec<SeqValue>)>,
        sum: Option<Vec<SeqValue>>,
        count: Option<Vec<SeqValue>>,
    }
    let mut groups: Vec<(Labels, Acc)> = Vec::new();
    let mut idx: HashMap<Labels, usize> = HashMap::new();
    for (l, vals) in loaded {
        let Some(name) = l.metric_name() else {
            continue;
        };
        let (base, kind) = if let Some(b) = name.strip_suffix("_bucket") {
            (b, 0)
        } else if let Some(b) = name.strip_suffix("_sum") {
            (b, 1)
        } else if let Some(b) = name.strip_suffix("_count") {
            (b, 2)
        } else {
            continue;
        };
        let mut b = l.builder();
        b.set("__name__", base);
        b.del("le");
        let key = b.build();
        let gi = *idx.entry(key.clone()).or_insert_with(|| {
            groups.push((
                key,
                Acc {
                    buckets: vec![],
                    sum: None,
                    count: None,
                },
            ));
            groups.len() - 1
        });
        let acc = &mut groups[gi].1;
        match kind {
            0 => {
                let Some(le) = l.get("le").and_then(parse_float) else {
                    continue;
                };
                acc.buckets.push((le, vals.clone()));
            }
            1 => acc.sum = Some(vals.clone()),
            _ => acc.count = Some(vals.clone()),
        }
    }
    for (labels, mut acc) in groups {
        if acc.buckets.is_empty() {
            continue;
        }
        acc.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Spellings of one bound ("0.2", "2e-1") name the same bucket, which is kept once.
        acc.buckets.dedup_by(|a, b| a.0 == b.0);
        let n = acc.buckets.iter().map(|b| b.1.len()).max().unwrap_or(0);
        let bounds: Vec<f64> = acc
            .buckets
            .iter()
            .map(|b| b.0)
            .filter(|b| b.is_finite())
            .collect();
        for k in 0..n {
            let get = |v: &Vec<SeqValue>| match v.get(k) {
                Some(SeqValue::Float(f)) if !pharos_model::is_stale_nan(*f) => Some(*f),
                _ => None,
            };
            let cum: Vec<Option<f64>> = acc.buckets.iter().map(|b| get(&b.1)).collect();
            if cum.iter().all(Option::is_none) {
                continue;
            }
            let mut pairs = Vec::new();
            let mut prev = 0.0;
            for (i, c) in cum.iter().enumerate() {
                let c = c.unwrap_or(prev);
                pairs.push((i as i32, c - prev));
                prev = c;
            }
            let total = acc.count.as_ref().and_then(get).unwrap_or(prev);
            let sum = acc.sum.as_ref().and_then(get).unwrap_or(0.0);
            let (spans, counts) = histogram::compact(&pairs);
            let h = FloatHistogram {
                schema: histogram::CUSTOM,
                count: total,
                sum,
                positive_spans: spans,
                positive_buckets: counts,
                custom_values: bounds.clone(),
                ..Default::default()
            };
            storage.append_value(&labels, k as i64 * step, MemValue::Histogram(h));
        }
    }
}

/// Strips one pair of surrounding double quotes.
fn unquote(s: &str) -> &str {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn parse_matcher(kind: &str, rest: &str) -> Result<Matcher, ScriptError> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(Matcher::Any);
    }
    if let Some(m) = rest.strip_prefix("msg:") {
        let m = m.trim();
        let m = if kind == "fail" { unquote(m) } else { m };
        return Ok(Matcher::Exact(m.to_string()));
    }
    if let Some(r) = rest.strip_prefix("regex:") {
        let r = r.trim();
        let r = if kind == "fail" { unquote(r) } else { r };
        return Regex::new(r)
            .map(Matcher::Regex)
            .map_err(|e| ScriptError(format!("bad regex: {e}")));
    }
    Err(ScriptError(format!("bad expect line: {rest:?}")))
}

static EVAL_INSTANT: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
static EVAL_RANGE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
static EXPECT_RANGE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();

/// Compiles a fixed pattern once.
fn regex_once(
    cell: &'static std::sync::OnceLock<Regex>,
    pattern: &str,
) -> Result<&'static Regex, ScriptError> {
    if let Some(r) = cell.get() {
        return Ok(r);
    }
    let r = Regex::new(pattern).map_err(|e| ScriptError(e.to_string()))?;
    Ok(cell.get_or_init(|| r))
}

fn parse_eval(line_no: usize, line: &str, body: &[(usize, &str)]) -> Result<Eval, ScriptError> {
    let inst = regex_once(
        &EVAL_INSTANT,
        r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$",
    )?;
    let rng = regex_once(
        &EVAL_RANGE,
        r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
    )?;
    let mut expect = Expect::default();
    let (mode, query, range, at);
    if let Some(c) = rng.captures(line) {
        mode = c.get(1).map(|m| m.as_str().to_string());
        let s = parse_time(&c[2])?;
        let e = parse_time(&c[3])?;
        let st = parse_time(&c[4])?;
        range = Some((s, e, st));
        at = 0;
        query = c[5].to_string();
    } else if let Some(c) = inst.captures(line) {
        mode = c.get(1).map(|m| m.as_str().to_string());
        at = c.get(2).map_or(Ok(0), |m| parse_time(m.as_str()))?;
        range = None;
        query = c[3].to_string();
    } else {
        return Err(ScriptError(format!("invalid eval command {line:?}")));
    }
    match mode.as_deref() {
        Some("fail") => expect.fail = true,
        Some("warn") => expect.warn = Some(vec![Matcher::Any]),
        Some("info") => expect.info = Some(vec![Matcher::Any]),
        Some("ordered") => expect.ordered = true,
        _ => {}
    }
    let mut ev = Eval {
        line: line_no,
        command: line.to_string(),
        query,
        range,
        at,
        expect,
        scalar: None,
        series: vec![],
    };
    for (_, l) in body {
        if let Some(rest) = l.strip_prefix("expect ") {
            let rest = rest.trim();
            let (kind, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            match kind {
                "fail" => {
                    ev.expect.fail = true;
                    let m = parse_matcher("fail", tail)?;
                    if !matches!(m, Matcher::Any) {
                        ev.expect.fail_msgs.push(m);
                    }
                }
                "warn" => ev
                    .expect
                    .warn
                    .get_or_insert_with(Vec::new)
                    .push(parse_matcher("warn", tail)?),
                "info" => ev
                    .expect
                    .info
                    .get_or_insert_with(Vec::new)
                    .push(parse_matcher("info", tail)?),
                "no_warn" => ev.expect.no_warn = true,
                "no_info" => ev.expect.no_info = true,
                "ordered" => ev.expect.ordered = true,
                "string" => {
                    let t = tail.trim();
                    let s = t
                        .get(1..t.len().saturating_sub(1))
                        .unwrap_or("")
                        .to_string();
                    ev.expect.string = Some(s);
                }
                "range" => {
                    let re = regex_once(
                        &EXPECT_RANGE,
                        r"^vector\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)$",
                    )?;
                    let c = re
                        .captures(tail.trim())
                        .ok_or_else(|| ScriptError(format!("bad expect range: {tail}")))?;
                    ev.expect.range_vector =
                        Some((parse_time(&c[1])?, parse_time(&c[2])?, parse_time(&c[3])?));
                }
                _ => return Err(ScriptError(format!("unknown expect {kind:?}"))),
            }
            continue;
        }
        if let Some(m) = l.strip_prefix("expected_fail_message ") {
            ev.expect
                .fail_msgs
                .push(Matcher::Exact(m.trim().to_string()));
            continue;
        }
        if let Some(r) = l.strip_prefix("expected_fail_regexp ") {
            ev.expect.fail_msgs.push(Matcher::Regex(
                Regex::new(r.trim()).map_err(|e| ScriptError(e.to_string()))?,
            ));
            continue;
        }
        if let Some(f) = parse_float(l) {
            ev.scalar = Some(f);
            continue;
        }
        let (sel, vals) = split_series(l);
        ev.series.push(ExpectedSeries {
            labels: parse_labels(sel)?,
            values: parse_values(vals)?,
        });
    }
    Ok(ev)
}

fn check(engine: &Engine, storage: &MemStorage, ev: &Eval) -> Result<(), String> {
    let result = match ev.range {
        Some((s, e, st)) => engine.range_query(storage, &ev.query, s, e, st),
        None => engine.instant_query(storage, &ev.query, ev.at),
    };
    let res = match result {
        Err(e) => {
            if !ev.expect.fail {
                return Err(format!("unexpected error: {e}"));
            }
            let msg = e.to_string();
            // Expected messages carry no position, so parse errors also match by their message.
            let bare = match &e {
                crate::engine::EvalError::Parse(p) => p.message.clone(),
                _ => msg.clone(),
            };
            if !ev.expect.fail_msgs.is_empty()
                && !ev
                    .expect
                    .fail_msgs
                    .iter()
                    .any(|m| m.matches(&msg) || m.matches(&bare))
            {
                return Err(format!("error message mismatch: got {msg:?}"));
            }
            return Ok(());
        }
        Ok(r) => r,
    };
    if ev.expect.fail {
        return Err(format!(
            "expected failure, got result {}",
            show_value(&res.value)
        ));
    }
    check_annotations(ev, &res)?;
    compare(ev, &res.value)
}

fn check_annotations(ev: &Eval, res: &QueryResult) -> Result<(), String> {
    let warns = res.annotations.warnings(&ev.query);
    let infos = res.annotations.infos(&ev.query);
    let check =
        |kind: &str, want: &Option<Vec<Matcher>>, no: bool, got: &[String]| -> Result<(), String> {
            if no && !got.is_empty() {
                return Err(format!("expected no {kind} annotations, got {got:?}"));
            }
            let Some(want) = want else { return Ok(()) };
            if got.is_empty() {
                return Err(format!("expected {kind} annotations, got none"));
            }
            for m in want {
                if !got.iter().any(|g| m.matches(g)) {
                    let shown = match m {
                        Matcher::Exact(s) => s.clone(),
                        Matcher::Regex(r) => r.as_str().to_string(),
                        Matcher::Any => "any".into(),
                    };
                    return Err(format!(
                        "expected {kind} annotation {shown:?} not found in {got:?}"
                    ));
                }
            }
            for g in got {
                if !want.iter().any(|m| m.matches(g)) {
                    return Err(format!("unexpected {kind} annotation {g:?}"));
                }
            }
            Ok(())
        };
    check("warn", &ev.expect.warn, ev.expect.no_warn, &warns)?;
    check("info", &ev.expect.info, ev.expect.no_info, &infos)
}

/// Float equality as Prometheus's tests define it (relative epsilon 1e-6, NaN equals NaN).
fn float_eq(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() || a == b {
        return true;
    }
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < 1e-6 * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < 1e-6
}

fn hist_eq(want: &FloatHistogram, got: &FloatHistogram) -> bool {
    let nz =
        |v: Vec<(i32, f64)>| -> Vec<(i32, f64)> { v.into_iter().filter(|x| x.1 != 0.0).collect() };
    let pairs_eq = |a: Vec<(i32, f64)>, b: Vec<(i32, f64)>| {
        a.len() == b.len()
            && a.iter()
                .zip(b.iter())
                .all(|(x, y)| x.0 == y.0 && float_eq(x.1, y.1))
    };
    // A hint is only checked when the expectation names one.
    let hint_ok = want.counter_reset_hint == 0 || want.counter_reset_hint == got.counter_reset_hint;
    want.schema == got.schema
        && hint_ok
        && float_eq(want.count, got.count)
        && float_eq(want.sum, got.sum)
        && float_eq(want.zero_count, got.zero_count)
        && float_eq(want.zero_threshold, got.zero_threshold)
        && want.custom_values == got.custom_values
        && pairs_eq(
            nz(histogram::expand(
                &want.positive_spans,
                &want.positive_buckets,
            )),
            nz(histogram::expand(
                &got.positive_spans,
                &got.positive_buckets,
            )),
        )
        && pairs_eq(
            nz(histogram::expand(
                &want.negative_spans,
                &want.negative_buckets,
            )),
            nz(histogram::expand(
                &got.negative_spans,
                &got.negative_buckets,
            )),
        )
}

fn show_seq(v: &SeqValue) -> String {
    match v {
        SeqValue::Omitted => "_".into(),
        SeqValue::Float(f) => format_float(*f),
        SeqValue::Histogram(h) => histogram::to_string(h),
    }
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Scalar(f) => format!("scalar {}", format_float(*f)),
        Value::String(s) => format!("string {s:?}"),
        Value::Vector(v) => {
            let items: Vec<String> = v
                .iter()
                .map(|s| match &s.h {
                    Some(h) => format!("{} {}", s.metric, histogram::to_string(h)),
                    None => format!("{} {}", s.metric, format_float(s.f)),
                })
                .collect();
            format!("vector [{}]", items.join("; "))
        }
        Value::Matrix(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|s| {
                    let mut pts: Vec<String> = s
                        .floats
                        .iter()
                        .map(|p| format!("{}@{}", format_float(p.f), p.t / 1000))
                        .collect();
                    pts.extend(
                        s.hists
                            .iter()
                            .map(|p| format!("{}@{}", histogram::to_string(&p.h), p.t / 1000)),
                    );
                    format!("{} [{}]", s.metric, pts.join(" "))
                })
                .collect();
            format!("matrix [{}]", items.join("; "))
        }
    }
}

fn compare(ev: &Eval, v: &Value) -> Result<(), String> {
    if let Some(want) = &ev.expect.string {
        return match v {
            Value::String(s) if s == want => Ok(()),
            other => Err(format!(
                "expected string {want:?}, got {}",
                show_value(other)
            )),
        };
    }
    match v {
        Value::Scalar(f) => {
            let Some(want) = ev.scalar else {
                return Err(format!(
                    "expected {} series, got {}",
                    ev.series.len(),
                    show_value(v)
                ));
            };
            if float_eq(want, *f) {
                Ok(())
            } else {
                Err(format!(
                    "expected scalar {}, got {}",
                    format_float(want),
                    format_float(*f)
                ))
            }
        }
        Value::String(s) => Err(format!("unexpected string result {s:?}")),
        Value::Vector(vec) => {
            if let Some(w) = ev.scalar {
                return Err(format!(
                    "expected scalar {}, got {}",
                    format_float(w),
                    show_value(v)
                ));
            }
            if ev.series.len() != vec.len() {
                return Err(format!(
                    "expected {} samples, got {}: want [{}], got {}",
                    ev.series.len(),
                    vec.len(),
                    ev.series
                        .iter()
                        .map(|s| format!(
                            "{} {}",
                            s.labels,
                            s.values.iter().map(show_seq).collect::<Vec<_>>().join(" ")
                        ))
                        .collect::<Vec<_>>()
                        .join("; "),
                    show_value(v)
                ));
            }
            for (i, want) in ev.series.iter().enumerate() {
                let got = if ev.expect.ordered {
                    vec.get(i).filter(|s| s.metric == want.labels)
                } else {
                    vec.iter().find(|s| s.metric == want.labels)
                };
                let Some(got) = got else {
                    return Err(format!(
                        "expected series {} not found (or out of order) in {}",
                        want.labels,
                        show_value(v)
                    ));
                };
                let ok = match (want.values.first(), &got.h) {
                    (Some(SeqValue::Float(f)), None) => float_eq(*f, got.f),
                    (Some(SeqValue::Histogram(h)), Some(g)) => hist_eq(h, g),
                    _ => false,
                };
                if !ok || want.values.len() != 1 {
                    return Err(format!(
                        "series {}: expected {}, got {}",
                        want.labels,
                        want.values
                            .iter()
                            .map(show_seq)
                            .collect::<Vec<_>>()
                            .join(" "),
                        got.h
                            .as_ref()
                            .map_or_else(|| format_float(got.f), |h| histogram::to_string(h))
                    ));
                }
            }
            Ok(())
        }
        Value::Matrix(m) => {
            let (start, step) = match (ev.range, ev.expect.range_vector) {
                (Some((s, _, st)), _) => (s, st),
                (None, Some((s, _, st))) => (s, st),
                (None, None) => {
                    return Err(format!(
                        "received range result on instant evaluation: {}",
                        show_value(v)
                    ))
                }
            };
            if ev.series.len() != m.len() {
                return Err(format!(
                    "expected {} series, got {}: {}",
                    ev.series.len(),
                    m.len(),
                    show_value(v)
                ));
            }
            for want in &ev.series {
                let Some(got) = m.iter().find(|s| s.metric == want.labels) else {
                    return Err(format!(
                        "expected series {} not found in {}",
                        want.labels,
                        show_value(v)
                    ));
                };
                let mut wf = Vec::new();
                let mut wh = Vec::new();
                for (k, val) in want.values.iter().enumerate() {
                    let t = start + k as i64 * step;
                    match val {
                        SeqValue::Omitted => {}
                        SeqValue::Float(f) => wf.push((t, *f)),
                        SeqValue::Histogram(h) => wh.push((t, h)),
                    }
                }
                let floats_ok = wf.len() == got.floats.len()
                    && wf
                        .iter()
                        .zip(got.floats.iter())
                        .all(|(w, g)| w.0 == g.t && float_eq(w.1, g.f));
                let hists_ok = wh.len() == got.hists.len()
                    && wh
                        .iter()
                        .zip(got.hists.iter())
                        .all(|(w, g)| w.0 == g.t && hist_eq(w.1, &g.h));
                if !floats_ok || !hists_ok {
                    return Err(format!(
                        "series {}: expected {}, got {}",
                        want.labels,
                        want.values
                            .iter()
                            .map(show_seq)
                            .collect::<Vec<_>>()
                            .join(" "),
                        show_value(&Value::Matrix(vec![got.clone()]))
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Builds a label set from pairs (for tests).
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut b = LabelsBuilder::new();
    for (n, v) in pairs {
        b.set(*n, *v);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_script() {
        let r = run_script(
            "load 5m\n  http_requests_total{job=\"a\"} 0+10x10\n  http_requests_total{job=\"b\"} 0+20x10\n\n\
             eval instant at 50m sum(http_requests_total)\n  {} 300\n\n\
             eval instant at 50m rate(http_requests_total{job=\"a\"}[10m])\n  {job=\"a\"} 0.03333333333\n\n\
             eval range from 0 to 10m step 5m http_requests_total{job=\"a\"}\n  http_requests_total{job=\"a\"} 0 10 20\n\n\
             eval instant at 0m 1 +\n  expect fail\n",
        );
        assert_eq!(r.failed, 0, "{:?}", r.failures);
        assert_eq!(r.passed, 4);
    }
}
