//! Whole-template tests: Go's `text/template` behaviour and Prometheus's template functions, with
//! expected outputs as Go and Prometheus produce them.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{
    expand_alert_text, Env, ParseOptions, QueryFn, QueryResultSample, Template, TemplateError,
    Value,
};

struct FakeQuery;

impl QueryFn for FakeQuery {
    fn query(&self, expr: &str) -> Result<Vec<QueryResultSample>, String> {
        let sample = |labels: &[(&str, &str)], value: f64| QueryResultSample {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        };
        match expr {
            "1.5" => Ok(vec![sample(&[], 1.5)]),
            "metric" => Ok(vec![
                sample(&[("__name__", "metric"), ("instance", "b")], 21.0),
                sample(&[("__name__", "metric"), ("instance", "a")], 11.0),
            ]),
            "empty" => Ok(vec![]),
            other => Err(format!("bad query {other:?}")),
        }
    }
}

pub(crate) fn env() -> Env {
    Env {
        external_url: "http://testhost:9090/path/prefix".into(),
        path_prefix: "/path/prefix".into(),
        query: Some(Arc::new(FakeQuery)),
        now_ms: Some(1_435_065_584_128),
    }
}

/// Data resembling Go's exec_test.go `tVal`, reduced to what template values can hold.
pub(crate) fn data() -> Value {
    Value::map([
        ("X", Value::from("x")),
        ("I", Value::from(17)),
        ("F", Value::from(1.5)),
        ("T", Value::from(true)),
        ("S", Value::from("xyz")),
        ("SI", Value::from(vec![3, 4, 5])),
        ("SIEmpty", Value::List(vec![])),
        ("SB", Value::from(vec![true, false])),
        ("MSI", Value::map([("one", 1), ("two", 2), ("three", 3)])),
        ("MSIone", Value::map([("one", 1)])),
        ("MSS", Value::map([("a", "A"), ("b", "B")])),
        ("U", Value::map([("V", "v")])),
        ("Empty", Value::Nil),
        ("PS", Value::from("a string")),
        ("Html", Value::from("<script>alert(\"XSS\");</script>")),
    ])
}

fn run(text: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse("test", text)?.execute(data, &env())
}

