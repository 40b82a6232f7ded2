//! Building whole [`MetricFamily`] values from parsed entries: the grouping of `_bucket`,
//! `_sum`, `_count`, `_created` lines into one metric per label set.

use std::collections::HashMap;

use super::text::{Entry, Series, TextFlavor, TextParser};
use super::ParseError;
use crate::family::{Metric, MetricFamily, MetricType, MetricValue};
use crate::negotiate::ExpositionFormat;

/// Parses a whole exposition body into metric families, choosing the format from the response's
/// `Content-Type` (an unknown or missing type means the text format, as in Prometheus).
///
/// Exemplars are dropped: the family model has no place for them; use the streaming parsers
/// when they matter. Lines of a family that reappear after another family's are merged into
/// it, and a repeated label set updates the earlier metric. Errors found while grouping lines
/// (a bucket without `le`, a `TYPE` after samples) point at the line, column 1.
pub fn parse_families(body: &[u8], content_type: &str) -> Result<Vec<MetricFamily>, ParseError> {
    let format = ExpositionFormat::from_content_type(content_type)
        .unwrap_or(ExpositionFormat::PrometheusText);
    match format {
        ExpositionFormat::ProtobufDelimited => crate::protobuf::decode_families(body),
        ExpositionFormat::PrometheusText => parse_text_families(body, TextFlavor::Prometheus),
        ExpositionFormat::OpenMetrics0_0_1 | ExpositionFormat::OpenMetrics1_0_0 => {
            parse_text_families(body, TextFlavor::OpenMetrics)
        }
    }
}

fn parse_text_families(body: &[u8], flavor: TextFlavor) -> Result<Vec<MetricFamily>, ParseError> {
    let mut parser = TextParser::new(body, flavor);
    let mut builder = FamilyBuilder {
        flavor,
        families: Vec::new(),
        by_base: HashMap::new(),
        current: None,
    };
    while let Some(entry) = parser.next_entry() {
        let added = builder.add(entry?);
        added.map_err(|message| ParseError::Text {
            line: parser.line(),
            column: 1,
            message,
        })?;
    }
    Ok(builder
        .families
        .into_iter()
        .map(|open| open.family)
        .collect())
}

/// The family being filled, with its metrics indexed by label set so that the lines of one
/// histogram or summary end up in one [`Metric`].
struct OpenFamily {
    /// The name the metadata used (for OpenMetrics counters, without `_total`).
    base: String,
    family: MetricFamily,
    index: HashMap<Vec<(String, String)>, usize>,
    /// The metric the previous line of this family went to.
    last: Option<usize>,
}

/// Families in order of first appearance. Lines of a family that reappear after another
/// family's go back into the first one, as Go's text parser does.
struct FamilyBuilder {
    flavor: TextFlavor,
    families: Vec<OpenFamily>,
    by_base: HashMap<String, usize>,
    current: Option<usize>,
}

/// What a sample line contributes to its metric.
enum Part {
    Value,
    Created,
    Sum,
    Count,
    Bucket,
    Quantile,
}

impl FamilyBuilder {
    /// The family whose metadata name is `name`, created (untyped, no help) if new, and made
    /// current.
    fn open(&mut self, name: &str) -> &mut OpenFamily {
        let index = match self.by_base.get(name) {
            Some(&i) => i,
            None => {
                self.families.push(OpenFamily {
                    base: name.to_string(),
                    family: MetricFamily::new(name, "", MetricType::Untyped),
                    index: HashMap::new(),
                    last: None,
                });
                let i = self.families.len() - 1;
                self.by_base.insert(name.to_string(), i);
                i
            }
        };
        self.current = Some(index);
        &mut self.families[index]
    }

    fn current(&self) -> Option<&OpenFamily> {
        self.current.and_then(|i| self.families.get(i))
    }

