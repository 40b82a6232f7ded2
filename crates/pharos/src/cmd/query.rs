//! `pharos query`: queries a Prometheus-compatible HTTP API like `promtool query`, with the same
//! subcommands, flags and output.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value as Json;

/// Flags of `pharos query`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format of the query.
    #[arg(short = 'o', long = "format", default_value = "promql", value_parser = ["promql", "json"])]
    format: String,
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Run instant query.
    Instant {
        /// Query evaluation time (RFC3339 or Unix timestamp).
        #[arg(long)]
        time: Option<String>,
        /// Prometheus server to query.
        server: String,
        /// PromQL query expression.
        expr: String,
    },
    /// Run range query.
    Range {
        /// Extra headers to send to server (`name=value`).
        #[arg(long = "header")]
        header: Vec<String>,
        /// Query range start time (RFC3339 or Unix timestamp).
        #[arg(long)]
        start: Option<String>,
        /// Query range end time (RFC3339 or Unix timestamp).
        #[arg(long)]
        end: Option<String>,
        /// Query step size (duration).
        #[arg(long)]
        step: Option<String>,
        /// Prometheus server to query.
        server: String,
        /// PromQL query expression.
        expr: String,
    },
    /// Run series query.
    Series {
        /// Series selector. Can be specified multiple times.
        #[arg(long = "match", required = true)]
        matches: Vec<String>,
        /// Start time (RFC3339 or Unix timestamp).
        #[arg(long)]
        start: Option<String>,
        /// End time (RFC3339 or Unix timestamp).
        #[arg(long)]
        end: Option<String>,
        /// Prometheus server to query.
        server: String,
    },
    /// Run labels query.
    Labels {
        /// Start time (RFC3339 or Unix timestamp).
        #[arg(long)]
        start: Option<String>,
        /// End time (RFC3339 or Unix timestamp).
        #[arg(long)]
        end: Option<String>,
        /// Series selector. Can be specified multiple times.
        #[arg(long = "match")]
        matches: Vec<String>,
        /// Prometheus server to query.
        server: String,
        /// Label name to provide label values for.
        name: String,
    },
}

/// Runs the subcommand; API errors print `query error: <type>: <message>` and exit 1.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let json = args.format == "json";
    match query(args.what, json) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("query error: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn query(what: What, json: bool) -> anyhow::Result<()> {
    match what {
        What::Instant { time, server, expr } => {
            let t = match time {
                Some(t) => parse_time(&t)?,
                None => now_secs(),
            };
            let data = get(
                &server,
                "/api/v1/query",
                &[("query", expr), ("time", fmt_secs(t))],
                &[],
            )?;
            print_value(&data, json)
        }
        What::Range {
            header,
            start,
            end,
            step,
            server,
            expr,
        } => {
            let end = match end {
                Some(e) => parse_time(&e)?,
                None => now_secs(),
            };
            let start = match start {
                Some(s) => parse_time(&s)?,
                None => end - 300.0,
            };
            let step = match step {
                Some(s) => parse_duration_secs(&s)?,
                None => ((end - start) / 250.0).floor().max(1.0),
            };
            let headers: Vec<(String, String)> = header
                .iter()
                .map(|h| {
                    h.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .ok_or_else(|| anyhow!("invalid header {h:?}"))
                })
                .collect::<anyhow::Result<_>>()?;
            let params = [
                ("query", expr),
                ("start", fmt_secs(start)),
                ("end", fmt_secs(end)),
                ("step", fmt_secs(step)),
            ];
            let data = get(&server, "/api/v1/query_range", &params, &headers)?;
            print_value(&data, json)
        }
        What::Series {
            matches,
            start,
            end,
            server,
        } => {
            let mut params: Vec<(&str, String)> =
                matches.into_iter().map(|m| ("match[]", m)).collect();
            push_range(&mut params, start, end)?;
            let data = get(&server, "/api/v1/series", &params, &[])?;
            if json {
                println!("{}", serde_json::to_string(&data)?);
                return Ok(());
            }
            for set in data.as_array().into_iter().flatten() {
                let mut pairs: Vec<(&String, String)> = set
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k, v.as_str().unwrap_or("").to_string()))
                    .collect();
                pairs.sort();
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={}", go_quote(v)))
                    .collect();
                println!("{{{}}}", parts.join(", "));
            }
            Ok(())
        }
        What::Labels {
            start,
            end,
            matches,
            server,
            name,
        } => {
            let mut params: Vec<(&str, String)> =
                matches.into_iter().map(|m| ("match[]", m)).collect();
            push_range(&mut params, start, end)?;
            let data = get(
                &server,
                &format!("/api/v1/label/{}/values", encode(&name)),
                &params,
                &[],
            )?;
            if json {
                println!("{}", serde_json::to_string(&data)?);
                return Ok(());
            }
            for v in data.as_array().into_iter().flatten() {
                println!("{}", v.as_str().unwrap_or(""));
            }
            Ok(())
        }
    }
}

