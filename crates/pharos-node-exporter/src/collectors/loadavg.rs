//! The `loadavg` collector: `node_load1`, `node_load5` and `node_load15` from `/proc/loadavg`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct LoadavgCollector;

impl Collector for LoadavgCollector {
    fn name(&self) -> &'static str {
        "loadavg"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("loadavg");
        let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
            path: path.clone(),
            source,
        })?;
        let [one, five, fifteen] = parse_loadavg(&text, &path)?;
        out.push(MetricFamily::single(
            "node_load1",
            "1m load average.",
            MetricType::Gauge,
            one,
        ));
        out.push(MetricFamily::single(
            "node_load5",
            "5m load average.",
            MetricType::Gauge,
            five,
        ));
        out.push(MetricFamily::single(
            "node_load15",
            "15m load average.",
            MetricType::Gauge,
            fifteen,
        ));
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(LoadavgCollector)
}

/// The first three fields of `/proc/loadavg`.
fn parse_loadavg(text: &str, path: &Path) -> Result<[f64; 3], CollectError> {
    let mut fields = text.split_ascii_whitespace();
    let mut loads = [0.0; 3];
    for load in &mut loads {
        let field = fields.next().ok_or_else(|| CollectError::Parse {
            path: path.to_path_buf(),
            reason: "fewer than three load averages".into(),
        })?;
        *load = field.parse().map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("load average {field:?} is not a number"),
        })?;
    }
    Ok(loads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_three_loads() {
        let loads = parse_loadavg("0.40 0.22 0.09 1/123 4567\n", Path::new("loadavg")).unwrap();
        assert_eq!(loads, [0.40, 0.22, 0.09]);
    }

    #[test]
    fn rejects_short_or_garbled_input() {
        assert!(parse_loadavg("0.1 0.2", Path::new("loadavg")).is_err());
        assert!(parse_loadavg("a b c", Path::new("loadavg")).is_err());
        assert!(parse_loadavg("", Path::new("loadavg")).is_err());
    }
}