    fn add(&mut self, entry: Entry<'_>) -> Result<(), String> {
        match entry {
            Entry::Help { name, help } => self.open(&name).family.help = help.into_owned(),
            Entry::Unit { name, unit } => self.open(&name).family.unit = Some(unit.to_string()),
            Entry::Type { name, metric_type } => {
                let flavor = self.flavor;
                let open = self.open(&name);
                if !open.family.metrics.is_empty() {
                    return Err(format!("TYPE for '{name}' after its samples"));
                }
                open.family.metric_type = metric_type;
                // The model names a family after the series a classic exposition would show,
                // so counters and info metrics parsed from OpenMetrics get their suffix back.
                if flavor == TextFlavor::OpenMetrics {
                    match metric_type {
                        MetricType::Counter => open.family.name = format!("{}_total", open.base),
                        MetricType::Info => open.family.name = format!("{}_info", open.base),
                        _ => open.family.name.clone_from(&open.base),
                    }
                }
            }
            Entry::Comment(_) | Entry::Eof => {}
            Entry::Series(series) => self.add_series(series)?,
        }
        Ok(())
    }

    fn add_series(&mut self, series: Series<'_>) -> Result<(), String> {
        let part = self
            .current()
            .and_then(|open| classify(self.flavor, open, &series.name));
        let part = match part {
            Some(part) => part,
            None => {
                // A sample that belongs to no declared family joins the family of that exact
                // name if there is one, or starts an untyped family of its own.
                let flavor = self.flavor;
                let open = self.open(&series.name);
                classify(flavor, open, &series.name).unwrap_or(Part::Value)
            }
        };
        let Some(open) = self.current.and_then(|i| self.families.get_mut(i)) else {
            return Err("internal: no open family".into());
        };
        let special = match part {
            Part::Bucket => Some("le"),
            Part::Quantile => Some("quantile"),
            _ => None,
        };
        let mut bound = None;
        for (n, v) in series.labels {
            if Some(n.as_ref()) == special {
                let parsed = v
                    .parse::<f64>()
                    .map_err(|_| format!("invalid {n} label value {:?}", v.as_ref()))?;
                bound = Some(parsed);
            }
        }
        if let (Some(label), None) = (special, bound) {
            return Err(format!(
                "sample '{}' lacks the '{label}' label",
                series.name
            ));
        }
        let plain = || {
            series
                .labels
                .iter()
                .filter(|(n, _)| Some(n.as_ref()) != special)
        };
        // The lines of one histogram or summary are consecutive in practice, so comparing with
        // the previous metric avoids building a lookup key for most lines.
        let same_as_last = open
            .last
            .and_then(|i| open.family.metrics.get(i))
            .is_some_and(|m| {
                m.labels.len() == plain().count()
                    && m.labels
                        .iter()
                        .zip(plain())
                        .all(|((a, b), (c, d))| a == c.as_ref() && b == d.as_ref())
            });
        let metric_type = open.family.metric_type;
        let slot = match open.last {
            Some(i) if same_as_last => i,
            _ => {
                let key: Vec<(String, String)> = plain()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                match open.index.get(&key) {
                    Some(&i) => i,
                    None => {
                        let value = match metric_type {
                            MetricType::Summary => MetricValue::Summary {
                                count: 0.0,
                                sum: 0.0,
                                quantiles: Vec::new(),
                            },
                            MetricType::Histogram | MetricType::GaugeHistogram => {
                                MetricValue::Histogram {
                                    count: 0.0,
                                    sum: 0.0,
                                    buckets: Vec::new(),
                                }
                            }
                            _ => MetricValue::Simple(0.0),
                        };
                        open.family.metrics.push(Metric::new(key.clone(), value));
                        let i = open.family.metrics.len() - 1;
                        open.index.insert(key, i);
                        i
                    }
                }
            }
        };
        open.last = Some(slot);
        let Some(metric) = open.family.metrics.get_mut(slot) else {
            return Err("internal: metric index out of range".into());
        };
        if series.timestamp_ms.is_some() {
            metric.timestamp_ms = series.timestamp_ms;
        }
        let v = series.value;
        match (part, &mut metric.value) {
            (Part::Created, _) => {
                let ms = (v * 1000.0).round();
                if !(-9.2e18..=9.2e18).contains(&ms) {
                    return Err(format!("invalid created timestamp {v}"));
                }
                metric.created_ms = Some(ms as i64);
            }
            (Part::Value, MetricValue::Simple(x)) => *x = v,
            (Part::Sum, MetricValue::Summary { sum, .. } | MetricValue::Histogram { sum, .. }) => {
                *sum = v
            }
            (
                Part::Count,
                MetricValue::Summary { count, .. } | MetricValue::Histogram { count, .. },
            ) => *count = v,
            (Part::Quantile, MetricValue::Summary { quantiles, .. }) => {
                quantiles.push((bound.unwrap_or(0.0), v))
            }
            (Part::Bucket, MetricValue::Histogram { buckets, .. }) => {
                buckets.push((bound.unwrap_or(0.0), v))
            }
            _ => {
                return Err(format!(
                    "sample '{}' does not fit its family's type",
                    series.name
                ))
            }
        }
        Ok(())
    }
}

