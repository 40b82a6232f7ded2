//! The nesting limit: hostile queries are refused with a parse error, and the deepest accepted
//! queries go through parsing, printing, evaluation and dropping on a 2 MiB stack (the size of a
//! tokio worker's or a default thread's stack) without overflowing it, also in debug builds.

use pharos_model::Labels;
use pharos_tsdb::memstore::MemStorage;

use super::{parse, ParseOptions, MAX_NESTING};
use crate::engine::{Engine, EngineOptions};
use crate::value::Value;

const STACK: usize = 2 << 20;

/// Runs `work` on a thread with a 2 MiB stack; a stack overflow aborts the test process.
fn on_small_stack(work: impl FnOnce() + Send + 'static) {
    let worker = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(work)
        .expect("spawn test thread");
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}

fn opts() -> ParseOptions {
    ParseOptions {
        experimental_functions: true,
        ..Default::default()
    }
}

fn assert_too_deep(query: &str) {
    let err = match parse(query, opts()) {
        Ok(_) => panic!("accepted a query nested deeper than {MAX_NESTING} levels"),
        Err(e) => e,
    };
    assert_eq!(
        err.message,
        format!("query is too deeply nested (more than {MAX_NESTING} levels)"),
        "{err}"
    );
    assert!(err.offset < query.len(), "{err}");
}

/// Parses, prints, evaluates (instant and range) and drops `query`, which must be accepted.
fn run_everything(query: &str) -> Value {
    let expr = parse(query, opts()).unwrap_or_else(|e| panic!("{e}"));
    let printed = expr.to_string();
    assert!(!printed.is_empty());
    // The printed form is what `format_query` returns; it must parse again.
    drop(parse(&printed, opts()).unwrap_or_else(|e| panic!("{e}")));
    let _ = format!("{expr:?}");
    drop(expr);
    let storage = MemStorage::new();
    let x = Labels::from_pairs([("__name__", "x")]);
    for t in 0..5 {
        storage.append(&x, t * 15_000, 1.0);
    }
    let engine = Engine::new(EngineOptions {
        experimental_functions: true,
        ..Default::default()
    });
    let range = engine.range_query(&storage, query, 0, 60_000, 15_000);
    assert!(range.is_ok(), "{:?}", range.err());
    match engine.instant_query(&storage, query, 60_000) {
        Ok(result) => result.value,
        Err(e) => panic!("{e}"),
    }
}

fn parens(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "(".repeat(depth), ")".repeat(depth))
}