#[test]
fn go_text_template_behaviour() {
    let cases: &[(&str, &str)] = &[
        // Text, dot and fields.
        ("", ""),
        ("some text", "some text"),
        ("-{{.X}}-", "-x-"),
        ("{{.U.V}}", "v"),
        ("{{$.I}} {{$.U.V}}", "17 v"),
        ("<{{.F}}>", "<1.5>"),
        ("{{.T}}", "true"),
        ("{{.MSS.a}}{{.MSS.zz}}|", "A|"),
        ("{{.Empty}}", "<no value>"),
        ("{{.Empty.foo}}", "<no value>"),
        ("{{.SI}}", "[3 4 5]"),
        ("{{.MSI}}", "map[one:1 three:3 two:2]"),
        // if / else if / else.
        ("{{if true}}TRUE{{end}}", "TRUE"),
        ("{{if false}}TRUE{{else}}FALSE{{end}}", "FALSE"),
        ("{{if 1}}NON-ZERO{{else}}ZERO{{end}}", "NON-ZERO"),
        ("{{if 0}}NON-ZERO{{else}}ZERO{{end}}", "ZERO"),
        ("{{if 1.5}}NON-ZERO{{else}}ZERO{{end}}", "NON-ZERO"),
        ("{{if 0.0}}NON-ZERO{{else}}ZERO{{end}}", "ZERO"),
        ("{{if \"\"}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY"),
        ("{{if .SIEmpty}}NON{{else}}EMPTY{{end}}", "EMPTY"),
        ("{{if .Empty}}NON{{else}}EMPTY{{end}}", "EMPTY"),
        ("{{if false}}FALSE{{else if true}}TRUE{{end}}", "TRUE"),
        (
            "{{if eq 1 3}}1{{else if eq 2 3}}2{{else if eq 3 3}}3{{end}}",
            "3",
        ),
        ("{{if false}}a{{else if false}}b{{else}}c{{end}}", "c"),
        // with.
        ("{{with true}}{{.}}{{end}}", "true"),
        ("{{with false}}{{.}}{{else}}FALSE{{end}}", "FALSE"),
        ("{{with 1}}{{.}}{{else}}ZERO{{end}}", "1"),
        ("{{with 0}}{{.}}{{else}}ZERO{{end}}", "ZERO"),
        ("{{with $x := .I}}{{$x}}{{end}}", "17"),
        ("{{with .U}}{{.V}}{{end}}", "v"),
        ("{{with $x := $}}{{$y := $.U.V}}{{$y}}{{end}}", "v"),
        ("{{with 0}}{{.}}{{else with true}}{{.}}{{end}}", "true"),
        ("{{with 0}}a{{else with 0}}b{{else}}c{{end}}", "c"),
        // range.
        ("{{range .SI}}-{{.}}-{{end}}", "-3--4--5-"),
        ("{{range .SIEmpty}}-{{.}}-{{end}}", ""),
        ("{{range .SI}}-{{.}}-{{else}}EMPTY{{end}}", "-3--4--5-"),
        ("{{range .SIEmpty}}-{{.}}-{{else}}EMPTY{{end}}", "EMPTY"),
        ("{{range .Empty}}x{{else}}NIL{{end}}", "NIL"),
        ("{{range .SB}}-{{.}}-{{end}}", "-true--false-"),
        ("{{range .MSI}}-{{.}}-{{end}}", "-1--3--2-"),
        ("{{range $x := .SI}}<{{$x}}>{{end}}", "<3><4><5>"),
        ("{{range $x, $y := .SI}}<{{$x}}={{$y}}>{{end}}", "<0=3><1=4><2=5>"),
        ("{{range $x, $y := .MSIone}}<{{$x}}={{$y}}>{{end}}", "<one=1>"),
        ("{{range $k, $v := .MSS}}{{$k}}={{$v}};{{end}}", "a=A;b=B;"),
        ("{{range .SI}}{{break}}{{.}}{{end}}", ""),
        (
            "{{range $i, $x := .SI}}{{if ge $i 2}}{{break}}{{end}}{{.}}{{end}}",
            "34",
        ),
        ("{{range .SI}}{{continue}}{{.}}{{end}}", ""),
        ("{{range .SI}}{{if eq . 3}}{{continue}}{{end}}{{.}}{{end}}", "45"),
        ("{{range $i := 3}}{{$i}}{{end}}", "012"),
        ("{{range .SI}}{{$x := .}}{{$x}}{{end}}", "345"),
        ("{{$x := 0}}{{range .SI}}{{$x = .}}{{end}}{{$x}}", "5"),
        // Variables.
        ("{{$}}", "map[Empty:<nil> F:1.5 Html:<script>alert(\"XSS\");</script> I:17 MSI:map[one:1 three:3 two:2] MSIone:map[one:1] MSS:map[a:A b:B] PS:a string S:xyz SB:[true false] SI:[3 4 5] SIEmpty:[] T:true U:map[V:v] X:x]"),
        ("{{$x := $.U.V}}{{$x}}", "v"),
        ("{{$x := 2}}{{$x = 3}}{{$x}}", "3"),
        ("{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{$x}}", "3"),
        (
            "{{$x := 1}}{{if true}}{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{end}}{{$x}}",
            "1",
        ),
        ("{{$x := .U}}{{$x.V}}", "v"),
        // Pipelines and parentheses.
        ("{{.X | printf \"%s\" | printf \"%q\"}}", "\"x\""),
        ("{{(1)}}", "1"),
        ("{{print (1)}}", "1"),
        ("{{print (\"hello\")}}", "hello"),
        ("{{print (.I | printf \"%d\")}}", "17"),
        ("{{(.U).V}}", "v"),
        ("{{(index .SI 1)}}", "4"),
        ("{{3 | print 1 2}}", "1 2 3"),
        // Trim markers and comments.
        ("{{23 -}} < {{- 45}}", "23<45"),
        ("a  {{- 1 -}}  \n b", "a1b"),
        ("{{/* a comment */}}", ""),
        ("x {{- /* hi */ -}} y", "xy"),
        ("x {{/* hi */}} y", "x  y"),
        // Literals.
        ("{{'a'}}", "97"),
        ("{{'\\n'}}", "10"),
        ("{{0x1F}} {{0o17}} {{0b101}} {{1_000}} {{017}}", "31 15 5 1000 15"),
        ("{{1e3}} {{1.5e-3}} {{.5}} {{-5}} {{+3}}", "1000 0.0015 0.5 -5 3"),
        ("{{`raw\\n`}}", "raw\\n"),
        ("{{\"\\u00e9\\t|\"}}", "é\t|"),
        ("{{printf \"%T %T %T %T\" 1 1.0 \"s\" true}}", "int float64 string bool"),
        // Builtins.
        ("{{print \"hello, print\"}}", "hello, print"),
        ("{{print 1 2 3}}", "1 2 3"),
        ("{{print nil}}", "<nil>"),
        ("{{println 1 2 3}}", "1 2 3\n"),
        ("{{printf \"%04x\" 127}}", "007f"),
        ("{{printf \"%g\" 3.5}}", "3.5"),
        ("{{printf \"%s\" \"hello\"}}", "hello"),
        ("{{printf \"%5.1f|%-10s|%%|%.2f\" 4.56789 \"ab\" 2.0}}", "  4.6|ab        |%|2.00"),
        ("{{printf \"%d %s\" 1}}", "1 %!s(MISSING)"),
        (
            "{{html \"<script>alert(\\\"XSS\\\");</script>\"}}",
            "&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;",
        ),
        (
            "{{printf \"<script>alert(\\\"XSS\\\");</script>\" | html}}",
            "&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;",
        ),
        ("{{html .PS}}", "a string"),
        ("{{js \"It'd be nice.\"}}", "It\\'d be nice."),
        ("{{\"http://www.example.org/\"|urlquery}}", "http%3A%2F%2Fwww.example.org%2F"),
        ("{{not true}} {{not false}}", "false true"),
        ("{{and false 0}} {{and 1 0}} {{and 0 true}} {{and 1 1}}", "false 0 0 1"),
        ("{{or 0 0}} {{or 1 0}} {{or 0 true}} {{or 1 1}}", "0 1 true 1"),
        ("{{or 0 1 (index .SI 99)}}", "1"),
        ("{{and 1 0 (index .SI 99)}}", "0"),
        ("{{if and true 1 `c`}}TRUE{{else}}FALSE{{end}}", "TRUE"),
        ("{{if and true 1 `c` | not}}TRUE{{else}}FALSE{{end}}", "FALSE"),
        ("{{len .SI}} {{len .MSI}} {{len \"héllo\"}}", "3 3 6"),
        ("{{index .SI 2}} {{index .MSI `two`}} {{index .MSS `zz`}}|", "5 2 |"),
        ("{{index \"abc\" 1}}", "98"),
        ("{{index .U \"V\"}}", "v"),
        ("{{slice .SI 1 2}} {{slice .SI 1}} {{slice .SI}} {{slice .S 1 2}}", "[4] [4 5] [3 4 5] y"),
        ("{{slice .SI 0 1 2}}", "[3]"),
        ("{{eq true true}} {{eq true false}} {{eq 1.5 1.5}} {{eq 1 1}}", "true false true true"),
        ("{{eq `xy` `xy`}} {{eq 1 2 3 1}} {{eq 1 2 3}}", "true true false"),
        ("{{ne 1 1}} {{ne 1 2}} {{ne `a` `b`}}", "false true true"),
        ("{{lt 1 2}} {{lt 1.5 1.5}} {{lt `xy` `xyz`}}", "true false true"),
        ("{{le 1 1}} {{gt 2 1}} {{ge 1.5 2.5}}", "true true false"),
        ("{{eq .Empty 1}}", "false"),
        // define / template / block.
        ("{{define \"x\"}}X{{.}}{{end}}{{template \"x\" 1}}", "X1"),
        ("{{define \"t\"}}[{{.}}]{{end}}{{template \"t\"}}", "[<no value>]"),
        ("{{block \"b\" .I}}default {{.}}{{end}}", "default 17"),
        (
            "{{define \"list\"}}{{range .}}[{{.}}]{{end}}{{end}}{{template \"list\" .SI}}",
            "[3][4][5]",
        ),
        (
            "{{define \"v\"}}{{$}}{{end}}{{$x := 1}}{{template \"v\" .I}}",
            "17",
        ),
        (
            "{{define \"rec\"}}{{if .}}{{len .}}{{template \"rec\" (slice . 1)}}{{end}}{{end}}{{template \"rec\" .SI}}",
            "321",
        ),
    ];
    for (text, want) in cases {
        match run(text, &data()) {
            Ok(got) => assert_eq!(&got, want, "template {text:?}"),
            Err(e) => panic!("template {text:?} failed: {e}"),
        }
    }
}

