//! The PromQL syntax tree as `/api/v1/parse_query` returns it: the JSON shape Prometheus 3's
//! web UI draws its tree view from (keys in sorted order, as Go writes maps).

use pharos_model::{MatchOp, Matcher};
use pharos_promql::parser::{AtModifier, Cardinality, Expr, VectorSelector};
use serde_json::{json, Map, Value as Json};

fn object(pairs: Vec<(&str, Json)>) -> Json {
    let mut pairs = pairs;
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Json::Object(m)
}

fn match_op(op: MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Regex => "=~",
        MatchOp::NotRegex => "!~",
    }
}

/// Matchers in Prometheus's order: as written, with the metric name's matcher last.
fn matchers(vs: &VectorSelector) -> Json {
    let is_name = |m: &Matcher| {
        m.name == "__name__" && m.op == MatchOp::Equal && Some(&m.value) == vs.name.as_ref()
    };
    let name_at = vs.matchers.iter().position(is_name);
    let ordered = vs
        .matchers
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != name_at)
        .map(|(_, m)| m)
        .chain(name_at.and_then(|i| vs.matchers.get(i)));
    Json::Array(
        ordered
            .map(|m| {
                object(vec![
                    ("name", json!(m.name)),
                    ("type", json!(match_op(m.op))),
                    ("value", json!(m.value)),
                ])
            })
            .collect(),
    )
}

fn at_fields(at: Option<AtModifier>) -> (Json, Json) {
    match at {
        None => (Json::Null, Json::Null),
        Some(AtModifier::At(t)) => (json!(t), Json::Null),
        Some(AtModifier::Start) => (Json::Null, json!("start")),
        Some(AtModifier::End) => (Json::Null, json!("end")),
    }
}

fn number_text(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

fn card(c: Cardinality) -> &'static str {
    match c {
        Cardinality::OneToOne => "one-to-one",
        Cardinality::ManyToOne => "many-to-one",
        Cardinality::OneToMany => "one-to-many",
        Cardinality::ManyToMany => "many-to-many",
    }
}

/// The matchers of every vector and range selector in `e`, in query order.
pub fn selectors(e: &Expr) -> Vec<Vec<Matcher>> {
    let mut out = Vec::new();
    collect_selectors(e, &mut out);
    out
}

fn collect_selectors(e: &Expr, out: &mut Vec<Vec<Matcher>>) {
    match e {
        Expr::Number(..) | Expr::Str(..) => {}
        Expr::Paren(inner, _) | Expr::Neg(inner, _) => collect_selectors(inner, out),
        Expr::Binary { lhs, rhs, .. } => {
            collect_selectors(lhs, out);
            collect_selectors(rhs, out);
        }
        Expr::Aggregate { expr, param, .. } => {
            if let Some(p) = param {
                collect_selectors(p, out);
            }
            collect_selectors(expr, out);
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| collect_selectors(a, out)),
        Expr::Vector(vs) => out.push(vs.matchers.clone()),
        Expr::Matrix(ms) => out.push(ms.vs.matchers.clone()),
        Expr::Subquery(sq) => collect_selectors(&sq.expr, out),
    }
}

/// Translates `e` into the tree view's JSON.
pub fn ast_json(e: &Expr) -> Json {
    // The recursion happens here, in a small stack frame; the bulky object building happens in
    // `node_json`, which returns before the next level starts. Trees are up to
    // `pharos_promql::parser::MAX_NESTING` deep and must fit a 2 MiB worker stack.
    match e {
        Expr::Paren(inner, _) | Expr::Neg(inner, _) => node_json(e, vec![ast_json(inner)]),
        Expr::Binary { lhs, rhs, .. } => {
            let lhs = ast_json(lhs);
            let rhs = ast_json(rhs);
            node_json(e, vec![lhs, rhs])
        }
        Expr::Aggregate { expr, param, .. } => {
            let expr = ast_json(expr);
            let param = param.as_ref().map_or(Json::Null, |p| ast_json(p));
            node_json(e, vec![expr, param])
        }
        Expr::Call { args, .. } => node_json(e, args.iter().map(ast_json).collect()),
        Expr::Subquery(sq) => node_json(e, vec![ast_json(&sq.expr)]),
        Expr::Number(..) | Expr::Str(..) | Expr::Vector(_) | Expr::Matrix(_) => {
            node_json(e, Vec::new())
        }
    }
}

