//! Rule files: the YAML `groups:` format of Prometheus, read strictly (unknown fields are errors
//! naming their line) and validated with promtool's checks and messages.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use pharos_http::PromDuration;
use pharos_model::Labels;
use pharos_promql::parser::ParseOptions;
use pharos_promql::Expr;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// One problem found in a rule file, formatted as promtool formats it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct RuleFileError {
    /// The file.
    pub file: String,
    /// `line:column` of the offending YAML node, when known.
    pub position: Option<(u64, u64)>,
    /// The group, for errors inside a rule.
    pub group: Option<String>,
    /// 1-based index of the rule in its group, for errors inside a rule.
    pub rule_index: Option<usize>,
    /// The rule's `record` or `alert` name, for errors inside a rule.
    pub rule_name: String,
    /// What is wrong.
    pub message: String,
}

impl RuleFileError {
    fn render(&self) -> String {
        let mut out = format!("{}: ", self.file);
        if let Some((line, col)) = self.position {
            out.push_str(&format!("{line}:{col}: "));
        }
        if let (Some(g), Some(i)) = (&self.group, self.rule_index) {
            out.push_str(&format!("group {g:?}, rule {i}, {:?}: ", self.rule_name));
        }
        out.push_str(&self.message);
        out
    }
}

/// The `rules:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<String>>,
    #[serde(default)]
    alert: Option<Spanned<String>>,
    #[serde(default)]
    expr: Option<Spanned<String>>,
    #[serde(default, rename = "for")]
    for_: Option<PromDuration>,
    #[serde(default)]
    keep_firing_for: Option<PromDuration>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// A group as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Spanned<String>,
    #[serde(default)]
    interval: Option<PromDuration>,
    #[serde(default)]
    query_offset: Option<PromDuration>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    rules: Option<Vec<RawRule>>,
}

/// The whole file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Option<Vec<Spanned<RawGroup>>>,
}

/// Whether a rule records a series or raises alerts, with its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `record: NAME`.
    Recording(String),
    /// `alert: NAME`.
    Alerting(String),
}

/// A validated rule.
#[derive(Clone, Debug)]
pub struct RuleSpec {
    /// Recording or alerting, with the name.
    pub kind: RuleKind,
    /// The expression as written.
    pub expr: String,
    /// The parsed expression (its `Display` is the normalised query the API shows).
    pub parsed: Expr,
    /// `for` in milliseconds (alerting rules).
    pub for_ms: i64,
    /// `keep_firing_for` in milliseconds (alerting rules).
    pub keep_firing_for_ms: i64,
    /// Labels added to the result (the group's labels merged under the rule's own).
    pub labels: Labels,
    /// Annotation templates (alerting rules).
    pub annotations: Labels,
}

impl RuleSpec {
    /// The `record` or `alert` name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording(n) | RuleKind::Alerting(n) => n,
        }
    }

    /// Whether two specs describe the same rule (so reloads keep its state untouched).
    pub fn same_as(&self, other: &RuleSpec) -> bool {
        self.kind == other.kind
            && self.expr == other.expr
            && self.for_ms == other.for_ms
            && self.keep_firing_for_ms == other.keep_firing_for_ms
            && self.labels == other.labels
            && self.annotations == other.annotations
    }
}

/// A validated group.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// The group's name, unique within its file.
    pub name: String,
    /// The file the group came from.
    pub file: String,
    /// `interval` in milliseconds; `None` means the global `evaluation_interval`.
    pub interval_ms: Option<i64>,
    /// `query_offset` in milliseconds; `None` means the global `rule_query_offset`.
    pub query_offset_ms: Option<i64>,
    /// Most series (recording) or alerts (alerting) a rule may produce; 0 is unlimited.
    pub limit: i64,
    /// The rules, evaluated in this order.
    pub rules: Vec<RuleSpec>,
}

/// A validated rule file.
#[derive(Clone, Debug)]
pub struct RuleFile {
    /// The path as given.
    pub path: String,
    /// Its groups in file order.
    pub groups: Vec<GroupSpec>,
}

