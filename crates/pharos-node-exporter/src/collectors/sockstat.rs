//! The `sockstat` collector: socket counts and memory per protocol from `/proc/net/sockstat`
//! and `/proc/net/sockstat6`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_file;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct SockstatCollector {
    page_size: f64,
}

impl Collector for SockstatCollector {
    fn name(&self) -> &'static str {
        "sockstat"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("net/sockstat");
        let text = read_source_file(&path)?;
        parse_sockstat(&text, &path, self.page_size, out)?;
        // IPv6 may be disabled, in which case only the IPv4 file exists.
        let path6 = paths.proc("net/sockstat6");
        match std::fs::read_to_string(&path6) {
            Ok(text) => parse_sockstat(&text, &path6, self.page_size, out)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(CollectError::Io {
                    path: path6,
                    source,
                })
            }
        }
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    // SAFETY: sysconf only reads a system constant.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page_size = if page_size > 0 {
        page_size as f64
    } else {
        4096.0
    };
    Box::new(SockstatCollector { page_size })
}

/// Lines look like `TCP: inuse 2 orphan 0 tw 2 alloc 2 mem 327`; `mem` counts pages and gets
/// an extra `_mem_bytes` metric.
fn parse_sockstat(
    text: &str,
    path: &Path,
    page_size: f64,
    out: &mut Vec<MetricFamily>,
) -> Result<(), CollectError> {
    for line in text.lines() {
        let Some((protocol, rest)) = line.split_once(':') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        let pairs = fields.chunks_exact(2);
        if !pairs.remainder().is_empty() {
            return Err(CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("line {line:?} does not hold key/value pairs"),
            });
        }
        for pair in pairs {
            let [key, raw] = pair else { continue };
            let value: f64 = raw.parse().map_err(|_| CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("{protocol} {key}: {raw:?} is not a number"),
            })?;
            if protocol == "sockets" {
                if *key == "used" {
                    out.push(MetricFamily::single(
                        "node_sockstat_sockets_used",
                        "Number of IPv4 sockets in use.",
                        MetricType::Gauge,
                        value,
                    ));
                }
                continue;
            }
            out.push(MetricFamily::single(
                format!("node_sockstat_{protocol}_{key}"),
                format!("Number of {protocol} sockets in state {key}."),
                MetricType::Gauge,
                value,
            ));
            if *key == "mem" {
                out.push(MetricFamily::single(
                    format!("node_sockstat_{protocol}_mem_bytes"),
                    format!("Number of {protocol} sockets in state mem_bytes."),
                    MetricType::Gauge,
                    value * page_size,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_protocol_lines() {
        let text = "sockets: used 16\nTCP: inuse 2 orphan 0 tw 2 alloc 2 mem 327\nFRAG: inuse 0 memory 0\n";
        let mut out = Vec::new();
        parse_sockstat(text, Path::new("s"), 4096.0, &mut out).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_sockstat_sockets_used",
                "node_sockstat_TCP_inuse",
                "node_sockstat_TCP_orphan",
                "node_sockstat_TCP_tw",
                "node_sockstat_TCP_alloc",
                "node_sockstat_TCP_mem",
                "node_sockstat_TCP_mem_bytes",
                "node_sockstat_FRAG_inuse",
                "node_sockstat_FRAG_memory"
            ]
        );
        assert_eq!(
            out[6].metrics[0].value,
            pharos_model::MetricValue::Simple(327.0 * 4096.0)
        );
        assert_eq!(out[1].help, "Number of TCP sockets in state inuse.");
    }

    #[test]
    fn rejects_odd_lines() {
        assert!(parse_sockstat("TCP: inuse\n", Path::new("s"), 4096.0, &mut Vec::new()).is_err());
        assert!(parse_sockstat("TCP: inuse x\n", Path::new("s"), 4096.0, &mut Vec::new()).is_err());
    }
}
