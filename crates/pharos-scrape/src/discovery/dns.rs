//! `dns_sd_configs`: targets from SRV, A, AAAA, MX or NS records, re-resolved every
//! `refresh_interval`.
//!
//! The resolver is a small DNS client written here (UDP with TCP fallback on truncation, the
//! name servers and search domains of `/etc/resolv.conf`). A full resolver library would bring
//! in far more code than these four record types need, and the system resolver offers no SRV
//! lookups.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use pharos_http::PromDuration;
use pharos_model::{Labels, LabelsBuilder};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{DiscoveryUpdate, TargetGroup, ADDRESS_LABEL};

/// The name that was looked up.
pub const META_DNS_NAME: &str = "__meta_dns_name";
/// The target of an SRV record.
pub const META_DNS_SRV_TARGET: &str = "__meta_dns_srv_record_target";
/// The port of an SRV record.
pub const META_DNS_SRV_PORT: &str = "__meta_dns_srv_record_port";
/// The host of an MX record.
pub const META_DNS_MX_TARGET: &str = "__meta_dns_mx_record_target";
/// The host of an NS record.
pub const META_DNS_NS_TARGET: &str = "__meta_dns_ns_record_target";

/// Record types `dns_sd_configs` can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub enum RecordType {
    /// Service records: host and port come from the record.
    #[default]
    SRV,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    AAAA,
    /// Mail exchangers.
    MX,
    /// Name servers.
    NS,
}

impl RecordType {
    fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::NS => 2,
            RecordType::MX => 15,
            RecordType::AAAA => 28,
            RecordType::SRV => 33,
        }
    }
}

impl<'de> Deserialize<'de> for RecordType {
    /// Case-insensitive, like Prometheus.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_uppercase().as_str() {
            "SRV" => Ok(RecordType::SRV),
            "A" => Ok(RecordType::A),
            "AAAA" => Ok(RecordType::AAAA),
            "MX" => Ok(RecordType::MX),
            "NS" => Ok(RecordType::NS),
            _ => Err(serde::de::Error::custom(format!(
                "invalid DNS-SD records type {s}"
            ))),
        }
    }
}

fn default_refresh() -> PromDuration {
    PromDuration::from_secs(30)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDnsSdConfig {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default = "default_refresh")]
    refresh_interval: PromDuration,
    #[serde(default, rename = "type")]
    record_type: RecordType,
    #[serde(default)]
    port: u16,
}

/// One `dns_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawDnsSdConfig")]
pub struct DnsSdConfig {
    /// Names to look up.
    pub names: Vec<String>,
    /// How often to look them up again; 30s by default.
    pub refresh_interval: PromDuration,
    /// The record type; SRV by default.
    #[serde(rename = "type")]
    pub record_type: RecordType,
    /// The port for every record type except SRV.
    pub port: u16,
}

impl TryFrom<RawDnsSdConfig> for DnsSdConfig {
    type Error = String;
    fn try_from(raw: RawDnsSdConfig) -> Result<Self, String> {
        if raw.names.is_empty() {
            return Err("DNS-SD config must contain at least one SRV record name".into());
        }
        if raw.record_type != RecordType::SRV && raw.port == 0 {
            return Err(
                "a port is required in DNS-SD configs for all record types except SRV".into(),
            );
        }
        Ok(DnsSdConfig {
            names: raw.names,
            refresh_interval: raw.refresh_interval,
            record_type: raw.record_type,
            port: raw.port,
        })
    }
}

/// Why a lookup failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// No name server is configured.
    #[error("no DNS server configured (check /etc/resolv.conf)")]
    NoServer,
    /// The name is not valid in DNS.
    #[error("invalid DNS name {0:?}")]
    InvalidName(String),
    /// The name does not exist.
    #[error("no such host {0:?}")]
    NotFound(String),
    /// Every server failed or timed out.
    #[error("DNS lookup of {name:?} failed: {message}")]
    Failed {
        /// The name looked up.
        name: String,
        /// The last failure.
        message: String,
    },
    /// A server's answer could not be decoded.
    #[error("malformed DNS response: {0}")]
    Malformed(&'static str),
}

