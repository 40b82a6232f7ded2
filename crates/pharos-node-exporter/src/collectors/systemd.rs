//! The `systemd` collector: unit states, unit counts, system state and version.
//!
//! node_exporter asks systemd over D-Bus; this collector asks `systemctl` instead (bounded by a
//! timeout), which reads the same manager state without pulling a D-Bus stack into the binary.

mod systemctl;

use std::collections::BTreeMap;

use pharos_model::{MetricFamily, MetricType};
use regex::Regex;

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

use systemctl::{ManagerState, UnitDetails};

/// node_exporter's default for `--collector.systemd.unit-include`.
const DEFAULT_INCLUDE: &str = ".+";
/// node_exporter's default for `--collector.systemd.unit-exclude`.
const DEFAULT_EXCLUDE: &str = r".+\.(automount|device|mount|scope|slice)";

/// The active states node_exporter reports for every unit, in its order.
const UNIT_STATES: &[&str] = &["active", "activating", "deactivating", "inactive", "failed"];

struct SystemdCollector {
    /// Both patterns are anchored, as node_exporter anchors them.
    filters: Result<(Regex, Regex), String>,
}

fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("{pattern:?}: {e}"))
}

/// Turns what systemd reported into node_exporter's families.
fn families(state: &ManagerState, include: &Regex, exclude: &Regex) -> Vec<MetricFamily> {
    let mut summary: BTreeMap<&str, f64> = UNIT_STATES.iter().map(|s| (*s, 0.0)).collect();
    for unit in &state.units {
        if let Some(count) = summary.get_mut(unit.active_state.as_str()) {
            *count += 1.0;
        }
    }
    let mut units = MetricFamily::new(
        "node_systemd_units",
        "Summary of systemd unit states",
        MetricType::Gauge,
    );
    for (s, count) in &summary {
        units.push([("state", *s)], *count);
    }

    let mut unit_state =
        MetricFamily::new("node_systemd_unit_state", "Systemd unit", MetricType::Gauge);
    let mut start_time = MetricFamily::new(
        "node_systemd_unit_start_time_seconds",
        "Start time of the unit since unix epoch in seconds.",
        MetricType::Gauge,
    );
    let mut timer = MetricFamily::new(
        "node_systemd_timer_last_trigger_seconds",
        "Seconds since epoch of last trigger.",
        MetricType::Gauge,
    );
    let mut accepted = MetricFamily::new(
        "node_systemd_socket_accepted_connections_total",
        "Total number of accepted socket connections",
        MetricType::Counter,
    );
    let mut current = MetricFamily::new(
        "node_systemd_socket_current_connections",
        "Current number of socket connections",
        MetricType::Gauge,
    );
    let mut refused = MetricFamily::new(
        "node_systemd_socket_refused_connections_total",
        "Total number of refused socket connections",
        MetricType::Gauge,
    );
    let empty = UnitDetails::default();
    for unit in state
        .units
        .iter()
        .filter(|u| include.is_match(&u.name) && !exclude.is_match(&u.name))
    {
        let details = state.details.get(&unit.name).unwrap_or(&empty);
        let service_type = if unit.name.ends_with(".service") {
            details.service_type.as_str()
        } else {
            ""
        };
        for s in UNIT_STATES {
            let value = if *s == unit.active_state { 1.0 } else { 0.0 };
            unit_state.push(
                [
                    ("name", unit.name.as_str()),
                    ("state", s),
                    ("type", service_type),
                ],
                value,
            );
        }
        let name = [("name", unit.name.as_str())];
        let started = if unit.active_state == "active" {
            details.active_enter_seconds.unwrap_or(0.0)
        } else {
            0.0
        };
        start_time.push(name, started);
        if unit.name.ends_with(".timer") {
            if let Some(last) = details.last_trigger_seconds {
                timer.push(name, last);
            }
        }
        if unit.name.ends_with(".socket") {
            if let (Some(a), Some(c), Some(r)) =
                (details.accepted, details.connections, details.refused)
            {
                accepted.push(name, a);
                current.push(name, c);
                refused.push(name, r);
            }
        }
    }
    let running = if state.system_state == "running" {
        1.0
    } else {
        0.0
    };
    let system_running = MetricFamily::single(
        "node_systemd_system_running",
        "Whether the system is operational (see 'systemctl is-system-running')",
        MetricType::Gauge,
        running,
    );
    let mut version = MetricFamily::new(
        "node_systemd_version",
        "Detected systemd version",
        MetricType::Gauge,
    );
    if let Some((number, full)) = &state.version {
        version.push([("version", full.as_str())], *number);
    }
    let mut all = vec![
        units,
        unit_state,
        start_time,
        timer,
        accepted,
        current,
        refused,
        system_running,
        version,
    ];
    for family in &mut all {
        family.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

impl Collector for SystemdCollector {
    fn name(&self) -> &'static str {
        "systemd"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let (include, exclude) = self
            .filters
            .as_ref()
            .map_err(|reason| CollectError::Parse {
                path: "--collector.systemd.unit-include/--collector.systemd.unit-exclude".into(),
                reason: reason.clone(),
            })?;
        // The same test sd_booted() makes: systemd is PID 1 only if this directory exists.
        if !paths.rootfs.join("run/systemd/system").is_dir() {
            return Err(CollectError::NotPresent("systemd".into()));
        }
        let state = systemctl::query(include, exclude)?;
        out.extend(families(&state, include, exclude));
        Ok(())
    }
}

/// Builds the collector, compiling `--collector.systemd.unit-include`/`-exclude` once.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    let include = anchored(
        opts.systemd_unit_include
            .as_deref()
            .unwrap_or(DEFAULT_INCLUDE),
    );
    let exclude = anchored(
        opts.systemd_unit_exclude
            .as_deref()
            .unwrap_or(DEFAULT_EXCLUDE),
    );
    Box::new(SystemdCollector {
        filters: include.and_then(|i| exclude.map(|e| (i, e))),
    })
}

