//! The `cpu` collector: per-CPU time by mode from `/proc/stat`, thermal throttle counts from
//! sysfs, and (with `--collector.cpu.info`) `node_cpu_info` from `/proc/cpuinfo`.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use pharos_model::{MetricFamily, MetricType};
use regex::Regex;

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// Clock ticks per second in `/proc/stat`; USER_HZ is 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;
/// An idle counter falling by at least this many seconds means the CPU was hot-unplugged and
/// replugged, so its counters restart; smaller drops are kernel accounting jitter.
const JUMP_BACK_SECONDS: f64 = 3.0;

/// Columns of a `cpuN` line, in file order.
const USER: usize = 0;
const NICE: usize = 1;
const SYSTEM: usize = 2;
const IDLE: usize = 3;
const IOWAIT: usize = 4;
const IRQ: usize = 5;
const SOFTIRQ: usize = 6;
const STEAL: usize = 7;
const GUEST: usize = 8;
const GUEST_NICE: usize = 9;

/// Modes in label-value order, so output needs no sorting.
const MODES: [(&str, usize); 8] = [
    ("idle", IDLE),
    ("iowait", IOWAIT),
    ("irq", IRQ),
    ("nice", NICE),
    ("softirq", SOFTIRQ),
    ("steal", STEAL),
    ("system", SYSTEM),
    ("user", USER),
];

struct CpuCollector {
    info: bool,
    /// `--collector.cpu.info.flags-include`, compiled, or why it was rejected.
    flags_include: Option<Result<Regex, String>>,
    /// `--collector.cpu.info.bugs-include`, compiled, or why it was rejected.
    bugs_include: Option<Result<Regex, String>>,
    /// Last exported seconds per CPU, so counters never go backwards across scrapes.
    last: Mutex<HashMap<String, [f64; 10]>>,
}

impl Collector for CpuCollector {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        if self.info {
            let path = paths.proc("cpuinfo");
            let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
                path: path.clone(),
                source,
            })?;
            out.push(cpu_info(&text));
            let lists = [
                (&self.flags_include, "flags", "node_cpu_flag_info", "flag"),
                (&self.bugs_include, "bugs", "node_cpu_bug_info", "bug"),
            ];
            for (filter, field, name, label) in lists {
                let Some(filter) = filter else { continue };
                let filter = filter.as_ref().map_err(|reason| CollectError::Parse {
                    path: format!("--collector.cpu.info.{field}-include").into(),
                    reason: reason.clone(),
                })?;
                if let Some(family) = first_cpu_list(&text, field, name, label, filter) {
                    out.push(family);
                }
            }
        }
        let path = paths.proc("stat");
        let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
            path: path.clone(),
            source,
        })?;
        let cpus = parse_cpu_lines(&text, &path)?;
        let mut seconds = MetricFamily::new(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            MetricType::Counter,
        );
        let mut guest = MetricFamily::new(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
            MetricType::Counter,
        );
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (cpu, ticks) in cpus {
            let fresh = ticks.map(|t| t / USER_HZ);
            // Look up before inserting so steady-state scrapes allocate no key.
            let kept = match last.get_mut(cpu) {
                Some(kept) => kept,
                None => last.entry(cpu.to_string()).or_insert(fresh),
            };
            if kept[IDLE] - fresh[IDLE] >= JUMP_BACK_SECONDS {
                *kept = fresh;
            }
            for (k, f) in kept.iter_mut().zip(fresh) {
                if f >= *k {
                    *k = f;
                }
            }
            for (mode, column) in MODES {
                seconds.push([("cpu", cpu), ("mode", mode)], kept[column]);
            }
            guest.push([("cpu", cpu), ("mode", "nice")], kept[GUEST_NICE]);
            guest.push([("cpu", cpu), ("mode", "user")], kept[GUEST]);
        }
        drop(last);
        out.push(seconds);
        out.push(guest);
        throttles(paths, out);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    let compile = |flag: &str, pattern: &Option<String>| {
        pattern
            .as_deref()
            .map(|p| Regex::new(p).map_err(|e| format!("{flag}: invalid regex {p:?}: {e}")))
    };
    Box::new(CpuCollector {
        info: opts.cpu_info,
        flags_include: compile(
            "--collector.cpu.info.flags-include",
            &opts.cpu_info_flags_include,
        ),
        bugs_include: compile(
            "--collector.cpu.info.bugs-include",
            &opts.cpu_info_bugs_include,
        ),
        last: Mutex::new(HashMap::new()),
    })
}

