//! The `meminfo` collector: every field of `/proc/meminfo` as `node_memory_<Field>[_bytes]`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct MeminfoCollector;

impl Collector for MeminfoCollector {
    fn name(&self) -> &'static str {
        "meminfo"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("meminfo");
        let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
            path: path.clone(),
            source,
        })?;
        for (field, value) in parse_meminfo(&text, &path)? {
            out.push(MetricFamily::single(
                format!("node_memory_{field}"),
                format!("Memory information field {field}."),
                MetricType::Gauge,
                value,
            ));
        }
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(MeminfoCollector)
}

/// Turns `Active(anon):  123 kB` into (`Active_anon_bytes`, 125952): parentheses become an
/// underscore prefix, and kB values are scaled to bytes with a `_bytes` suffix, as node_exporter
/// names them. Unit-less fields (`HugePages_Total`) keep their name and value.
fn parse_meminfo(text: &str, path: &Path) -> Result<Vec<(String, f64)>, CollectError> {
    let mut fields = Vec::with_capacity(64);
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| CollectError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let (key, rest) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("line {line:?} has no ':'")))?;
        let mut parts = rest.split_ascii_whitespace();
        let raw = parts
            .next()
            .ok_or_else(|| bad(format!("field {key:?} has no value")))?;
        let mut value: f64 = raw
            .parse()
            .map_err(|_| bad(format!("field {key:?}: {raw:?} is not a number")))?;
        let mut name = String::with_capacity(key.len() + 6);
        for c in key.chars() {
            match c {
                '(' => name.push('_'),
                ')' => {}
                c => name.push(c),
            }
        }
        match parts.next() {
            None => {}
            Some("kB") => {
                value *= 1024.0;
                name.push_str("_bytes");
            }
            Some(unit) => return Err(bad(format!("field {key:?} has unknown unit {unit:?}"))),
        }
        fields.push((name, value));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_scales_fields() {
        let text = "MemTotal:       24668984 kB\nActive(anon):      1000 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n";
        let fields = parse_meminfo(text, Path::new("meminfo")).unwrap();
        assert_eq!(
            fields,
            vec![
                ("MemTotal_bytes".to_string(), 24668984.0 * 1024.0),
                ("Active_anon_bytes".to_string(), 1024000.0),
                ("HugePages_Total".to_string(), 0.0),
                ("Hugepagesize_bytes".to_string(), 2048.0 * 1024.0),
            ]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_meminfo("MemTotal 12 kB\n", Path::new("m")).is_err());
        assert!(parse_meminfo("MemTotal: x kB\n", Path::new("m")).is_err());
        assert!(parse_meminfo("MemTotal: 1 MB\n", Path::new("m")).is_err());
    }
}