/// `depth` nested calls: `open` before and `close` after the innermost `inner`.
fn calls(depth: usize, open: &str, inner: &str, close: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn deep_parentheses_are_refused_with_a_position() {
    assert_too_deep(&parens(MAX_NESTING, "1"));
    assert_too_deep(&parens(100_000, "1"));
    let err = parse(&parens(100_000, "1"), opts()).err();
    assert_eq!(
        err.map(|e| e.position),
        Some(format!("1:{}", MAX_NESTING + 1))
    );
    assert_too_deep(&format!("x[{}]", parens(MAX_NESTING + 1, "5m")));
}

#[test]
fn deep_unary_operators_are_refused() {
    assert_too_deep(&format!("{}x", "-".repeat(MAX_NESTING)));
    assert_too_deep(&format!("{}1", "- ".repeat(100_000)));
    assert_too_deep(&format!("x[{}5m]", "-".repeat(MAX_NESTING + 1)));
}

#[test]
fn long_operator_chains_are_refused() {
    assert_too_deep(&vec!["x"; MAX_NESTING + 1].join(" + "));
    assert_too_deep(&vec!["1"; 100_000].join(" + "));
    assert_too_deep(&vec!["x"; 100_000].join(" or "));
    // Left folds after a deep right-hand side add up.
    let deep_rhs = parens(MAX_NESTING - 3, "x");
    assert_too_deep(&format!("x + {deep_rhs} + x + x + x"));
    // Nested chains add up too, not only the outermost one.
    let chain = vec!["x"; 100].join(" + ");
    assert_too_deep(&format!("(({chain}) + {chain}) + {chain}"));
}

#[test]
fn deep_function_aggregation_and_subquery_nesting_is_refused() {
    assert_too_deep(&calls(MAX_NESTING, "abs(", "x", ")"));
    assert_too_deep(&calls(MAX_NESTING, "sum(", "x", ")"));
    assert_too_deep(&calls(MAX_NESTING, "sum by (a) (", "x", ")"));
    assert_too_deep(&calls(MAX_NESTING, "topk(1, ", "x", ")"));
    assert_too_deep(&calls(MAX_NESTING, "clamp_min(", "x", ", 0)"));
    assert_too_deep(&calls(100_000, "abs(", "x", ")"));
    let subqueries =
        (0..MAX_NESTING).fold("x".to_string(), |e, _| format!("max_over_time({e}[1m:1m])"));
    assert_too_deep(&subqueries);
}

#[test]
fn realistic_queries_are_accepted() {
    for q in [
        "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m])) > 0.05",
        "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
        "max_over_time(deriv(rate(x[1m])[5m:1m])[1h:5m])",
        "-(-(-x)) + - - 1",
        "x[((5m + 30s) * 2)]",
    ] {
        assert!(parse(q, opts()).is_ok(), "{q}");
    }
    assert!(parse(&vec!["x"; 100].join(" or "), opts()).is_ok());
    assert!(parse(&parens(100, "x"), opts()).is_ok());
}

#[test]
fn deepest_parentheses_run_on_a_small_stack() {
    on_small_stack(|| {
        let v = run_everything(&parens(MAX_NESTING - 1, "x"));
        assert!(matches!(v, Value::Vector(v) if v.len() == 1));
        run_everything(&parens(MAX_NESTING - 1, "1"));
    });
}

#[test]
fn deepest_unary_minus_runs_on_a_small_stack() {
    on_small_stack(|| {
        let v = run_everything(&format!("{}x", "-".repeat(MAX_NESTING - 1)));
        assert!(matches!(v, Value::Vector(v) if v.first().map(|s| s.f) == Some(-1.0)));
    });
}

#[test]
fn longest_operator_chain_runs_on_a_small_stack() {
    on_small_stack(|| {
        let v = run_everything(&vec!["x"; MAX_NESTING].join(" + "));
        assert!(
            matches!(v, Value::Vector(v) if v.first().map(|s| s.f) == Some(MAX_NESTING as f64))
        );
        let v = run_everything(&vec!["1"; MAX_NESTING].join(" + "));
        assert!(matches!(v, Value::Scalar(f) if f == MAX_NESTING as f64));
        run_everything(&vec!["x"; MAX_NESTING].join(" * on() group_left "));
        run_everything(&vec!["x"; MAX_NESTING].join(" or "));
        // Right-nested: every operand but the first is parenthesised.
        let right = (1..MAX_NESTING / 2).fold("x".to_string(), |e, _| format!("x - ({e})"));
        run_everything(&right);
    });
}

#[test]
fn deepest_function_and_aggregation_nesting_runs_on_a_small_stack() {
    on_small_stack(|| {
        run_everything(&calls(MAX_NESTING - 1, "abs(", "x", ")"));
        run_everything(&calls(MAX_NESTING - 1, "sum(", "x", ")"));
        run_everything(&calls(MAX_NESTING - 1, "count_values(\"v\", ", "x", ")"));
        run_everything(&calls(MAX_NESTING - 1, "topk(1, ", "x", ")"));
        run_everything(&calls(
            MAX_NESTING - 1,
            "label_replace(",
            "x",
            r#", "a", "$1", "__name__", "(.*)")"#,
        ));
        run_everything(&calls(MAX_NESTING - 1, "clamp_min(", "x", ", 0)"));
        // Alternating kinds of nodes, each with its own evaluation path.
        let mixed = (0..(MAX_NESTING - 1) / 5).fold("x".to_string(), |e, _| {
            format!("sum by (a) (-(abs({e}) * 2))")
        });
        run_everything(&mixed);
        // A few nested subqueries: evaluation time, not the stack, limits these.
        let subqueries = (0..3).fold("x".to_string(), |e, _| {
            format!("max_over_time({e}[1m:30s])")
        });
        run_everything(&subqueries);
    });
}