impl RuleFile {
    /// Number of rules across all groups (what promtool reports as "N rules found").
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// Largest rule file read: far above any real one, it stops a glob that matched a device such
/// as `/dev/zero` from filling memory.
pub const MAX_RULE_FILE_BYTES: u64 = 256 << 20;

/// Reads a whole file of at most [`MAX_RULE_FILE_BYTES`].
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_RULE_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_RULE_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file is larger than {MAX_RULE_FILE_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// Reads and validates the rule file at `path`.
pub fn load_rule_file(path: &Path) -> Result<RuleFile, Vec<RuleFileError>> {
    let name = path.display().to_string();
    match read_bounded(path) {
        Ok(text) => parse_rule_file(&name, &text),
        Err(e) => Err(vec![RuleFileError {
            file: name,
            position: None,
            group: None,
            rule_index: None,
            rule_name: String::new(),
            message: e.to_string(),
        }]),
    }
}

/// True for names matching `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// True for names matching `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn millis(d: Option<PromDuration>) -> i64 {
    d.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn position<T>(s: &Spanned<T>) -> Option<(u64, u64)> {
    let l = s.referenced;
    (l.line() > 0).then(|| (l.line(), l.column()))
}

/// Parses and validates rule file text; `name` appears in errors. Every problem is reported,
/// not only the first, as promtool does.
pub fn parse_rule_file(name: &str, text: &str) -> Result<RuleFile, Vec<RuleFileError>> {
    let file_error = |position, message: String| RuleFileError {
        file: name.to_string(),
        position,
        group: None,
        rule_index: None,
        rule_name: String::new(),
        message,
    };
    let raw: RawFile = if text.trim().is_empty() {
        RawFile { groups: None }
    } else {
        serde_saphyr::from_str(text).map_err(|e| vec![file_error(None, yaml_message(&e))])?
    };
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut seen = HashSet::new();
    for spanned in raw.groups.unwrap_or_default() {
        let gpos = position(&spanned).or_else(|| position(&spanned.value.name));
        let g = spanned.value;
        let gname = g.name.value.clone();
        if gname.is_empty() {
            errors.push(file_error(gpos, "Groupname must not be empty".into()));
        }
        if !seen.insert(gname.clone()) {
            errors.push(file_error(
                gpos,
                format!("groupname: \"{gname}\" is repeated in the same file"),
            ));
        }
        let group_labels = g.labels.unwrap_or_default();
        for k in group_labels.keys() {
            if !is_valid_label_name(k) || k == "__name__" {
                errors.push(file_error(gpos, format!("invalid label name: {k}")));
            }
        }
        let mut rules = Vec::new();
        for (i, r) in g.rules.unwrap_or_default().into_iter().enumerate() {
            match validate_rule(r, &group_labels) {
                Ok(spec) => rules.push(spec),
                Err((rule_name, errs)) => {
                    for (pos, message) in errs {
                        errors.push(RuleFileError {
                            file: name.to_string(),
                            position: pos,
                            group: Some(gname.clone()),
                            rule_index: Some(i + 1),
                            rule_name: rule_name.clone(),
                            message,
                        });
                    }
                }
            }
        }
        groups.push(GroupSpec {
            name: gname,
            file: name.to_string(),
            interval_ms: g.interval.map(|d| millis(Some(d))).filter(|&ms| ms > 0),
            query_offset_ms: g.query_offset.map(|d| millis(Some(d))),
            limit: g.limit.unwrap_or(0).max(0),
            rules,
        });
    }
    if errors.is_empty() {
        Ok(RuleFile {
            path: name.to_string(),
            groups,
        })
    } else {
        Err(errors)
    }
}

/// The parser's message without its source snippet: the first line names the line and
/// column, which is what promtool users expect.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

type RuleProblems = (String, Vec<(Option<(u64, u64)>, String)>);

/// Checks one rule as promtool does, collecting every problem.
fn validate_rule(
    r: RawRule,
    group_labels: &BTreeMap<String, String>,
) -> Result<RuleSpec, RuleProblems> {
    let mut errs: Vec<(Option<(u64, u64)>, String)> = Vec::new();
    let record = r.record.as_ref().filter(|s| !s.value.is_empty());
    let alert = r.alert.as_ref().filter(|s| !s.value.is_empty());
    let rule_name = alert
        .or(record)
        .map(|s| s.value.clone())
        .unwrap_or_default();
    match (record, alert) {
        (Some(rec), Some(_)) => errs.push((
            position(rec),
            "only one of 'record' and 'alert' must be set".into(),
        )),
        (None, None) => errs.push((None, "one of 'record' or 'alert' must be set".into())),
        _ => {}
    }
    let mut parsed = None;
    match r.expr.as_ref().filter(|e| !e.value.is_empty()) {
        None => errs.push((
            r.expr.as_ref().and_then(position),
            "field 'expr' must be set in rule".into(),
        )),
        Some(e) => match pharos_promql::parse(&e.value, ParseOptions::default()) {
            Ok(p) => parsed = Some(p),
            Err(pe) => errs.push((position(e), format!("could not parse expression: {pe}"))),
        },
    }
    let labels = r.labels.unwrap_or_default();
    let annotations = r.annotations.unwrap_or_default();
    let for_ms = millis(r.for_);
    let keep_firing_for_ms = millis(r.keep_firing_for);
    if let Some(rec) = record {
        let pos = position(rec);
        if !annotations.is_empty() {
            errs.push((pos, "invalid field 'annotations' in recording rule".into()));
        }
        if for_ms != 0 {
            errs.push((pos, "invalid field 'for' in recording rule".into()));
        }
        if keep_firing_for_ms != 0 {
            errs.push((
                pos,
                "invalid field 'keep_firing_for' in recording rule".into(),
            ));
        }
        if !is_valid_metric_name(&rec.value) {
            errs.push((pos, format!("invalid recording rule name: {}", rec.value)));
        }
    }
    for k in labels.keys() {
        if !is_valid_label_name(k) || k == "__name__" {
            errs.push((None, format!("invalid label name: {k}")));
        }
    }
    for k in annotations.keys() {
        if !is_valid_label_name(k) {
            errs.push((None, format!("invalid annotation name: {k}")));
        }
    }
    if alert.is_some() {
        let tmpl_name = format!("__alert_{rule_name}");
        for (kind, map) in [("label", &labels), ("annotation", &annotations)] {
            for (k, text) in map {
                if let Err(e) = check_template(&tmpl_name, text) {
                    errs.push((None, format!("{kind} {k:?}: {e}")));
                }
            }
        }
    }
    let (kind, parsed) = match (record, alert, parsed) {
        (Some(rec), None, Some(p)) if errs.is_empty() => {
            (RuleKind::Recording(rec.value.clone()), p)
        }
        (None, Some(al), Some(p)) if errs.is_empty() => (RuleKind::Alerting(al.value.clone()), p),
        _ => return Err((rule_name, errs)),
    };
    let mut merged = group_labels.clone();
    merged.extend(labels);
    Ok(RuleSpec {
        kind,
        expr: r.expr.map(|e| e.value).unwrap_or_default(),
        parsed,
        for_ms,
        keep_firing_for_ms,
        labels: Labels::from_pairs(merged),
        annotations: Labels::from_pairs(annotations),
    })
}

/// Parses a label or annotation template the way alerting rules will run it.
fn check_template(name: &str, text: &str) -> Result<(), pharos_template::TemplateError> {
    let full = format!(
        "{{{{$labels := .Labels}}}}{{{{$externalLabels := .ExternalLabels}}}}{{{{$externalURL := .ExternalURL}}}}{{{{$value := .Value}}}}{text}"
    );
    pharos_template::Template::parse(name, &full).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse_rule_file("r.yml", text) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn good_file_parses_with_defaults() {
        let f = parse_rule_file(
            "r.yml",
            "groups:\n  - name: g\n    interval: 30s\n    limit: 5\n    labels:\n      team: a\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels:\n          team: b\n      - alert: Down\n        expr: up == 0\n        for: 5m\n        keep_firing_for: 1m\n        annotations:\n          summary: '{{ $labels.instance }} down'\n",
        )
        .expect("valid");
        assert_eq!(f.rule_count(), 2);
        let g = &f.groups[0];
        assert_eq!(g.interval_ms, Some(30_000));
        assert_eq!(g.limit, 5);
        assert_eq!(g.rules[0].labels.get("team"), Some("b"));
        assert_eq!(g.rules[1].labels.get("team"), Some("a"));
        assert_eq!(g.rules[1].for_ms, 300_000);
        assert_eq!(g.rules[1].keep_firing_for_ms, 60_000);
        assert_eq!(g.rules[1].kind, RuleKind::Alerting("Down".into()));
    }

    #[test]
    fn empty_file_has_no_rules() {
        assert_eq!(
            parse_rule_file("r.yml", "").map(|f| f.rule_count()).ok(),
            Some(0)
        );
    }

    #[test]
    fn unknown_field_names_its_line() {
        let e = errors("groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n        bogus: 1\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("bogus"), "{e:?}");
        assert!(e[0].contains('6'), "{e:?}");
    }

    #[test]
    fn bad_expression_has_position_group_and_rule() {
        let e =
            errors("groups:\n  - name: g\n    rules:\n      - record: a\n        expr: sum(up\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "r.yml: 5:15: group \"g\", rule 1, \"a\": could not parse expression:"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn promtool_checks() {
        let e = errors("groups:\n  - name: g\n    rules:\n      - record: 'bad name'\n        expr: up\n        for: 1m\n      - record: a\n        alert: b\n        expr: up\n      - expr: up\n      - alert: x\n        expr: up\n        labels:\n          __name__: y\n  - name: g\n");
        let all = e.join("\n");
        for want in [
            "invalid field 'for' in recording rule",
            "invalid recording rule name: bad name",
            "only one of 'record' and 'alert' must be set",
            "one of 'record' or 'alert' must be set",
            "invalid label name: __name__",
            "groupname: \"g\" is repeated in the same file",
        ] {
            assert!(all.contains(want), "missing {want:?} in {all}");
        }
    }
}

#[cfg(test)]
mod robustness_tests {
    //! Hostile and mutated rule files: parsing must return a value or errors, never panic,
    //! overflow the stack or run unbounded.
    use super::*;

    /// A small xorshift generator: deterministic, so a failure reproduces from its seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
        }
    }

    const SEEDS: &[&str] = &[
        "groups:\n  - name: g\n    interval: 30s\n    query_offset: 1m\n    limit: 5\n    labels:\n      team: a\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (rate(up[5m] offset 1h))\n        labels:\n          team: b\n      - alert: Down\n        expr: up == 0 and on(job) absent(x{a=~\"b.*\"})\n        for: 5m\n        keep_firing_for: 1m\n        labels:\n          severity: '{{ $value | humanize }}'\n        annotations:\n          summary: '{{ $labels.instance }} down {{ range $i := until 3 }}{{ $i }}{{ end }}'\n",
        "groups: [{name: a, rules: [{record: r, expr: 'vector(1)'}]}, {name: b}]\n",
        "groups:\n- name: x\n  rules:\n  - alert: A\n    expr: histogram_quantile(0.9, sum by (le) (rate(h_bucket[1m]))) > 1\n",
    ];

    const SNIPPETS: &[&str] = &[
        "{{",
        "}}",
        "[",
        "]",
        "{",
        "}",
        ":",
        "- ",
        "\n",
        "  ",
        "&a ",
        "*a",
        "!!str ",
        "'",
        "\"",
        "#",
        "|\n",
        ">\n",
        "? ",
        "---\n",
        "...\n",
        "(",
        ")",
        "\u{0}",
        "\u{feff}",
        "ü",
        "99999999999999999999y",
        "-1",
        "1e400",
        "expr: ",
        "for: ",
        "name: ",
        "<<: *a\n",
        "%YAML 1.2\n",
        "\t",
    ];

    fn mutate(rng: &mut Rng, base: &str) -> String {
        let mut bytes = base.as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(5) {
                0 => {
                    let s = SNIPPETS[rng.below(SNIPPETS.len())];
                    bytes.splice(at..at, s.bytes());
                }
                1 if at < bytes.len() => {
                    let end = (at + rng.below(16)).min(bytes.len());
                    bytes.drain(at..end);
                }
                2 if at < bytes.len() => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = (rng.next() & 0x7f) as u8;
                    }
                }
                3 => bytes.truncate(at),
                _ => {
                    let from = rng.below(bytes.len());
                    let len = rng.below(32).min(bytes.len() - from);
                    let piece: Vec<u8> = bytes[from..from + len].to_vec();
                    bytes.splice(at..at, piece);
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn mutated_rule_files_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for i in 0..3000 {
            let seed = SEEDS[i % SEEDS.len()];
            let text = mutate(&mut rng, seed);
            // Either outcome is fine; each error must name something.
            if let Err(errors) = parse_rule_file("fuzz.yml", &text) {
                assert!(!errors.is_empty(), "empty error list for {text:?}");
                assert!(errors.iter().all(|e| !e.message.is_empty()), "{text:?}");
            }
        }
    }

    #[test]
    fn an_endless_file_is_refused_at_the_size_cap() {
        let zero = Path::new("/dev/zero");
        if !zero.exists() {
            return;
        }
        let errors = load_rule_file(zero).expect_err("refused");
        assert!(errors[0].message.contains("larger than"), "{errors:?}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            let refs = vec![format!("*a{prev}"); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let text = text.replace("&a [", "&a0 [");
        let text = format!("{text}groups: []\n");
        assert!(parse_rule_file("bomb.yml", &text).is_err());
    }

    #[test]
    fn deeply_nested_expression_is_an_error_not_a_stack_overflow() {
        let depth = 100_000;
        let expr = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
        let text = format!("groups:\n- name: g\n  rules:\n  - record: r\n    expr: '{expr}'\n");
        let errors = parse_rule_file("deep.yml", &text).expect_err("too deep");
        assert!(
            errors.iter().any(|e| e.message.contains("expression")),
            "{errors:?}"
        );
    }

    #[test]
    fn long_operator_chain_is_handled() {
        let expr = vec!["1"; 100_000].join(" + ");
        let text = format!("groups:\n- name: g\n  rules:\n  - record: r\n    expr: '{expr}'\n");
        // Accepted or refused, but without overflowing the stack while parsing or dropping.
        let _ = parse_rule_file("chain.yml", &text);
    }
}
