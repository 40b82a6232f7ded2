//! Shared pieces of the node exporter integration tests and benchmark: starting processes on
//! free loopback ports (and always stopping them), a minimal HTTP/1.1 client, and a small
//! exposition-format reader for comparing outputs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pharos binary under test.
pub fn pharos_bin() -> &'static str {
    env!("CARGO_BIN_EXE_pharos")
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A child process that is killed and reaped when dropped, so a failing assertion never leaves
/// an exporter running.
pub struct Running {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts `program args...` and waits (at most 15 s) until `addr` accepts connections.
pub fn start(program: &str, args: &[String], addr: SocketAddr) -> Running {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"));
    let mut running = Running { child, addr };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return running;
        }
        if let Ok(Some(status)) = running.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = running.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{program} exited with {status} before listening on {addr}:\n{err}");
        }
        assert!(
            Instant::now() < deadline,
            "{program} did not listen on {addr} within 15s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `pharos node-exporter` on a free port with the extra flags.
pub fn start_pharos(extra: &[&str]) -> Running {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut args = vec![
        "node-exporter".to_string(),
        format!("--web.listen-address={addr}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    start(pharos_bin(), &args, addr)
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked but not decompressed.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` over plain HTTP/1.1 with a 30 s timeout.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    exchange(&mut stream, addr, path, headers)
}

/// Sends one request on an established stream and reads the response to EOF.
pub fn exchange<S: Read + Write>(
    stream: &mut S,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        // rustls reports a peer that closes without close_notify; the body is complete anyway.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("empty response"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Decompresses a gzip body.
pub fn gunzip(body: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut s)
        .expect("valid gzip");
    s
}

/// One family as read from an exposition.
#[derive(Clone, Debug, Default)]
pub struct Family {
    /// TYPE.
    pub metric_type: String,
    /// HELP.
    pub help: String,
    /// (sample name, labels, value).
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Family {
    /// Label names used by the family's samples, without `le` and `quantile`.
    pub fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .samples
            .iter()
            .flat_map(|(_, l, _)| l.keys().cloned())
            .filter(|n| n != "le" && n != "quantile")
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Reads the text format 0.0.4 into families keyed by name. Samples of histograms and
/// summaries (`_bucket`, `_sum`, `_count`) are attached to their family.
pub fn parse_exposition(text: &str) -> BTreeMap<String, Family> {
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            fams.entry(name.to_string()).or_default().help =
                help.replace("\\n", "\n").replace("\\\\", "\\");
            current = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            fams.entry(name.to_string()).or_default().metric_type = ty.to_string();
            current = Some(name.to_string());
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else if let Some((name, labels, value)) = parse_sample(line) {
            let family = match &current {
                Some(c)
                    if name == *c
                        || name
                            .strip_prefix(c.as_str())
                            .is_some_and(|s| s.starts_with('_')) =>
                {
                    c.clone()
                }
                _ => name.clone(),
            };
            fams.entry(family)
                .or_default()
                .samples
                .push((name, labels, value));
        }
    }
    fams
}

fn parse_sample(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    let (name_end, mut labels) = match line.find(['{', ' ']) {
        Some(i) if line.as_bytes().get(i) == Some(&b'{') => (i, BTreeMap::new()),
        Some(i) => (i, BTreeMap::new()),
        None => return None,
    };
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut key = String::new();
        let mut close = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    close = Some(i);
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    chars.next(); // opening quote
                    let mut value = String::new();
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '\\' => match chars.next().map(|x| x.1) {
                                Some('n') => value.push('\n'),
                                Some(o) => value.push(o),
                                None => break,
                            },
                            '"' => break,
                            o => value.push(o),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                o => key.push(o),
            }
        }
        rest = &inner[close? + 1..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some((name, labels, value))
}

/// Skips the calling test with a message when `path` is missing.
pub fn require(path: &str) -> bool {
    if Path::new(path).exists() {
        true
    } else {
        println!("SKIPPED: {path} is not installed (apt-get install prometheus-node-exporter)");
        false
    }
}

/// utime+stime in seconds and (VmRSS, VmHWM) in bytes of a process.
pub fn cpu_and_memory(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (num(11) + num(12)) / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (cpu, kb("VmRSS:"), kb("VmHWM:"))
}
