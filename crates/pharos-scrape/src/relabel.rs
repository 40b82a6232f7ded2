//! Relabeling: the `relabel_configs` / `metric_relabel_configs` rules that rewrite, keep or drop
//! label sets, with Prometheus's actions, defaults, template expansion and validation messages.

use std::fmt;

use md5::{Digest, Md5};
use pharos_model::{Labels, LabelsBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::label_name::is_valid_label_name;

/// Why a relabel rule is unusable; messages match Prometheus's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    /// The rule is inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Action {
    /// Sets `target_label` to the expanded `replacement` when `regex` matches.
    #[default]
    Replace,
    /// Drops the set unless `regex` matches the joined source values.
    Keep,
    /// Drops the set when `regex` matches the joined source values.
    Drop,
    /// Drops the set unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drops the set when the joined source values equal `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to a hash of the joined source values modulo `modulus`.
    HashMod,
    /// Copies labels whose names match `regex` to the names given by `replacement`.
    LabelMap,
    /// Removes labels whose names match `regex`.
    LabelDrop,
    /// Removes labels whose names do not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the lower-cased joined source values.
    Lowercase,
    /// Sets `target_label` to the upper-cased joined source values.
    Uppercase,
}

impl Action {
    /// The name as written in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = RelabelError;
    /// Case-insensitive, like Prometheus.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let all = [
            Action::Replace,
            Action::Keep,
            Action::Drop,
            Action::KeepEqual,
            Action::DropEqual,
            Action::HashMod,
            Action::LabelMap,
            Action::LabelDrop,
            Action::LabelKeep,
            Action::Lowercase,
            Action::Uppercase,
        ];
        if s.is_empty() {
            return Err(RelabelError::Invalid(
                "relabel action cannot be empty".into(),
            ));
        }
        all.into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| RelabelError::Invalid(format!("unknown relabel action {s:?}")))
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The regular expression Prometheus uses when none is given.
pub const DEFAULT_REGEX: &str = "(.*)";

/// A regular expression anchored at both ends, remembering the text it was written as.
#[derive(Clone, Debug)]
pub struct Regex {
    source: String,
    re: regex::Regex,
}

impl Regex {
    /// Compiles `source` as `^(?:source)$`, so it must match the whole value like in Prometheus.
    pub fn new(source: &str) -> Result<Self, RelabelError> {
        let re = regex::Regex::new(&format!("^(?:{source})$")).map_err(|e| {
            RelabelError::Invalid(format!(
                "invalid regular expression {source:?}: {}",
                first_line(&e.to_string())
            ))
        })?;
        Ok(Regex {
            source: source.to_string(),
            re,
        })
    }

    /// The expression as written, without the anchoring.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// The compiled, anchored expression.
    pub fn compiled(&self) -> &regex::Regex {
        &self.re
    }
}

fn first_line(s: &str) -> String {
    // The regex crate's messages span several lines with a caret diagram; the last line says
    // what is wrong, which is what belongs in a one-line config error.
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

impl Default for Regex {
    fn default() -> Self {
        // A constant pattern, not input: it always compiles.
        let re = regex::Regex::new("^(?:(.*))$").expect("the default relabel regex compiles");
        Regex {
            source: DEFAULT_REGEX.to_string(),
            re,
        }
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for Regex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A list of label names that must each be valid (`source_labels`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct LabelNames(pub Vec<String>);

impl<'de> Deserialize<'de> for LabelNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        if let Some(bad) = names.iter().find(|n| !is_valid_label_name(n)) {
            return Err(serde::de::Error::custom(format!(
                "{bad:?} is not a valid label name"
            )));
        }
        Ok(LabelNames(names))
    }
}

fn default_separator() -> String {
    ";".into()
}

fn default_replacement() -> String {
    "$1".into()
}

/// One relabeling rule as written in `relabel_configs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to form the input.
    #[serde(default, skip_serializing_if = "is_empty_names")]
    pub source_labels: LabelNames,
    /// Joins the source values; `;` by default.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Matched against the whole input; `(.*)` by default.
    #[serde(default)]
    pub regex: Regex,
    /// Divisor for `hashmod`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub modulus: u64,
    /// The label written by `replace`, `hashmod`, `lowercase`, `uppercase`, or compared by
    /// `keepequal` / `dropequal`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_label: String,
    /// The template written to the target; `$1` by default.
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// What the rule does; `replace` by default.
    #[serde(default)]
    pub action: Action,
}

fn is_empty_names(n: &LabelNames) -> bool {
    n.0.is_empty()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: LabelNames::default(),
            separator: default_separator(),
            regex: Regex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: default_replacement(),
            action: Action::Replace,
        }
    }
}

