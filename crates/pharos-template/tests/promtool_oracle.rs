//! Prometheus itself as the oracle: annotations using many template features are expanded by
//! Pharos, written as the expected annotations of a `promtool test rules` unit test, and promtool
//! (which expands them with Prometheus's engine) must agree.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use pharos_template::{expand_alert_text, Env, QueryFn, QueryResultSample};

const PROMTOOL: &str = "/usr/bin/promtool";

/// Templates whose expansion is compared. Each becomes one annotation.
const TEMPLATES: &[&str] = &[
    "{{ $labels.instance }} is {{ $value }}",
    "{{ $value | humanize }} {{ $value | humanize1024 }} {{ humanize 0.000012 }} {{ humanize 0 }}",
    "{{ humanizeDuration 3661 }} {{ humanizeDuration 0.1234 }} {{ humanizeDuration 899.99 }} {{ humanizeDuration -90061 }}",
    "{{ humanizePercentage 0.1234 }} {{ humanizePercentage 1.23456 }}",
    "{{ humanizeTimestamp 1435065584.128 }} {{ humanizeTimestamp 0 }}",
    "{{ printf \"%.2f %5.1f|%-8s|%x %q %e %g %v\" $value 3.25 \"ab\" 255 \"q\" 1234.5678 0.000012 true }}",
    "{{ printf \"%d %05d %+d %o %b %X %c %U %t %%\" 42 -42 7 8 5 255 65 65 false }}",
    "{{ printf \"%s %d\" \"missing\" }} {{ printf \"%d\" \"str\" }} {{ printf \"x\" 1 }}",
    "{{ printf \"%.3g|%10.4f|%-10.2e|%G\" $value 3.14159265 0.000123 1e-7 }}",
    "{{ $labels.instance | stripPort }} {{ stripPort \"[::1]:80\" }} {{ stripPort \"nohost\" }}",
    "{{ reReplaceAll \"(.*)\\\\.example\\\\.com.*\" \"$1\" $labels.instance }}",
    "{{ title \"hello wide world\" }} {{ toUpper \"abc\" }} {{ toLower \"ABC\" }}",
    "{{ match \"^host\" $labels.instance }} {{ match \"^nope\" $labels.instance }}",
    "{{ graphLink \"up{job=\\\"x\\\"} > 0\" }} {{ tableLink \"rate(x[5m])\" }}",
    "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
    "{{ if gt $value 1000.0 }}big{{ else if gt $value 10.0 }}medium{{ else }}small{{ end }}",
    "{{ with query \"vector(42)\" }}{{ . | first | value }}{{ end }}|{{ with query \"vector(42) > 100\" }}x{{ else }}none{{ end }}",
    "{{ $externalLabels.cluster }}|{{ $externalLabels.nope }}|{{ $externalURL }}|{{ .ExternalURL }}",
    "{{ len $labels }} {{ index $labels \"instance\" }} [{{ $labels.missing }}] [{{ index $labels \"missing\" }}]",
    "{{ parseDuration \"1h2m10ms\" }} {{ parseDuration \"1d\" }}",
    "{{ $x := 1 }}{{ range $i, $e := $labels }}{{ $x = $i }}{{ end }}{{ $x }}",
    "{{ print 1 2 \"a\" 3 \"b\" }} {{ println \"x\" 1 }}",
    "{{ html \"<a href='x'>&</a>\" }} {{ js \"it's <b>\" }} {{ urlquery \"a b&c=d/\" }}",
    "{{ define \"x\" }}[{{ . }}]{{ end }}{{ template \"x\" $value }}{{ template \"x\" }}",
    "{{ 1e21 }} {{ 0.00001 }} {{ 100000.0 }} {{ 1234567.0 }} {{ 0x1F }} {{ 'a' }} {{ 1_000 }} {{ 017 }}",
    "{{ slice \"abcdef\" 1 3 }} {{ index \"abc\" 1 }} {{ len \"héllo\" }}",
    "{{ args 1 \"x\" }} {{ \"<x>\" | safeHtml }} {{ printf \"%T %T %T\" $value 1 $labels }}",
    "{{- /* comment */ -}}  trimmed  {{- \" x \" -}}  end",
    "{{ and 1 0 }} {{ or 0 \"\" }} {{ or 0 \"y\" }} {{ not 0 }} {{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ le 1.5 1.5 }}",
    "{{ range $i, $c := (args \"a\" \"b\" \"c\") }}{{ if eq $i \"arg1\" }}{{ continue }}{{ end }}{{ $c }}{{ end }}",
    "{{ with $labels }}{{ .instance }}{{ end }} {{ with $x := $value }}{{ $x }}{{ end }}",
    "{{ (print \"a\" \"b\") | printf \"%q\" }} {{ print (len $labels) }}",
    "{{ printf \"%v %v %v %v\" 1.0 -2.5 1e6 123456789.0 }}",
    "{{ printf \"%6.2f%%\" 12.3456 }} {{ printf \"%-5d|\" 3 }} {{ printf \"%x\" \"hi\" }} {{ printf \"%q\" 65 }}",
    "{{ printf \"%v|%s|%d\" $labels $labels (len $labels) }} {{ printf \"%v %s\" nil .Labels.nope }}",
    "{{ printf \"%08.3f|%+.2e|% d|%x|%X|%#x|%#o\" -3.14159 12345.678 5 -255 3.5 255 8 }}",
    "{{ printf \"%5t|%-7v|%3c|%.1s|%.0f|%.0f|%.0f\" true 1.5 66 \"xyz\" 0.5 1.5 2.5 }}",
    "{{ printf \"%[2]s %[1]s %*d %.*f\" \"a\" \"b\" 4 7 2 3.14159 }}",
    "{{ printf \"%g %g %g %g %g\" 1e-5 1e-4 123456.0 1234567.0 0.0 }}",
    "{{ printf \"%.4g %.4g %.4g %.10g\" 123.45678 0.00001234 99999.0 1.0 }}",
    "{{ print 1.5 \"x\" nil true }} {{ print }}|{{ println }}|",
    "{{ range $i, $v := (args 3 4) }}{{ $i }}:{{ $v }} {{ else }}none{{ end }}{{ range $labels }}{{ . }}{{ end }}",
    "{{ range $i, $s := query \"vector(42)\" }}{{ $i }} {{ $s.Value }} {{ len $s.Labels }}{{ end }}",
    "{{ $x := 0 }}{{ range $k, $v := (args 1 2 3 4) }}{{ if eq $k \"arg2\" }}{{ break }}{{ end }}{{ $x = $v }}{{ end }}{{ $x }}",
    "line1\n  {{- \" a \" }}  \n\t{{ \"b\" -}}\n  line3",
    "{{ \"\\u00e9\\t\\x41\\101\" }} {{ `raw\\n` }} {{ '\\n' }} {{ 0o17 }} {{ 0b101 }} {{ 1.5e3 }} {{ -0x10 }}",
    "{{ html 1 \"<\" 2 }} {{ urlquery \"é ~\" }} {{ js \"\\u2028=\" }}",
    "{{ not \"\" }} {{ not 1.5 }}",
    "{{ index (args 1 2) \"arg1\" }} {{ index (args 1) \"x\" }} {{ slice \"abc\" }}",
    "{{ args 1.5 true nil }} {{ printf \"%d|%s|%.2f|%x\" 1.5 true \"1.5\" -1.5 }}",
    "{{ 1.0 }} {{ 1e100 }} {{ -0.0 }} {{ 0.1 }} {{ 1e-7 }} {{ 123456789 }} {{ -9223372036854775808 }}",
    "{{ \"a\" | printf \"%s-%s\" \"b\" }} [{{ html }}] {{ len \"\" }} {{ print \"\" }}|",
    "{{ title \"élan vital o'neil x_y 3d\" }} {{ toUpper \"straße ǆ\" }} {{ toLower \"İSTANBUL ÀÉ\" }}",
    "{{ reReplaceAll \"([a-z]+)-(\\\\d+)\" \"${2}_$1\" \"abc-123 x-9\" }} {{ reReplaceAll \"a\" \"$$\" \"banana\" }}",
    "{{ match \"(?i)HOST\" \"myhost\" }} {{ reReplaceAll \"\\\\s+\" \" \" \"a  \\t b\" }}",
    "{{ humanize1024 1023 }} {{ humanize1024 1025 }} {{ humanize -0.5 }} {{ humanize 999999 }} {{ humanize 1e-30 }}",
    "{{ humanizeDuration 0.000001234 }} {{ humanizeDuration 59.99 }} {{ humanizeDuration 86399.9 }} {{ humanizePercentage 1 }}",
    "{{ humanizeTimestamp 1.5 }} {{ humanizeTimestamp -1.5 }} {{ humanizeTimestamp 4102444800.999 }}",
    "{{- if true -}}  x  {{- end -}} | {{ printf \"%5.2v|%08.3e|%-8.3g|\" 3.14159 -1234.5 0.000123456 }}",
    "{{ print 1.0 2 }} {{ len (query \"vector(42)\") }} {{ printf \"%#v %#v\" \"x\" 1 }} {{ printf \"%6.3s|\" \"abcdef\" }}",
    "{{ with $x := 1 }}{{ $x }}{{ end }}{{ range $i, $e := (args 7) }}{{ $i }}{{ $e }}{{ end }}",
    "{{ $a := 1 }}{{ with $a }}{{ $b := 2 }}{{ $a }}{{ $b }}{{ end }}{{ $a = 3 }}{{ $a }}",
    "{{ printf \"%v %v\" (query \"vector(42)\" | first).Value (query \"vector(42)\" | first).Labels }}",
    "{{ printf \"%t %v %s\" (eq \"a\" \"a\" \"b\") (not (and 1 0)) (or \"\" \"z\") }}",
    "{{ printf \"%d %d %d\" 0x7fffffffffffffff -0b11 0o777 }} {{ printf \"%.3f %.3f\" 0.0005 0.0015 }}",
    "{{ printf \"%e %E %.0e %g\" 0.0 1e300 5e-324 1e-320 }}",
];

