//! Moving data in and out: OpenMetrics text to blocks (like `promtool tsdb create-blocks-from
//! openmetrics`) and a database dump as OpenMetrics text.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use pharos_model::labels::escape_label_value;
use pharos_model::parse::{Entry, TextFlavor, TextParser};
use pharos_model::write::format_openmetrics_float;
use pharos_model::{is_stale_nan, Labels, LabelsBuilder, Matcher, METRIC_NAME};

use crate::block::{self, BlockCompaction, BlockError, BlockMeta};
use crate::chunk::Value;
use crate::querier::{Queryable, StorageError, ValueKind};

/// Import or export failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input is not valid OpenMetrics.
    #[error("invalid OpenMetrics input: {0}")]
    Syntax(#[from] pharos_model::ParseError),
    /// The input parsed but cannot be imported.
    #[error("input line {line}: {reason}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// Writing a block failed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// Reading the database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Writing the output failed.
    #[error("write output: {0}")]
    Io(#[from] std::io::Error),
}

/// Parses OpenMetrics text (every sample must carry a timestamp) and writes one block per
/// `block_range`-aligned window into `out_dir`.
pub fn create_blocks_from_openmetrics(
    input: &[u8],
    out_dir: &Path,
    block_range: i64,
) -> Result<Vec<BlockMeta>, ImportError> {
    if block_range <= 0 {
        return Err(ImportError::Parse {
            line: 0,
            reason: "block range must be positive".into(),
        });
    }
    std::fs::create_dir_all(out_dir)?;
    let mut windows: BTreeMap<i64, HashMap<Labels, Vec<(i64, f64)>>> = BTreeMap::new();
    let mut parser = TextParser::new(input, TextFlavor::OpenMetrics);
    // Label sets repeat on every line of a series; building them once per distinct line text
    // keeps import from allocating per sample.
    let mut seen: HashMap<String, Labels> = HashMap::new();
    let mut key = String::new();
    loop {
        let parsed = match parser.next_entry() {
            None => break,
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Entry::Series(s))) => {
                key.clear();
                key.push_str(&s.name);
                for (n, v) in s.labels {
                    key.push('\u{0}');
                    key.push_str(n);
                    key.push('\u{0}');
                    key.push_str(v);
                }
                let labels = match seen.get(&key) {
                    Some(l) => l.clone(),
                    None => {
                        let mut b = LabelsBuilder::new();
                        for (n, v) in s.labels {
                            b.set(&**n, &**v);
                        }
                        b.set(METRIC_NAME, &*s.name);
                        let l = b.build();
                        seen.insert(key.clone(), l.clone());
                        l
                    }
                };
                Some((labels, s.timestamp_ms, s.value))
            }
            Some(Ok(_)) => None,
        };
        let Some((labels, t, v)) = parsed else {
            continue;
        };
        let t = t.ok_or_else(|| ImportError::Parse {
            line: parser.line(),
            reason: "sample has no timestamp".into(),
        })?;
        windows
            .entry(t.div_euclid(block_range))
            .or_default()
            .entry(labels)
            .or_default()
            .push((t, v));
    }
    let mut metas = Vec::new();
    for (w, series) in windows {
        let mut series: Vec<(Labels, Vec<(i64, f64)>)> = series.into_iter().collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let data = series.into_iter().map(|(l, mut s)| {
            s.sort_by_key(|(t, _)| *t);
            s.dedup_by_key(|(t, _)| *t);
            (
                l,
                s.into_iter()
                    .map(|(t, v)| (t, Value::Float(v)))
                    .collect::<Vec<_>>(),
            )
        });
        let start = w * block_range;
        let compaction = BlockCompaction {
            level: 1,
            ..Default::default()
        };
        if let Some(m) = block::write_block(out_dir, data, start, start + block_range, compaction)?
        {
            metas.push(m);
        }
    }
    Ok(metas)
}

