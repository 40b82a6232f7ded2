//! Template expansion speed: the per-alert annotation work a rule evaluation does, and a
//! notification-style template ranging over many alerts.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, Criterion};
use pharos_template::{expand_alert_text, AlertTemplate, Env, Template, Value};

const ANNOTATION: &str = "{{ $labels.instance }} of job {{ $labels.job }} has been down: value {{ $value | humanize }} ({{ printf \"%.2f\" $value }}), see {{ $externalURL }}";

fn alert_annotation(c: &mut Criterion) {
    let labels: BTreeMap<String, String> = [
        ("instance", "node-17.example.com:9100"),
        ("job", "node"),
        ("severity", "page"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let external = BTreeMap::new();
    let env = Env::default();
    c.bench_function("expand_alert_text (parse + execute)", |b| {
        b.iter(|| {
            expand_alert_text(
                "__alert_Down",
                ANNOTATION,
                &labels,
                &external,
                "http://prom:9090",
                1234.5,
                &env,
            )
        })
    });
    if let Ok(t) = AlertTemplate::parse("__alert_Down", ANNOTATION) {
        c.bench_function("AlertTemplate::expand (parsed once)", |b| {
            b.iter(|| t.expand(&labels, &external, "http://prom:9090", 1234.5, &env))
        });
    }
}

fn notification(c: &mut Criterion) {
    let alerts: Vec<Value> = (0..1000)
        .map(|i| {
            Value::map([
                ("Status", Value::from("firing")),
                (
                    "Labels",
                    Value::map([
                        ("alertname", Value::from("HighLoad")),
                        ("instance", Value::from(format!("node-{i}:9100"))),
                    ]),
                ),
                ("Value", Value::Float(f64::from(i) * 1.5)),
            ])
        })
        .collect();
    let data = Value::map([("Alerts", Value::List(alerts))]);
    let text = "{{ range $i, $a := .Alerts }}{{ if lt $i 1000 }}* {{ $a.Labels.alertname }} on {{ $a.Labels.instance }}: {{ humanize $a.Value }}\n{{ end }}{{ end }}";
    if let Ok(t) = Template::parse("notification", text) {
        let env = Env::default();
        c.bench_function("range over 1000 alerts", |b| {
            b.iter(|| t.execute(&data, &env))
        });
    }
}

criterion_group!(benches, alert_annotation, notification);
criterion_main!(benches);
