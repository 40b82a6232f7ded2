//! The `textfile` collector: metrics written by other programs into `*.prom` files in
//! `--collector.textfile.directory`, plus `node_textfile_mtime_seconds` and
//! `node_textfile_scrape_error`.

mod glob;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use pharos_model::{parse_families, Metric, MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct TextfileCollector {
    directory: Option<PathBuf>,
}

/// Why one file was skipped; logged with the file's name, and sets the scrape error.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("failed to read textfile: {0}")]
    Read(#[from] std::io::Error),
    #[error("failed to parse textfile data: {0}")]
    Parse(#[from] pharos_model::ParseError),
    #[error("textfile contains unsupported client-side timestamps, skipping entire file")]
    Timestamps,
}

/// Families gathered from all files, merged by name in file order.
#[derive(Default)]
struct Merged {
    families: Vec<MetricFamily>,
    by_name: HashMap<String, usize>,
    /// Label sets already exported per family, to drop duplicates across files.
    seen: Vec<HashSet<Vec<(String, String)>>>,
}

impl Merged {
    /// Adds one file's families. A family already seen with a different HELP or TYPE loses
    /// this file's metrics, and a label set seen before is dropped: node_exporter's registry
    /// rejects both, keeping what it gathered first.
    fn add(&mut self, file: &Path, families: Vec<MetricFamily>) {
        for mut family in families {
            if family.metrics.is_empty() {
                continue;
            }
            unify_labels(&mut family.metrics);
            let Some(&i) = self.by_name.get(&family.name) else {
                self.by_name
                    .insert(family.name.clone(), self.families.len());
                self.seen
                    .push(family.metrics.iter().map(|m| m.labels.clone()).collect());
                self.families.push(family);
                continue;
            };
            let (Some(existing), Some(seen)) = (self.families.get_mut(i), self.seen.get_mut(i))
            else {
                continue;
            };
            if existing.help != family.help || existing.metric_type != family.metric_type {
                tracing::error!(
                    file = %file.display(),
                    metric = %family.name,
                    "metric family has a HELP or TYPE that conflicts with an earlier file; dropping it"
                );
                continue;
            }
            for metric in family.metrics {
                if seen.insert(metric.labels.clone()) {
                    existing.metrics.push(metric);
                } else {
                    tracing::error!(
                        file = %file.display(),
                        metric = %family.name,
                        "metric was collected before with the same name and label values; dropping it"
                    );
                }
            }
        }
    }
}

/// Gives every metric of a family the same label names, missing ones as empty values, and
/// sorts them by name, as node_exporter's conversion to constant metrics does.
fn unify_labels(metrics: &mut [Metric]) {
    let mut names: Vec<String> = metrics
        .iter()
        .flat_map(|m| m.labels.iter().map(|(n, _)| n.clone()))
        .collect();
    names.sort_unstable();
    names.dedup();
    for metric in metrics {
        for name in &names {
            if !metric.labels.iter().any(|(n, _)| n == name) {
                metric.labels.push((name.clone(), String::new()));
            }
        }
        metric.labels.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

impl Collector for TextfileCollector {
    fn name(&self) -> &'static str {
        "textfile"
    }

    fn collect(&self, _paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut errored = false;
        let mut merged = Merged::default();
        let mut mtimes = MetricFamily::new(
            "node_textfile_mtime_seconds",
            "Unixtime mtime of textfiles successfully read.",
            MetricType::Gauge,
        );
        if let Some(pattern) = self
            .directory
            .as_deref()
            .filter(|d| !d.as_os_str().is_empty())
        {
            // node_exporter expands the flag as a glob, falling back to the literal path (whose
            // absence is then reported) when nothing matches.
            let mut dirs = glob::expand(&pattern.to_string_lossy());
            if dirs.is_empty() {
                dirs.push(pattern.to_path_buf());
            }
            for dir in dirs {
                errored |= self.read_directory(&dir, &mut merged, &mut mtimes);
            }
        }
        out.extend(merged.families);
        out.push(mtimes);
        out.push(MetricFamily::single(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            MetricType::Gauge,
            if errored { 1.0 } else { 0.0 },
        ));
        Ok(())
    }
}

impl TextfileCollector {
    /// Reads every `*.prom` file of `dir` into `merged`, recording their mtimes; true if the
    /// directory or any file could not be used.
    fn read_directory(&self, dir: &Path, merged: &mut Merged, mtimes: &mut MetricFamily) -> bool {
        let files = match list_prom_files(dir) {
            Ok(files) => files,
            Err(e) => {
                tracing::error!(path = %dir.display(), error = %e, "failed to read textfile collector directory");
                return true;
            }
        };
        let mut errored = false;
        for file in files {
            match read_file(&file) {
                Ok((families, mtime)) => {
                    merged.add(&file, families);
                    mtimes.push([("file", file.display().to_string())], mtime);
                }
                Err(e) => {
                    errored = true;
                    tracing::error!(file = %file.display(), error = %e, "failed to collect textfile data");
                }
            }
        }
        errored
    }
}

/// Builds the collector.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(TextfileCollector {
        directory: opts.textfile_directory.clone(),
    })
}

/// The `*.prom` entries of `dir`, sorted by name.
fn list_prom_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".prom")))
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

