//! `pharos test rules`: promtool's rule unit tests (`promtool test rules`), with the same test
//! file format, the same evaluation schedule, the same messages and the same exit codes.
//!
//! Each test group loads its `input_series` into memory, then evaluates every rule group at
//! `0, evaluation_interval, 2 * evaluation_interval, ...` up to the latest `eval_time`
//! asked for. Alert tests are checked after the evaluation at or just before their
//! `eval_time`, against the firing alerts of the rules with that name; PromQL tests run at
//! their `eval_time` once all evaluations are done.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use pharos_http::PromDuration;
use pharos_model::{Labels, LabelsBuilder};
use pharos_promql::promqltest::series::{parse_labels, parse_values, SeqValue};
use pharos_promql::{Engine, EngineOptions, Value};
use pharos_rules::{AlertState, EvalContext, Group};
use pharos_tsdb::MemStorage;
use serde::Deserialize;

/// Flags of `pharos test rules`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The unit test files.
    #[arg(required = true, value_name = "TEST-RULE-FILE")]
    files: Vec<PathBuf>,
}

/// A unit test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitTestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<PromDuration>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    /// Newer promtool: ignore a difference in the last bit of floats.
    #[serde(default)]
    fuzzy_compare: bool,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

/// One entry of `tests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<PromDuration>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTestCase>,
    #[serde(default)]
    promql_expr_test: Vec<PromqlTestCase>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTestCase {
    #[serde(default)]
    eval_time: Option<PromDuration>,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromqlTestCase {
    expr: String,
    #[serde(default)]
    eval_time: Option<PromDuration>,
    #[serde(default)]
    exp_samples: Vec<ExpectedSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
}

/// Runs every file and reports like promtool: `SUCCESS`, or `FAILED:` and the problems on
/// standard error; exit status 1 when any file failed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for f in &args.files {
        println!("Unit Testing:  {}", f.display());
        let errors = run_file(f);
        if errors.is_empty() {
            println!("  SUCCESS");
        } else {
            eprintln!("  FAILED:");
            for e in &errors {
                eprintln!("{e}");
                println!();
            }
            failed = true;
        }
        println!();
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn millis(d: Option<PromDuration>) -> i64 {
    d.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Every problem found in one unit test file; empty when all tests passed.
fn run_file(path: &Path) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("open {}: {e}", path.display())],
    };
    let file = match parse_test_file(&text) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    let eval_interval = match millis(file.evaluation_interval) {
        0 => 60_000,
        ms => ms,
    };
    let mut group_order: HashMap<&str, usize> = HashMap::new();
    for (i, name) in file.group_eval_order.iter().enumerate() {
        if group_order.insert(name.as_str(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {name}")];
        }
    }
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let mut rule_files = Vec::new();
    for pattern in &file.rule_files {
        let full = if Path::new(pattern).is_absolute() {
            pattern.clone()
        } else {
            base.join(pattern).display().to_string()
        };
        match pharos_rules::expand_rule_files(std::slice::from_ref(&full)) {
            Ok(m) if m.is_empty() => eprintln!("  WARNING: no file match pattern {pattern}"),
            Ok(m) => rule_files.extend(m),
            Err(e) => return vec![e.to_string()],
        }
    }
    let mut errors = Vec::new();
    for t in &file.tests {
        errors.extend(test_group(
            t,
            eval_interval,
            &group_order,
            &rule_files,
            file.fuzzy_compare,
        ));
    }
    errors
}