/// One answer record of the requested type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A service location.
    Srv {
        /// Target host, without the trailing dot.
        target: String,
        /// Port.
        port: u16,
    },
    /// A mail exchanger host, without the trailing dot.
    Mx(String),
    /// A name server host, without the trailing dot.
    Ns(String),
}

/// A minimal stub resolver.
#[derive(Clone, Debug)]
pub struct Resolver {
    servers: Vec<SocketAddr>,
    search: Vec<String>,
    ndots: usize,
    timeout: Duration,
}

impl Resolver {
    /// Uses the servers, search domains and `ndots` of `/etc/resolv.conf`.
    pub fn from_system() -> Self {
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        Self::from_resolv_conf(&text)
    }

    /// Parses resolv.conf syntax (`nameserver`, `search`, `domain`, `options ndots:n`).
    pub fn from_resolv_conf(text: &str) -> Self {
        let mut r = Resolver {
            servers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
        };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                        r.servers.push(SocketAddr::new(ip, 53));
                    }
                }
                Some("search") | Some("domain") => {
                    r.search = words.map(|w| w.trim_end_matches('.').to_string()).collect()
                }
                Some("options") => {
                    for w in words {
                        if let Some(n) = w.strip_prefix("ndots:").and_then(|n| n.parse().ok()) {
                            r.ndots = n;
                        }
                    }
                }
                _ => {}
            }
        }
        r
    }

    /// Uses exactly `servers` with no search domains (for tests and explicit setups).
    pub fn with_servers(servers: Vec<SocketAddr>, timeout: Duration) -> Self {
        Resolver {
            servers,
            search: Vec::new(),
            ndots: 1,
            timeout,
        }
    }

    /// The names to try for `name`, in order, following resolv.conf's `ndots` rule.
    fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(abs) = name.strip_suffix('.') {
            return vec![abs.to_string()];
        }
        let with_search = self.search.iter().map(|d| format!("{name}.{d}"));
        if name.matches('.').count() >= self.ndots {
            std::iter::once(name.to_string())
                .chain(with_search)
                .collect()
        } else {
            with_search
                .chain(std::iter::once(name.to_string()))
                .collect()
        }
    }

    /// Looks up `name`, trying search domains until one exists.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<Record>, DnsError> {
        if self.servers.is_empty() {
            return Err(DnsError::NoServer);
        }
        let mut last = DnsError::NotFound(name.to_string());
        for candidate in self.candidates(name) {
            match self.query(&candidate, rtype).await {
                Ok(records) => return Ok(records),
                Err(e @ DnsError::NotFound(_)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(match last {
            DnsError::NotFound(_) => DnsError::NotFound(name.to_string()),
            other => other,
        })
    }

    async fn query(&self, name: &str, rtype: RecordType) -> Result<Vec<Record>, DnsError> {
        let id = query_id();
        let packet = encode_query(id, name, rtype.code())?;
        let mut last = String::from("no answer");
        for server in &self.servers {
            let answer =
                match tokio::time::timeout(self.timeout, exchange_udp(*server, &packet)).await {
                    Ok(Ok(a)) => a,
                    Ok(Err(e)) => {
                        last = format!("{server}: {e}");
                        continue;
                    }
                    Err(_) => {
                        last = format!(
                            "{server}: timed out after {}",
                            PromDuration::new(self.timeout)
                        );
                        continue;
                    }
                };
            let answer = if is_truncated(&answer) {
                match tokio::time::timeout(self.timeout, exchange_tcp(*server, &packet)).await {
                    Ok(Ok(a)) => a,
                    Ok(Err(e)) => {
                        last = format!("{server} (TCP): {e}");
                        continue;
                    }
                    Err(_) => {
                        last = format!("{server} (TCP): timed out");
                        continue;
                    }
                }
            } else {
                answer
            };
            match decode_response(&answer, id, rtype.code()) {
                Ok(Some(records)) => return Ok(records),
                Ok(None) => return Err(DnsError::NotFound(name.to_string())),
                Err(Rcode(2)) => last = format!("{server}: server failure"),
                Err(Rcode(5)) => last = format!("{server}: query refused"),
                Err(Rcode(_)) => last = format!("{server}: malformed response"),
            }
        }
        Err(DnsError::Failed {
            name: name.to_string(),
            message: last,
        })
    }
}

/// A query id that differs between queries; not security-relevant since answers are matched
/// on id, question and source address, and nothing here caches.
fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ (nanos >> 16)) as u16
}