fn push_range(
    params: &mut Vec<(&str, String)>,
    start: Option<String>,
    end: Option<String>,
) -> anyhow::Result<()> {
    if let Some(s) = start {
        params.push(("start", fmt_secs(parse_time(&s)?)));
    }
    if let Some(e) = end {
        params.push(("end", fmt_secs(parse_time(&e)?)));
    }
    Ok(())
}

/// Formats seconds the way Prometheus prints timestamps (shortest, no trailing `.0`).
fn fmt_secs(t: f64) -> String {
    let ms = (t * 1000.0).round() as i64;
    if ms % 1000 == 0 {
        format!("{}", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000));
        s.trim_end_matches('0').to_string()
    }
}

/// Parses a Unix timestamp (seconds, may be fractional) or an RFC 3339 time.
fn parse_time(s: &str) -> anyhow::Result<f64> {
    if let Ok(v) = s.parse::<f64>() {
        return Ok(v);
    }
    parse_rfc3339(s).ok_or_else(|| anyhow!("cannot parse {s:?} to a valid timestamp"))
}

fn parse_rfc3339(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') {
        let st = i + 1;
        i = st;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac = format!("0.{}", s.get(st..i)?).parse().ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' => 0,
        b'+' | b'-' => {
            let sign = if b[i] == b'-' { -1 } else { 1 };
            sign * (num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset) as f64 + frac)
}

/// Parses a Prometheus duration (`15s`, `1m30s`) or plain seconds.
fn parse_duration_secs(s: &str) -> anyhow::Result<f64> {
    if let Ok(v) = s.parse::<f64>() {
        return Ok(v);
    }
    match pharos_promql::parser::try_duration(s, 0) {
        Some((ms, end)) if end == s.len() => Ok(ms as f64 / 1000.0),
        _ => bail!("invalid duration {s:?}"),
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Performs `GET path?params` against `server` and returns the API's `data` field.
fn get(
    server: &str,
    path: &str,
    params: &[(&str, String)],
    headers: &[(String, String)],
) -> anyhow::Result<Json> {
    let rest = server
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("unsupported server URL {server:?}: only http:// is supported"))?;
    let (hostport, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let addr = if hostport.contains(':') && !hostport.ends_with(']') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let target = format!("{prefix}{path}?{}", query.join("&"));
    let mut stream = TcpStream::connect(&addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: pharos\r\nAccept: application/json\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    if head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    }) {
        body = dechunk(&body)?;
    }
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let parsed: Json = serde_json::from_slice(&body)
        .map_err(|e| anyhow!("server returned HTTP status {status} with a non-JSON body: {e}"))?;
    if parsed.get("status").and_then(Json::as_str) != Some("success") {
        let t = parsed
            .get("errorType")
            .and_then(Json::as_str)
            .unwrap_or("unknown");
        let m = parsed.get("error").and_then(Json::as_str).unwrap_or("");
        bail!("{t}: {m}");
    }
    parsed
        .get("data")
        .cloned()
        .ok_or_else(|| anyhow!("response has no data"))
}

fn dechunk(mut b: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("bad chunked encoding"))?;
        let size_line = String::from_utf8_lossy(&b[..nl]);
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| anyhow!("bad chunk size"))?;
        b = &b[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = b.get(..size).ok_or_else(|| anyhow!("truncated chunk"))?;
        out.extend_from_slice(chunk);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
}