/// Parses the text of a unit test file; an empty file has no tests.
fn parse_test_file(text: &str) -> Result<UnitTestFile, String> {
    if text.trim().is_empty() {
        return Ok(UnitTestFile {
            rule_files: Vec::new(),
            evaluation_interval: None,
            group_eval_order: Vec::new(),
            fuzzy_compare: false,
            tests: Vec::new(),
        });
    }
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

/// Most input values one test group may expand to (`0+1x1000000000` would otherwise try to
/// hold a billion samples in memory before anything is evaluated).
const MAX_INPUT_VALUES: u64 = 10_000_000;

/// Most evaluations one test group runs (`eval_time` divided by the interval): a 1ms interval
/// with an `eval_time` of years would otherwise run for days.
const MAX_EVALUATIONS: i64 = 10_000_000;

/// An upper bound of how many values a series notation such as `1+2x10 _x3 {{...}}x2` expands
/// to, computed without expanding it: every `xN` suffix counts N + 1, any other item 1.
fn expanded_value_count(values: &str) -> u64 {
    values
        .split_whitespace()
        .map(|item| {
            item.rsplit_once('x')
                .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .map_or(1, |(_, n)| {
                    n.parse::<u64>().unwrap_or(u64::MAX).saturating_add(1)
                })
        })
        .fold(0u64, u64::saturating_add)
}

/// Loads the input series into a fresh store, `interval` apart starting at 0, refusing to
/// expand more than `max_values` values in all.
fn load_series(
    storage: &MemStorage,
    t: &TestGroup,
    interval: i64,
    max_values: u64,
) -> Result<(), String> {
    let total = t
        .input_series
        .iter()
        .map(|s| expanded_value_count(&s.values))
        .fold(0u64, u64::saturating_add);
    if total > max_values {
        return Err(format!(
            "input_series expand to {total} values, more than the {max_values} a test group may load"
        ));
    }
    for s in &t.input_series {
        let labels = parse_labels(&s.series).map_err(|e| e.to_string())?;
        let values = parse_values(&s.values).map_err(|e| e.to_string())?;
        for (i, v) in values.into_iter().enumerate() {
            let ts = i64::try_from(i)
                .unwrap_or(i64::MAX)
                .saturating_mul(interval);
            match v {
                SeqValue::Omitted => {}
                SeqValue::Float(f) => storage.append(&labels, ts, f),
                SeqValue::Histogram(h) => storage.append_histogram(&labels, ts, h),
            }
        }
    }
    Ok(())
}

/// The rule groups of `files`, built afresh for one test group, in evaluation order.
fn load_groups(
    files: &[String],
    interval: i64,
    order: &HashMap<&str, usize>,
) -> Result<Vec<Group>, Vec<String>> {
    let mut groups = Vec::new();
    for f in files {
        let rf = pharos_rules::load_rule_file(Path::new(f))
            .map_err(|errs| errs.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        for spec in rf.groups {
            // Every rule starts restored so that `ALERTS` is written from the first evaluation.
            groups.push(Group::new(spec, interval, 0, false));
        }
    }
    // Groups left out of `group_eval_order` sort first, as in promtool.
    groups.sort_by_key(|g| order.get(g.name.as_str()).copied().unwrap_or(0));
    Ok(groups)
}

fn test_group(
    t: &TestGroup,
    eval_interval: i64,
    order: &HashMap<&str, usize>,
    rule_files: &[String],
    fuzzy: bool,
) -> Vec<String> {
    let interval = match millis(t.interval) {
        0 => eval_interval,
        ms => ms,
    };
    let storage = Arc::new(MemStorage::new());
    if let Err(e) = load_series(&storage, t, interval, MAX_INPUT_VALUES) {
        return vec![e];
    }
    let groups = match load_groups(rule_files, interval, order) {
        Ok(g) => g,
        Err(e) => return e,
    };
    let engine = Arc::new(Engine::new(EngineOptions::default()));
    let mut ctx = EvalContext::new(engine.clone(), storage.clone(), storage.clone());
    ctx.external_url = t.external_url.clone();
    ctx.external_labels = Labels::from_pairs(
        t.external_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );

    let mut errors = Vec::new();
    let mut alert_tests: BTreeMap<i64, Vec<&AlertTestCase>> = BTreeMap::new();
    for a in &t.alert_rule_test {
        if a.alertname.is_empty() {
            let in_group = if t.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", t.name)
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                a.eval_time.unwrap_or_default()
            )];
        }
        alert_tests.entry(millis(a.eval_time)).or_default().push(a);
    }
    let max_eval = t
        .alert_rule_test
        .iter()
        .map(|a| millis(a.eval_time))
        .chain(t.promql_expr_test.iter().map(|p| millis(p.eval_time)))
        .max()
        .unwrap_or(0);
    if max_eval / eval_interval.max(1) > MAX_EVALUATIONS {
        return vec![format!(
            "eval_time {} is more than {MAX_EVALUATIONS} evaluation intervals of {} away",
            go_duration(max_eval),
            go_duration(eval_interval)
        )];
    }
    let mut pending_checks = alert_tests.iter().peekable();
    let mut ts = 0i64;
    while ts <= max_eval {
        let mut eval_errors = Vec::new();
        for g in &groups {
            g.eval(ts, &ctx);
            for r in &g.rules {
                if let Some(e) = &r.state().last_error {
                    eval_errors.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name(),
                        go_duration(ts)
                    ));
                }
            }
        }
        if !eval_errors.is_empty() {
            errors.extend(eval_errors);
            return errors;
        }
        // Alert tests whose eval_time falls in [ts, ts + eval_interval) see this evaluation.
        while let Some((_, cases)) =
            pending_checks.next_if(|(at, _)| ts <= **at && **at < ts + eval_interval)
        {
            for case in cases {
                if let Some(e) = check_alerts(t, case, &groups) {
                    errors.push(e);
                }
            }
        }
        ts += eval_interval;
    }
    for p in &t.promql_expr_test {
        if let Some(e) = check_expr(p, &engine, &storage, fuzzy) {
            errors.push(e);
        }
    }
    errors
}

