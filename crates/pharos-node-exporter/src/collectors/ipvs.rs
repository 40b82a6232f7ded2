//! The `ipvs` collector: IP Virtual Server totals from `/proc/net/ip_vs_stats` and per-backend
//! connection counts and weights from `/proc/net/ip_vs`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};

use super::host_source::read_source_file;
use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// Backend label names, sorted as they are written.
const BACKEND_LABELS: [&str; 6] = [
    "local_address",
    "local_mark",
    "local_port",
    "proto",
    "remote_address",
    "remote_port",
];

struct IpvsCollector;

fn parse_error(path: &Path, reason: String) -> CollectError {
    CollectError::Parse {
        path: path.to_path_buf(),
        reason,
    }
}

/// The five totals (connections, packets in/out, bytes in/out), printed in hex on line 3.
fn parse_stats(text: &str, path: &Path) -> Result<[u64; 5], CollectError> {
    let line = text
        .lines()
        .nth(2)
        .ok_or_else(|| parse_error(path, "fewer than 3 lines".into()))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .map(|f| u64::from_str_radix(f, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| parse_error(path, format!("invalid totals line {line:?}")))?;
    <[u64; 5]>::try_from(values)
        .map_err(|v| parse_error(path, format!("expected 5 totals, got {}", v.len())))
}

/// `C0A80016:0CEA` or `[2620:0000:...:0001]:0050` to (address, port).
fn parse_endpoint(raw: &str) -> Option<(String, u16)> {
    let (addr, port) = raw.rsplit_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let addr = if let Some(v6) = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        let ip: Ipv6Addr = v6.parse().ok()?;
        match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ip.to_string(),
        }
    } else {
        Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?).to_string()
    };
    Some((addr, port))
}

/// (labels in [`BACKEND_LABELS`] order, active, inactive, weight) per backend line.
type Backend = ([String; 6], f64, f64, f64);

fn parse_backends(text: &str, path: &Path) -> Result<Vec<Backend>, CollectError> {
    let mut backends = Vec::new();
    let (mut proto, mut local_address, mut local_port, mut local_mark) =
        (String::new(), String::new(), 0u16, String::new());
    for line in text.lines().skip(3) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let bad = || parse_error(path, format!("invalid line {line:?}"));
        match fields.as_slice() {
            [] => continue,
            ["FWM", mark, ..] => {
                proto = "FWM".into();
                local_mark = (*mark).to_string();
                local_address.clear();
                local_port = 0;
            }
            [p @ ("TCP" | "UDP" | "SCTP"), endpoint, ..] => {
                let (addr, port) = parse_endpoint(endpoint).ok_or_else(bad)?;
                proto = (*p).to_string();
                local_address = addr;
                local_port = port;
                local_mark.clear();
            }
            ["->", endpoint, _forward, weight, active, inactive, ..] => {
                let (remote, remote_port) = parse_endpoint(endpoint).ok_or_else(bad)?;
                let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
                backends.push((
                    [
                        local_address.clone(),
                        local_mark.clone(),
                        local_port.to_string(),
                        proto.clone(),
                        remote,
                        remote_port.to_string(),
                    ],
                    num(active)?,
                    num(inactive)?,
                    num(weight)?,
                ));
            }
            _ => return Err(bad()),
        }
    }
    Ok(backends)
}

impl Collector for IpvsCollector {
    fn name(&self) -> &'static str {
        "ipvs"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let stats_path = paths.proc("net/ip_vs_stats");
        let totals = parse_stats(&read_source_file(&stats_path)?, &stats_path)?;
        let backends_path = paths.proc("net/ip_vs");
        let backends = parse_backends(&read_source_file(&backends_path)?, &backends_path)?;

        // Backends listed under several services with the same labels are summed.
        let mut sums: BTreeMap<[String; 6], (f64, f64, f64)> = BTreeMap::new();
        for (labels, active, inactive, weight) in backends {
            let entry = sums.entry(labels).or_default();
            entry.0 += active;
            entry.1 += inactive;
            entry.2 += weight;
        }
        let gauge = MetricType::Gauge;
        let mut active = MetricFamily::new(
            "node_ipvs_backend_connections_active",
            "The current active connections by local and remote address.",
            gauge,
        );
        let mut inactive = MetricFamily::new(
            "node_ipvs_backend_connections_inactive",
            "The current inactive connections by local and remote address.",
            gauge,
        );
        let mut weight = MetricFamily::new(
            "node_ipvs_backend_weight",
            "The current backend weight by local and remote address.",
            gauge,
        );
        for (labels, (a, i, w)) in &sums {
            let pairs = || {
                BACKEND_LABELS
                    .iter()
                    .copied()
                    .zip(labels.iter().map(String::as_str))
            };
            active.push(pairs(), *a);
            inactive.push(pairs(), *i);
            weight.push(pairs(), *w);
        }
        let counter = MetricType::Counter;
        out.push(active);
        out.push(inactive);
        out.push(weight);
        let [conns, packets_in, packets_out, bytes_in, bytes_out] = totals.map(|v| v as f64);
        out.push(MetricFamily::single(
            "node_ipvs_connections_total",
            "The total number of connections made.",
            counter,
            conns,
        ));
        out.push(MetricFamily::single(
            "node_ipvs_incoming_bytes_total",
            "The total amount of incoming data.",
            counter,
            bytes_in,
        ));
        out.push(MetricFamily::single(
            "node_ipvs_incoming_packets_total",
            "The total number of incoming packets.",
            counter,
            packets_in,
        ));
        out.push(MetricFamily::single(
            "node_ipvs_outgoing_bytes_total",
            "The total amount of outgoing data.",
            counter,
            bytes_out,
        ));
        out.push(MetricFamily::single(
            "node_ipvs_outgoing_packets_total",
            "The total number of outgoing packets.",
            counter,
            packets_out,
        ));
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(IpvsCollector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, procfs_host};
    use std::fs;