#[test]
fn errors_never_panic_and_say_what_is_wrong() {
    let cases: &[(&str, &str)] = &[
        // Parse errors.
        ("{{.X", "unclosed action"),
        ("{{undefinedfn}}", "function \"undefinedfn\" not defined"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{if true}}", "unexpected EOF"),
        ("{{range .SI}}x", "unexpected EOF"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{$x}}", "undefined variable \"$x\""),
        ("{{$x = 1}}", "undefined variable: $x"),
        ("{{break}}", "{{break}} outside {{range}}"),
        (
            "{{if true}}{{continue}}{{end}}",
            "{{continue}} outside {{range}}",
        ),
        (
            "{{\"x\" | 1}}",
            "non executable command in pipeline stage 2",
        ),
        ("{{}}", "missing value for command"),
        ("{{if}}{{end}}", "missing value for if"),
        ("{{template .X}}", "in template clause"),
        (
            "{{define \"a\"}}{{end}}{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}",
            "multiple definition",
        ),
        ("{{3x}}", "bad number syntax"),
        (
            "{{define \"b\"}}x{{end}}{{block \"b\" .}}y{{end}}",
            "multiple definition of template \"b\"",
        ),
        ("{{\"abc}}", "unterminated quoted string"),
        ("{{'ab'}}", "malformed character constant"),
        ("{{/* x }}", "unclosed comment"),
        ("{{(1}}", "unclosed left paren"),
        ("{{range $a, $b, $c := .SI}}{{end}}", "in range"),
        // Execution errors.
        ("{{nil}}", "nil is not a command"),
        ("{{1 2}}", "can't give argument to non-function 1"),
        ("{{len 1 2}}", "wrong number of args for len: want 1 got 2"),
        (
            "{{printf}}",
            "wrong number of args for printf: want at least 1 got 0",
        ),
        (
            "{{index .SI 5}}",
            "error calling index: index out of range: 5",
        ),
        (
            "{{index .SI -1}}",
            "error calling index: index out of range: -1",
        ),
        ("{{index .I 1}}", "can't index item of type int"),
        ("{{index .Empty 1}}", "index of untyped nil"),
        ("{{slice .SI 2 1}}", "invalid slice index: 2 > 1"),
        (
            "{{slice .SI 0 9}}",
            "error calling slice: index out of range: 9",
        ),
        ("{{slice .S 0 1 2}}", "cannot 3-index slice a string"),
        ("{{len .I}}", "len of type int"),
        ("{{eq 1 1.5}}", "incompatible types for comparison"),
        ("{{lt true false}}", "invalid type for comparison"),
        ("{{eq .SI .SI}}", "non-comparable type"),
        ("{{eq 1}}", "missing argument for comparison"),
        ("{{range .F}}{{end}}", "range can't iterate over 1.5"),
        (
            "{{template \"nope\"}}",
            "at <{{template \"nope\"}}>: template \"nope\" not defined",
        ),
        (
            "{{template \"nope\" .X}}",
            "at <{{template \"nope\" .X}}>: template \"nope\" not defined",
        ),
        ("{{.X.Y}}", "can't evaluate field Y in type string"),
        ("{{.U.V 1}}", "V is not a method but has arguments"),
        ("{{.X.Y 1}}", "can't evaluate field Y in type string"),
        ("{{.U 1}}", "U is not a method but has arguments"),
        ("{{call .X}}", "non-function of type string"),
        ("{{toUpper 1}}", "at <1>: expected string; found 1"),
        (
            "{{toUpper .I}}",
            "at <.I>: wrong type for value; expected string; got int",
        ),
        (
            "{{.I | toUpper}}",
            "wrong type for value; expected string; got int",
        ),
        ("{{toUpper nil}}", "cannot assign nil to string"),
        (
            "{{label \"x\" 1}}",
            "can't handle 1 for arg of type *template.sample",
        ),
        (
            "{{label \"x\" .Empty}}",
            "error calling label: runtime error: invalid memory address",
        ),
        (
            "{{first .I}}",
            "wrong type for value; expected template.queryResult; got int",
        ),
        ("{{toUpper .Empty}}", "invalid value; expected string"),
        (
            "{{humanize \"abc\"}}",
            "error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax",
        ),
        ("{{humanize .SI}}", "can't convert []interface {} to float"),
        (
            "{{reReplaceAll \"(\" \"\" \"x\"}}",
            "error calling reReplaceAll: regexp: Compile",
        ),
        (
            "{{query \"empty\" | first}}",
            "first() called on vector with no elements",
        ),
        ("{{query \"bad\"}}", "error calling query: bad query"),
        ("{{parseDuration \"1x\"}}", "not a valid duration string"),
        ("{{toTime \"abc\"}}", "error calling toTime"),
        ("{{humanizeTimestamp 1e20}}", "overflows int64"),
        (
            "{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\" .}}",
            "exceeded maximum template depth",
        ),
        ("{{range $i := 100000000}}{{end}}", "steps"),
        (
            "{{range 100000}}{{printf \"%1000s\" \"x\"}}{{end}}",
            "output exceeded",
        ),
    ];
    for (text, want) in cases {
        match run(text, &data()) {
            Ok(got) => panic!("template {text:?} should fail with {want:?}, got output {got:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(want),
                    "template {text:?}: error {msg:?} lacks {want:?}"
                );
            }
        }
    }
}

