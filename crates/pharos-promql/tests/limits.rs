//! Bad and oversized queries fail with Prometheus's error types and messages, never a panic.

use std::time::Duration;

use pharos_model::Labels;
use pharos_promql::{Engine, EngineOptions, EvalError};
use pharos_tsdb::MemStorage;

fn storage() -> MemStorage {
    let st = MemStorage::new();
    for i in 0..50 {
        let l = Labels::from_pairs([("__name__", "m"), ("i", &*i.to_string())]);
        for t in 0..100 {
            st.append(&l, t * 15_000, t as f64);
        }
    }
    st
}

#[test]
fn parse_errors_are_bad_data_with_position() {
    let e = Engine::new(EngineOptions::default());
    let err = e
        .instant_query(&storage(), "sum(rate(m[5m])", 0)
        .expect_err("must fail");
    assert_eq!(err.error_type(), "bad_data");
    assert!(err.to_string().starts_with("1:16: parse error:"), "{err}");
    for q in [
        "",
        "foo{",
        "1 +",
        "rate(m)",
        "m[5m] + 1",
        "{a=\"\"}",
        "sum by (",
        "m offset",
        "\"\\q\"",
        "0x",
        "@",
    ] {
        let err = e.instant_query(&storage(), q, 0).expect_err(q);
        assert_eq!(err.error_type(), "bad_data", "{q}: {err}");
    }
}

#[test]
fn too_many_samples_is_an_execution_error() {
    let e = Engine::new(EngineOptions {
        max_samples: 100,
        ..Default::default()
    });
    let err = e
        .range_query(&storage(), "m", 0, 1_500_000, 15_000)
        .expect_err("must fail");
    assert!(matches!(err, EvalError::TooManySamples(_)), "{err}");
    assert_eq!(err.error_type(), "execution");
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
}

#[test]
fn timeout_is_a_timeout_error() {
    let e = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..Default::default()
    });
    let err = e
        .range_query(&storage(), "sum(rate(m[1m]))", 0, 1_500_000, 1_000)
        .expect_err("must time out");
    assert_eq!(err.error_type(), "timeout", "{err}");
}

#[test]
fn range_limits() {
    let e = Engine::new(EngineOptions::default());
    let err = e
        .range_query(&storage(), "m", 0, 100_000_000, 1)
        .expect_err("too many points");
    assert_eq!(err.error_type(), "bad_data");
    let err = e
        .range_query(&storage(), "m[5m]", 0, 1000, 10)
        .expect_err("matrix in range query");
    assert!(
        err.to_string()
            .contains("invalid expression type \"range vector\" for range query"),
        "{err}"
    );
}

#[test]
fn lookback_delta_is_configurable() {
    let st = storage();
    let short = Engine::new(EngineOptions {
        lookback_delta: 1_000,
        ..Default::default()
    });
    let r = short
        .instant_query(&st, "m", 100 * 15_000 + 5_000)
        .expect("query");
    assert!(matches!(r.value, pharos_promql::Value::Vector(v) if v.is_empty()));
    let long = Engine::new(EngineOptions::default());
    let r = long
        .instant_query(&st, "m", 100 * 15_000 + 5_000)
        .expect("query");
    assert!(matches!(r.value, pharos_promql::Value::Vector(v) if v.len() == 50));
}

#[test]
fn hostile_inputs_do_not_panic() {
    let e = Engine::new(EngineOptions::default());
    let st = storage();
    let inputs = [
        "m[0s]",
        "m[1y:0s]",
        "m @ 1e400",
        "histogram_quantile(NaN, m)",
        "topk(1e300, m)",
        "topk(-1, m)",
        "quantile(2, m)",
        "label_replace(m, \"a\", \"$99\", \"i\", \"(\")",
        "round(m, 0)",
        "m % 0",
        "count_values(\"\", m)",
        "m offset -1y",
        "(((((((((((m)))))))))))",
        "sum without () (m) / on() group_left sum(m)",
        "absent(nonexistent{a=\"b\", a=\"c\"})",
        "predict_linear(m[1m], 1e308)",
        "clamp(m, NaN, 1)",
        "m[5m:10s]",
    ];
    for q in inputs {
        let _ = e.instant_query(&st, q, 1_500_000);
    }
}
