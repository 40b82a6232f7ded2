//! The `bcache` collector: block-cache statistics for each cache set under
//! `/sys/fs/bcache/<uuid>`, its backing devices (`bdevN`) and cache devices (`cacheN`).

use std::fs;
use std::path::{Path, PathBuf};

use pharos_model::{MetricFamily, MetricType};

use super::host_source::{io_error, read_source_dir};
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct BcacheCollector {
    /// `--collector.bcache.priorityStats`: `priority_stats` is costly for the kernel to build
    /// (it walks every bucket), so it is read only on request.
    priority_stats: bool,
}

fn parse_error(path: &Path, reason: String) -> CollectError {
    CollectError::Parse {
        path: path.to_path_buf(),
        reason,
    }
}

/// The fraction after the point in the kernel's `bch_hprint` output is tenths of 1024 rather
/// than of 10 (`1.5k` means 1 + 5/10.24 KiB); decoded the same way node_exporter does, so the
/// numbers agree.
fn parse_hprint_mantissa(raw: &str) -> Option<f64> {
    let mut parts = raw.split('.');
    let whole: f64 = parts.next()?.parse().ok()?;
    match parts.next() {
        None => Some(whole),
        Some(fraction) => {
            let fraction: f64 = fraction.parse().ok()?;
            Some(whole + fraction / 10.24)
        }
    }
}

/// A `bch_hprint` size such as `24.5M`, or a plain number, as an unsigned count.
fn dehumanize(raw: &str) -> Option<u64> {
    let last = *raw.as_bytes().last()?;
    let value = if last > b'9' {
        let exponent = match last {
            b'k' => 1,
            b'M' => 2,
            b'G' => 3,
            b'T' => 4,
            b'P' => 5,
            b'E' => 6,
            b'Z' => 7,
            b'Y' => 8,
            // node_exporter multiplies by zero for a suffix it does not know.
            _ => {
                return raw
                    .get(..raw.len() - 1)
                    .and_then(parse_hprint_mantissa)
                    .map(|_| 0)
            }
        };
        let mantissa = parse_hprint_mantissa(raw.get(..raw.len() - 1)?)?;
        mantissa * 1024f64.powi(exponent)
    } else {
        raw.parse::<f64>().ok()?
    };
    // Saturating float-to-integer conversion, as Go's for the values sysfs can hold.
    Some(value as u64)
}

/// Like [`dehumanize`], with an optional leading minus sign.
fn dehumanize_signed(raw: &str) -> Option<i64> {
    match raw.strip_prefix('-') {
        Some(rest) => dehumanize(rest).map(|v| (v as i64).wrapping_neg()),
        None => dehumanize(raw).map(|v| v as i64),
    }
}

/// Reads one value file of a cache set; every file is required, as in node_exporter.
fn read_value(path: &Path) -> Result<f64, CollectError> {
    let raw = fs::read_to_string(path).map_err(|source| io_error(path, source))?;
    let value = raw.strip_suffix('\n').unwrap_or(&raw);
    dehumanize(value)
        .map(|v| v as f64)
        .ok_or_else(|| parse_error(path, format!("invalid value {value:?}")))
}

/// The controller state in `bdevN/writeback_rate_debug`.
#[derive(Default)]
struct WritebackRate {
    rate: f64,
    target: f64,
    proportional: f64,
    integral: f64,
    change: f64,
}

