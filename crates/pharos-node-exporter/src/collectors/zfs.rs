//! The `zfs` collector: ZFS kernel statistics (kstats) from `/proc/spl/kstat/zfs`: the ARC and
//! other module-wide counters, and per pool its I/O counters, per-dataset counters and state.
//!
//! Names follow node_exporter: `node_zfs_<subsystem>_<kstat>` with the kstat's dotted sysctl
//! name as HELP, untyped, because kstats mix counters and gauges without saying which.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_dir;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// Module-wide kstat files and the metric subsystem each feeds. `dbufstats` is not read by
/// node_exporter 1.5; it is exported under the name later node_exporter releases give it.
const KSTAT_FILES: &[(&str, &str)] = &[
    ("abdstats", "abd"),
    ("arcstats", "arc"),
    ("dbufstats", "dbuf"),
    ("dmu_tx", "dmu_tx"),
    ("dnodestats", "dnode"),
    ("fm", "fm"),
    ("vdev_cache_stats", "vdev_cache"),
    ("vdev_mirror_stats", "vdev_mirror"),
    ("xuio_stats", "xuio"),
    ("zfetchstats", "zfetch"),
    ("zil", "zil"),
];

/// Pool states reported by `node_zfs_zpool_state`, one series each, as node_exporter 1.5 does.
const POOL_STATES: &[&str] = &[
    "online", "degraded", "faulted", "offline", "removed", "unavail",
];

/// The kstat data type of unsigned 64-bit values (`KSTAT_DATA_UINT64`); node_exporter 1.5
/// exports only these.
const KSTAT_DATA_UINT64: &str = "4";

struct ZfsCollector;

fn parse_error(path: &Path, reason: String) -> CollectError {
    CollectError::Parse {
        path: path.to_path_buf(),
        reason,
    }
}

/// A kstat name as a metric name part: `-` and anything else outside `[a-zA-Z0-9_]` become `_`.
fn metric_part(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Metric families of one scrape, merged by name.
#[derive(Default)]
struct Families(BTreeMap<String, MetricFamily>);

impl Families {
    fn add(
        &mut self,
        name: String,
        help: String,
        ty: MetricType,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        self.0
            .entry(name)
            .or_insert_with_key(|name| MetricFamily::new(name.clone(), help, ty))
            .push(labels.iter().copied(), value);
    }
}

/// Reads a file, `None` when it does not exist (features come and go with ZFS versions, and
/// pools can be exported between listing and reading).
fn read_optional(path: &Path) -> Result<Option<String>, CollectError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CollectError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The `name type data` table of a named kstat, calling `row` for each row after the header.
/// A file without the header is malformed.
fn for_each_kstat_row<'a>(
    text: &'a str,
    path: &Path,
    mut row: impl FnMut(&[&'a str]) -> Result<(), CollectError>,
) -> Result<(), CollectError> {
    let mut in_table = false;
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if !in_table {
            in_table = parts == ["name", "type", "data"];
            continue;
        }
        if parts.len() >= 3 {
            row(&parts)?;
        }
    }
    if !in_table {
        return Err(parse_error(path, "no \"name type data\" header".into()));
    }
    Ok(())
}

fn parse_u64(raw: &str, key: &str, path: &Path) -> Result<f64, CollectError> {
    raw.parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| parse_error(path, format!("invalid value {raw:?} for {key}")))
}

fn collect_kstat_file(
    path: &Path,
    file: &str,
    subsystem: &str,
    fams: &mut Families,
) -> Result<(), CollectError> {
    let Some(text) = read_optional(path)? else {
        return Ok(());
    };
    for_each_kstat_row(&text, path, |parts| {
        let (Some(name), Some(ty), Some(raw)) = (parts.first(), parts.get(1), parts.get(2)) else {
            return Ok(());
        };
        if *ty != KSTAT_DATA_UINT64 {
            return Ok(());
        }
        let key = format!("kstat.zfs.misc.{file}.{name}");
        let value = parse_u64(raw, &key, path)?;
        let metric = format!("node_zfs_{subsystem}_{}", metric_part(name));
        fams.add(metric, key, MetricType::Untyped, &[], value);
        Ok(())
    })
}

