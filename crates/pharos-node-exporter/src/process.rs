//! The exporter's own `process_*` metrics, with the names and HELP texts of the Go client's
//! process collector so existing "exporter health" dashboards keep working.

use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

/// What was read about this process from procfs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time in seconds.
    pub cpu_seconds: f64,
    /// Virtual memory size in bytes.
    pub virtual_bytes: f64,
    /// Resident set size in bytes.
    pub resident_bytes: f64,
    /// Start time in seconds since the epoch.
    pub start_time_seconds: f64,
}

/// Reads `/proc/self` and returns the `process_*` families. Parts that cannot be read are left
/// out (and logged at debug level) rather than failing the scrape.
pub fn families() -> Vec<MetricFamily> {
    families_from(Path::new("/proc"))
}

/// Like [`families`], reading from the given procfs mount; tests point this at fixtures.
pub fn families_from(procfs: &Path) -> Vec<MetricFamily> {
    let mut out = Vec::with_capacity(7);
    match read_stats(procfs) {
        Ok(s) => {
            out.push(MetricFamily::single(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                MetricType::Counter,
                s.cpu_seconds,
            ));
            out.push(MetricFamily::single(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                MetricType::Gauge,
                s.resident_bytes,
            ));
            out.push(MetricFamily::single(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                MetricType::Gauge,
                s.start_time_seconds,
            ));
            out.push(MetricFamily::single(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                MetricType::Gauge,
                s.virtual_bytes,
            ));
        }
        Err(e) => tracing::debug!(error = %e, "reading own process stats"),
    }
    match std::fs::read_dir(procfs.join("self/fd")) {
        Ok(dir) => out.push(MetricFamily::single(
            "process_open_fds",
            "Number of open file descriptors.",
            MetricType::Gauge,
            dir.count() as f64,
        )),
        Err(e) => tracing::debug!(error = %e, "counting own open file descriptors"),
    }
    match std::fs::read_to_string(procfs.join("self/limits")) {
        Ok(limits) => {
            if let Some(v) = soft_limit(&limits, "Max open files") {
                out.push(MetricFamily::single(
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                    MetricType::Gauge,
                    v,
                ));
            }
            if let Some(v) = soft_limit(&limits, "Max address space") {
                out.push(MetricFamily::single(
                    "process_virtual_memory_max_bytes",
                    "Maximum amount of virtual memory available in bytes.",
                    MetricType::Gauge,
                    v,
                ));
            }
        }
        Err(e) => tracing::debug!(error = %e, "reading own process limits"),
    }
    out
}

/// Why the process stats could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcessStatsError {
    /// A procfs file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A procfs file did not have the expected shape.
    #[error("unexpected format of {0}")]
    Format(&'static str),
}

/// Reads CPU time, memory and start time of this process.
pub fn read_stats(procfs: &Path) -> Result<ProcessStats, ProcessStatsError> {
    let read = |rel: &str| {
        let path = procfs.join(rel);
        std::fs::read_to_string(&path).map_err(|source| ProcessStatsError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let stat = read("self/stat")?;
    let boot_time = match cached_boot_time(procfs) {
        Some(t) => t,
        None => {
            let t = read("stat")?
                .lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or(ProcessStatsError::Format("/proc/stat (no btime line)"))?;
            remember_boot_time(procfs, t);
            t
        }
    };
    parse_stat(&stat, boot_time, clock_ticks_per_second(), page_size())
}

/// The boot time read from the host's `/proc/stat`. It never changes while the process runs,
/// and `/proc/stat` grows with the number of CPUs, so it is read once rather than per scrape.
static HOST_BOOT_TIME: std::sync::OnceLock<f64> = std::sync::OnceLock::new();

fn cached_boot_time(procfs: &Path) -> Option<f64> {
    // Only the real procfs is cached; other roots (fixtures) are read every time.
    (procfs == Path::new("/proc"))
        .then(|| HOST_BOOT_TIME.get().copied())
        .flatten()
}

fn remember_boot_time(procfs: &Path, boot_time: f64) {
    if procfs == Path::new("/proc") {
        let _ = HOST_BOOT_TIME.set(boot_time);
    }
}

/// Parses `/proc/self/stat`. The command name may contain spaces and parentheses, so fields are
/// counted from the last `)`.
fn parse_stat(
    stat: &str,
    boot_time: f64,
    ticks: f64,
    page_size: f64,
) -> Result<ProcessStats, ProcessStatsError> {
    const BAD: ProcessStatsError = ProcessStatsError::Format("/proc/self/stat");
    let after = stat.rfind(')').map(|i| &stat[i + 1..]).ok_or(BAD)?;
    // Index 0 is field 3 (state) of proc(5).
    let fields: Vec<&str> = after.split_whitespace().collect();
    let num = |field: usize| -> Result<f64, ProcessStatsError> {
        fields
            .get(field - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or(BAD)
    };
    Ok(ProcessStats {
        cpu_seconds: (num(14)? + num(15)?) / ticks,
        start_time_seconds: boot_time + num(22)? / ticks,
        virtual_bytes: num(23)?,
        resident_bytes: num(24)? * page_size,
    })
}

/// The soft limit of one row of `/proc/<pid>/limits`; "unlimited" is the largest u64, as Go
/// reports it.
fn soft_limit(limits: &str, name: &str) -> Option<f64> {
    let rest = limits.lines().find_map(|l| l.strip_prefix(name))?;
    match rest.split_whitespace().next()? {
        "unlimited" => Some(u64::MAX as f64),
        v => v.parse().ok(),
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> f64 {
    // SAFETY: as above.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as f64
    } else {
        4096.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_name() {
        let stat =
            "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 123456789 300 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let s = parse_stat(stat, 1_700_000_000.0, 100.0, 4096.0).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
        assert_eq!(s.virtual_bytes, 123456789.0);
        assert_eq!(s.resident_bytes, 300.0 * 4096.0);
    }

    #[test]
    fn truncated_stat_is_an_error() {
        assert!(parse_stat("42 (x) S 1 2", 0.0, 100.0, 4096.0).is_err());
        assert!(parse_stat("no parenthesis", 0.0, 100.0, 4096.0).is_err());
    }

    #[test]
    fn reads_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 1048576              files     \n\
                      Max address space         unlimited            unlimited            bytes     \n";
        assert_eq!(soft_limit(limits, "Max open files"), Some(1024.0));
        assert_eq!(
            soft_limit(limits, "Max address space"),
            Some(u64::MAX as f64)
        );
        assert_eq!(soft_limit(limits, "Max locked memory"), None);
    }

    #[test]
    fn reads_this_process() {
        let fams = families();
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        for want in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_virtual_memory_max_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            assert!(names.contains(&want), "missing {want} in {names:?}");
        }
    }
}
