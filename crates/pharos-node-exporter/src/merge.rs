//! Putting the families of one scrape into the canonical order Go's registry produces, so the
//! output is byte-for-byte comparable with node_exporter's and stable from scrape to scrape.

use std::cmp::Ordering;

use pharos_model::{Metric, MetricFamily};

/// Merges families that share a name, sorts each metric's labels by name, sorts the metrics of
/// each family by label values, and sorts the families by name.
///
/// When two families with one name disagree on TYPE or HELP, the first one seen wins: the Go
/// registry would fail the whole scrape instead, which helps nobody reading a dashboard.
pub fn normalize(mut families: Vec<MetricFamily>) -> Vec<MetricFamily> {
    // A stable sort keeps families of one name in the order they were produced, so the first
    // one seen is the one the others merge into.
    families.sort_by(|a, b| a.name.cmp(&b.name));
    let mut merged: Vec<MetricFamily> = Vec::with_capacity(families.len());
    for family in families {
        match merged.last_mut() {
            Some(existing) if existing.name == family.name => {
                if existing.metric_type != family.metric_type {
                    tracing::debug!(
                        family = %family.name,
                        "dropping metrics whose TYPE differs from an earlier family of the same name"
                    );
                    continue;
                }
                existing.metrics.extend(family.metrics);
            }
            _ => merged.push(family),
        }
    }
    merged.retain(|f| !f.metrics.is_empty());
    for family in &mut merged {
        for metric in &mut family.metrics {
            // Go builds label pairs sorted by name; collectors may list them in any order.
            metric.labels.sort_by(|a, b| a.0.cmp(&b.0));
        }
        family.metrics.sort_by(compare_metrics);
    }
    merged
}

/// The order of Go's `metricSorter`: by label count, then label values position by position,
/// then timestamp with untimestamped metrics last.
fn compare_metrics(a: &Metric, b: &Metric) -> Ordering {
    a.labels
        .len()
        .cmp(&b.labels.len())
        .then_with(|| {
            a.labels
                .iter()
                .zip(&b.labels)
                .map(|(x, y)| x.1.cmp(&y.1))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
        .then_with(|| match (a.timestamp_ms, b.timestamp_ms) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::MetricType;

    fn names(fams: &[MetricFamily]) -> Vec<&str> {
        fams.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn merges_sorts_and_drops_empty() {
        let mut b1 = MetricFamily::new("b", "help b", MetricType::Gauge);
        b1.push([("dev", "sdb"), ("a", "x")], 2.0);
        let mut b2 = MetricFamily::new("b", "other help", MetricType::Gauge);
        b2.push([("a", "x"), ("dev", "sda")], 1.0);
        let empty = MetricFamily::new("c", "empty", MetricType::Counter);
        let a = MetricFamily::single("a", "help a", MetricType::Counter, 3.0);
        let out = normalize(vec![b1, empty, a, b2]);
        assert_eq!(names(&out), ["a", "b"]);
        let b = &out[1];
        assert_eq!(b.help, "help b");
        let devs: Vec<&str> = b.metrics.iter().map(|m| m.labels[1].1.as_str()).collect();
        assert_eq!(devs, ["sda", "sdb"]);
        assert_eq!(b.metrics[0].labels[0].0, "a", "labels sorted by name");
    }

    #[test]
    fn conflicting_type_is_dropped() {
        let g = MetricFamily::single("x", "h", MetricType::Gauge, 1.0);
        let c = MetricFamily::single("x", "h", MetricType::Counter, 2.0);
        let out = normalize(vec![g, c]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].metrics.len(), 1);
        assert_eq!(out[0].metric_type, MetricType::Gauge);
    }
}
