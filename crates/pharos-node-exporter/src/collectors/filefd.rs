//! The `filefd` collector: allocated and maximum file handles from `/proc/sys/fs/file-nr`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct FilefdCollector;

impl Collector for FilefdCollector {
    fn name(&self) -> &'static str {
        "filefd"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("sys/fs/file-nr");
        let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
            path: path.clone(),
            source,
        })?;
        let (allocated, maximum) = parse_file_nr(&text, &path)?;
        out.push(MetricFamily::single(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            MetricType::Gauge,
            allocated,
        ));
        out.push(MetricFamily::single(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
            MetricType::Gauge,
            maximum,
        ));
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(FilefdCollector)
}

/// `file-nr` holds "allocated unused maximum"; the middle field has been 0 since Linux 2.6.
fn parse_file_nr(text: &str, path: &Path) -> Result<(f64, f64), CollectError> {
    let bad = |reason: String| CollectError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    let [allocated, _unused, maximum] = fields.as_slice() else {
        return Err(bad(format!("expected 3 fields, found {}", fields.len())));
    };
    let num = |s: &str| {
        s.parse::<f64>()
            .map_err(|_| bad(format!("{s:?} is not a number")))
    };
    Ok((num(allocated)?, num(maximum)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_nr() {
        assert_eq!(
            parse_file_nr("567\t0\t2466177\n", Path::new("f")).unwrap(),
            (567.0, 2466177.0)
        );
    }

    #[test]
    fn rejects_odd_content() {
        assert!(parse_file_nr("1 2", Path::new("f")).is_err());
        assert!(parse_file_nr("1 2 x", Path::new("f")).is_err());
    }
}
