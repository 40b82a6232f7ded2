//! Hostile and random input: parsing and executing must return (output or error), never panic,
//! overflow the stack or run unbounded.

use proptest::prelude::*;

use crate::template_tests::{data, env};
use crate::Template;

/// Fragments that combine into plausible and implausible templates.
const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    " ",
    "\n",
    "if ",
    "else ",
    "end",
    "range ",
    "with ",
    "define ",
    "template ",
    "block ",
    "break",
    "continue",
    ".",
    ".X",
    ".SI",
    ".MSI",
    ".U.V",
    "$",
    "$x",
    "$y",
    " := ",
    " = ",
    ", ",
    "|",
    "(",
    ")",
    "\"a\"",
    "\"t\"",
    "`r`",
    "'c'",
    "1",
    "-2",
    "0x1F",
    "1.5e3",
    "true",
    "nil",
    "printf ",
    "\"%d %s %v %q %5.2f %-3x %!\"",
    "index ",
    "slice ",
    "len ",
    "eq ",
    "lt ",
    "and ",
    "or ",
    "not ",
    "print ",
    "html ",
    "js ",
    "urlquery ",
    "humanize ",
    "query ",
    "first ",
    "toUpper ",
    "reReplaceAll ",
    "\"(.*)\"",
    "\"$1\"",
    "/*",
    "*/",
    "text",
    "é",
    "\\",
    "\"",
    "`",
    "'",
    "}",
    "{",
    "-",
    ":",
    "=",
    "call ",
    "args ",
    "toTime ",
    "humanizeDuration ",
];

fn run_any(text: &str) {
    if let Ok(t) = Template::parse("fuzz", text) {
        let _ = t.execute(&data(), &env());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn fragments_never_panic(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..40)) {
        let text: String = parts.iter().map(|i| FRAGMENTS[*i]).collect();
        run_any(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        run_any(&text);
        run_any(&format!("{{{{{text}}}}}"));
    }
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let depth = 5000;
    let nested_ifs = format!(
        "{}x{}",
        "{{if true}}".repeat(depth),
        "{{end}}".repeat(depth)
    );
    assert!(Template::parse("deep", &nested_ifs).is_err());
    let nested_parens = format!("{{{{{}1{}}}}}", "(".repeat(depth), ")".repeat(depth));
    assert!(Template::parse("deep", &nested_parens).is_err());
    let else_ifs = format!(
        "{{{{if false}}}}{}{{{{end}}}}",
        "{{else if false}}".repeat(depth)
    );
    assert!(Template::parse("deep", &else_ifs).is_err());
}

#[test]
fn deepest_accepted_nesting_executes_within_the_stack() {
    // Nearly the parser's nesting limit of ifs and parentheses, called recursively: the
    // executor's own nesting limit must stop it before the thread's stack runs out.
    let ifs = 50;
    let body = format!(
        "{}{{{{template \"r\" {}.{}}}}}{}",
        "{{if true}}".repeat(ifs),
        "(".repeat(45),
        ")".repeat(45),
        "{{end}}".repeat(ifs)
    );
    let text = format!("{{{{define \"r\"}}}}{body}{{{{end}}}}{{{{template \"r\" .}}}}");
    let t = Template::parse("deep", &text);
    let t = match t {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let err = t.execute(&data(), &env()).err().map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("nesting depth")),
        "{err:?}"
    );
}

#[test]
fn huge_intermediate_strings_are_refused() {
    let many_wide = format!(
        "{{{{printf \"{}\" {}}}}}",
        "%1000000d".repeat(20),
        "1 ".repeat(20)
    );
    let err = Template::parse("wide", &many_wide)
        .and_then(|t| t.execute(&data(), &env()))
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("exceeded")),
        "{err:?}"
    );
    let replace = "{{ reReplaceAll \"\" (printf \"%100000s\" \"\") (printf \"%100000s\" \"\") }}";
    let err = Template::parse("re", replace)
        .and_then(|t| t.execute(&data(), &env()))
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("exceeds")),
        "{err:?}"
    );
}

proptest! {
    #[test]
    fn printf_never_panics(format in "\\PC{0,40}", n in any::<i64>(), x in any::<f64>(), s in "\\PC{0,10}") {
        let args = [crate::Value::Int(n), crate::Value::Float(x), crate::Value::String(s)];
        let _ = crate::gofmt::sprintf(&format, &args);
        let _ = crate::gofmt::sprintf(&format, &[]);
    }
}

#[test]
fn exponential_output_is_cut_off() {
    let mut text = String::from("{{$x := printf \"%1000s\" \"a\"}}");
    for _ in 0..40 {
        text.push_str("{{$x = printf \"%s%s\" $x $x}}");
    }
    text.push_str("{{$x}}");
    let err = Template::parse("big", &text)
        .and_then(|t| t.execute(&data(), &env()))
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("exceeded")),
        "{err:?}"
    );
}

#[test]
fn worst_case_nesting_fits_in_a_small_stack() {
    // The limits must leave ample margin below the 2 MiB stack of test and worker threads.
    let text = format!(
        "{{{{define \"r\"}}}}{{{{template \"r\" {}.{}}}}}{{{{end}}}}{{{{template \"r\" .}}}}",
        "(".repeat(99),
        ")".repeat(99)
    );
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let parsed = Template::parse("deep", &text);
            parsed.map(|t| t.execute(&data(), &env()).is_err())
        });
    let joined = handle.map(|h| h.join());
    assert!(matches!(joined, Ok(Ok(Ok(true)))));
}

#[test]
fn oversized_arguments_are_refused() {
    let wide = "%1000000d".repeat(7);
    let many_args = format!(
        "{{{{ $x := printf \"{wide}\" 1 1 1 1 1 1 1 }}}}{{{{ len (args {}) }}}}",
        "$x ".repeat(100)
    );
    let err = Template::parse("args", &many_args)
        .and_then(|t| t.execute(&data(), &env()))
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("arguments exceed")),
        "{err:?}"
    );
}

#[test]
fn extreme_numbers_in_every_numeric_function_never_panic() {
    let numbers = [
        "0",
        "-0.0",
        "1e300",
        "-1e300",
        "1e-300",
        "9.3e18",
        "-9.3e18",
        "9223372036854775807",
        "-9223372036854775808",
        "0x7fffffffffffffff",
        "1.7976931348623157e308",
        "\"NaN\"",
        "\"+Inf\"",
        "\"-Inf\"",
        "\"1e400\"",
        "\"-1e400\"",
        "\"abc\"",
        "\"\"",
        "\"9999999y\"",
    ];
    let functions = [
        "humanize",
        "humanize1024",
        "humanizeDuration",
        "humanizePercentage",
        "humanizeTimestamp",
        "toTime",
        "toDuration",
        "parseDuration",
        "printf \"%d %x %e %g %v %08.3f %c %U %q\"",
    ];
    for f in functions {
        for n in numbers {
            run_any(&format!("{{{{ {f} {n} }}}}"));
            run_any(&format!(
                "{{{{ ({f} {n}).Format \"2006-01-02 15:04:05.000 Mon Jan\" }}}}"
            ));
            run_any(&format!(
                "{{{{ ({f} {n}).Unix }}}} {{{{ ({f} {n}).Add 1 }}}}"
            ));
        }
    }
}
