//! The `netstat` collector: protocol counters from `/proc/net/netstat`, `/proc/net/snmp` and
//! `/proc/net/snmp6` as `node_netstat_<Protocol>_<Counter>`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use pharos_model::{MetricFamily, MetricType};
use regex::Regex;

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// node_exporter 1.5's default `--collector.netstat.fields`.
const DEFAULT_FIELDS: &str = r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// More distinct counter names than any kernel reports; past this the filter is still applied,
/// its answers are just not remembered.
const MAX_REMEMBERED_FIELDS: usize = 4096;

struct NetstatCollector {
    /// The compiled field filter, or why the flag was rejected.
    fields: Result<Regex, String>,
    /// The filter's answer for every `Protocol_Counter` name seen so far. A kernel reports the
    /// same few hundred counters on every scrape, so the regex only needs to run on the first.
    decisions: Mutex<HashMap<String, bool>>,
}

impl Collector for NetstatCollector {
    fn name(&self) -> &'static str {
        "netstat"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let fields = self.fields.as_ref().map_err(|reason| CollectError::Parse {
            path: "--collector.netstat.fields".into(),
            reason: reason.clone(),
        })?;
        let mut decisions = self
            .decisions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A clone has its own match cache, which for the default filter grows to a few hundred
        // KiB; dropping it with this scrape returns that memory once every name is known.
        let mut matcher: Option<Regex> = None;
        let mut emit = |protocol: &str, counter: &str, value: f64| {
            let name = format!("{protocol}_{counter}");
            let wanted = match decisions.get(&name) {
                Some(&wanted) => wanted,
                None => {
                    let wanted = matcher
                        .get_or_insert_with(|| fields.clone())
                        .is_match(&name);
                    if decisions.len() < MAX_REMEMBERED_FIELDS {
                        decisions.insert(name.clone(), wanted);
                    }
                    wanted
                }
            };
            if wanted {
                out.push(MetricFamily::single(
                    format!("node_netstat_{name}"),
                    format!("Statistic {protocol}{counter}."),
                    MetricType::Untyped,
                    value,
                ));
            }
        };
        for file in ["net/netstat", "net/snmp"] {
            let path = paths.proc(file);
            let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
                path: path.clone(),
                source,
            })?;
            parse_paired_tables(&text, &path, &mut emit)?;
        }
        // Hosts with IPv6 disabled have no snmp6.
        let path = paths.proc("net/snmp6");
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_snmp6(&text, &path, &mut emit)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(CollectError::Io { path, source }),
        }
        Ok(())
    }
}

/// Builds the collector, compiling the field filter once.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    let pattern = opts.netstat_fields.as_deref().unwrap_or(DEFAULT_FIELDS);
    let fields = Regex::new(pattern).map_err(|e| format!("invalid regex {pattern:?}: {e}"));
    Box::new(NetstatCollector {
        fields,
        decisions: Mutex::new(HashMap::new()),
    })
}

/// `netstat` and `snmp` hold pairs of lines: `Tcp: Name1 Name2` then `Tcp: 1 2`.
fn parse_paired_tables(
    text: &str,
    path: &Path,
    emit: &mut impl FnMut(&str, &str, f64),
) -> Result<(), CollectError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(names) = lines.next() {
        let bad = |reason: String| CollectError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let values = lines
            .next()
            .ok_or_else(|| bad(format!("header {names:?} has no value line")))?;
        let (protocol, names) = names
            .split_once(':')
            .ok_or_else(|| bad(format!("line {names:?} has no ':'")))?;
        let (value_protocol, values) = values
            .split_once(':')
            .ok_or_else(|| bad(format!("line {values:?} has no ':'")))?;
        if protocol != value_protocol {
            return Err(bad(format!(
                "header {protocol:?} is followed by values for {value_protocol:?}"
            )));
        }
        let mut values = values.split_ascii_whitespace();
        for name in names.split_ascii_whitespace() {
            let raw = values
                .next()
                .ok_or_else(|| bad(format!("{protocol}: fewer values than names")))?;
            let value: f64 = raw
                .parse()
                .map_err(|_| bad(format!("{protocol} {name}: {raw:?} is not a number")))?;
            emit(protocol, name, value);
        }
    }
    Ok(())
}

