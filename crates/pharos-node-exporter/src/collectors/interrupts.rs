//! The `interrupts` collector: per-CPU interrupt counts from `/proc/interrupts`.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct InterruptsCollector;

impl Collector for InterruptsCollector {
    fn name(&self) -> &'static str {
        "interrupts"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = paths.proc("interrupts");
        let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
            path: path.clone(),
            source,
        })?;
        let mut family = MetricFamily::new(
            "node_interrupts_total",
            "Interrupt details.",
            MetricType::Counter,
        );
        parse_interrupts(&text, &path, &mut family)?;
        out.push(family);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(InterruptsCollector)
}

/// The header names one column per CPU. Numbered IRQs put the controller in `info` and the
/// rest of the line in `devices`; named ones (`LOC`, `NMI`) put their description in `info`.
/// Rows without a count for every CPU and a name (`ERR`, `MIS`) are skipped, as node_exporter
/// does.
fn parse_interrupts(
    text: &str,
    path: &Path,
    family: &mut MetricFamily,
) -> Result<(), CollectError> {
    let mut lines = text.lines();
    let cpus: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_ascii_whitespace()
        .map(|c| c.strip_prefix("CPU").unwrap_or(c).to_string())
        .collect();
    if cpus.is_empty() {
        return Err(CollectError::Parse {
            path: path.to_path_buf(),
            reason: "no CPU header".into(),
        });
    }
    for line in lines {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if parts.len() < cpus.len() + 2 {
            continue;
        }
        let Some(irq) = parts.first().map(|p| p.trim_end_matches(':')) else {
            continue;
        };
        let (info, devices) = if irq.bytes().all(|b| b.is_ascii_digit()) {
            (
                parts.get(cpus.len() + 1).copied().unwrap_or("").to_string(),
                parts.get(cpus.len() + 2..).unwrap_or(&[]).join(" "),
            )
        } else {
            (
                parts.get(cpus.len() + 1..).unwrap_or(&[]).join(" "),
                String::new(),
            )
        };
        for (cpu, raw) in cpus.iter().zip(parts.iter().skip(1)) {
            let value: f64 = raw.parse().map_err(|_| CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("interrupt {irq}: {raw:?} is not a number"),
            })?;
            family.push(
                [
                    ("cpu", cpu.as_str()),
                    ("devices", devices.as_str()),
                    ("info", info.as_str()),
                    ("type", irq),
                ],
                value,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_and_named_interrupts() {
        let text = "           CPU0       CPU1       \n \
28:          0          5 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config\n\
LOC:      21872      23297   Local timer interrupts\n\
ERR:          0\n";
        let mut family = MetricFamily::new("x", "y", MetricType::Counter);
        parse_interrupts(text, Path::new("interrupts"), &mut family).unwrap();
        assert_eq!(family.metrics.len(), 4);
        let labels = &family.metrics[1].labels;
        assert_eq!(labels[0], ("cpu".to_string(), "1".to_string()));
        assert_eq!(
            labels[1],
            ("devices".to_string(), "0-edge virtio0-config".to_string())
        );
        assert_eq!(
            labels[2],
            ("info".to_string(), "PCI-MSIX-0000:00:01.0".to_string())
        );
        assert_eq!(labels[3], ("type".to_string(), "28".to_string()));
        assert_eq!(
            family.metrics[2].labels[2],
            ("info".to_string(), "Local timer interrupts".to_string())
        );
        assert_eq!(family.metrics[2].labels[1].1, "");
    }

    #[test]
    fn rejects_garbled_counts() {
        let mut family = MetricFamily::new("x", "y", MetricType::Counter);
        assert!(parse_interrupts("CPU0\n 1: x edge dev\n", Path::new("i"), &mut family).is_err());
        assert!(parse_interrupts("", Path::new("i"), &mut family).is_err());
    }
}