/// Templates that fail while executing: Prometheus writes the error into the annotation, so the
/// messages (with line, column and context) are compared too. (Templates that fail to parse make
/// promtool reject the rule file, so they cannot be compared this way.)
const FAILING_TEMPLATES: &[&str] = &[
    "x\n{{ .Labels.instance.foo }}",
    "{{ $labels.instance.foo }}",
    "{{ gt $value 100 }}",
    "{{ humanize \"abc\" }}",
    "{{ query \"vector(42) > 100\" | first }}",
    "{{ printf }}",
    "{{ len 1 2 }}",
    "{{ template \"nope\" }}",
    "{{ 1 2 }}",
    "{{ nil }}",
    "{{ range $value }}{{ end }}",
    "{{ len $value }}",
    "{{ slice \"abc\" 2 1 }}",
    "{{ index $labels 5 }}",
    "{{ toUpper 1 }}",
    "{{ parseDuration \"1x\" }}",
    "{{ printf \"%s\" .Labels.instance.foo }}",
    "{{ $labels.instance | printf \"%s\" | len | toUpper }}",
    "{{ label \"x\" 1 }}",
    "{{ first 1 }}",
    "{{ toUpper nil }}",
    "{{ index $labels.instance 99 }}",
    "{{ slice \"abc\" 1 5 }}",
    "{{ eq (args 1) (args 1) }}",
    "{{ lt 1 \"a\" }}",
    "{{ $value.Foo }}",
    "{{ .Nope.Deeper }}",
    "{{ and }}",
    "{{ $x = 1 }}",
];