#[cfg(test)]
mod tests {
    use super::systemctl::UnitListing;
    use super::*;
    use pharos_model::write::write_text;

    #[test]
    fn states_counts_and_filters() {
        let listing = "\
ssh.service loaded active running OpenBSD Secure Shell server
cron.service loaded failed failed Regular background program processing daemon
-.mount loaded active mounted Root Mount
apt-daily.timer loaded active waiting Daily apt download activities
";
        let show = "\
Id=ssh.service
Type=notify
ActiveState=active
ActiveEnterTimestamp=@1700000000

Id=cron.service
Type=simple
ActiveState=failed
ActiveEnterTimestamp=

Id=apt-daily.timer
Type=
ActiveState=active
ActiveEnterTimestamp=@1700000100
LastTriggerUSec=@1700000200
";
        let state = ManagerState {
            units: UnitListing::parse(listing),
            details: systemctl::parse_show(show),
            system_state: "degraded".into(),
            version: systemctl::parse_version("systemd 252 (252.39-1~deb12u2)\n+PAM"),
        };
        let include = anchored(DEFAULT_INCLUDE).unwrap();
        let exclude = anchored(DEFAULT_EXCLUDE).unwrap();
        let mut text = String::new();
        write_text(&families(&state, &include, &exclude), &mut text);
        let expected = r#"# HELP node_systemd_system_running Whether the system is operational (see 'systemctl is-system-running')
# TYPE node_systemd_system_running gauge
node_systemd_system_running 0
# HELP node_systemd_timer_last_trigger_seconds Seconds since epoch of last trigger.
# TYPE node_systemd_timer_last_trigger_seconds gauge
node_systemd_timer_last_trigger_seconds{name="apt-daily.timer"} 1.7000002e+09
# HELP node_systemd_unit_start_time_seconds Start time of the unit since unix epoch in seconds.
# TYPE node_systemd_unit_start_time_seconds gauge
node_systemd_unit_start_time_seconds{name="apt-daily.timer"} 1.7000001e+09
node_systemd_unit_start_time_seconds{name="cron.service"} 0
node_systemd_unit_start_time_seconds{name="ssh.service"} 1.7e+09
# HELP node_systemd_unit_state Systemd unit
# TYPE node_systemd_unit_state gauge
node_systemd_unit_state{name="apt-daily.timer",state="activating",type=""} 0
node_systemd_unit_state{name="apt-daily.timer",state="active",type=""} 1
node_systemd_unit_state{name="apt-daily.timer",state="deactivating",type=""} 0
node_systemd_unit_state{name="apt-daily.timer",state="failed",type=""} 0
node_systemd_unit_state{name="apt-daily.timer",state="inactive",type=""} 0
node_systemd_unit_state{name="cron.service",state="activating",type="simple"} 0
node_systemd_unit_state{name="cron.service",state="active",type="simple"} 0
node_systemd_unit_state{name="cron.service",state="deactivating",type="simple"} 0
node_systemd_unit_state{name="cron.service",state="failed",type="simple"} 1
node_systemd_unit_state{name="cron.service",state="inactive",type="simple"} 0
node_systemd_unit_state{name="ssh.service",state="activating",type="notify"} 0
node_systemd_unit_state{name="ssh.service",state="active",type="notify"} 1
node_systemd_unit_state{name="ssh.service",state="deactivating",type="notify"} 0
node_systemd_unit_state{name="ssh.service",state="failed",type="notify"} 0
node_systemd_unit_state{name="ssh.service",state="inactive",type="notify"} 0
# HELP node_systemd_units Summary of systemd unit states
# TYPE node_systemd_units gauge
node_systemd_units{state="activating"} 0
node_systemd_units{state="active"} 3
node_systemd_units{state="deactivating"} 0
node_systemd_units{state="failed"} 1
node_systemd_units{state="inactive"} 0
# HELP node_systemd_version Detected systemd version
# TYPE node_systemd_version gauge
node_systemd_version{version="252.39-1~deb12u2"} 252.39
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn no_systemd_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            rootfs: tmp.path().into(),
            ..HostPaths::default()
        };
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }

    #[test]
    fn bad_pattern_names_the_flag() {
        let opts = CollectorOptions {
            systemd_unit_include: Some("(".into()),
            ..Default::default()
        };
        let err = build(&opts)
            .collect(&HostPaths::default(), &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("unit-include"), "{err}");
    }
}