    const STATS: &str = "   Total Incoming Outgoing         Incoming         Outgoing
   Conns  Packets  Packets            Bytes            Bytes
 16AA370 E33656E5        0     51D8C8883AB3                0

 Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
       4    1FB3C        0          1282A8F                0
";
    const BACKENDS: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C0A80016:0CEA wlc
  -> C0A85216:0CEA      Tunnel  100    248        2
TCP  [2620:0000:0000:0000:0000:0000:0000:0001]:0050 sed
  -> [2620:0000:0000:0000:0000:0000:0000:0002]:0050      Route   1      0          0
FWM  10001000 wlc
  -> C0A8321A:0CEA      Route   0      0          1
  -> C0A8321A:0CEA      Route   0      0          2
";

    #[test]
    fn totals_and_backends() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("net")).unwrap();
        fs::write(tmp.path().join("net/ip_vs_stats"), STATS).unwrap();
        fs::write(tmp.path().join("net/ip_vs"), BACKENDS).unwrap();
        let text = collected_text(
            build(&CollectorOptions::default()).as_ref(),
            &procfs_host(tmp.path()),
        )
        .unwrap();
        let expected = r#"# HELP node_ipvs_backend_connections_active The current active connections by local and remote address.
# TYPE node_ipvs_backend_connections_active gauge
node_ipvs_backend_connections_active{local_address="",local_mark="10001000",local_port="0",proto="FWM",remote_address="192.168.50.26",remote_port="3306"} 0
node_ipvs_backend_connections_active{local_address="192.168.0.22",local_mark="",local_port="3306",proto="TCP",remote_address="192.168.82.22",remote_port="3306"} 248
node_ipvs_backend_connections_active{local_address="2620::1",local_mark="",local_port="80",proto="TCP",remote_address="2620::2",remote_port="80"} 0
# HELP node_ipvs_backend_connections_inactive The current inactive connections by local and remote address.
# TYPE node_ipvs_backend_connections_inactive gauge
node_ipvs_backend_connections_inactive{local_address="",local_mark="10001000",local_port="0",proto="FWM",remote_address="192.168.50.26",remote_port="3306"} 3
node_ipvs_backend_connections_inactive{local_address="192.168.0.22",local_mark="",local_port="3306",proto="TCP",remote_address="192.168.82.22",remote_port="3306"} 2
node_ipvs_backend_connections_inactive{local_address="2620::1",local_mark="",local_port="80",proto="TCP",remote_address="2620::2",remote_port="80"} 0
# HELP node_ipvs_backend_weight The current backend weight by local and remote address.
# TYPE node_ipvs_backend_weight gauge
node_ipvs_backend_weight{local_address="",local_mark="10001000",local_port="0",proto="FWM",remote_address="192.168.50.26",remote_port="3306"} 0
node_ipvs_backend_weight{local_address="192.168.0.22",local_mark="",local_port="3306",proto="TCP",remote_address="192.168.82.22",remote_port="3306"} 100
node_ipvs_backend_weight{local_address="2620::1",local_mark="",local_port="80",proto="TCP",remote_address="2620::2",remote_port="80"} 1
# HELP node_ipvs_connections_total The total number of connections made.
# TYPE node_ipvs_connections_total counter
node_ipvs_connections_total 2.3765872e+07
# HELP node_ipvs_incoming_bytes_total The total amount of incoming data.
# TYPE node_ipvs_incoming_bytes_total counter
node_ipvs_incoming_bytes_total 8.9991519156915e+13
# HELP node_ipvs_incoming_packets_total The total number of incoming packets.
# TYPE node_ipvs_incoming_packets_total counter
node_ipvs_incoming_packets_total 3.811989221e+09
# HELP node_ipvs_outgoing_bytes_total The total amount of outgoing data.
# TYPE node_ipvs_outgoing_bytes_total counter
node_ipvs_outgoing_bytes_total 0
# HELP node_ipvs_outgoing_packets_total The total number of outgoing packets.
# TYPE node_ipvs_outgoing_packets_total counter
node_ipvs_outgoing_packets_total 0
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn garbage_totals_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("net")).unwrap();
        fs::write(tmp.path().join("net/ip_vs_stats"), "a\nb\nzz yy\n").unwrap();
        let paths = procfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("ip_vs_stats"), "{err}");
    }
}