/// The `cpuN` lines of `/proc/stat` (not the aggregate `cpu` line), ticks per column. Old
/// kernels have fewer than ten columns; the missing ones read as zero.
fn parse_cpu_lines<'a>(
    text: &'a str,
    path: &Path,
) -> Result<Vec<(&'a str, [f64; 10])>, CollectError> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(cpu) = fields
            .next()
            .and_then(|f| f.strip_prefix("cpu"))
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let mut ticks = [0.0; 10];
        let mut count = 0;
        for (slot, field) in ticks.iter_mut().zip(fields) {
            *slot = field.parse().map_err(|_| CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("cpu{cpu}: {field:?} is not a number"),
            })?;
            count += 1;
        }
        if count < 4 {
            return Err(CollectError::Parse {
                path: path.to_path_buf(),
                reason: format!("cpu{cpu} has only {count} columns"),
            });
        }
        cpus.push((cpu, ticks));
    }
    if cpus.is_empty() {
        return Err(CollectError::Parse {
            path: path.to_path_buf(),
            reason: "no per-CPU lines".into(),
        });
    }
    Ok(cpus)
}

/// `node_cpu_info` from the `processor` blocks of `/proc/cpuinfo`.
fn cpu_info(text: &str) -> MetricFamily {
    let mut family = MetricFamily::new(
        "node_cpu_info",
        "CPU information from /proc/cpuinfo.",
        MetricType::Gauge,
    );
    for block in text.split("\n\n") {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for line in block.lines() {
            if let Some((k, v)) = line.split_once(':') {
                fields.insert(k.trim(), v.trim());
            }
        }
        let Some(cpu) = fields.get("processor") else {
            continue;
        };
        let get = |k: &str| fields.get(k).copied().unwrap_or("");
        family.push(
            [
                ("cachesize", get("cache size")),
                ("core", get("core id")),
                ("cpu", cpu),
                ("family", get("cpu family")),
                ("microcode", get("microcode")),
                ("model", get("model")),
                ("model_name", get("model name")),
                ("package", get("physical id")),
                ("stepping", get("stepping")),
                ("vendor", get("vendor_id")),
            ],
            1.0,
        );
    }
    family
}

/// `node_cpu_flag_info` or `node_cpu_bug_info`: one metric per matching word of the first
/// CPU's `flags` or `bugs` line (all CPUs of a host normally share them).
fn first_cpu_list(
    text: &str,
    field: &str,
    name: &str,
    label: &str,
    filter: &Regex,
) -> Option<MetricFamily> {
    let first = text.split("\n\n").next()?;
    let words = first.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == field).then_some(v)
    })?;
    let help = format!(
        "The `{field}` field of CPU information from /proc/cpuinfo taken from the first core."
    );
    let mut family = MetricFamily::new(name, help, MetricType::Gauge);
    for word in words
        .split_ascii_whitespace()
        .filter(|w| filter.is_match(w))
    {
        family.push([(label, word)], 1.0);
    }
    Some(family)
}