#[test]
fn error_messages_name_template_line_and_column() {
    let e = run("line1\n{{ .X }} {{ index .SI 9 }}", &data()).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(
            "template: test:2:12: executing \"test\" at <index .SI 9>: error calling index: index out of range: 9"
                .to_string()
        )
    );
    let e = run("a\nb\n{{ if }}", &data()).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("template: test:3: missing value for if".to_string())
    );
    let e = run(
        "{{define \"inner\"}}{{ .Nope.X | toUpper }}{{end}}{{template \"inner\" .}}",
        &data(),
    )
    .err();
    let msg = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("executing \"inner\""), "{msg}");
}

#[test]
fn prometheus_functions() {
    let list = |v: &[f64]| Value::List(v.iter().map(|f| Value::Float(*f)).collect());
    let cases: Vec<(&str, Value, &str)> = vec![
        ("{{ 1 }}", Value::Nil, "1"),
        ("{{ printf \"%0.2f\" 1.1 }}", Value::Nil, "1.10"),
        ("{{ query \"1.5\" | first | value }}", Value::Nil, "1.5"),
        ("{{ query \"1.5\" | first | value | humanize }}", Value::Nil, "1.5"),
        (
            "{{ query \"metric\" | first | label \"instance\" }}",
            Value::Nil,
            "b",
        ),
        (
            "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
            Value::Nil,
            "a:11: b:21: ",
        ),
        (
            "{{ with query \"metric\" }}{{ . | first | label \"__name__\" }}{{ end }}",
            Value::Nil,
            "metric",
        ),
        ("{{ with query \"empty\" }}x{{ else }}none{{ end }}", Value::Nil, "none"),
        ("{{ query \"metric\" | len }}", Value::Nil, "2"),
        ("{{ (query \"metric\" | first).Labels.instance }}", Value::Nil, "b"),
        ("{{ query \"1.5\" | first | strvalue }}|", Value::Nil, "|"),
        ("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", Value::Nil, "xa"),
        ("{{ reReplaceAll \"^(.*):\\\\d+$\" \"$1\" \"host:9100\" }}", Value::Nil, "host"),
        ("{{ match \"a+\" \"aaa\" }} {{ match \"^b\" \"aaa\" }}", Value::Nil, "true false"),
        ("{{ \"aa bb CC\" | title }}", Value::Nil, "Aa Bb CC"),
        ("{{ \"aa bb CC\" | toUpper }}", Value::Nil, "AA BB CC"),
        ("{{ \"aa bb CC\" | toLower }}", Value::Nil, "aa bb cc"),
        ("{{ graphLink \"up\" }}", Value::Nil, "/graph?g0.expr=up&g0.tab=0"),
        (
            "{{ tableLink \"rate(x[5m]) > 1\" }}",
            Value::Nil,
            "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=1",
        ),
        (
            "{{ range . }}{{ humanize . }}:{{ end }}",
            list(&[0.0, 1.0, 1234567.0, 0.12]),
            "0:1:1.235M:120m:",
        ),
        ("{{ humanize \"1234567\" }} {{ humanize 1000 }}", Value::Nil, "1.235M 1k"),
        (
            "{{ range . }}{{ humanize1024 . }}:{{ end }}",
            list(&[0.0, 1.0, 1048576.0, 0.12]),
            "0:1:1Mi:0.12:",
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            list(&[
                0.0,
                1.0,
                60.0,
                3600.0,
                86400.0,
                86400.0 + 3600.0,
                -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
                899.99,
            ]),
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            list(&[0.0, 0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]),
            "0s:100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        ),
        ("{{ humanizeDuration 3661 }}", Value::Nil, "1h 1m 1s"),
        (
            "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
            list(&[0.0, 0.1234, 1.23456, -0.0045]),
            "0%:12.34%:123.5%:-0.45%:",
        ),
        (
            "{{ 1435065584.128 | humanizeTimestamp }}",
            Value::Nil,
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        (
            "{{ \"1435065584.128\" | humanizeTimestamp }}",
            Value::Nil,
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        (
            "{{ toTime 1435065584.128 }}",
            Value::Nil,
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        ("{{ now }}", Value::Nil, "1.435065584128e+09"),
        (
            "{{ now | toTime }}",
            Value::Nil,
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        ("{{ toDuration 90.5 }} {{ 0.0015 | toDuration }}", Value::Nil, "1m30.5s 1.5ms"),
        ("{{ toDuration 3600 | humanizeDuration }}", Value::Nil, "1h 0m 0s"),
        ("{{ parseDuration \"1h2m10ms\" }}", Value::Nil, "3720.01"),
        ("{{ pathPrefix }}", Value::Nil, "/path/prefix"),
        ("{{ externalURL }}", Value::Nil, "http://testhost:9090/path/prefix"),
        ("{{ stripPort \"foo.example.com:12345\" }}", Value::Nil, "foo.example.com"),
        ("{{ stripPort \"[2001:0DB8::1]:12345\" }}", Value::Nil, "2001:0DB8::1"),
        ("{{ stripPort \"foo.example.com\" }}", Value::Nil, "foo.example.com"),
        ("{{ stripDomain \"foo.example.com\" }}", Value::Nil, "foo"),
        ("{{ stripDomain \"foo.example.com:12345\" }}", Value::Nil, "foo:12345"),
        ("{{ stripDomain \"192.0.2.1:12345\" }}", Value::Nil, "192.0.2.1:12345"),
        ("{{ args 1 \"x\" }}", Value::Nil, "map[arg0:1 arg1:x]"),
        (
            "{{ define \"a\" }}{{ .arg0 }}-{{ .arg1 }}{{ end }}{{ template \"a\" (args 1 \"x\") }}",
            Value::Nil,
            "1-x",
        ),
        ("{{ \"<b>\" | safeHtml }}", Value::Nil, "<b>"),
        // Alertmanager's functions.
        ("{{ join \",\" (stringSlice \"a\" \"b\") }}", Value::Nil, "a,b"),
        ("{{ trimSpace \"  x \" }}", Value::Nil, "x"),
        ("{{ \"a%20b\" | urlUnescape }}", Value::Nil, "a b"),
        ("{{ toJson (args 1 \"x\") }}", Value::Nil, "{\"arg0\":1,\"arg1\":\"x\"}"),
    ];
    for (text, data, want) in cases {
        match run(text, &data) {
            Ok(got) => assert_eq!(got, want, "template {text:?}"),
            Err(e) => panic!("template {text:?} failed: {e}"),
        }
    }
}

#[test]
fn alert_text_expansion_like_prometheus() {
    let labels: BTreeMap<String, String> = [("instance", "host:9100"), ("job", "node")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let external: BTreeMap<String, String> = BTreeMap::new();
    let cases = [
        (
            "{{ $labels.instance }} of {{ $labels.job }} is down",
            "host:9100 of node is down",
        ),
        ("{{ .Labels.job }}", "node"),
        ("value {{ $value }}", "value 1.2345675e+06"),
        ("{{ $value | humanize }}", "1.235M"),
        ("missing [{{ $labels.missing }}]", "missing []"),
        ("ext [{{ $externalLabels.cluster }}]", "ext []"),
        ("{{ $externalURL }}", "http://ext:9090"),
        ("{{ printf \"%.2f\" $value }}", "1234567.50"),
        ("{{ if gt $value 100.0 }}high{{ end }}", "high"),
        ("{{ $labels.instance | stripPort }}", "host"),
        ("{{ index $labels \"job\" }}", "node"),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}",
            "instance=host:9100 job=node ",
        ),
        ("no template text", "no template text"),
    ];
    for (text, want) in cases {
        let got = expand_alert_text(
            "__alert_Test",
            text,
            &labels,
            &external,
            "http://ext:9090",
            1234567.5,
            &env(),
        );
        assert_eq!(got.as_deref(), Ok(want), "text {text:?}");
    }
    let err = expand_alert_text(
        "__alert_Test",
        "{{ gt $value 100 }}",
        &labels,
        &external,
        "",
        1.0,
        &env(),
    );
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.starts_with("template: __alert_Test:1:")
            && msg.contains("incompatible types for comparison"),
        "{msg}"
    );
    let value_float = expand_alert_text(
        "__alert_T",
        "{{ $value }}",
        &labels,
        &external,
        "",
        1e21,
        &env(),
    );
    assert_eq!(value_float.as_deref(), Ok("1e+21"));
}

#[test]
fn html_escaping_option_escapes_actions_but_not_safe_html() {
    let opts = ParseOptions {
        html_escape: true,
        ..ParseOptions::default()
    };
    let t = Template::parse_with(
        "email",
        "<p>{{ .Html }}</p>{{ \"<b>ok</b>\" | safeHtml }}{{ 1 }}",
        &opts,
    );
    let out = t.and_then(|t| t.execute(&data(), &env()));
    assert_eq!(
        out.as_deref(),
        Ok("<p>&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;</p><b>ok</b>1")
    );
}

#[test]
fn execute_template_runs_a_defined_template() {
    let t = Template::parse(
        "notifications",
        "{{ define \"slack.title\" }}[{{ .Status }}] {{ .Name }}{{ end }}main",
    );
    let t = match t {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let data = Value::map([("Status", "firing"), ("Name", "HighLoad")]);
    assert_eq!(
        t.execute_template("slack.title", &data, &env()).as_deref(),
        Ok("[firing] HighLoad")
    );
    assert_eq!(t.execute(&data, &env()).as_deref(), Ok("main"));
    assert_eq!(t.defined_templates(), vec!["slack.title".to_string()]);
    assert_eq!(
        t.execute_template("nope", &data, &env())
            .err()
            .map(|e| e.to_string())
            .as_deref(),
        Some("template: no template \"nope\" associated with template \"notifications\"")
    );
}

#[test]
fn template_is_shareable_across_threads() {
    fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug>() {}
    assert_traits::<Template>();
    assert_traits::<Value>();
    assert_traits::<Env>();
    assert_traits::<TemplateError>();
}

#[test]
fn template_sets_override_and_report_the_right_file() {
    let default = "{{ define \"title\" }}[{{ .Status }}] default{{ end }}{{ define \"body\" }}{{ template \"title\" . }}: {{ .Missing.X }}{{ end }}";
    let user = "{{ define \"title\" }}[{{ .Status | toUpper }}] custom{{ end }}\n{{ define \"broken\" }}{{ index .List 3 }}{{ end }}";
    let set = Template::parse_set(
        &[("default.tmpl", default), ("user.tmpl", user)],
        &ParseOptions::default(),
    );
    let set = match set {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let data = Value::map([
        ("Status", Value::from("firing")),
        ("List", Value::from(vec![1, 2])),
    ]);
    assert_eq!(
        set.execute_template("title", &data, &env()).as_deref(),
        Ok("[FIRING] custom")
    );
    assert_eq!(
        set.execute_template("body", &data, &env()).as_deref(),
        Ok("[FIRING] custom: <no value>")
    );
    assert!(set.has_template("user.tmpl") && set.has_template("default.tmpl"));
    assert_eq!(set.defined_templates(), vec!["body", "broken", "title"]);
    let err = set
        .execute_template("broken", &data, &env())
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("template: user.tmpl:2:24: executing \"broken\" at <index .List 3>: error calling index: index out of range: 3")
    );
    let bad = Template::parse_set(
        &[("a", "ok"), ("b.tmpl", "\n{{ nosuch }}")],
        &ParseOptions::default(),
    );
    assert_eq!(
        bad.err().map(|e| e.to_string()).as_deref(),
        Some("template: b.tmpl:2: function \"nosuch\" not defined")
    );
}

#[test]
fn prometheus_error_annotation_text() {
    let labels = BTreeMap::new();
    let err = expand_alert_text(
        "__alert_X",
        "{{ index 1 2 }}",
        &labels,
        &labels,
        "",
        1.0,
        &env(),
    );
    assert_eq!(
        err.err().map(|e| e.alert_annotation_text()).as_deref(),
        Some("<error expanding template: error executing template __alert_X: template: __alert_X:1:115: executing \"__alert_X\" at <index 1 2>: error calling index: can't index item of type int>")
    );
    let err = expand_alert_text(
        "__alert_X",
        "{{ nosuch }}",
        &labels,
        &labels,
        "",
        1.0,
        &env(),
    );
    assert_eq!(
        err.err().map(|e| e.alert_annotation_text()).as_deref(),
        Some("<error expanding template: error parsing template __alert_X: template: __alert_X:1: function \"nosuch\" not defined>")
    );
    let err = expand_alert_text(
        "__alert_X",
        "{{ .Lables.job }}",
        &labels,
        &labels,
        "",
        1.0,
        &env(),
    );
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("can't evaluate field Lables in type struct {"),
        "{msg}"
    );
}

struct AlertMethods;

impl crate::MethodResolver for AlertMethods {
    fn call_method(
        &self,
        receiver: &Value,
        name: &str,
        args: &[Value],
    ) -> Option<Result<Value, String>> {
        match (receiver, name) {
            (Value::List(alerts), "Firing") => Some(Ok(Value::List(
                alerts
                    .iter()
                    .filter(|a| matches!(a, Value::Map(m) if m.get("Status") == Some(&Value::from("firing"))))
                    .cloned()
                    .collect(),
            ))),
            (Value::Map(m), "Remove") => {
                let mut m = m.clone();
                if let Some(Value::List(keys)) = args.first() {
                    for k in keys {
                        if let Value::String(k) = k {
                            m.remove(k);
                        }
                    }
                    return Some(Ok(Value::Map(m)));
                }
                Some(Err("Remove wants a list of names".into()))
            }
            _ => None,
        }
    }
}

#[test]
fn caller_functions_and_methods() {
    let mut opts = ParseOptions {
        methods: Some(Arc::new(AlertMethods)),
        ..ParseOptions::default()
    };
    opts.functions.insert(
        "double".into(),
        crate::CustomFunction::fixed(1, |args, _| match args.first() {
            Some(Value::Int(i)) => Ok(Value::Int(i * 2)),
            _ => Err("double wants an int".into()),
        }),
    );
    let data = Value::map([
        (
            "Alerts",
            Value::List(vec![
                Value::map([("Status", "firing"), ("Name", "a")]),
                Value::map([("Status", "resolved"), ("Name", "b")]),
                Value::map([("Status", "firing"), ("Name", "c")]),
            ]),
        ),
        ("Labels", Value::map([("a", "1"), ("b", "2"), ("c", "3")])),
    ]);
    let cases = [
        ("{{ len .Alerts.Firing }}", "2"),
        ("{{ range .Alerts.Firing }}{{ .Name }}{{ end }}", "ac"),
        ("{{ .Labels.Remove (stringSlice \"a\" \"c\") }}", "map[b:2]"),
        ("{{ stringSlice \"b\" | .Labels.Remove }}", "map[a:1 c:3]"),
        ("{{ double 21 }} {{ 4 | double }}", "42 8"),
    ];
    for (text, want) in cases {
        let out = Template::parse_with("t", text, &opts).and_then(|t| t.execute(&data, &env()));
        assert_eq!(out.as_deref(), Ok(want), "{text}");
    }
    let errors = [
        (
            "{{ double \"x\" }}",
            "error calling double: double wants an int",
        ),
        (
            "{{ double 1 2 }}",
            "wrong number of args for double: want 1 got 2",
        ),
        (
            "{{ .Labels.Remove 1 }}",
            "error calling Remove: Remove wants a list of names",
        ),
    ];
    for (text, want) in errors {
        let err = Template::parse_with("t", text, &opts)
            .and_then(|t| t.execute(&data, &env()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(want), "{text}: {err}");
    }
    // Without the options the function is unknown at parse time.
    assert!(Template::parse("t", "{{ double 1 }}").is_err());
}

#[test]
fn time_and_duration_methods() {
    let data = Value::map([
        ("StartsAt", Value::Time(1_435_065_584_128)),
        ("EndsAt", Value::Time(1_435_069_184_128)),
    ]);
    let cases = [
        (
            "{{ .StartsAt.Format \"2006-01-02 15:04:05\" }}",
            "2015-06-23 13:19:44",
        ),
        (
            "{{ .StartsAt.UTC.Format \"Jan _2 15:04 MST\" }}",
            "Jun 23 13:19 UTC",
        ),
        ("{{ \"15:04\" | .StartsAt.Format }}", "13:19"),
        (
            "{{ .StartsAt.Unix }} {{ .StartsAt.Year }}",
            "1435065584 2015",
        ),
        ("{{ .EndsAt.Sub .StartsAt }}", "1h0m0s"),
        ("{{ (.EndsAt.Sub .StartsAt).Minutes }}", "60"),
        (
            "{{ .StartsAt.Before .EndsAt }} {{ .StartsAt.After .EndsAt }}",
            "true false",
        ),
        (
            "{{ (toDuration 90).Seconds }} {{ (toDuration 5400).String }}",
            "90 1h30m0s",
        ),
        (
            "{{ (toTime 0).Format \"2006-01-02T15:04:05Z07:00\" }}",
            "1970-01-01T00:00:00Z",
        ),
        ("{{ .StartsAt.IsZero }}", "false"),
        (
            "{{ date \"2006-01-02 15:04\" .StartsAt }}",
            "2015-06-23 13:19",
        ),
        ("{{ (tz \"UTC\" .StartsAt).Hour }}", "13"),
        ("{{ since (toTime 1435065524.128) }}", "1m0s"),
    ];
    for (text, want) in cases {
        assert_eq!(run(text, &data).as_deref(), Ok(want), "{text}");
    }
    let err = run("{{ .StartsAt.Format }}", &data)
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("wrong number of args for Format: want 1 got 0")),
        "{err:?}"
    );
    let err = run("{{ .StartsAt.Nope }}", &data)
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("can't evaluate field Nope in type *time.Time")),
        "{err:?}"
    );
}