async fn exchange_udp(server: SocketAddr, packet: &[u8]) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    sock.send(packet).await?;
    let mut buf = vec![0u8; 4096];
    let n = sock.recv(&mut buf).await?;
    buf.truncate(n);
    Ok(buf)
}

async fn exchange_tcp(server: SocketAddr, packet: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = tokio::net::TcpStream::connect(server).await?;
    let len = u16::try_from(packet.len()).map_err(|_| std::io::Error::other("query too long"))?;
    s.write_all(&len.to_be_bytes()).await?;
    s.write_all(packet).await?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Encodes a recursive query for `name` of type `qtype`, class IN.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let mut p = Vec::with_capacity(name.len() + 18);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(name, &mut p)?;
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    Ok(p)
}

/// Appends `name` in DNS label encoding.
pub fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), DnsError> {
    let trimmed = name.trim_end_matches('.');
    if trimmed.len() > 253 {
        return Err(DnsError::InvalidName(name.to_string()));
    }
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| (1..=63).contains(l))
                .ok_or_else(|| DnsError::InvalidName(name.to_string()))?;
            out.push(len);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    Ok(())
}

fn is_truncated(msg: &[u8]) -> bool {
    msg.get(2).is_some_and(|b| b & 0x02 != 0)
}

/// A response code other than success or "no such name".
#[derive(Debug)]
struct Rcode(u8);

fn be16(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

/// Reads a possibly compressed name at `at`; returns the name and the offset after it.
pub fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    // Bounded pointer following: a response can point in circles.
    for _ in 0..128 {
        let len = *msg.get(at)?;
        match len & 0xC0 {
            0xC0 => {
                let ptr = usize::from(be16(msg, at)? & 0x3FFF);
                end.get_or_insert(at + 2);
                at = ptr;
            }
            0x00 => {
                if len == 0 {
                    return Some((name, end.unwrap_or(at + 1)));
                }
                let label = msg.get(at + 1..at + 1 + usize::from(len))?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&String::from_utf8_lossy(label));
                at += 1 + usize::from(len);
            }
            _ => return None,
        }
    }
    None
}