/// One alert as promtool compares it: labels, then annotations.
type LabelsAndAnnotations = (Labels, Labels);

fn check_alerts(t: &TestGroup, case: &AlertTestCase, groups: &[Group]) -> Option<String> {
    let mut got: Vec<LabelsAndAnnotations> = Vec::new();
    for g in groups {
        for r in &g.rules {
            if !r.is_alerting() || r.name() != case.alertname {
                continue;
            }
            got.extend(
                r.active_alerts()
                    .into_iter()
                    .filter(|a| a.state == AlertState::Firing)
                    .map(|a| (a.labels, a.annotations)),
            );
        }
    }
    let mut expected: Vec<LabelsAndAnnotations> = case
        .exp_alerts
        .iter()
        .map(|a| {
            let mut b = LabelsBuilder::new();
            for (k, v) in &a.exp_labels {
                b.set(k.as_str(), v.as_str());
            }
            b.set("alertname", case.alertname.as_str());
            let annotations = Labels::from_pairs(
                a.exp_annotations
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
            (b.build(), annotations)
        })
        .collect();
    got.sort();
    expected.sort();
    if got == expected {
        return None;
    }
    let name = if t.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", t.name)
    };
    let pad = "            ";
    Some(format!(
        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
        case.alertname,
        case.eval_time.unwrap_or_default(),
        indent_lines(&alerts_string(&expected), pad),
        indent_lines(&alerts_string(&got), pad)
    ))
}