/// What [`dump_openmetrics`] wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DumpStats {
    /// Float samples written.
    pub samples: u64,
    /// Series written.
    pub series: u64,
    /// Native histogram samples skipped (OpenMetrics 1.0 text cannot carry them).
    pub skipped_histograms: u64,
    /// Stale markers skipped (they are not data).
    pub skipped_stale: u64,
}

/// Writes every float sample of series matching `matchers` within `[mint, maxt]` as
/// OpenMetrics text, ending with `# EOF`.
pub fn dump_openmetrics(
    q: &dyn Queryable,
    matchers: &[Matcher],
    mint: i64,
    maxt: i64,
    out: &mut dyn Write,
) -> Result<DumpStats, ImportError> {
    let querier = q.querier(mint, maxt)?;
    let set = querier.select(None, matchers)?;
    let mut st = DumpStats::default();
    let mut line = String::new();
    for s in &set {
        st.series += 1;
        let mut prefix = String::new();
        prefix.push_str(s.labels().metric_name().unwrap_or(""));
        let rest: Vec<String> = s
            .labels()
            .iter()
            .filter(|l| &*l.name != METRIC_NAME)
            .map(|l| format!("{}=\"{}\"", l.name, escape_label_value(&l.value)))
            .collect();
        if !rest.is_empty() {
            prefix.push('{');
            prefix.push_str(&rest.join(","));
            prefix.push('}');
        }
        let mut it = s.iter();
        loop {
            match it.next() {
                ValueKind::None => break,
                ValueKind::Histogram => st.skipped_histograms += 1,
                ValueKind::Float => {
                    let (t, v) = it.at();
                    if is_stale_nan(v) {
                        st.skipped_stale += 1;
                        continue;
                    }
                    line.clear();
                    line.push_str(&prefix);
                    line.push(' ');
                    format_openmetrics_float(v, &mut line);
                    line.push(' ');
                    line.push_str(&format_seconds(t));
                    line.push('\n');
                    out.write_all(line.as_bytes())?;
                    st.samples += 1;
                }
            }
        }
    }
    out.write_all(b"# EOF\n")?;
    Ok(st)
}

/// Milliseconds as exact decimal seconds (`1.5`, `-0.001`, `12`).
fn format_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    let (s, frac) = (a / 1000, a % 1000);
    if frac == 0 {
        format!("{sign}{s}")
    } else {
        let f = format!("{frac:03}");
        format!("{sign}{s}.{}", f.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemStorage;

    #[test]
    fn seconds_formatting() {
        assert_eq!(format_seconds(1500), "1.5");
        assert_eq!(format_seconds(-1), "-0.001");
        assert_eq!(format_seconds(12_000), "12");
    }

    #[test]
    fn import_then_dump_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let input = b"# TYPE a counter\na_total{x=\"1\"} 1 0.001\na_total{x=\"1\"} 2 7200\nb 3.5 7201.5\n# EOF\n";
        let metas = create_blocks_from_openmetrics(input, d.path(), 7_200_000).unwrap();
        assert_eq!(metas.len(), 2);
        let st = MemStorage::new();
        for m in &metas {
            let b = block::Block::open(&d.path().join(&m.ulid)).unwrap();
            for id in 0..b.num_series() as u32 {
                let l = b.series(id).unwrap().labels.clone();
                for (t, v) in b.samples(id, i64::MIN, i64::MAX).unwrap() {
                    if let Value::Float(f) = v {
                        st.append(&l, t, f);
                    }
                }
            }
        }
        let mut out = Vec::new();
        let m = Matcher::new(pharos_model::MatchOp::Regex, "__name__", ".+").unwrap();
        dump_openmetrics(&st, &[m], i64::MIN, i64::MAX, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "a_total{x=\"1\"} 1.0 0.001\na_total{x=\"1\"} 2.0 7200\nb 3.5 7201.5\n# EOF\n"
        );
    }

    #[test]
    fn sample_without_timestamp_is_rejected_with_line() {
        let d = tempfile::tempdir().unwrap();
        let err = create_blocks_from_openmetrics(b"a 1\n# EOF\n", d.path(), 1000).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