/// Which part of a metric of family `open` the sample `name` is, or `None` if it belongs to
/// another family.
fn classify(flavor: TextFlavor, open: &OpenFamily, name: &str) -> Option<Part> {
    let om = flavor == TextFlavor::OpenMetrics;
    let suffix = name.strip_prefix(open.base.as_str())?;
    let part = match (open.family.metric_type, suffix) {
        (MetricType::Counter, "") if !om => Part::Value,
        (MetricType::Counter, "_total") if om => Part::Value,
        (MetricType::Info, "_info") if om => Part::Value,
        (MetricType::Counter | MetricType::Summary | MetricType::Histogram, "_created") if om => {
            Part::Created
        }
        (MetricType::Summary, "") => Part::Quantile,
        (MetricType::Summary | MetricType::Histogram, "_sum") => Part::Sum,
        (MetricType::Summary | MetricType::Histogram, "_count") => Part::Count,
        (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => Part::Bucket,
        (MetricType::GaugeHistogram, "_gsum") => Part::Sum,
        (MetricType::GaugeHistogram, "_gcount") => Part::Count,
        (MetricType::Counter | MetricType::Info, _) => return None,
        (_, "") => Part::Value,
        _ => return None,
    };
    Some(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::{write_openmetrics, write_text};

    fn sample_families() -> Vec<MetricFamily> {
        let mut counter = MetricFamily::new(
            "http_requests_total",
            "Requests.\nTwo lines \\ here.",
            MetricType::Counter,
        );
        counter.push([("code", "200"), ("path", "/a \"quoted\"")], 1027.0);
        counter.push([("code", "500"), ("path", "/b")], 3.0);
        let mut gauge = MetricFamily::new("temp_celsius", "Temperature.", MetricType::Gauge);
        gauge.push::<String, String>([], -4.5);
        gauge.push([("room", "ünïcode")], f64::INFINITY);
        let mut hist = MetricFamily::new("lat_seconds", "Latency.", MetricType::Histogram);
        hist.metrics.push(Metric::new(
            vec![("svc".into(), "api".into())],
            MetricValue::Histogram {
                count: 10.0,
                sum: 2.5,
                buckets: vec![(0.1, 2.0), (1.0, 8.0), (f64::INFINITY, 10.0)],
            },
        ));
        let mut summary = MetricFamily::new("rpc_seconds", "RPC.", MetricType::Summary);
        summary.metrics.push(Metric {
            labels: vec![],
            value: MetricValue::Summary {
                count: 5.0,
                sum: 1.25,
                quantiles: vec![(0.5, 0.2), (0.99, 0.9)],
            },
            timestamp_ms: Some(1_700_000_000_123),
            created_ms: None,
            native_histogram: None,
        });
        let untyped = MetricFamily::single("some_untyped", "U.", MetricType::Untyped, 42.0);
        vec![counter, gauge, hist, summary, untyped]
    }

    #[test]
    fn text_round_trip() {
        let families = sample_families();
        let mut text = String::new();
        write_text(&families, &mut text);
        let parsed = parse_families(text.as_bytes(), "text/plain; version=0.0.4")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, families);
    }

    #[test]
    fn openmetrics_round_trip_with_created_and_unit() {
        let mut families = sample_families();
        if let Some(m) = families.first_mut().and_then(|f| f.metrics.first_mut()) {
            m.created_ms = Some(1_600_000_000_500);
        }
        families[1].unit = Some("celsius".into());
        let mut info = MetricFamily::new("build_info", "Build.", MetricType::Info);
        info.push([("version", "1.0")], 1.0);
        families.push(info);
        let mut text = String::new();
        write_openmetrics(&families, &mut text);
        let parsed = parse_families(text.as_bytes(), crate::write::OPENMETRICS_CONTENT_TYPE)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed, families, "{text}");
    }

    #[test]
    fn untyped_samples_without_metadata_group_by_name() {
        let parsed = parse_families(b"a 1\na{x=\"y\"} 2\nb 3\n", "").unwrap_or_default();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].metrics.len(), 2);
        assert_eq!(parsed[1].name, "b");
    }

    #[test]
    fn openmetrics_only_types_exemplars_and_timestamps() {
        let body = "# TYPE q gaugehistogram\nq_bucket{le=\"1.0\"} 2\nq_bucket{le=\"+Inf\"} 3 # {id=\"x\"} 0.5 1.5\n\
                    q_gcount 3\nq_gsum 1.5\n# TYPE s stateset\ns{s=\"a\"} 1\ns{s=\"b\"} 0\n\
                    # TYPE c counter\nc_total 5 1700000000.5 # {trace=\"t\"} 1\nc_created 1600000000\n# EOF\n";
        let parsed = parse_families(body.as_bytes(), "application/openmetrics-text")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].metric_type, MetricType::GaugeHistogram);
        assert_eq!(
            parsed[0].metrics[0].value,
            MetricValue::Histogram {
                count: 3.0,
                sum: 1.5,
                buckets: vec![(1.0, 2.0), (f64::INFINITY, 3.0)]
            }
        );
        assert_eq!(parsed[1].metric_type, MetricType::StateSet);
        assert_eq!(parsed[1].metrics.len(), 2);
        assert_eq!(parsed[2].name, "c_total");
        assert_eq!(parsed[2].metrics[0].value, MetricValue::Simple(5.0));
        assert_eq!(parsed[2].metrics[0].timestamp_ms, Some(1_700_000_000_500));
        assert_eq!(parsed[2].metrics[0].created_ms, Some(1_600_000_000_000));
    }

    #[test]
    fn protobuf_content_type_selects_the_decoder() {
        let mut body = Vec::new();
        crate::protobuf::encode_families(&sample_families(), &mut body);
        let ct = ExpositionFormat::ProtobufDelimited.content_type();
        assert_eq!(parse_families(&body, ct), Ok(sample_families()));
        // The same bytes read as text fail with a position instead of panicking.
        assert!(matches!(
            parse_families(&body, "text/plain"),
            Err(ParseError::Text { line: 1, .. })
        ));
    }

    #[test]
    fn interleaved_families_are_merged() {
        let body = b"# TYPE a counter\na{x=\"1\"} 1\nb 2\na{x=\"2\"} 3\n";
        let parsed = parse_families(body, "text/plain").unwrap_or_default();
        let names: Vec<_> = parsed
            .iter()
            .map(|f| (f.name.as_str(), f.metrics.len(), f.metric_type))
            .collect();
        assert_eq!(
            names,
            [("a", 2, MetricType::Counter), ("b", 1, MetricType::Untyped)]
        );
    }

    #[test]
    fn grouping_errors_carry_the_line() {
        let err = parse_families(b"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", "text/plain").err();
        assert_eq!(
            err,
            Some(ParseError::Text {
                line: 2,
                column: 1,
                message: "invalid le label value \"x\"".into()
            })
        );
        let err = parse_families(b"# TYPE h histogram\nh_bucket 1\n", "text/plain").err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("line 2, column 1: sample 'h_bucket' lacks the 'le' label".into())
        );
        let err = parse_families(b"h 1\n# TYPE h gauge\n", "text/plain").err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("line 2, column 1: TYPE for 'h' after its samples".into())
        );
    }
}