/// Decodes the answers of type `qtype`. `Ok(None)` means the name does not exist.
fn decode_response(msg: &[u8], id: u16, qtype: u16) -> Result<Option<Vec<Record>>, Rcode> {
    let malformed = Rcode(255);
    if be16(msg, 0) != Some(id) || msg.get(2).is_none_or(|b| b & 0x80 == 0) {
        return Err(malformed);
    }
    let rcode = msg.get(3).map_or(255, |b| b & 0x0F);
    match rcode {
        0 => {}
        3 => return Ok(None),
        other => return Err(Rcode(other)),
    }
    let qd = be16(msg, 4).ok_or(Rcode(255))?;
    let an = be16(msg, 6).ok_or(Rcode(255))?;
    let mut at = 12;
    for _ in 0..qd {
        let (_, next) = read_name(msg, at).ok_or(Rcode(255))?;
        at = next + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        let (_, next) = read_name(msg, at).ok_or(Rcode(255))?;
        let rtype = be16(msg, next).ok_or(Rcode(255))?;
        let rdlen = usize::from(be16(msg, next + 8).ok_or(Rcode(255))?);
        let rdata_at = next + 10;
        let rdata = msg.get(rdata_at..rdata_at + rdlen).ok_or(Rcode(255))?;
        at = rdata_at + rdlen;
        if rtype != qtype {
            // CNAMEs and the like on the way to the answer.
            continue;
        }
        let rec = match rtype {
            1 => <[u8; 4]>::try_from(rdata)
                .ok()
                .map(|b| Record::A(Ipv4Addr::from(b))),
            28 => <[u8; 16]>::try_from(rdata)
                .ok()
                .map(|b| Record::Aaaa(Ipv6Addr::from(b))),
            33 => {
                let port = be16(msg, rdata_at + 4);
                let target = read_name(msg, rdata_at + 6).map(|(n, _)| n);
                port.zip(target)
                    .map(|(port, target)| Record::Srv { target, port })
            }
            15 => read_name(msg, rdata_at + 2).map(|(n, _)| Record::Mx(n)),
            2 => read_name(msg, rdata_at).map(|(n, _)| Record::Ns(n)),
            _ => None,
        };
        out.push(rec.ok_or(Rcode(255))?);
    }
    Ok(Some(out))
}

/// `host:port`, bracketing IPv6 literals.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The target labels for one record of a lookup of `name`.
pub fn record_labels(name: &str, rec: &Record, port: u16) -> Labels {
    let mut b = LabelsBuilder::new();
    b.set(META_DNS_NAME, name);
    let addr = match rec {
        Record::A(ip) => join_host_port(&ip.to_string(), port),
        Record::Aaaa(ip) => join_host_port(&ip.to_string(), port),
        Record::Srv { target, port } => {
            b.set(META_DNS_SRV_TARGET, target.as_str());
            b.set(META_DNS_SRV_PORT, port.to_string());
            join_host_port(target, *port)
        }
        Record::Mx(host) => {
            b.set(META_DNS_MX_TARGET, host.as_str());
            join_host_port(host, port)
        }
        Record::Ns(host) => {
            b.set(META_DNS_NS_TARGET, host.as_str());
            join_host_port(host, port)
        }
    };
    b.set(ADDRESS_LABEL, addr);
    b.build()
}

/// Resolves every name of `cfg` once; one group per name, with the name as its source.
/// A name that fails keeps no group (an error is returned for it instead).
pub async fn resolve_groups(
    cfg: &DnsSdConfig,
    resolver: &Resolver,
) -> Vec<Result<TargetGroup, DnsError>> {
    let mut out = Vec::with_capacity(cfg.names.len());
    for name in &cfg.names {
        out.push(resolver.lookup(name, cfg.record_type).await.map(|records| {
            TargetGroup {
                source: name.clone(),
                targets: records
                    .iter()
                    .map(|r| record_labels(name, r, cfg.port))
                    .collect(),
                labels: Labels::empty(),
            }
        }));
    }
    out
}