/// `<pool>/io`: a header row of field names starting with `nread`, then a row of values.
fn collect_pool_io(path: &Path, pool: &str, fams: &mut Families) -> Result<(), CollectError> {
    let Some(text) = read_optional(path)? else {
        return Ok(());
    };
    let mut fields: Option<Vec<&str>> = None;
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let Some(names) = &fields else {
            if parts.len() >= 12 && parts.first() == Some(&"nread") {
                fields = Some(parts);
            }
            continue;
        };
        if parts.is_empty() {
            continue;
        }
        if parts.len() < names.len() {
            return Err(parse_error(
                path,
                format!("{} values for {} fields", parts.len(), names.len()),
            ));
        }
        for (name, raw) in names.iter().zip(&parts) {
            let key = format!("kstat.zfs.misc.io.{name}");
            let value = parse_u64(raw, &key, path)?;
            let metric = format!("node_zfs_zpool_{}", metric_part(name));
            fams.add(metric, key, MetricType::Untyped, &[("zpool", pool)], value);
        }
    }
    Ok(())
}

/// `<pool>/objset-0x<id>`: one dataset's counters, named by its `dataset_name` row.
fn collect_pool_objset(path: &Path, pool: &str, fams: &mut Families) -> Result<(), CollectError> {
    let Some(text) = read_optional(path)? else {
        return Ok(());
    };
    let mut dataset = String::new();
    for_each_kstat_row(&text, path, |parts| {
        let (Some(name), Some(ty), Some(raw)) = (parts.first(), parts.get(1), parts.get(2)) else {
            return Ok(());
        };
        if *name == "dataset_name" {
            dataset = (*raw).to_string();
            return Ok(());
        }
        if *ty != KSTAT_DATA_UINT64 {
            return Ok(());
        }
        let key = format!("kstat.zfs.misc.objset.{name}");
        let value = parse_u64(raw, &key, path)?;
        let metric = format!("node_zfs_zpool_dataset_{}", metric_part(name));
        let labels = [("dataset", dataset.as_str()), ("zpool", pool)];
        fams.add(metric, key, MetricType::Untyped, &labels, value);
        Ok(())
    })
}

/// `<pool>/state`: one word such as `ONLINE`; every known state gets a 0/1 series.
fn collect_pool_state(path: &Path, pool: &str, fams: &mut Families) -> Result<(), CollectError> {
    let Some(text) = read_optional(path)? else {
        return Ok(());
    };
    let actual = text.lines().next().unwrap_or("").to_lowercase();
    for state in POOL_STATES {
        let value = if actual == *state { 1.0 } else { 0.0 };
        fams.add(
            "node_zfs_zpool_state".into(),
            "kstat.zfs.misc.state".into(),
            MetricType::Gauge,
            &[("state", state), ("zpool", pool)],
            value,
        );
    }
    Ok(())
}

impl Collector for ZfsCollector {
    fn name(&self) -> &'static str {
        "zfs"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let root = paths.proc("spl/kstat/zfs");
        let entries = read_source_dir(&root)?;
        let mut pools: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        pools.sort();