struct VectorQuery;

impl QueryFn for VectorQuery {
    fn query(&self, expr: &str) -> Result<Vec<QueryResultSample>, String> {
        match expr {
            "vector(42)" => Ok(vec![QueryResultSample {
                labels: BTreeMap::new(),
                value: 42.0,
            }]),
            "vector(42) > 100" => Ok(vec![]),
            other => Err(format!("unexpected query {other}")),
        }
    }
}

/// YAML double-quoted scalar.
fn yaml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn annotations_expand_like_promtool() {
    if !Path::new(PROMTOOL).exists() {
        eprintln!("skipping: promtool not installed");
        return;
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let value = 1234567.5;
    let instance = "host.example.com:9100";
    // promtool 2.42 has no external labels or URL in unit test files, so both stay empty.
    let external_url = "";
    let labels: BTreeMap<String, String> = [("instance".to_string(), instance.to_string())]
        .into_iter()
        .collect();
    let external: BTreeMap<String, String> = BTreeMap::new();
    let env = Env {
        external_url: external_url.to_string(),
        path_prefix: String::new(),
        query: Some(Arc::new(VectorQuery)),
        now_ms: Some(0),
    };

    let mut rules = String::from(
        "groups:\n  - name: oracle\n    rules:\n      - alert: Oracle\n        expr: label_replace(vector(1234567.5), \"instance\", \"host.example.com:9100\", \"\", \"\")\n        labels:\n          severity: page\n        annotations:\n",
    );
    let mut expected = String::new();
    for (i, text) in TEMPLATES.iter().enumerate() {
        rules.push_str(&format!("          a{i}: {}\n", yaml_quote(text)));
        let got = expand_alert_text(
            "__alert_Oracle",
            text,
            &labels,
            &external,
            external_url,
            value,
            &env,
        );
        let got = match got {
            Ok(g) => g,
            Err(e) => panic!("template {text:?} failed: {e}"),
        };
        expected.push_str(&format!("              a{i}: {}\n", yaml_quote(&got)));
    }
    for (j, text) in FAILING_TEMPLATES.iter().enumerate() {
        let i = TEMPLATES.len() + j;
        rules.push_str(&format!("          a{i}: {}\n", yaml_quote(text)));
        let got = expand_alert_text(
            "__alert_Oracle",
            text,
            &labels,
            &external,
            external_url,
            value,
            &env,
        );
        let text = match got {
            Ok(g) => panic!("template {text:?} should fail, got {g:?}"),
            Err(e) => e.alert_annotation_text(),
        };
        expected.push_str(&format!("              a{i}: {}\n", yaml_quote(&text)));
    }
    let test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series: []\n    alert_rule_test:\n      - eval_time: 0m\n        alertname: Oracle\n        exp_alerts:\n          - exp_labels:\n              instance: {}\n              severity: page\n            exp_annotations:\n{expected}",
        yaml_quote(instance)
    );
    let write = |name: &str, body: &str| {
        if let Err(e) = std::fs::write(dir.path().join(name), body) {
            panic!("write {name}: {e}");
        }
    };
    write("rules.yml", &rules);
    write("test.yml", &test);
    let out = Command::new(PROMTOOL)
        .arg("test")
        .arg("rules")
        .arg("test.yml")
        .current_dir(dir.path())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("running promtool: {e}"),
    };
    assert!(
        out.status.success(),
        "promtool disagrees:\n{}\n{}\nrules:\n{rules}\ntest:\n{test}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Templates that fail to parse: `promtool check rules` reports Prometheus's parse error, which
/// must equal Pharos's.
const UNPARSABLE_TEMPLATES: &[&str] = &[
    "{{ if }}{{ end }}",
    "{{ nosuch }}",
    "{{ .Value",
    "{{ end }}",
    "{{ else }}",
    "{{ if true }}x",
    "{{ range $labels }}",
    "{{ $x }}",
    "{{ \"unterminated }}",
    "{{ 3x }}",
    "{{ 'ab' }}",
    "{{ /* c */ }}",
    "{{/* c }}",
    "{{ break }}",
    "{{ (1 }}",
    "{{ 1) }}",
    "{{ \"x\" | 1 }}",
    "{{ template $value }}",
    "{{ # }}",
    "{{ define \"x\" }}{{ end }}{{ define \"x\" }}a{{ end }}{{ define \"x\" }}b{{ end }}",
    "line one\n{{ with }}{{ end }}",
    "{{ if true }}{{ else }}{{ else }}{{ end }}",
    "{{ range $a, $b, $c := $labels }}{{ end }}",
    "{{ $x := }}",
    "{{ | }}",
    "{{ .a.b.c | nosuch }}",
];

#[test]
fn parse_errors_match_promtool_check_rules() {
    if !Path::new(PROMTOOL).exists() {
        eprintln!("skipping: promtool not installed");
        return;
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let mut rules = String::from(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n        annotations:\n",
    );
    let mut expected = Vec::new();
    for (i, text) in UNPARSABLE_TEMPLATES.iter().enumerate() {
        rules.push_str(&format!("          a{i}: {}\n", yaml_quote(text)));
        let ours = match pharos_template::AlertTemplate::parse("__alert_A", text) {
            Ok(_) => panic!("template {text:?} should not parse"),
            Err(e) => e.to_string(),
        };
        expected.push(format!("annotation \"a{i}\": {ours}"));
    }
    if let Err(e) = std::fs::write(dir.path().join("rules.yml"), &rules) {
        panic!("write rules: {e}");
    }
    let out = Command::new(PROMTOOL)
        .arg("check")
        .arg("rules")
        .arg("rules.yml")
        .current_dir(dir.path())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("running promtool: {e}"),
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut missing = Vec::new();
    for line in &expected {
        if !report.contains(line.as_str()) {
            missing.push(line.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "promtool reported:\n{report}\nPharos differs on:\n{}",
        missing.join("\n")
    );
}