/// Reads a whole file into memory before parsing, so a writer replacing it mid-read yields a
/// parse error rather than a silently truncated set of metrics. The mtime is taken from the
/// same open file, and only after it parsed, so a broken file never looks fresh.
fn read_file(path: &Path) -> Result<(Vec<MetricFamily>, f64), FileError> {
    let mut file = std::fs::File::open(path)?;
    let mut body = Vec::new();
    file.read_to_end(&mut body)?;
    let mut families = parse_families(&body, "text/plain; version=0.0.4")?;
    if families
        .iter()
        .any(|f| f.metrics.iter().any(|m| m.timestamp_ms.is_some()))
    {
        return Err(FileError::Timestamps);
    }
    for family in &mut families {
        if family.help.is_empty() {
            family.help = format!("Metric read from {}", path.display());
        }
    }
    let mtime = file.metadata()?.modified()?;
    let seconds = match mtime.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as f64,
        Err(e) => -(e.duration().as_secs() as f64),
    };
    Ok((families, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::MetricValue;

    fn collect(dir: &Path) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        build(&CollectorOptions {
            textfile_directory: Some(dir.into()),
            ..Default::default()
        })
        .collect(&HostPaths::default(), &mut out)
        .unwrap();
        out
    }

    fn scrape_error(out: &[MetricFamily]) -> MetricValue {
        out.iter()
            .find(|f| f.name == "node_textfile_scrape_error")
            .unwrap()
            .metrics[0]
            .value
            .clone()
    }

    #[test]
    fn merges_files_and_reports_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.prom"),
            "# HELP job_ok Whether the job worked.\n# TYPE job_ok gauge\njob_ok{job=\"a\"} 1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.prom"),
            "# HELP job_ok Whether the job worked.\n# TYPE job_ok gauge\njob_ok{job=\"b\",extra=\"x\"} 0\nuntyped_thing 3\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "not_read 1\n").unwrap();
        let out = collect(dir.path());
        let job = out.iter().find(|f| f.name == "job_ok").unwrap();
        assert_eq!(job.metrics.len(), 2);
        assert_eq!(
            job.metrics[1].labels[0],
            ("extra".to_string(), "x".to_string())
        );
        let untyped = out.iter().find(|f| f.name == "untyped_thing").unwrap();
        assert!(untyped.help.starts_with("Metric read from ") && untyped.help.ends_with("b.prom"));
        let mtimes = out
            .iter()
            .find(|f| f.name == "node_textfile_mtime_seconds")
            .unwrap();
        assert_eq!(mtimes.metrics.len(), 2);
        assert!(mtimes.metrics[0].labels[0].1.ends_with("a.prom"));
        assert_eq!(scrape_error(&out), MetricValue::Simple(0.0));
        assert!(out.iter().all(|f| f.name != "not_read"));
    }

    #[test]
    fn bad_files_are_rejected_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.prom"), "good 1\n").unwrap();
        std::fs::write(dir.path().join("broken.prom"), "half_written{a=\"b\n").unwrap();
        std::fs::write(dir.path().join("stamped.prom"), "stamped 1 1700000000000\n").unwrap();
        let out = collect(dir.path());
        assert_eq!(scrape_error(&out), MetricValue::Simple(1.0));
        assert!(out.iter().any(|f| f.name == "good"));
        assert!(out
            .iter()
            .all(|f| f.name != "half_written" && f.name != "stamped"));
        let mtimes = out
            .iter()
            .find(|f| f.name == "node_textfile_mtime_seconds")
            .unwrap();
        assert_eq!(mtimes.metrics.len(), 1);
    }

    #[test]
    fn conflicting_help_or_type_keeps_the_first_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("1.prom"),
            "# HELP m First.\n# TYPE m gauge\nm{f=\"1\"} 1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("2.prom"),
            "# HELP m Second.\n# TYPE m gauge\nm{f=\"2\"} 2\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("3.prom"),
            "# HELP m First.\n# TYPE m counter\nm{f=\"3\"} 3\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("4.prom"),
            "# HELP m First.\n# TYPE m gauge\nm{f=\"1\"} 4\nm{f=\"4\"} 4\n",
        )
        .unwrap();
        let out = collect(dir.path());
        let m = out.iter().find(|f| f.name == "m").unwrap();
        let values: Vec<&MetricValue> = m.metrics.iter().map(|m| &m.value).collect();
        assert_eq!(
            values,
            [&MetricValue::Simple(1.0), &MetricValue::Simple(4.0)]
        );
    }

    #[test]
    fn directory_flag_is_a_glob() {
        let dir = tempfile::tempdir().unwrap();
        for (sub, metric) in [("t1", "one"), ("t2", "two"), ("other", "three")] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join("m.prom"), format!("{metric} 1\n")).unwrap();
        }
        let out = collect(&dir.path().join("t*"));
        assert!(out.iter().any(|f| f.name == "one") && out.iter().any(|f| f.name == "two"));
        assert!(out.iter().all(|f| f.name != "three"));
        assert_eq!(scrape_error(&out), MetricValue::Simple(0.0));
    }

    #[test]
    fn missing_directory_is_an_error_and_unset_is_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let out = collect(&dir.path().join("absent"));
        assert_eq!(scrape_error(&out), MetricValue::Simple(1.0));
        let mut out = Vec::new();
        build(&CollectorOptions::default())
            .collect(&HostPaths::default(), &mut out)
            .unwrap();
        assert_eq!(scrape_error(&out), MetricValue::Simple(0.0));
    }
}