        let mut fams = Families::default();
        for (file, subsystem) in KSTAT_FILES {
            collect_kstat_file(&root.join(file), file, subsystem, &mut fams)?;
        }
        for pool in &pools {
            let dir = root.join(pool);
            collect_pool_io(&dir.join("io"), pool, &mut fams)?;
            let mut objsets: Vec<String> = fs::read_dir(&dir)
                .map_err(|source| CollectError::Io {
                    path: dir.clone(),
                    source,
                })?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("objset-"))
                .collect();
            objsets.sort();
            for objset in objsets {
                collect_pool_objset(&dir.join(objset), pool, &mut fams)?;
            }
            collect_pool_state(&dir.join("state"), pool, &mut fams)?;
        }
        out.extend(fams.0.into_values());
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(ZfsCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{normalized_text, procfs_host, write};

    fn kstat(rows: &[(&str, u8, &str)]) -> String {
        let mut text = String::from("6 1 0x01 3 4368 5266997922 97951858082072\nname                            type data\n");
        for (name, ty, value) in rows {
            text.push_str(&format!("{name:<32}{ty:<5}{value}\n"));
        }
        text
    }

    fn render(root: &Path) -> Result<String, CollectError> {
        normalized_text(
            build(&CollectorOptions::default()).as_ref(),
            &procfs_host(root),
        )
    }

    #[test]
    fn kstats_and_pools_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        let zfs = tmp.path().join("spl/kstat/zfs");
        write(
            &zfs,
            "arcstats",
            &kstat(&[("hits", 4, "8772612"), ("memory_available_bytes", 3, "-5")]),
        );
        write(&zfs, "fm", &kstat(&[("erpt-dropped", 4, "18")]));
        write(&zfs, "dmu_tx", &kstat(&[("dmu_tx_assigned", 4, "3532844")]));
        let pool = zfs.join("pool1");
        write(
            &pool,
            "io",
            "12 3 0x00 1 80 79205351707403 395807575412\n\
             nread    nwritten reads    writes   wtime    wlentime wupdate  rtime    rlentime rupdate  wcnt     rcnt\n\
             1884160  3206144  22       132      7155162  104112268 79210489694949 24168078  104112268 79210489849220 0        0\n",
        );
        write(
            &pool,
            "objset-0x36",
            &kstat(&[("dataset_name", 7, "pool1/home"), ("writes", 4, "4")]),
        );
        write(&pool, "state", "ONLINE\n");
        let text = render(tmp.path()).unwrap();
        let expected = r#"# HELP node_zfs_arc_hits kstat.zfs.misc.arcstats.hits
# TYPE node_zfs_arc_hits untyped
node_zfs_arc_hits 8.772612e+06
# HELP node_zfs_dmu_tx_dmu_tx_assigned kstat.zfs.misc.dmu_tx.dmu_tx_assigned
# TYPE node_zfs_dmu_tx_dmu_tx_assigned untyped
node_zfs_dmu_tx_dmu_tx_assigned 3.532844e+06
# HELP node_zfs_fm_erpt_dropped kstat.zfs.misc.fm.erpt-dropped
# TYPE node_zfs_fm_erpt_dropped untyped
node_zfs_fm_erpt_dropped 18
# HELP node_zfs_zpool_dataset_writes kstat.zfs.misc.objset.writes
# TYPE node_zfs_zpool_dataset_writes untyped
node_zfs_zpool_dataset_writes{dataset="pool1/home",zpool="pool1"} 4
# HELP node_zfs_zpool_nread kstat.zfs.misc.io.nread
# TYPE node_zfs_zpool_nread untyped
node_zfs_zpool_nread{zpool="pool1"} 1.88416e+06
# HELP node_zfs_zpool_nwritten kstat.zfs.misc.io.nwritten
# TYPE node_zfs_zpool_nwritten untyped
node_zfs_zpool_nwritten{zpool="pool1"} 3.206144e+06
# HELP node_zfs_zpool_rcnt kstat.zfs.misc.io.rcnt
# TYPE node_zfs_zpool_rcnt untyped
node_zfs_zpool_rcnt{zpool="pool1"} 0
# HELP node_zfs_zpool_reads kstat.zfs.misc.io.reads
# TYPE node_zfs_zpool_reads untyped
node_zfs_zpool_reads{zpool="pool1"} 22
# HELP node_zfs_zpool_rlentime kstat.zfs.misc.io.rlentime
# TYPE node_zfs_zpool_rlentime untyped
node_zfs_zpool_rlentime{zpool="pool1"} 1.04112268e+08
# HELP node_zfs_zpool_rtime kstat.zfs.misc.io.rtime
# TYPE node_zfs_zpool_rtime untyped
node_zfs_zpool_rtime{zpool="pool1"} 2.4168078e+07
# HELP node_zfs_zpool_rupdate kstat.zfs.misc.io.rupdate
# TYPE node_zfs_zpool_rupdate untyped
node_zfs_zpool_rupdate{zpool="pool1"} 7.921048984922e+13
# HELP node_zfs_zpool_state kstat.zfs.misc.state
# TYPE node_zfs_zpool_state gauge
node_zfs_zpool_state{state="degraded",zpool="pool1"} 0
node_zfs_zpool_state{state="faulted",zpool="pool1"} 0
node_zfs_zpool_state{state="offline",zpool="pool1"} 0
node_zfs_zpool_state{state="online",zpool="pool1"} 1
node_zfs_zpool_state{state="removed",zpool="pool1"} 0
node_zfs_zpool_state{state="unavail",zpool="pool1"} 0
# HELP node_zfs_zpool_wcnt kstat.zfs.misc.io.wcnt
# TYPE node_zfs_zpool_wcnt untyped
node_zfs_zpool_wcnt{zpool="pool1"} 0
# HELP node_zfs_zpool_wlentime kstat.zfs.misc.io.wlentime
# TYPE node_zfs_zpool_wlentime untyped
node_zfs_zpool_wlentime{zpool="pool1"} 1.04112268e+08
# HELP node_zfs_zpool_writes kstat.zfs.misc.io.writes
# TYPE node_zfs_zpool_writes untyped
node_zfs_zpool_writes{zpool="pool1"} 132
# HELP node_zfs_zpool_wtime kstat.zfs.misc.io.wtime
# TYPE node_zfs_zpool_wtime untyped
node_zfs_zpool_wtime{zpool="pool1"} 7.155162e+06
# HELP node_zfs_zpool_wupdate kstat.zfs.misc.io.wupdate
# TYPE node_zfs_zpool_wupdate untyped
node_zfs_zpool_wupdate{zpool="pool1"} 7.9210489694949e+13
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn dbufstats_are_exported_like_later_releases() {
        let tmp = tempfile::tempdir().unwrap();
        let zfs = tmp.path().join("spl/kstat/zfs");
        write(&zfs, "dbufstats", &kstat(&[("cache_count", 4, "37")]));
        let text = render(tmp.path()).unwrap();
        assert!(text
            .contains("# HELP node_zfs_dbuf_cache_count kstat.zfs.misc.dbufstats.cache_count\n"));
        assert!(text.contains("node_zfs_dbuf_cache_count 37\n"));
    }

    #[test]
    fn malformed_files_name_the_file() {
        let cases: [(&str, String); 4] = [
            ("arcstats", kstat(&[("hits", 4, "lots")])),
            ("zil", "zil_commit_count 4 10\n".to_string()),
            ("pool1/io", "nread nwritten reads writes wtime wlentime wupdate rtime rlentime rupdate wcnt rcnt\n1 2 3\n".to_string()),
            ("pool1/objset-0x1", kstat(&[("writes", 4, "-4")])),
        ];
        for (file, content) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("spl/kstat/zfs").join(file);
            write(
                path.parent().unwrap(),
                path.file_name().unwrap().to_str().unwrap(),
                &content,
            );
            let err = render(tmp.path()).unwrap_err();
            assert!(matches!(err, CollectError::Parse { .. }), "{file}: {err}");
            assert!(err.to_string().contains(file), "{err}");
        }
    }

    #[test]
    fn absent_module_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let err = render(tmp.path()).unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }

    #[test]
    fn metric_names_are_sanitized() {
        assert_eq!(metric_part("erpt-set-failed"), "erpt_set_failed");
        assert_eq!(metric_part("a.b c"), "a_b_c");
    }
}