/// The JSON of `e`, given the JSON of its subexpressions in query order.
#[inline(never)]
fn node_json(e: &Expr, children: Vec<Json>) -> Json {
    let mut children = children.into_iter();
    let mut child = || children.next().unwrap_or(Json::Null);
    match e {
        Expr::Number(v, _) => object(vec![
            ("type", json!("numberLiteral")),
            ("val", json!(number_text(*v))),
        ]),
        Expr::Str(s, _) => object(vec![("type", json!("stringLiteral")), ("val", json!(s))]),
        Expr::Paren(..) => object(vec![("type", json!("parenExpr")), ("expr", child())]),
        Expr::Neg(..) => object(vec![
            ("type", json!("unaryExpr")),
            ("op", json!("-")),
            ("expr", child()),
        ]),
        Expr::Binary {
            op,
            return_bool,
            matching,
            ..
        } => {
            let matching = matching.as_ref().map_or(Json::Null, |m| {
                object(vec![
                    ("card", json!(card(m.card))),
                    ("labels", json!(m.labels)),
                    ("on", json!(m.on)),
                    ("include", json!(m.include)),
                    (
                        "fillValues",
                        object(vec![
                            ("lhs", json!(m.fill_left)),
                            ("rhs", json!(m.fill_right)),
                        ]),
                    ),
                ])
            });
            object(vec![
                ("type", json!("binaryExpr")),
                ("op", json!(op.as_str())),
                ("lhs", child()),
                ("rhs", child()),
                ("matching", matching),
                ("bool", json!(return_bool)),
            ])
        }
        Expr::Aggregate {
            op,
            grouping,
            without,
            ..
        } => object(vec![
            ("type", json!("aggregation")),
            ("op", json!(op.as_str())),
            ("expr", child()),
            ("param", child()),
            ("grouping", json!(grouping)),
            ("without", json!(without)),
        ]),
        Expr::Call { func, .. } => object(vec![
            ("type", json!("call")),
            (
                "func",
                object(vec![
                    ("name", json!(func.name)),
                    (
                        "argTypes",
                        Json::Array(func.args.iter().map(|t| json!(t.api_name())).collect()),
                    ),
                    ("variadic", json!(func.variadic)),
                    ("returnType", json!(func.ret.api_name())),
                ]),
            ),
            ("args", Json::Array(children.collect())),
        ]),
        Expr::Vector(vs) => {
            let (timestamp, start_or_end) = at_fields(vs.at);
            object(vec![
                ("type", json!("vectorSelector")),
                ("name", json!(vs.name.clone().unwrap_or_default())),
                ("offset", json!(vs.offset)),
                ("matchers", matchers(vs)),
                ("timestamp", timestamp),
                ("startOrEnd", start_or_end),
                ("anchored", json!(false)),
                ("smoothed", json!(vs.smoothed)),
            ])
        }
        Expr::Matrix(ms) => {
            let (timestamp, start_or_end) = at_fields(ms.vs.at);
            object(vec![
                ("type", json!("matrixSelector")),
                ("name", json!(ms.vs.name.clone().unwrap_or_default())),
                ("range", json!(ms.range)),
                ("offset", json!(ms.vs.offset)),
                ("matchers", matchers(&ms.vs)),
                ("timestamp", timestamp),
                ("startOrEnd", start_or_end),
                ("anchored", json!(ms.anchored)),
                ("smoothed", json!(ms.smoothed || ms.vs.smoothed)),
            ])
        }
        Expr::Subquery(sq) => {
            let (timestamp, start_or_end) = at_fields(sq.at);
            object(vec![
                ("type", json!("subquery")),
                ("expr", child()),
                ("range", json!(sq.range)),
                ("offset", json!(sq.offset)),
                ("step", json!(sq.step.unwrap_or(0))),
                ("timestamp", timestamp),
                ("startOrEnd", start_or_end),
                ("alignEvalTime", json!(false)),
            ])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(q: &str) -> Json {
        ast_json(&pharos_promql::parse(q, Default::default()).expect("parses"))
    }

    #[test]
    fn selectors_list_the_name_matcher_last() {
        let j = tree("foo{a=\"b\"} offset 5m");
        assert_eq!(
            j.to_string(),
            r#"{"anchored":false,"matchers":[{"name":"a","type":"=","value":"b"},{"name":"__name__","type":"=","value":"foo"}],"name":"foo","offset":300000,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"}"#
        );
    }

    #[test]
    fn operators_calls_and_aggregations() {
        let j = tree("sum by (job) (rate(x[5m])) / on(job) group_left count(y) > bool 1");
        assert_eq!(j["type"], "binaryExpr");
        assert_eq!(j["op"], ">");
        assert_eq!(j["bool"], true);
        assert_eq!(j["matching"], Json::Null);
        let div = &j["lhs"];
        assert_eq!(div["op"], "/");
        assert_eq!(div["matching"]["card"], "many-to-one");
        assert_eq!(div["matching"]["labels"], json!(["job"]));
        let sum = &div["lhs"];
        assert_eq!(sum["type"], "aggregation");
        assert_eq!(sum["grouping"], json!(["job"]));
        let call = &sum["expr"];
        assert_eq!(call["func"]["name"], "rate");
        assert_eq!(call["func"]["argTypes"], json!(["matrix"]));
        assert_eq!(call["func"]["returnType"], "vector");
        assert_eq!(call["args"][0]["type"], "matrixSelector");
        assert_eq!(call["args"][0]["range"], 300000);
        assert_eq!(j["rhs"]["val"], "1");
    }

    #[test]
    fn subqueries_and_at_modifiers() {
        let j = tree("max_over_time((-x)[10m:1m] @ start())");
        let sq = &j["args"][0];
        assert_eq!(sq["type"], "subquery");
        assert_eq!(sq["step"], 60000);
        assert_eq!(sq["startOrEnd"], "start");
        assert_eq!(sq["expr"]["expr"]["type"], "unaryExpr");
        let j = tree("x @ 100");
        assert_eq!(j["timestamp"], 100000);
    }

    #[test]
    fn deepest_accepted_queries_fit_a_small_stack() {
        let depth = pharos_promql::parser::MAX_NESTING - 1;
        let queries = [
            format!("{}x{}", "(".repeat(depth), ")".repeat(depth)),
            format!("{}x{}", "sum by (a) (".repeat(depth), ")".repeat(depth)),
            format!("{}x{}", "abs(".repeat(depth), ")".repeat(depth)),
            vec!["x"; depth + 1].join(" + on(a) group_left "),
        ];
        // The size of a tokio worker's stack, where `/api/v1/parse_query` builds the tree.
        let worker = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                for q in &queries {
                    let j = tree(q);
                    let selectors =
                        selectors(&pharos_promql::parse(q, Default::default()).expect("parses"));
                    assert_eq!(selectors.len(), q.matches('x').count());
                    assert!(j.to_string().len() > q.len());
                }
            })
            .expect("spawn test thread");
        assert!(worker.join().is_ok());
    }
}