/// Thermal throttle counters, read once per core and once per package; absent on most VMs.
fn throttles(paths: &HostPaths, out: &mut Vec<MetricFamily>) {
    let base = paths.sys("devices/system/cpu");
    let Ok(entries) = std::fs::read_dir(&base) else {
        return;
    };
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let mut cores: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut packages: BTreeMap<u64, u64> = BTreeMap::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let dir = entry.path();
        // Most VMs have no thermal_throttle directory; skip their topology reads.
        if !dir.join("thermal_throttle").is_dir() {
            continue;
        }
        let (Some(package), Some(core)) = (
            read(&dir.join("topology/physical_package_id")),
            read(&dir.join("topology/core_id")),
        ) else {
            continue;
        };
        if let Entry::Vacant(slot) = cores.entry((package, core)) {
            if let Some(count) = read(&dir.join("thermal_throttle/core_throttle_count")) {
                slot.insert(count);
            }
        }
        if let Entry::Vacant(slot) = packages.entry(package) {
            if let Some(count) = read(&dir.join("thermal_throttle/package_throttle_count")) {
                slot.insert(count);
            }
        }
    }
    if !cores.is_empty() {
        let mut family = MetricFamily::new(
            "node_cpu_core_throttles_total",
            "Number of times this CPU core has been throttled.",
            MetricType::Counter,
        );
        for ((package, core), count) in cores {
            family.push(
                [("core", core.to_string()), ("package", package.to_string())],
                count as f64,
            );
        }
        out.push(family);
    }
    if !packages.is_empty() {
        let mut family = MetricFamily::new(
            "node_cpu_package_throttles_total",
            "Number of times this CPU package has been throttled.",
            MetricType::Counter,
        );
        for (package, count) in packages {
            family.push([("package", package.to_string())], count as f64);
        }
        out.push(family);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::MetricValue;

    fn value(f: &MetricFamily, cpu: &str, mode: &str) -> f64 {
        let m = f
            .metrics
            .iter()
            .find(|m| m.labels[0].1 == cpu && m.labels[1].1 == mode)
            .unwrap();
        match m.value {
            MetricValue::Simple(v) => v,
            _ => f64::NAN,
        }
    }

    fn write_stat(dir: &Path, cpu0: &str) {
        std::fs::write(
            dir.join("stat"),
            format!("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 {cpu0}\nintr 5\nbtime 1\n"),
        )
        .unwrap();
    }

    #[test]
    fn seconds_by_mode_and_guest() {
        let dir = tempfile::tempdir().unwrap();
        write_stat(dir.path(), "2580 10 1154 33393 19 1 10 4 7 3");
        let paths = HostPaths {
            procfs: dir.path().into(),
            sysfs: dir.path().join("nosys"),
            ..HostPaths::default()
        };
        let c = build(&CollectorOptions::default());
        let mut out = Vec::new();
        c.collect(&paths, &mut out).unwrap();
        assert_eq!(out[0].metrics.len(), 8);
        assert_eq!(value(&out[0], "0", "user"), 25.8);
        assert_eq!(value(&out[0], "0", "idle"), 333.93);
        assert_eq!(value(&out[1], "0", "user"), 0.07);
        assert_eq!(value(&out[1], "0", "nice"), 0.03);
    }

    #[test]
    fn counters_never_go_backwards_unless_hotplugged() {
        let dir = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            procfs: dir.path().into(),
            sysfs: dir.path().join("nosys"),
            ..HostPaths::default()
        };
        let c = build(&CollectorOptions::default());
        write_stat(dir.path(), "1000 0 0 1000 0 0 0 0 0 0");
        c.collect(&paths, &mut Vec::new()).unwrap();
        // A small dip in user time is jitter: keep the old value.
        write_stat(dir.path(), "999 0 0 1001 0 0 0 0 0 0");
        let mut out = Vec::new();
        c.collect(&paths, &mut out).unwrap();
        assert_eq!(value(&out[0], "0", "user"), 10.0);
        assert_eq!(value(&out[0], "0", "idle"), 10.01);
        // Idle falling by more than 3 s means the CPU restarted its counters.
        write_stat(dir.path(), "5 0 0 5 0 0 0 0 0 0");
        let mut out = Vec::new();
        c.collect(&paths, &mut out).unwrap();
        assert_eq!(value(&out[0], "0", "user"), 0.05);
    }

    #[test]
    fn rejects_garbled_stat() {
        assert!(parse_cpu_lines("cpu0 1 2 x 4\n", Path::new("stat")).is_err());
        assert!(parse_cpu_lines("cpu0 1 2\n", Path::new("stat")).is_err());
        assert!(parse_cpu_lines("intr 1\n", Path::new("stat")).is_err());
    }

    #[test]
    fn info_and_throttles() {
        let dir = tempfile::tempdir().unwrap();
        write_stat(dir.path(), "1 1 1 1 1 1 1 1 1 1");
        std::fs::write(
            dir.path().join("cpuinfo"),
            "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\nstepping\t: 1\nmicrocode\t: 0x1000065\ncache size\t: 1024 KB\nphysical id\t: 0\ncore id\t\t: 0\n\n",
        )
        .unwrap();
        let cpu0 = dir.path().join("sys/devices/system/cpu/cpu0");
        std::fs::create_dir_all(cpu0.join("topology")).unwrap();
        std::fs::create_dir_all(cpu0.join("thermal_throttle")).unwrap();
        std::fs::write(cpu0.join("topology/physical_package_id"), "0\n").unwrap();
        std::fs::write(cpu0.join("topology/core_id"), "3\n").unwrap();
        std::fs::write(cpu0.join("thermal_throttle/core_throttle_count"), "5\n").unwrap();
        std::fs::write(cpu0.join("thermal_throttle/package_throttle_count"), "6\n").unwrap();
        let paths = HostPaths {
            procfs: dir.path().into(),
            sysfs: dir.path().join("sys"),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        build(&CollectorOptions {
            cpu_info: true,
            ..Default::default()
        })
        .collect(&paths, &mut out)
        .unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_cpu_info",
                "node_cpu_seconds_total",
                "node_cpu_guest_seconds_total",
                "node_cpu_core_throttles_total",
                "node_cpu_package_throttles_total"
            ]
        );
        assert_eq!(
            out[0].metrics[0].labels[6],
            ("model_name".to_string(), "AMD EPYC".to_string())
        );
        assert_eq!(
            out[3].metrics[0].labels,
            vec![
                ("core".to_string(), "3".to_string()),
                ("package".to_string(), "0".to_string())
            ]
        );
    }
}
