//! The decoded form shared by remote write 1.0 and 2.0: series with their labels resolved.

use pharos_model::{FloatHistogram, Label, Labels};
use pharos_tsdb::exemplar::{Exemplar, Metadata};

use crate::symbol_interner::SymbolInterner;

/// One series of a request and everything sent for it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesWrite {
    /// The series' labels; invalid sets are kept so that ingest can count and report them.
    pub labels: Result<Labels, String>,
    /// Float samples as (milliseconds, value).
    pub samples: Vec<(i64, f64)>,
    /// Native histogram samples as (milliseconds, histogram).
    pub histograms: Vec<(i64, FloatHistogram)>,
    /// Exemplars attached to the series.
    pub exemplars: Vec<Exemplar>,
    /// Metadata sent with the series (2.0) or matched by metric name (1.0).
    pub metadata: Option<Metadata>,
    /// Created timestamp in milliseconds (2.0 only; 0 when absent).
    pub created_timestamp: i64,
}

/// A decoded write request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// The series, in request order.
    pub series: Vec<SeriesWrite>,
}

/// Builds a label set from wire pairs, refusing what Prometheus refuses: a missing metric
/// name, empty or repeated label names. Labels with empty values are dropped, as everywhere
/// in Prometheus.
pub fn labels_from_pairs<'a>(
    mut pairs: Vec<(&'a str, &'a str)>,
    interner: &mut SymbolInterner<'a>,
) -> Result<Labels, String> {
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("duplicate label name {:?}", w[0].0));
    }
    if pairs.first().is_some_and(|(n, _)| n.is_empty()) {
        return Err("empty label name".into());
    }
    if !pairs.iter().any(|(n, v)| *n == "__name__" && !v.is_empty()) {
        let shown: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
        return Err(format!(
            "series without a metric name: {{{}}}",
            shown.join(", ")
        ));
    }
    let labels = pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| Label {
            name: interner.intern(n),
            value: interner.intern(v),
        })
        .collect();
    Ok(Labels::from_sorted(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(p: &[(&'static str, &'static str)]) -> Result<Labels, String> {
        labels_from_pairs(p.to_vec(), &mut SymbolInterner::default())
    }

    #[test]
    fn labels_are_sorted_and_validated() {
        let l = build(&[("job", "a"), ("__name__", "up"), ("empty", "")]);
        assert_eq!(
            l,
            Ok(Labels::from_pairs([("__name__", "up"), ("job", "a")]))
        );
        assert!(build(&[("job", "a")]).is_err());
        assert!(build(&[("__name__", "")]).is_err());
        assert!(build(&[("__name__", "x"), ("", "v")]).is_err());
        let dup = build(&[("__name__", "x"), ("a", "1"), ("a", "2")]);
        assert!(dup.is_err_and(|e| e.contains("\"a\"")));
    }
}
