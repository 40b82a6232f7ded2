//! Cardinality analysis of a postings index, like `promtool tsdb analyze`: which label names,
//! label pairs and metric names account for the most series.

use pharos_model::METRIC_NAME;

use crate::postings::Postings;

/// What [`analyze`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Series in the index.
    pub total_series: u64,
    /// Distinct label names.
    pub label_names: u64,
    /// Distinct (name, value) pairs.
    pub label_pairs: u64,
    /// Sum over series of their label count.
    pub label_pair_entries: u64,
    /// Label names by distinct value count, largest first.
    pub highest_cardinality_labels: Vec<(String, u64)>,
    /// Label names by total length of their distinct values, largest first (memory cost).
    pub value_bytes_by_label: Vec<(String, u64)>,
    /// Label pairs by series count, largest first.
    pub most_common_pairs: Vec<(String, u64)>,
    /// Metric names by series count, largest first.
    pub highest_cardinality_metrics: Vec<(String, u64)>,
}

fn top(mut v: Vec<(String, u64)>, limit: usize) -> Vec<(String, u64)> {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

/// Analyses `p`, keeping the `limit` largest entries of each list.
pub fn analyze(p: &Postings, limit: usize) -> Analysis {
    let mut label_names = 0u64;
    let mut label_pairs = 0u64;
    let mut entries = 0u64;
    let mut card = Vec::new();
    let mut bytes = Vec::new();
    for name in p.names() {
        label_names += 1;
        let Some(values) = p.values(name) else {
            continue;
        };
        label_pairs += values.len() as u64;
        entries += values.values().map(|ids| ids.len()).sum::<u64>();
        card.push((name.to_string(), values.len() as u64));
        bytes.push((
            name.to_string(),
            values.keys().map(|v| v.len() as u64).sum::<u64>(),
        ));
    }
    let pairs = p
        .entries()
        .map(|(n, v, ids)| (format!("{n}={v}"), ids.len()))
        .collect();
    let metrics = p
        .values(METRIC_NAME)
        .map(|vs| {
            vs.iter()
                .map(|(v, ids)| (v.to_string(), ids.len()))
                .collect()
        })
        .unwrap_or_default();
    Analysis {
        total_series: p.len(),
        label_names,
        label_pairs,
        label_pair_entries: entries,
        highest_cardinality_labels: top(card, limit),
        value_bytes_by_label: top(bytes, limit),
        most_common_pairs: top(pairs, limit),
        highest_cardinality_metrics: top(metrics, limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::Labels;

    #[test]
    fn counts_and_rankings() {
        let mut p = Postings::new();
        for i in 0..10u32 {
            let name = if i < 7 { "a_total" } else { "b" };
            p.add(
                i,
                &Labels::from_pairs([
                    ("__name__", name.to_string()),
                    ("pod", format!("pod-{i}")),
                    ("job", "x".to_string()),
                ]),
            );
        }
        let a = analyze(&p, 2);
        assert_eq!(a.total_series, 10);
        assert_eq!(a.label_names, 3);
        assert_eq!(a.label_pairs, 2 + 10 + 1);
        assert_eq!(a.label_pair_entries, 30);
        assert_eq!(
            a.highest_cardinality_labels,
            [("pod".into(), 10), ("__name__".into(), 2)]
        );
        assert_eq!(a.most_common_pairs[0], ("job=x".into(), 10));
        assert_eq!(
            a.highest_cardinality_metrics,
            [("a_total".into(), 7), ("b".into(), 3)]
        );
    }
}