fn parse_writeback_rate_debug(path: &Path) -> Result<WritebackRate, CollectError> {
    let text = fs::read_to_string(path).map_err(|source| io_error(path, source))?;
    let mut out = WritebackRate::default();
    for line in text.lines() {
        let Some((key, _)) = line.split_once(':') else {
            continue;
        };
        let Some(raw) = line.split_whitespace().last() else {
            continue;
        };
        let bad = || parse_error(path, format!("invalid line {line:?}"));
        match key {
            "rate" => {
                let v = raw.strip_suffix("/sec").unwrap_or(raw);
                out.rate = dehumanize(v).ok_or_else(bad)? as f64;
            }
            "target" => out.target = dehumanize(raw).ok_or_else(bad)? as f64,
            "proportional" => out.proportional = dehumanize_signed(raw).ok_or_else(bad)? as f64,
            "integral" => out.integral = dehumanize_signed(raw).ok_or_else(bad)? as f64,
            "change" => {
                let v = raw.strip_suffix("/sec").unwrap_or(raw);
                out.change = dehumanize_signed(v).ok_or_else(bad)? as f64;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `Unused:` and `Metadata:` percentages from `cacheN/priority_stats`.
fn parse_priority_stats(path: &Path) -> Result<(f64, f64), CollectError> {
    let text = fs::read_to_string(path).map_err(|source| io_error(path, source))?;
    let (mut unused, mut metadata) = (0.0, 0.0);
    for line in text.lines() {
        let slot = if line.starts_with("Unused:") {
            &mut unused
        } else if line.starts_with("Metadata:") {
            &mut metadata
        } else {
            continue;
        };
        let raw = line.split_whitespace().last().unwrap_or("");
        let digits = raw.strip_suffix('%').unwrap_or(raw);
        *slot = digits
            .parse::<u64>()
            .map_err(|_| parse_error(path, format!("invalid percentage in {line:?}")))?
            as f64;
    }
    Ok((unused, metadata))
}

/// Sub-directories of `dir` named `<prefix><digits...>` (the `bdev[0-9]*` glob), sorted.
fn numbered_dirs(dir: &Path, prefix: &str) -> Result<Vec<String>, CollectError> {
    let entries = fs::read_dir(dir).map_err(|source| io_error(dir, source))?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix(prefix)
                .and_then(|rest| rest.bytes().next())
                .is_some_and(|b| b.is_ascii_digit())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Metric families of one scrape, merged by name in first-seen order.
#[derive(Default)]
struct Families(Vec<MetricFamily>);

impl Families {
    fn add(&mut self, name: &str, help: &str, ty: MetricType, labels: &[(&str, &str)], value: f64) {
        let full = format!("node_bcache_{name}");
        let at = match self.0.iter().position(|f| f.name == full) {
            Some(at) => at,
            None => {
                self.0.push(MetricFamily::new(full, help, ty));
                self.0.len() - 1
            }
        };
        if let Some(family) = self.0.get_mut(at) {
            family.push(labels.iter().copied(), value);
        }
    }
}

/// Cache-set files: (directory, file, metric, help, type, scale).
const SET_METRICS: &[(&str, &str, &str, &str, MetricType, f64)] = &[
    ("", "average_key_size", "average_key_size_sectors", "Average data per key in the btree (sectors).", MetricType::Gauge, 1.0),
    ("", "btree_cache_size", "btree_cache_size_bytes", "Amount of memory currently used by the btree cache.", MetricType::Gauge, 1.0),
    ("", "cache_available_percent", "cache_available_percent", "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).", MetricType::Gauge, 1.0),
    ("", "congested", "congested", "Congestion.", MetricType::Gauge, 1.0),
    ("", "root_usage_percent", "root_usage_percent", "Percentage of the root btree node in use (tree depth increases if too high).", MetricType::Gauge, 1.0),
    ("", "tree_depth", "tree_depth", "Depth of the btree.", MetricType::Gauge, 1.0),
    ("internal", "active_journal_entries", "active_journal_entries", "Number of journal entries that are newer than the index.", MetricType::Gauge, 1.0),
    ("internal", "btree_nodes", "btree_nodes", "Total nodes in the btree.", MetricType::Gauge, 1.0),
    // The file holds microseconds; node_exporter scales it as nanoseconds, and dashboards
    // built on its numbers expect the same.
    ("internal", "btree_read_average_duration_us", "btree_read_average_duration_seconds", "Average btree read duration.", MetricType::Gauge, 1e-9),
    ("internal", "cache_read_races", "cache_read_races_total", "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.", MetricType::Counter, 1.0),
];

/// Period statistics files (`stats_total/`): (file, metric, help).
const PERIOD_METRICS: &[(&str, &str, &str)] = &[
    (
        "bypassed",
        "bypassed_bytes_total",
        "Amount of IO (both reads and writes) that has bypassed the cache.",
    ),
    (
        "cache_hits",
        "cache_hits_total",
        "Hits counted per individual IO as bcache sees them.",
    ),
    (
        "cache_misses",
        "cache_misses_total",
        "Misses counted per individual IO as bcache sees them.",
    ),
    (
        "cache_bypass_hits",
        "cache_bypass_hits_total",
        "Hits for IO intended to skip the cache.",
    ),
    (
        "cache_bypass_misses",
        "cache_bypass_misses_total",
        "Misses for IO intended to skip the cache.",
    ),
    (
        "cache_miss_collisions",
        "cache_miss_collisions_total",
        "Instances where data insertion from cache miss raced with write (data already present).",
    ),
    (
        "cache_readaheads",
        "cache_readaheads_total",
        "Count of times readahead occurred.",
    ),
];

/// Period statistics directories node_exporter reads, and so requires, in every cache set and
/// backing device; only `stats_total` is exported.
const PERIOD_DIRS: &[&str] = &["stats_five_minute", "stats_total"];
/// The period whose counters are exported.
const EXPORTED_PERIOD: &str = "stats_total";

impl BcacheCollector {
    fn collect_set(&self, dir: &Path, uuid: &str, fams: &mut Families) -> Result<(), CollectError> {
        let set_labels = [("uuid", uuid)];
        let mut values = Vec::with_capacity(SET_METRICS.len());
        for (sub, file, ..) in SET_METRICS {
            values.push(read_value(&dir.join(sub).join(file))?);
        }
        for period in PERIOD_DIRS {
            for (file, ..) in PERIOD_METRICS {
                read_value(&dir.join(period).join(file))?;
            }
        }
        for ((_, _, name, help, ty, scale), value) in SET_METRICS.iter().zip(values) {
            fams.add(name, help, *ty, &set_labels, value * scale);
        }

        for bdev in numbered_dirs(dir, "bdev")? {
            let bdir = dir.join(&bdev);
            let labels = [("uuid", uuid), ("backing_device", bdev.as_str())];
            let dirty = read_value(&bdir.join("dirty_data"))?;
            let mut totals = Vec::with_capacity(PERIOD_METRICS.len());
            for period in PERIOD_DIRS {
                for (file, ..) in PERIOD_METRICS {
                    let value = read_value(&bdir.join(period).join(file))?;
                    if *period == EXPORTED_PERIOD {
                        totals.push(value);
                    }
                }
            }
            let wb = parse_writeback_rate_debug(&bdir.join("writeback_rate_debug"))?;
            let gauge = MetricType::Gauge;
            fams.add(
                "dirty_data_bytes",
                "Amount of dirty data for this backing device in the cache.",
                gauge,
                &labels,
                dirty,
            );
            fams.add(
                "dirty_target_bytes",
                "Current dirty data target threshold for this backing device in bytes.",
                gauge,
                &labels,
                wb.target,
            );
            fams.add(
                "writeback_rate",
                "Current writeback rate for this backing device in bytes.",
                gauge,
                &labels,
                wb.rate,
            );
            fams.add(
                "writeback_rate_proportional_term",
                "Current result of proportional controller, part of writeback rate",
                gauge,
                &labels,
                wb.proportional,
            );
            fams.add(
                "writeback_rate_integral_term",
                "Current result of integral controller, part of writeback rate",
                gauge,
                &labels,
                wb.integral,
            );
            fams.add(
                "writeback_change",
                "Last writeback rate change step for this backing device.",
                gauge,
                &labels,
                wb.change,
            );
            for ((_, name, help), value) in PERIOD_METRICS.iter().zip(&totals) {
                fams.add(name, help, MetricType::Counter, &labels, *value);
            }
        }

        for cache in numbered_dirs(dir, "cache")? {
            let cdir = dir.join(&cache);
            let labels = [("uuid", uuid), ("cache_device", cache.as_str())];
            let io_errors = read_value(&cdir.join("io_errors"))?;
            let metadata_written = read_value(&cdir.join("metadata_written"))?;
            let written = read_value(&cdir.join("written"))?;
            let priority = if self.priority_stats {
                Some(parse_priority_stats(&cdir.join("priority_stats"))?)
            } else {
                None
            };
            fams.add(
                "io_errors",
                "Number of errors that have occurred, decayed by io_error_halflife.",
                MetricType::Gauge,
                &labels,
                io_errors,
            );
            fams.add(
                "metadata_written_bytes_total",
                "Sum of all non data writes (btree writes and all other metadata).",
                MetricType::Counter,
                &labels,
                metadata_written,
            );
            fams.add(
                "written_bytes_total",
                "Sum of all data that has been written to the cache.",
                MetricType::Counter,
                &labels,
                written,
            );
            if let Some((unused, metadata)) = priority {
                fams.add(
                    "priority_stats_unused_percent",
                    "The percentage of the cache that doesn't contain any data.",
                    MetricType::Gauge,
                    &labels,
                    unused,
                );
                fams.add(
                    "priority_stats_metadata_percent",
                    "Bcache's metadata overhead.",
                    MetricType::Gauge,
                    &labels,
                    metadata,
                );
            }
        }
        Ok(())
    }
}

impl Collector for BcacheCollector {
    fn name(&self) -> &'static str {
        "bcache"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let root = paths.sys("fs/bcache");
        let entries = read_source_dir(&root)?;
        // Cache sets are named by UUID; the control files beside them (`register`, ...) have
        // no dash.
        let mut sets: Vec<(String, PathBuf)> = entries
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| name.contains('-'))
            .collect();
        sets.sort();
        let mut fams = Families::default();
        for (uuid, dir) in &sets {
            self.collect_set(dir, uuid, &mut fams)?;
        }
        out.extend(fams.0);
        Ok(())
    }
}

/// Builds the collector; `priority_stats` is read only with `--collector.bcache.priorityStats`.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(BcacheCollector {
        priority_stats: opts.bcache_priority_stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{normalized_text, sysfs_host, write};

    const UUID: &str = "deaddd54-c735-46d5-868e-f331c5fd7c74";

    fn cache_set(root: &Path) -> PathBuf {
        let set = root.join("fs/bcache").join(UUID);
        for (sub, file, ..) in SET_METRICS {
            write(&set.join(sub), file, "0\n");
        }
        write(&set, "average_key_size", "2.5k\n");
        write(
            &set.join("internal"),
            "btree_read_average_duration_us",
            "1305\n",
        );
        for period in ["stats_five_minute", "stats_total"] {
            for (i, (file, ..)) in PERIOD_METRICS.iter().enumerate() {
                write(&set.join(period), file, &format!("{}\n", 100 + i));
                let bdev = set.join("bdev0").join(period);
                let value = if period == "stats_total" { 200 + i } else { 9 };
                write(&bdev, file, &format!("{value}\n"));
            }
        }
        write(&set.join("bdev0"), "dirty_data", "24.5M\n");
        write(
            &set.join("bdev0"),
            "writeback_rate_debug",
            "rate:\t\t1.1M/sec\ndirty:\t\t20.4M\ntarget:\t\t30.1M\nproportional:\t-1.5k\n\
             integral:\t3.2k\nchange:\t\t-12.0k/sec\nnext io:\t-1057ms\n",
        );
        let cache = set.join("cache0");
        write(&cache, "io_errors", "0\n");
        write(&cache, "metadata_written", "512\n");
        write(&cache, "written", "1.5G\n");
        write(
            &cache,
            "priority_stats",
            "Unused:\t\t99%\nClean:\t\t0%\nMetadata:\t1%\n",
        );
        write(&root.join("fs/bcache"), "register", "");
        set
    }

    fn render(root: &Path, priority_stats: bool) -> Result<String, CollectError> {
        normalized_text(&BcacheCollector { priority_stats }, &sysfs_host(root))
    }

    #[test]
    fn cache_set_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        cache_set(tmp.path());
        let text = render(tmp.path(), false).unwrap();
        let u = format!("uuid=\"{UUID}\"");
        let b = format!("backing_device=\"bdev0\",{u}");
        let c = format!("cache_device=\"cache0\",{u}");
        let expected = format!(
            r#"# HELP node_bcache_active_journal_entries Number of journal entries that are newer than the index.
# TYPE node_bcache_active_journal_entries gauge
node_bcache_active_journal_entries{{{u}}} 0
# HELP node_bcache_average_key_size_sectors Average data per key in the btree (sectors).
# TYPE node_bcache_average_key_size_sectors gauge
node_bcache_average_key_size_sectors{{{u}}} 2548
# HELP node_bcache_btree_cache_size_bytes Amount of memory currently used by the btree cache.
# TYPE node_bcache_btree_cache_size_bytes gauge
node_bcache_btree_cache_size_bytes{{{u}}} 0
# HELP node_bcache_btree_nodes Total nodes in the btree.
# TYPE node_bcache_btree_nodes gauge
node_bcache_btree_nodes{{{u}}} 0
# HELP node_bcache_btree_read_average_duration_seconds Average btree read duration.
# TYPE node_bcache_btree_read_average_duration_seconds gauge
node_bcache_btree_read_average_duration_seconds{{{u}}} 1.305e-06
# HELP node_bcache_bypassed_bytes_total Amount of IO (both reads and writes) that has bypassed the cache.
# TYPE node_bcache_bypassed_bytes_total counter
node_bcache_bypassed_bytes_total{{{b}}} 200
# HELP node_bcache_cache_available_percent Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).
# TYPE node_bcache_cache_available_percent gauge
node_bcache_cache_available_percent{{{u}}} 0
# HELP node_bcache_cache_bypass_hits_total Hits for IO intended to skip the cache.
# TYPE node_bcache_cache_bypass_hits_total counter
node_bcache_cache_bypass_hits_total{{{b}}} 203
# HELP node_bcache_cache_bypass_misses_total Misses for IO intended to skip the cache.
# TYPE node_bcache_cache_bypass_misses_total counter
node_bcache_cache_bypass_misses_total{{{b}}} 204
# HELP node_bcache_cache_hits_total Hits counted per individual IO as bcache sees them.
# TYPE node_bcache_cache_hits_total counter
node_bcache_cache_hits_total{{{b}}} 201
# HELP node_bcache_cache_miss_collisions_total Instances where data insertion from cache miss raced with write (data already present).
# TYPE node_bcache_cache_miss_collisions_total counter
node_bcache_cache_miss_collisions_total{{{b}}} 205
# HELP node_bcache_cache_misses_total Misses counted per individual IO as bcache sees them.
# TYPE node_bcache_cache_misses_total counter
node_bcache_cache_misses_total{{{b}}} 202
# HELP node_bcache_cache_read_races_total Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.
# TYPE node_bcache_cache_read_races_total counter
node_bcache_cache_read_races_total{{{u}}} 0
# HELP node_bcache_cache_readaheads_total Count of times readahead occurred.
# TYPE node_bcache_cache_readaheads_total counter
node_bcache_cache_readaheads_total{{{b}}} 206
# HELP node_bcache_congested Congestion.
# TYPE node_bcache_congested gauge
node_bcache_congested{{{u}}} 0
# HELP node_bcache_dirty_data_bytes Amount of dirty data for this backing device in the cache.
# TYPE node_bcache_dirty_data_bytes gauge
node_bcache_dirty_data_bytes{{{b}}} 2.5677824e+07
# HELP node_bcache_dirty_target_bytes Current dirty data target threshold for this backing device in bytes.
# TYPE node_bcache_dirty_target_bytes gauge
node_bcache_dirty_target_bytes{{{b}}} 3.155968e+07
# HELP node_bcache_io_errors Number of errors that have occurred, decayed by io_error_halflife.
# TYPE node_bcache_io_errors gauge
node_bcache_io_errors{{{c}}} 0
# HELP node_bcache_metadata_written_bytes_total Sum of all non data writes (btree writes and all other metadata).
# TYPE node_bcache_metadata_written_bytes_total counter
node_bcache_metadata_written_bytes_total{{{c}}} 512
# HELP node_bcache_root_usage_percent Percentage of the root btree node in use (tree depth increases if too high).
# TYPE node_bcache_root_usage_percent gauge
node_bcache_root_usage_percent{{{u}}} 0
# HELP node_bcache_tree_depth Depth of the btree.
# TYPE node_bcache_tree_depth gauge
node_bcache_tree_depth{{{u}}} 0
# HELP node_bcache_writeback_change Last writeback rate change step for this backing device.
# TYPE node_bcache_writeback_change gauge
node_bcache_writeback_change{{{b}}} -12288
# HELP node_bcache_writeback_rate Current writeback rate for this backing device in bytes.
# TYPE node_bcache_writeback_rate gauge
node_bcache_writeback_rate{{{b}}} 1.150976e+06
# HELP node_bcache_writeback_rate_integral_term Current result of integral controller, part of writeback rate
# TYPE node_bcache_writeback_rate_integral_term gauge
node_bcache_writeback_rate_integral_term{{{b}}} 3272
# HELP node_bcache_writeback_rate_proportional_term Current result of proportional controller, part of writeback rate
# TYPE node_bcache_writeback_rate_proportional_term gauge
node_bcache_writeback_rate_proportional_term{{{b}}} -1524
# HELP node_bcache_written_bytes_total Sum of all data that has been written to the cache.
# TYPE node_bcache_written_bytes_total counter
node_bcache_written_bytes_total{{{c}}} 1.598029824e+09
"#
        );
        assert_eq!(text, expected);
        assert!(!text.contains("priority_stats"));
    }

    #[test]
    fn priority_stats_on_request() {
        let tmp = tempfile::tempdir().unwrap();
        cache_set(tmp.path());
        let text = render(tmp.path(), true).unwrap();
        let c = format!("cache_device=\"cache0\",uuid=\"{UUID}\"");
        assert!(text.contains(&format!(
            "# HELP node_bcache_priority_stats_metadata_percent Bcache's metadata overhead.\n\
             # TYPE node_bcache_priority_stats_metadata_percent gauge\n\
             node_bcache_priority_stats_metadata_percent{{{c}}} 1\n"
        )));
        assert!(text.contains(&format!(
            "node_bcache_priority_stats_unused_percent{{{c}}} 99\n"
        )));
    }

    #[test]
    fn missing_or_bad_files_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let set = cache_set(tmp.path());
        fs::remove_file(set.join("bdev0/writeback_rate_debug")).unwrap();
        let err = render(tmp.path(), false).unwrap_err();
        assert!(
            err.to_string().contains("bdev0/writeback_rate_debug"),
            "{err}"
        );

        let tmp = tempfile::tempdir().unwrap();
        let set = cache_set(tmp.path());
        write(&set, "tree_depth", "deep\n");
        let err = render(tmp.path(), false).unwrap_err();
        assert!(matches!(err, CollectError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("tree_depth"), "{err}");
    }

    #[test]
    fn absent_bcache_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let err = render(tmp.path(), false).unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }

    #[test]
    fn hprint_values() {
        assert_eq!(dehumanize("2.5k"), Some(2548));
        assert_eq!(dehumanize("1.1M"), Some(1_150_976));
        assert_eq!(dehumanize("512"), Some(512));
        assert_eq!(dehumanize(""), None);
        assert_eq!(dehumanize("k"), None);
        assert_eq!(dehumanize("1.x"), None);
        assert_eq!(dehumanize_signed("-12.0k"), Some(-12288));
    }
}