/// Resolves every `refresh_interval` until the receiver goes away. A failed lookup keeps the
/// targets of the previous successful one, as in Prometheus.
pub async fn run(
    cfg: DnsSdConfig,
    provider: String,
    resolver: Resolver,
    tx: mpsc::Sender<DiscoveryUpdate>,
) {
    let mut ticker = tokio::time::interval(
        cfg.refresh_interval
            .as_duration()
            .max(Duration::from_millis(100)),
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let mut groups = Vec::new();
        for r in resolve_groups(&cfg, &resolver).await {
            match r {
                Ok(g) => groups.push(g),
                Err(e) => {
                    tracing::error!(provider = %provider, error = %e, "DNS service discovery")
                }
            }
        }
        if tx
            .send(DiscoveryUpdate {
                provider: provider.clone(),
                groups,
            })
            .await
            .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an answer to `query` with the given (type, rdata) records.
    fn answer(query: &[u8], records: &[(u16, Vec<u8>)], rcode: u8) -> Vec<u8> {
        let mut r = query.to_vec();
        r[2] = 0x81;
        r[3] = 0x80 | rcode;
        r[6..8].copy_from_slice(&u16::try_from(records.len()).unwrap_or(0).to_be_bytes());
        for (t, data) in records {
            r.extend_from_slice(&[0xC0, 12]);
            r.extend_from_slice(&t.to_be_bytes());
            r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            r.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
            r.extend_from_slice(data);
        }
        r
    }

    fn name_bytes(n: &str) -> Vec<u8> {
        let mut v = Vec::new();
        let _ = encode_name(n, &mut v);
        v
    }

    /// A fake DNS server on 127.0.0.1 answering from a fixed table.
    async fn fake_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let sock = match tokio::net::UdpSocket::bind("127.0.0.1:0").await {
            Ok(s) => s,
            Err(e) => panic!("bind: {e}"),
        };
        let addr = match sock.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        let h = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            // Bounded: the test sends only a handful of queries.
            for _ in 0..64 {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let q = &buf[..n];
                let Some((qname, after)) = read_name(q, 12) else {
                    continue;
                };
                let qtype = be16(q, after).unwrap_or(0);
                let resp = match (qname.as_str(), qtype) {
                    ("_node._tcp.example.org", 33) => {
                        let mut a = vec![0, 10, 0, 5, 0x23, 0x8c];
                        a.extend(name_bytes("n1.example.org"));
                        let mut b = vec![0, 10, 0, 5, 0x23, 0x8d];
                        b.extend(name_bytes("n2.example.org"));
                        answer(q, &[(33, a), (33, b)], 0)
                    }
                    ("hosts.example.org", 1) => answer(
                        q,
                        &[
                            (5, name_bytes("x.example.org")),
                            (1, vec![10, 0, 0, 5]),
                            (1, vec![10, 0, 0, 6]),
                        ],
                        0,
                    ),
                    ("hosts.example.org", 28) => {
                        let mut ip = vec![0u8; 16];
                        ip[0] = 0x20;
                        ip[1] = 0x01;
                        ip[2] = 0x0d;
                        ip[3] = 0xb8;
                        ip[15] = 1;
                        answer(q, &[(28, ip)], 0)
                    }
                    ("example.org", 15) => {
                        let mut mx = vec![0, 10];
                        mx.extend(name_bytes("mail.example.org"));
                        answer(q, &[(15, mx)], 0)
                    }
                    _ => answer(q, &[], 3),
                };
                let _ = sock.send_to(&resp, peer).await;
            }
        });
        (addr, h)
    }

    #[test]
    fn config_validation() {
        let err = |y: &str| {
            serde_saphyr::from_str::<DnsSdConfig>(y)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(
            err("type: SRV\n").contains("DNS-SD config must contain at least one SRV record name")
        );
        assert!(err("names: [a]\ntype: A\n")
            .contains("a port is required in DNS-SD configs for all record types except SRV"));
        assert!(err("names: [a]\ntype: TXT\n").contains("invalid DNS-SD records type TXT"));
        let ok = serde_saphyr::from_str::<DnsSdConfig>("names: [a]\ntype: aaaa\nport: 9100\n").ok();
        assert_eq!(ok.as_ref().map(|c| c.record_type), Some(RecordType::AAAA));
        let ok = serde_saphyr::from_str::<DnsSdConfig>("names: [a]\n").ok();
        assert_eq!(
            ok.map(|c| (c.record_type, c.refresh_interval)),
            Some((RecordType::SRV, PromDuration::from_secs(30)))
        );
    }

    #[test]
    fn resolv_conf_and_search_order() {
        let r = Resolver::from_resolv_conf("# c\nnameserver 10.0.0.2\nnameserver ::1\nsearch corp.example lan\noptions ndots:2 rotate\n");
        assert_eq!(r.servers.len(), 2);
        assert_eq!(r.candidates("db"), vec!["db.corp.example", "db.lan", "db"]);
        assert_eq!(
            r.candidates("a.b.c"),
            vec!["a.b.c", "a.b.c.corp.example", "a.b.c.lan"]
        );
        assert_eq!(r.candidates("abs.example."), vec!["abs.example"]);
    }

    #[test]
    fn hostile_responses_do_not_panic() {
        let q = encode_query(7, "a.example", 1).unwrap_or_default();
        // A pointer to itself, truncated records and garbage must all be errors.
        let mut looped = answer(&q, &[(1, vec![1, 2, 3, 4])], 0);
        let at = q.len();
        looped[at] = 0xC0;
        looped[at + 1] = u8::try_from(at).unwrap_or(0);
        assert!(decode_response(&looped, 7, 1).is_err());
        let full = answer(&q, &[(1, vec![1, 2, 3, 4])], 0);
        for cut in 0..full.len() {
            let _ = decode_response(&full[..cut], 7, 1);
        }
        assert!(decode_response(&[0xff; 40], 7, 1).is_err());
    }

    #[tokio::test]
    async fn resolves_against_a_fake_server() {
        let (addr, server) = fake_server().await;
        let resolver = Resolver::with_servers(vec![addr], Duration::from_secs(5));
        let srv = DnsSdConfig {
            names: vec!["_node._tcp.example.org".into()],
            refresh_interval: PromDuration::from_secs(30),
            record_type: RecordType::SRV,
            port: 0,
        };
        let groups = resolve_groups(&srv, &resolver).await;
        let g = match groups.into_iter().next() {
            Some(Ok(g)) => g,
            other => panic!("{other:?}"),
        };
        assert_eq!(g.source, "_node._tcp.example.org");
        assert_eq!(g.targets.len(), 2);
        assert_eq!(g.targets[0].get(ADDRESS_LABEL), Some("n1.example.org:9100"));
        assert_eq!(g.targets[1].get(META_DNS_SRV_PORT), Some("9101"));
        assert_eq!(
            g.targets[0].get(META_DNS_NAME),
            Some("_node._tcp.example.org")
        );

        let a = DnsSdConfig {
            names: vec!["hosts.example.org".into()],
            record_type: RecordType::A,
            port: 9100,
            ..srv.clone()
        };
        let g = resolve_groups(&a, &resolver)
            .await
            .into_iter()
            .next()
            .and_then(Result::ok)
            .unwrap_or_default();
        let addrs: Vec<&str> = g
            .targets
            .iter()
            .filter_map(|t| t.get(ADDRESS_LABEL))
            .collect();
        assert_eq!(addrs, ["10.0.0.5:9100", "10.0.0.6:9100"]);

        let aaaa = DnsSdConfig {
            record_type: RecordType::AAAA,
            ..a.clone()
        };
        let g = resolve_groups(&aaaa, &resolver)
            .await
            .into_iter()
            .next()
            .and_then(Result::ok)
            .unwrap_or_default();
        assert_eq!(
            g.targets.first().and_then(|t| t.get(ADDRESS_LABEL)),
            Some("[2001:db8::1]:9100")
        );

        let mx = DnsSdConfig {
            names: vec!["example.org".into()],
            record_type: RecordType::MX,
            port: 25,
            ..srv.clone()
        };
        let g = resolve_groups(&mx, &resolver)
            .await
            .into_iter()
            .next()
            .and_then(Result::ok)
            .unwrap_or_default();
        assert_eq!(
            g.targets.first().and_then(|t| t.get(META_DNS_MX_TARGET)),
            Some("mail.example.org")
        );
        assert_eq!(
            g.targets.first().and_then(|t| t.get(ADDRESS_LABEL)),
            Some("mail.example.org:25")
        );

        let missing = DnsSdConfig {
            names: vec!["nope.example.org".into()],
            ..srv
        };
        let err = resolve_groups(&missing, &resolver)
            .await
            .into_iter()
            .next()
            .and_then(Result::err);
        assert_eq!(err, Some(DnsError::NotFound("nope.example.org".into())));
        server.abort();
    }
}
