//! Reading systemd's manager state through `systemctl`, with a hard time limit per call.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::collector::CollectError;

/// How long one `systemctl` call may take before it is killed.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One line of `systemctl list-units`.
pub(super) struct UnitListing {
    pub name: String,
    pub active_state: String,
}

impl UnitListing {
    /// Parses `systemctl list-units --all --plain --no-legend` output.
    pub fn parse(text: &str) -> Vec<UnitListing> {
        text.lines()
            .filter_map(|line| {
                let mut fields = line
                    .split_whitespace()
                    .skip_while(|f| *f == "●" || *f == "*");
                let name = fields.next()?;
                let _load = fields.next()?;
                let active = fields.next()?;
                Some(UnitListing {
                    name: name.to_string(),
                    active_state: active.to_string(),
                })
            })
            .collect()
    }
}

/// Properties from `systemctl show` that node_exporter reports.
#[derive(Default)]
pub(super) struct UnitDetails {
    pub service_type: String,
    pub active_enter_seconds: Option<f64>,
    pub last_trigger_seconds: Option<f64>,
    pub accepted: Option<f64>,
    pub connections: Option<f64>,
    pub refused: Option<f64>,
}

/// Everything one scrape needs.
pub(super) struct ManagerState {
    pub units: Vec<UnitListing>,
    pub details: HashMap<String, UnitDetails>,
    pub system_state: String,
    /// (numeric version such as 252.39, full version string).
    pub version: Option<(f64, String)>,
}

/// `@<seconds>` as printed with `--timestamp=unix`; anything else (unset) is `None`.
fn unix_timestamp(value: &str) -> Option<f64> {
    value.strip_prefix('@')?.parse().ok()
}

/// Parses `systemctl show` output: blank-line separated `Key=Value` blocks, one per unit.
pub(super) fn parse_show(text: &str) -> HashMap<String, UnitDetails> {
    let mut all = HashMap::new();
    for block in text.split("\n\n") {
        let mut id = None;
        let mut details = UnitDetails::default();
        for line in block.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "Id" => id = Some(value.to_string()),
                "Type" => details.service_type = value.to_string(),
                "ActiveEnterTimestamp" => details.active_enter_seconds = unix_timestamp(value),
                "LastTriggerUSec" => details.last_trigger_seconds = unix_timestamp(value),
                "NAccepted" => details.accepted = value.parse().ok(),
                "NConnections" => details.connections = value.parse().ok(),
                "NRefused" => details.refused = value.parse().ok(),
                _ => {}
            }
        }
        if let Some(id) = id {
            all.insert(id, details);
        }
    }
    all
}

/// Parses `systemctl --version` (`systemd 252 (252.39-1~deb12u2)`) into the number node_exporter
/// reports (the first run of 3+ digits with an optional fraction) and the full version label.
pub(super) fn parse_version(text: &str) -> Option<(f64, String)> {
    let first = text.lines().next()?;
    let full = match (first.find('('), first.rfind(')')) {
        (Some(open), Some(close)) if open < close => first.get(open + 1..close)?.to_string(),
        _ => first.split_whitespace().nth(1)?.to_string(),
    };
    let digits = Regex::new(r"[0-9]{3,}(\.[0-9]+)?").ok()?;
    let number = digits.find(&full)?.as_str().parse().ok()?;
    Some((number, full))
}

/// Runs `systemctl` with `args`, returning stdout; killed after [`CALL_TIMEOUT`].
fn systemctl(args: &[&str]) -> Result<String, CollectError> {
    let failed = |reason: String| CollectError::Parse {
        path: format!("systemctl {}", args.join(" ")).into(),
        reason,
    };
    let mut child = Command::new("systemctl")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| failed("no stdout".into()))?;
    // Reading on another thread keeps a large output from filling the pipe and stalling the child.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let deadline = Instant::now() + CALL_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!("timed out after {CALL_TIMEOUT:?}")));
            }
            Err(e) => return Err(failed(e.to_string())),
        }
    }
    // `is-system-running` exits non-zero for "degraded" but still prints the state.
    let bytes = reader
        .join()
        .map_err(|_| failed("reader thread failed".into()))?
        .map_err(|e| failed(e.to_string()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Asks systemd for all loaded units and, for the units passing the filters, their details.
pub(super) fn query(include: &Regex, exclude: &Regex) -> Result<ManagerState, CollectError> {
    let units = UnitListing::parse(&systemctl(&[
        "list-units",
        "--all",
        "--plain",
        "--no-legend",
        "--no-pager",
        "--full",
    ])?);
    let wanted: Vec<&str> = units
        .iter()
        .map(|u| u.name.as_str())
        .filter(|n| include.is_match(n) && !exclude.is_match(n))
        .collect();
    let mut details = HashMap::new();
    if !wanted.is_empty() {
        let mut args = vec![
            "show",
            "--timestamp=unix",
            "--property=Id,Type,ActiveState,ActiveEnterTimestamp,LastTriggerUSec,NAccepted,NConnections,NRefused",
        ];
        args.extend(wanted.iter().copied());
        details = parse_show(&systemctl(&args)?);
    }
    let system_state = systemctl(&["is-system-running"])?.trim().to_string();
    let version = parse_version(&systemctl(&["--version"])?);
    Ok(ManagerState {
        units,
        details,
        system_state,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_skips_failure_bullets() {
        let units = UnitListing::parse(
            "● foo.service loaded failed failed Foo\nbar.socket loaded active listening Bar\n",
        );
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].name, "foo.service");
        assert_eq!(units[0].active_state, "failed");
    }

    #[test]
    fn socket_counters() {
        let d = parse_show("Id=s.socket\nNAccepted=7\nNConnections=1\nNRefused=0\n");
        let s = &d["s.socket"];
        assert_eq!(
            (s.accepted, s.connections, s.refused),
            (Some(7.0), Some(1.0), Some(0.0))
        );
    }

    #[test]
    fn version_without_parenthesis() {
        assert_eq!(parse_version("systemd 245\n"), Some((245.0, "245".into())));
        assert_eq!(parse_version(""), None);
    }
}