/// Go's `%q` for label values.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A metric as Prometheus's Go client prints it: `name{a="b", c="d"}`.
fn fmt_metric(m: &Json) -> String {
    let mut name = None;
    let mut labels: Vec<String> = Vec::new();
    for (k, v) in m.as_object().into_iter().flatten() {
        let v = v.as_str().unwrap_or("");
        if k == "__name__" {
            name = Some(v.to_string());
        } else {
            labels.push(format!("{k}={}", go_quote(v)));
        }
    }
    labels.sort();
    match (name, labels.is_empty()) {
        (Some(n), true) => n,
        (None, true) => "{}".into(),
        (n, false) => format!("{}{{{}}}", n.unwrap_or_default(), labels.join(", ")),
    }
}

fn fmt_pair(p: &Json) -> String {
    let t = p.get(0).and_then(Json::as_f64).unwrap_or(0.0);
    let v = p.get(1).and_then(Json::as_str).unwrap_or("");
    format!("{v} @[{}]", fmt_secs(t))
}

fn json_pair(p: &Json) -> String {
    let t = p.get(0).and_then(Json::as_f64).unwrap_or(0.0);
    let v = p.get(1).cloned().unwrap_or(Json::Null);
    format!("[{},{}]", fmt_secs(t), v)
}

fn print_value(data: &Json, json: bool) -> anyhow::Result<()> {
    let kind = data.get("resultType").and_then(Json::as_str).unwrap_or("");
    let result = data.get("result").cloned().unwrap_or(Json::Null);
    let items = result.as_array().cloned().unwrap_or_default();
    if json {
        let out = match kind {
            "vector" => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|s| {
                        format!(
                            "{{\"metric\":{},\"value\":{}}}",
                            s.get("metric").cloned().unwrap_or(Json::Null),
                            json_pair(s.get("value").unwrap_or(&Json::Null))
                        )
                    })
                    .collect();
                format!("[{}]", parts.join(","))
            }
            "matrix" => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|s| {
                        let vals: Vec<String> = s
                            .get("values")
                            .and_then(Json::as_array)
                            .into_iter()
                            .flatten()
                            .map(json_pair)
                            .collect();
                        format!(
                            "{{\"metric\":{},\"values\":[{}]}}",
                            s.get("metric").cloned().unwrap_or(Json::Null),
                            vals.join(",")
                        )
                    })
                    .collect();
                format!("[{}]", parts.join(","))
            }
            _ => json_pair(&result),
        };
        println!("{out}");
        return Ok(());
    }
    match kind {
        "vector" => {
            let lines: Vec<String> = items
                .iter()
                .map(|s| {
                    format!(
                        "{} => {}",
                        fmt_metric(s.get("metric").unwrap_or(&Json::Null)),
                        fmt_pair(s.get("value").unwrap_or(&Json::Null))
                    )
                })
                .collect();
            println!("{}", lines.join("\n"));
        }
        "matrix" => {
            let blocks: Vec<String> = items
                .iter()
                .map(|s| {
                    let vals: Vec<String> = s
                        .get("values")
                        .and_then(Json::as_array)
                        .into_iter()
                        .flatten()
                        .map(fmt_pair)
                        .collect();
                    format!(
                        "{} =>\n{}",
                        fmt_metric(s.get("metric").unwrap_or(&Json::Null)),
                        vals.join("\n")
                    )
                })
                .collect();
            println!("{}", blocks.join("\n"));
        }
        "scalar" => println!("scalar: {}", fmt_pair(&result)),
        "string" => println!("string: {}", fmt_pair(&result)),
        other => bail!("unknown result type {other:?}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(fmt_secs(1_700_000_000.0), "1700000000");
        assert_eq!(fmt_secs(1.5), "1.5");
        assert_eq!(parse_rfc3339("1970-01-02T00:00:01Z"), Some(86_401.0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00+01:00"),
            Some(1_709_204_400.0)
        );
    }

    #[test]
    fn metrics_like_go() {
        let m: Json =
            serde_json::from_str(r#"{"__name__":"up","job":"x","a":"q\""}"#).unwrap_or(Json::Null);
        assert_eq!(fmt_metric(&m), r#"up{a="q\"", job="x"}"#);
        assert_eq!(fmt_metric(&serde_json::json!({})), "{}");
    }
}