fn check_expr(
    p: &PromqlTestCase,
    engine: &Engine,
    storage: &MemStorage,
    fuzzy: bool,
) -> Option<String> {
    let at = millis(p.eval_time);
    let time = p.eval_time.unwrap_or_default();
    let quoted = go_quote(&p.expr);
    let got = match engine.instant_query(storage, &p.expr, at) {
        Ok(r) => match r.value {
            Value::Vector(v) => v.into_iter().map(|s| (s.metric, s.f)).collect::<Vec<_>>(),
            Value::Scalar(f) => vec![(Labels::empty(), f)],
            _ => {
                return Some(format!(
                    "    expr: {quoted}, time: {time}, err: rule result is not a vector or scalar"
                ))
            }
        },
        Err(e) => return Some(format!("    expr: {quoted}, time: {time}, err: {e}")),
    };
    let mut expected = Vec::with_capacity(p.exp_samples.len());
    for s in &p.exp_samples {
        match parse_labels(&s.labels) {
            Ok(l) => expected.push((l, s.value)),
            Err(e) => {
                return Some(format!(
                    "    expr: {quoted}, time: {time}, err: labels {}: {e}",
                    go_quote(&s.labels)
                ))
            }
        }
    }
    let mut got = got;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let same = got.len() == expected.len()
        && got
            .iter()
            .zip(&expected)
            .all(|(g, e)| g.0 == e.0 && floats_equal(g.1, e.1, fuzzy));
    if same {
        return None;
    }
    Some(format!(
        "    expr: {quoted}, time: {time},\n        exp: {}\n        got: {}",
        samples_string(&expected),
        samples_string(&got)
    ))
}

/// Exact float equality (NaN never equals NaN, as in promtool), or with `fuzzy` a
/// difference of one unit in the last place.
fn floats_equal(a: f64, b: f64, fuzzy: bool) -> bool {
    if a == b {
        return true;
    }
    if !fuzzy || a.is_nan() || b.is_nan() || a.is_sign_negative() != b.is_sign_negative() {
        return false;
    }
    a.to_bits().abs_diff(b.to_bits()) <= 1
}

/// Go's `labels.Labels.String()`: every label inside the braces, values quoted.
fn go_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|l| format!("{}={}", l.name, go_quote(&l.value)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Go's `strconv.Quote`.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: shortest digits, exponent with a sign and at
/// least two digits.
fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:E}");
    let Some((mantissa, exp)) = s.split_once('E') else {
        return s;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}E{sign}{digits:0>2}")
}

/// Go's `time.Duration.String()` for whole milliseconds: `0s`, `1m0s`, `1.5s`, `500ms`.
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if ms < 1000 {
        out.push_str(&format!("{ms}ms"));
        return out;
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac == 0 {
        out.push_str(&format!("{s}s"));
    } else {
        let f = format!("{frac:03}");
        out.push_str(&format!("{s}.{}s", f.trim_end_matches('0')));
    }
    out
}

/// promtool's `indentLines`: every line but the first gets `indent`.
fn indent_lines(s: &str, indent: &str) -> String {
    s.split('\n')
        .collect::<Vec<_>>()
        .join(&format!("\n{indent}"))
}

/// promtool's `labelsAndAnnotations.String()`.
fn alerts_string(v: &[LabelsAndAnnotations]) -> String {
    if v.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, (l, a)) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let one = format!("\nLabels:{}\nAnnotations:{}", go_labels(l), go_labels(a));
        s.push_str(&format!("\n{i}:{}", indent_lines(&one, "  ")));
    }
    s.push_str("\n]");
    s
}

