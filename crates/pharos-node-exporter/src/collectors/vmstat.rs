//! The `vmstat` collector: selected fields of `/proc/vmstat` as `node_vmstat_<field>`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};
use regex::Regex;

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// node_exporter's default `--collector.vmstat.fields`.
const DEFAULT_FIELDS: &str = r"^(oom_kill|pgpg|pswp|pg.*fault).*";

struct VmstatCollector {
    /// The compiled field filter, or the reason the flag's regex was rejected.
    fields: Result<Regex, String>,
}

impl Collector for VmstatCollector {
    fn name(&self) -> &'static str {
        "vmstat"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let fields = self.fields.as_ref().map_err(|reason| CollectError::Parse {
            path: "--collector.vmstat.fields".into(),
            reason: reason.clone(),
        })?;
        let path = paths.proc("vmstat");
        let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
            path: path.clone(),
            source,
        })?;
        parse_vmstat(&text, &path, fields, out)
    }
}

/// Builds the collector, compiling the field filter once.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    let pattern = opts.vmstat_fields.as_deref().unwrap_or(DEFAULT_FIELDS);
    let fields = Regex::new(pattern).map_err(|e| format!("invalid regex {pattern:?}: {e}"));
    Box::new(VmstatCollector { fields })
}

fn parse_vmstat(
    text: &str,
    path: &Path,
    fields: &Regex,
    out: &mut Vec<MetricFamily>,
) -> Result<(), CollectError> {
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(name), Some(raw)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !fields.is_match(name) {
            continue;
        }
        let value: f64 = raw.parse().map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("field {name:?}: {raw:?} is not a number"),
        })?;
        out.push(MetricFamily::single(
            format!("node_vmstat_{name}"),
            format!("/proc/vmstat information field {name}."),
            MetricType::Untyped,
            value,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_selects_node_exporter_fields() {
        let text = "nr_free_pages 100\npgpgin 5\npgfault 7\npgmajfault 1\npswpin 0\noom_kill 2\npgsteal_kswapd 3\n";
        let mut out = Vec::new();
        parse_vmstat(
            text,
            Path::new("vmstat"),
            &Regex::new(DEFAULT_FIELDS).unwrap(),
            &mut out,
        )
        .unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_vmstat_pgpgin",
                "node_vmstat_pgfault",
                "node_vmstat_pgmajfault",
                "node_vmstat_pswpin",
                "node_vmstat_oom_kill"
            ]
        );
        assert_eq!(out[0].help, "/proc/vmstat information field pgpgin.");
    }

    #[test]
    fn bad_flag_regex_is_reported() {
        let c = build(&CollectorOptions {
            vmstat_fields: Some("(".into()),
            ..Default::default()
        });
        assert!(c.collect(&HostPaths::default(), &mut Vec::new()).is_err());
    }

    #[test]
    fn bad_value_is_parse_error() {
        let re = Regex::new(DEFAULT_FIELDS).unwrap();
        assert!(parse_vmstat("pgfault lots\n", Path::new("v"), &re, &mut Vec::new()).is_err());
    }
}