/// `snmp6` holds one `Ip6InReceives 123` per line; the protocol is the name up to its first `6`.
fn parse_snmp6(
    text: &str,
    path: &Path,
    emit: &mut impl FnMut(&str, &str, f64),
) -> Result<(), CollectError> {
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(key), Some(raw)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(six) = key.find('6') else { continue };
        let (protocol, counter) = key.split_at(six + 1);
        let value: f64 = raw.parse().map_err(|_| CollectError::Parse {
            path: path.to_path_buf(),
            reason: format!("{key}: {raw:?} is not a number"),
        })?;
        emit(protocol, counter, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(dir: &Path) {
        std::fs::create_dir_all(dir.join("net")).unwrap();
        std::fs::write(
            dir.join("net/netstat"),
            "TcpExt: SyncookiesSent ListenDrops TCPOFOQueue TCPTimeouts\nTcpExt: 1 2 3 4\nIpExt: InOctets OutOctets\nIpExt: 100 200\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("net/snmp"),
            "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm ActiveOpens InErrs CurrEstab\nTcp: 1 5 0 -1\nUdpLite: InDatagrams InErrors\nUdpLite: 0 0\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("net/snmp6"),
            "Ip6InReceives 10\nIp6InOctets 999\nIcmp6InMsgs 3\nUdpLite6InErrors 0\n",
        )
        .unwrap();
    }

    #[test]
    fn remembered_decisions_give_the_same_scrape() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        let paths = HostPaths {
            procfs: dir.path().into(),
            ..HostPaths::default()
        };
        let collector = build(&CollectorOptions::default());
        let names = |c: &dyn Collector| {
            let mut out = Vec::new();
            c.collect(&paths, &mut out).unwrap();
            out.into_iter().map(|f| f.name).collect::<Vec<_>>()
        };
        let first = names(collector.as_ref());
        assert!(!first.is_empty());
        assert_eq!(names(collector.as_ref()), first);
    }

    #[test]
    fn default_fields_match_node_exporter() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        let paths = HostPaths {
            procfs: dir.path().into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        build(&CollectorOptions::default())
            .collect(&paths, &mut out)
            .unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_netstat_TcpExt_SyncookiesSent",
                "node_netstat_TcpExt_ListenDrops",
                "node_netstat_TcpExt_TCPTimeouts",
                "node_netstat_IpExt_InOctets",
                "node_netstat_IpExt_OutOctets",
                "node_netstat_Ip_Forwarding",
                "node_netstat_Tcp_ActiveOpens",
                "node_netstat_Tcp_InErrs",
                "node_netstat_Tcp_CurrEstab",
                "node_netstat_UdpLite_InErrors",
                "node_netstat_Ip6_InOctets",
                "node_netstat_Icmp6_InMsgs",
                "node_netstat_UdpLite6_InErrors",
            ]
        );
        assert_eq!(out[10].help, "Statistic Ip6InOctets.");
        assert_eq!(
            out[8].metrics[0].value,
            pharos_model::MetricValue::Simple(-1.0)
        );
    }

    #[test]
    fn rejects_mismatched_tables() {
        let mut sink = |_: &str, _: &str, _: f64| {};
        assert!(parse_paired_tables("Tcp: A B\nUdp: 1 2\n", Path::new("snmp"), &mut sink).is_err());
        assert!(parse_paired_tables("Tcp: A B\n", Path::new("snmp"), &mut sink).is_err());
        assert!(parse_paired_tables("Tcp: A B\nTcp: 1\n", Path::new("snmp"), &mut sink).is_err());
        assert!(parse_paired_tables("Tcp: A\nTcp: x\n", Path::new("snmp"), &mut sink).is_err());
        assert!(parse_snmp6("Ip6InOctets x\n", Path::new("snmp6"), &mut sink).is_err());
    }
}