/// promtool's `parsedSamplesString`.
fn samples_string(v: &[(Labels, f64)]) -> String {
    if v.is_empty() {
        return "nil".into();
    }
    v.iter()
        .map(|(l, f)| format!("{} {}", go_labels(l), go_float_e(*f)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float_e(1.0), "1E+00");
        assert_eq!(go_float_e(0.0), "0E+00");
        assert_eq!(go_float_e(1234.5), "1.2345E+03");
        assert_eq!(go_float_e(0.25), "2.5E-01");
        assert_eq!(go_float_e(-3e-120), "-3E-120");
        assert_eq!(go_float_e(f64::INFINITY), "+Inf");
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(1_500), "1.5s");
        assert_eq!(go_duration(250), "250ms");
    }

    #[test]
    fn labels_and_alerts_like_promtool() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        assert_eq!(go_labels(&l), r#"{__name__="up", job="a\"b"}"#);
        assert_eq!(alerts_string(&[]), "[]");
        let s = alerts_string(&[(Labels::from_pairs([("a", "1")]), Labels::empty())]);
        assert_eq!(s, "[\n0:\n  Labels:{a=\"1\"}\n  Annotations:{}\n]");
        assert_eq!(indent_lines("a\nb", "  "), "a\n  b");
    }

    fn group_of(text: &str) -> TestGroup {
        let mut f = parse_test_file(text).expect("valid test file");
        f.tests.remove(0)
    }

    #[test]
    fn huge_series_expansions_are_refused_before_allocating() {
        for values in [
            "0+1x100000000000",
            "_x18446744073709551615",
            "stale 1x99999999999999999999999",
            "1x5000000 1x5000000",
        ] {
            let t = group_of(&format!(
                "tests:\n- input_series:\n  - series: 'up'\n    values: '{values}'\n"
            ));
            let e =
                load_series(&MemStorage::new(), &t, 60_000, MAX_INPUT_VALUES).expect_err(values);
            assert!(e.contains("more than the"), "{values}: {e}");
        }
        // An upper bound: the histogram's inner space counts one more item.
        assert_eq!(
            expanded_value_count("1+2x10 _x3 {{schema:0 sum:1}}x2 stale 5"),
            11 + 4 + 1 + 3 + 2
        );
    }

    #[test]
    fn far_eval_time_with_a_tiny_interval_is_refused_not_run() {
        let file = parse_test_file(
            "evaluation_interval: 1ms\ntests:\n- promql_expr_test:\n  - expr: vector(1)\n    eval_time: 290y\n",
        )
        .expect("valid test file");
        let errors = test_group(&file.tests[0], 1, &HashMap::new(), &[], false);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("evaluation intervals"), "{errors:?}");
    }

    /// A small xorshift generator: deterministic, so a failure reproduces from its seed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            usize::try_from(self.0 % n.max(1) as u64).unwrap_or(0)
        }
    }

    #[test]
    fn mutated_unit_test_files_never_panic() {
        const SEED: &str = "rule_files: [rules.yml]\nevaluation_interval: 1m\ngroup_eval_order: [a, b]\ntests:\n  - interval: 1m\n    name: t\n    external_labels: {site: x}\n    input_series:\n      - series: 'up{job=\"a\", instance=\"i\"}'\n        values: '0 1+1x5 _ stale -2-1x3 {{schema:0 sum:5 count:4 buckets:[1 2 1]}}x2'\n    alert_rule_test:\n      - eval_time: 5m\n        alertname: Down\n        exp_alerts:\n          - exp_labels: {job: a}\n            exp_annotations: {summary: s}\n    promql_expr_test:\n      - expr: sum(up)\n        eval_time: 2m\n        exp_samples:\n          - labels: '{job=\"a\"}'\n            value: 3\n";
        const SNIPPETS: &[&str] = &[
            "x", "x99999", "{{", "}}", "[", "]", "{", "}", ":", "- ", "\n", "'", "\"", "_", "+",
            "-", "e400", "stale", "&a ", "*a", "1y", "0", "NaN", "Inf", "\u{0}", "ü",
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..3000 {
            let mut bytes = SEED.as_bytes().to_vec();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(3) {
                    0 => {
                        let s = SNIPPETS[rng.below(SNIPPETS.len())];
                        bytes.splice(at..at, s.bytes());
                    }
                    1 => {
                        let end = (at + rng.below(12)).min(bytes.len());
                        bytes.drain(at..end);
                    }
                    _ => {
                        if let Some(b) = bytes.get_mut(at) {
                            *b = u8::try_from(rng.below(128)).unwrap_or(b' ');
                        }
                    }
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let Ok(file) = parse_test_file(&text) else {
                continue;
            };
            for t in &file.tests {
                // A small cap keeps each iteration quick; the full cap is the same code path.
                let _ = load_series(&MemStorage::new(), t, 60_000, 10_000);
            }
        }
    }
}