/// True when `s` contains a `$` reference that would be expanded (so it cannot be checked as a
/// label name before expansion).
fn has_template_reference(s: &str) -> bool {
    s.contains('$')
}

impl RelabelConfig {
    /// Checks the rule the way Prometheus does when it loads a file.
    pub fn validate(&self) -> Result<(), RelabelError> {
        let invalid = |m: String| Err(RelabelError::Invalid(m));
        let act = self.action;
        if act == Action::HashMod && self.modulus == 0 {
            return invalid("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            act,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return invalid(format!(
                "relabel configuration for {act} action requires 'target_label' value"
            ));
        }
        if act == Action::Replace
            && !has_template_reference(&self.target_label)
            && !is_valid_label_name(&self.target_label)
        {
            return invalid(format!(
                "{:?} is invalid 'target_label' for {act} action",
                self.target_label
            ));
        }
        if matches!(
            act,
            Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        ) && !is_valid_label_name(&self.target_label)
        {
            return invalid(format!(
                "{:?} is invalid 'target_label' for {act} action",
                self.target_label
            ));
        }
        if act == Action::LabelMap
            && !has_template_reference(&self.replacement)
            && !is_valid_label_name(&self.replacement)
        {
            return invalid(format!(
                "{:?} is invalid 'replacement' for {act} action",
                self.replacement
            ));
        }
        if matches!(act, Action::KeepEqual | Action::DropEqual)
            && (self.regex.as_str() != DEFAULT_REGEX
                || self.modulus != 0
                || self.separator != ";"
                || self.replacement != "$1")
        {
            return invalid(format!("{act} action requires only 'source_labels' and `target_label`, and no other fields"));
        }
        if matches!(act, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.0.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != ";"
                || self.replacement != "$1")
        {
            return invalid(format!(
                "{act} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

/// Expands `template` with the groups of `caps` like Go's `Regexp.Expand`: `$1`, `${1}`,
/// `$name`, `${name}`, and `$$` for a literal dollar. A name runs as far as letters, digits and
/// underscores go (`$1x` means the group named `1x`), unknown groups expand to nothing, and a
/// `$` that starts no valid reference is kept as is.
pub fn expand(template: &str, caps: &regex::Captures<'_>, re: &regex::Regex, out: &mut String) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let (name, after) = if let Some(braced) = rest.strip_prefix('{') {
            match braced.find('}') {
                Some(end)
                    if end > 0
                        && braced[..end]
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    (&braced[..end], &braced[end + 1..])
                }
                _ => ("", rest),
            }
        } else {
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            (&rest[..len], &rest[len..])
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        rest = after;
        let group = if name.bytes().all(|b| b.is_ascii_digit()) {
            name.parse::<usize>().ok().and_then(|i| caps.get(i))
        } else {
            re.capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i))
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
}

/// The hash `hashmod` uses: the last eight bytes of the MD5 digest as a big-endian integer,
/// which is what Prometheus's `sum64(md5.Sum(...))` computes (earlier bytes shift out).
pub fn hashmod_value(input: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(input.as_bytes());
    let mut last = [0u8; 8];
    last.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(last) % modulus.max(1)
}

/// Joins the values of `names` in `lb` with `sep`; missing labels count as empty.
fn joined_source(lb: &LabelsBuilder, names: &[String], sep: &str, out: &mut String) {
    out.clear();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(lb.get(n).unwrap_or(""));
    }
}

/// Applies `cfgs` in order; `None` means the label set was dropped.
pub fn relabel(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    if cfgs.is_empty() {
        return Some(labels.clone());
    }
    let mut lb = labels.builder();
    if process_builder(&mut lb, cfgs) {
        Some(lb.build())
    } else {
        None
    }
}

/// Applies `cfgs` to a builder in place; false means the label set was dropped.
pub fn process_builder(lb: &mut LabelsBuilder, cfgs: &[RelabelConfig]) -> bool {
    let mut val = String::new();
    for cfg in cfgs {
        if !apply(lb, cfg, &mut val) {
            return false;
        }
    }
    true
}

fn apply(lb: &mut LabelsBuilder, cfg: &RelabelConfig, val: &mut String) -> bool {
    joined_source(lb, &cfg.source_labels.0, &cfg.separator, val);
    let re = cfg.regex.compiled();
    match cfg.action {
        Action::Drop => {
            if re.is_match(val) {
                return false;
            }
        }
        Action::Keep => {
            if !re.is_match(val) {
                return false;
            }
        }
        Action::KeepEqual => {
            if lb.get(&cfg.target_label).unwrap_or("") != val.as_str() {
                return false;
            }
        }
        Action::DropEqual => {
            if lb.get(&cfg.target_label).unwrap_or("") == val.as_str() {
                return false;
            }
        }
        Action::Replace => {
            let Some(caps) = re.captures(val) else {
                return true;
            };
            let mut target = String::new();
            expand(&cfg.target_label, &caps, re, &mut target);
            if !is_valid_label_name(&target) {
                return true;
            }
            let mut res = String::new();
            expand(&cfg.replacement, &caps, re, &mut res);
            if res.is_empty() {
                lb.del(&target);
            } else {
                lb.set(target, res);
            }
        }
        Action::Lowercase => {
            let v = val.to_lowercase();
            lb.set(cfg.target_label.as_str(), v);
        }
        Action::Uppercase => {
            let v = val.to_uppercase();
            lb.set(cfg.target_label.as_str(), v);
        }
        Action::HashMod => {
            let m = hashmod_value(val, cfg.modulus);
            lb.set(cfg.target_label.as_str(), m.to_string());
        }
        Action::LabelMap => {
            let current = lb.clone().build();
            for l in current.iter() {
                if let Some(caps) = re.captures(&l.name) {
                    let mut name = String::new();
                    expand(&cfg.replacement, &caps, re, &mut name);
                    lb.set(name, l.value.clone());
                }
            }
        }
        Action::LabelDrop => {
            lb.retain(|l| !re.is_match(&l.name));
        }
        Action::LabelKeep => {
            lb.retain(|l| re.is_match(&l.name));
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Vec<RelabelConfig> {
        let cfgs: Vec<RelabelConfig> = match serde_saphyr::from_str(yaml) {
            Ok(c) => c,
            Err(e) => panic!("{yaml}: {e}"),
        };
        for c in &cfgs {
            if let Err(e) = c.validate() {
                panic!("{yaml}: {e}");
            }
        }
        cfgs
    }

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    /// Table of (rules, input, expected output or None for dropped).
    #[test]
    fn every_action() {
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            Option<&'a [(&'a str, &'a str)]>,
        );
        let cases: &[Case<'_>] = &[
            // replace with defaults copies the joined value
            ("- source_labels: [a]\n  target_label: b\n", &[("a", "x")], Some(&[("a", "x"), ("b", "x")])),
            // replace with groups and separator
            (
                "- source_labels: [a, b]\n  separator: '-'\n  regex: '(.*)-(.*)'\n  target_label: c\n  replacement: '${2}:$1'\n",
                &[("a", "1"), ("b", "2")],
                Some(&[("a", "1"), ("b", "2"), ("c", "2:1")]),
            ),
            // regex must match the whole value
            ("- source_labels: [a]\n  regex: 'b'\n  target_label: c\n", &[("a", "abc")], Some(&[("a", "abc")])),
            // empty result deletes the target
            ("- source_labels: [missing]\n  target_label: a\n", &[("a", "x")], Some(&[])),
            // target from template
            (
                "- source_labels: [a]\n  regex: '(.+)'\n  target_label: 'l_$1'\n  replacement: v\n",
                &[("a", "foo")],
                Some(&[("a", "foo"), ("l_foo", "v")]),
            ),
            // invalid expanded target leaves labels untouched
            ("- source_labels: [a]\n  regex: '(.+)'\n  target_label: '$1'\n  replacement: v\n", &[("a", "1bad")], Some(&[("a", "1bad")])),
            // keep / drop
            ("- source_labels: [a]\n  regex: 'x|y'\n  action: keep\n", &[("a", "x")], Some(&[("a", "x")])),
            ("- source_labels: [a]\n  regex: 'x|y'\n  action: keep\n", &[("a", "z")], None),
            ("- source_labels: [a]\n  regex: 'x.*'\n  action: drop\n", &[("a", "xyz")], None),
            ("- source_labels: [a]\n  regex: 'x'\n  action: drop\n", &[("a", "xyz")], Some(&[("a", "xyz")])),
            // action names are case-insensitive
            ("- source_labels: [a]\n  regex: 'x'\n  action: DROP\n", &[("a", "x")], None),
            // keepequal / dropequal
            ("- source_labels: [a]\n  target_label: b\n  action: keepequal\n", &[("a", "1"), ("b", "1")], Some(&[("a", "1"), ("b", "1")])),
            ("- source_labels: [a]\n  target_label: b\n  action: keepequal\n", &[("a", "1"), ("b", "2")], None),
            ("- source_labels: [a]\n  target_label: b\n  action: dropequal\n", &[("a", "1"), ("b", "1")], None),
            ("- source_labels: [a]\n  target_label: b\n  action: dropequal\n", &[("a", "1"), ("b", "2")], Some(&[("a", "1"), ("b", "2")])),
            // labelmap
            (
                "- regex: '__meta_(.+)'\n  action: labelmap\n",
                &[("__meta_zone", "eu"), ("job", "j")],
                Some(&[("__meta_zone", "eu"), ("job", "j"), ("zone", "eu")]),
            ),
            ("- regex: 'a(.*)'\n  replacement: 'b${1}'\n  action: labelmap\n", &[("a1", "x")], Some(&[("a1", "x"), ("b1", "x")])),
            // labeldrop / labelkeep
            ("- regex: '__meta_.*'\n  action: labeldrop\n", &[("__meta_a", "1"), ("job", "j")], Some(&[("job", "j")])),
            ("- regex: 'job|instance'\n  action: labelkeep\n", &[("__meta_a", "1"), ("job", "j"), ("instance", "i")], Some(&[("instance", "i"), ("job", "j")])),
            // lowercase / uppercase
            ("- source_labels: [a]\n  target_label: b\n  action: lowercase\n", &[("a", "AbC")], Some(&[("a", "AbC"), ("b", "abc")])),
            ("- source_labels: [a]\n  target_label: b\n  action: uppercase\n", &[("a", "AbC")], Some(&[("a", "AbC"), ("b", "ABC")])),
            // chained rules see earlier results
            (
                "- source_labels: [a]\n  target_label: b\n- source_labels: [b]\n  regex: x\n  action: drop\n",
                &[("a", "x")],
                None,
            ),
        ];
        for (yaml, input, want) in cases {
            let got = relabel(&ls(input), &rules(yaml));
            let want = want.map(ls);
            assert_eq!(got, want, "rules:\n{yaml}");
        }
    }

    #[test]
    fn hashmod_matches_prometheus() {
        let out = relabel(
            &ls(&[("a", "foo")]),
            &rules("- source_labels: [a]\n  target_label: b\n  modulus: 1000\n  action: hashmod\n"),
        );
        let digest = Md5::digest(b"foo");
        let mut last = [0u8; 8];
        last.copy_from_slice(&digest[8..]);
        let expected = (u64::from_be_bytes(last) % 1000).to_string();
        assert_eq!(
            out.as_ref().and_then(|l| l.get("b")),
            Some(expected.as_str())
        );
        // md5("foo") = acbd18db4cc2f85cedef654fccc4a4d8; last 8 bytes 0xedef654fccc4a4d8.
        assert_eq!(
            hashmod_value("foo", 1 << 62),
            0xedef_654f_ccc4_a4d8 % (1 << 62)
        );
        // The case in Prometheus's own relabel tests: "baz" with modulus 1000 gives 976.
        assert_eq!(hashmod_value("baz", 1000), 976);
    }

    #[test]
    fn go_style_expansion() {
        let re = match regex::Regex::new("^(?:(?P<first>a+)(b+))$") {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let caps = match re.captures("aabb") {
            Some(c) => c,
            None => panic!("no match"),
        };
        let cases = [
            ("$1", "aa"),
            ("${1}", "aa"),
            ("$2", "bb"),
            ("$first", "aa"),
            ("${first}x", "aax"),
            ("$1x", ""),
            ("$$1", "$1"),
            ("$9", ""),
            ("a$", "a$"),
            ("${", "${"),
            ("${}", "${}"),
            ("x-$0-y", "x-aabb-y"),
        ];
        for (tmpl, want) in cases {
            let mut out = String::new();
            expand(tmpl, &caps, &re, &mut out);
            assert_eq!(out, want, "{tmpl}");
        }
    }

    #[test]
    fn validation_messages_like_prometheus() {
        let cases = [
            ("action: hashmod\ntarget_label: a\n", "relabel configuration for hashmod requires non-zero modulus"),
            ("action: replace\n", "relabel configuration for replace action requires 'target_label' value"),
            ("action: lowercase\n", "relabel configuration for lowercase action requires 'target_label' value"),
            ("target_label: 1a\n", "\"1a\" is invalid 'target_label' for replace action"),
            ("action: uppercase\ntarget_label: '${1}'\n", "\"${1}\" is invalid 'target_label' for uppercase action"),
            ("action: labelmap\nreplacement: 'a-b'\n", "\"a-b\" is invalid 'replacement' for labelmap action"),
            ("action: keepequal\ntarget_label: a\nregex: x\n", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
            ("action: labeldrop\nsource_labels: [a]\nregex: x\n", "labeldrop action requires only 'regex', and no other fields"),
        ];
        for (yaml, want) in cases {
            let cfg: RelabelConfig = match serde_saphyr::from_str(yaml) {
                Ok(c) => c,
                Err(e) => panic!("{yaml}: {e}"),
            };
            let err = cfg
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert_eq!(err, want, "{yaml}");
        }
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let cases = [
            (
                "action: frobnicate\n",
                "unknown relabel action \"frobnicate\"",
            ),
            ("action: ''\n", "relabel action cannot be empty"),
            (
                "source_labels: ['a-b']\n",
                "\"a-b\" is not a valid label name",
            ),
            ("regex: '('\n", "invalid regular expression \"(\""),
            ("tagret_label: x\n", "unknown field `tagret_label`"),
        ];
        for (yaml, want) in cases {
            let err = serde_saphyr::from_str::<RelabelConfig>(yaml)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(want), "{yaml}: got {err}");
            assert!(err.contains("line 1"), "{yaml}: no line in {err}");
        }
    }

    #[test]
    fn defaults() {
        let c: RelabelConfig = serde_saphyr::from_str("target_label: x\n").unwrap_or_default();
        assert_eq!(c.separator, ";");
        assert_eq!(c.replacement, "$1");
        assert_eq!(c.regex.as_str(), "(.*)");
        assert_eq!(c.action, Action::Replace);
    }
}
