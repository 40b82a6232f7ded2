//! Writers for the Prometheus text format 0.0.4 and OpenMetrics 1.0 text, byte-compatible with
//! Go's `expfmt` where the formats leave a choice.

use std::fmt::Write as _;

use crate::family::{MetricFamily, MetricType, MetricValue};
use crate::labels::escape_label_value;

/// The `Content-Type` of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Formats a float the way Go's `strconv.FormatFloat(v, 'g', -1, 64)` does, which is what
/// Prometheus exporters emit (`1e+06`, `0.001`, `+Inf`, `NaN`).
pub fn format_float(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.2345e-7".
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

fn escape_help(h: &str, out: &mut String) {
    for c in h.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    extra: Option<(&str, f64)>,
    value: f64,
    ts: Option<i64>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (n, v) in labels {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{}=\"{}\"", n, escape_label_value(v));
        }
        if let Some((n, v)) = extra {
            if !first {
                out.push(',');
            }
            let _ = write!(out, "{n}=\"");
            format_float(v, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    format_float(value, out);
    if let Some(ts) = ts {
        let _ = write!(out, " {ts}");
    }
    out.push('\n');
}

/// Appends `families` to `out` in the Prometheus text format 0.0.4.
pub fn write_text(families: &[MetricFamily], out: &mut String) {
    for f in families {
        if f.metrics.is_empty() {
            continue;
        }
        out.push_str("# HELP ");
        out.push_str(&f.name);
        out.push(' ');
        escape_help(&f.help, out);
        out.push('\n');
        let ty = match f.metric_type {
            MetricType::GaugeHistogram => "histogram",
            MetricType::Info | MetricType::StateSet => "gauge",
            t => t.as_text(),
        };
        let _ = writeln!(out, "# TYPE {} {}", f.name, ty);
        for m in &f.metrics {
            match &m.value {
                MetricValue::Simple(v) => {
                    write_sample(out, &f.name, "", &m.labels, None, *v, m.timestamp_ms)
                }
                MetricValue::Summary {
                    count,
                    sum,
                    quantiles,
                } => {
                    for (q, v) in quantiles {
                        write_sample(
                            out,
                            &f.name,
                            "",
                            &m.labels,
                            Some(("quantile", *q)),
                            *v,
                            m.timestamp_ms,
                        );
                    }
                    write_sample(out, &f.name, "_sum", &m.labels, None, *sum, m.timestamp_ms);
                    write_sample(
                        out,
                        &f.name,
                        "_count",
                        &m.labels,
                        None,
                        *count,
                        m.timestamp_ms,
                    );
                }
                MetricValue::Histogram {
                    count,
                    sum,
                    buckets,
                } => {
                    for (le, c) in buckets {
                        write_sample(
                            out,
                            &f.name,
                            "_bucket",
                            &m.labels,
                            Some(("le", *le)),
                            *c,
                            m.timestamp_ms,
                        );
                    }
                    if buckets.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
                        write_sample(
                            out,
                            &f.name,
                            "_bucket",
                            &m.labels,
                            Some(("le", f64::INFINITY)),
                            *count,
                            m.timestamp_ms,
                        );
                    }
                    write_sample(out, &f.name, "_sum", &m.labels, None, *sum, m.timestamp_ms);
                    write_sample(
                        out,
                        &f.name,
                        "_count",
                        &m.labels,
                        None,
                        *count,
                        m.timestamp_ms,
                    );
                }
            }
        }
    }
}

/// Appends families in the delimited protobuf format; see [`crate::protobuf::encode_families`].
pub use crate::protobuf::encode_families as write_protobuf;

/// The `Content-Type` of OpenMetrics 1.0.0 text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Formats a float as OpenMetrics wants it: like [`format_float`], but an integral value keeps
/// a `.0` so that it still reads as a float (`1.0`, `123456.0`, while `1e+06` stays as is).
pub fn format_openmetrics_float(v: f64, out: &mut String) {
    let start = out.len();
    format_float(v, out);
    let written = &out[start..];
    if v.is_finite() && !written.contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// True for names valid in the classic grammar `[a-zA-Z_:][a-zA-Z0-9_:]*`; other names must be
/// written in the quoted form.
pub fn is_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// True for label names valid in the classic grammar `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Writes `s` between double quotes with OpenMetrics escapes (backslash, quote, newline).
fn write_quoted(s: &str, out: &mut String) {
    out.push('"');
    out.push_str(&escape_label_value(s));
    out.push('"');
}

/// Integral counts (bucket counts, `_count`) are written without `.0`, as Go writes its
/// integer counts; anything else (a float count from a gauge histogram, say) as a float.
fn write_openmetrics_count(v: f64, out: &mut String) {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        format_openmetrics_float(v, out);
    }
}

/// Milliseconds as the seconds OpenMetrics uses, exactly (`1520879607.789`).
fn write_openmetrics_timestamp(ms: i64, out: &mut String) {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let (secs, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        let _ = write!(out, "{sign}{secs}");
    } else {
        let _ = write!(out, "{sign}{secs}.{frac:03}");
    }
}

/// How one OpenMetrics sample line's value is rendered.
#[derive(Clone, Copy)]
enum OmValue {
    Float(f64),
    Count(f64),
    Timestamp(i64),
}

/// The parts of an OpenMetrics sample line that stay the same across a metric's lines.
struct OmSeries<'a> {
    name: &'a str,
    labels: &'a [(String, String)],
    timestamp_ms: Option<i64>,
}

impl OmSeries<'_> {
    fn line(&self, out: &mut String, suffix: &str, extra: Option<(&str, f64)>, value: OmValue) {
        let quoted_name = !is_legacy_metric_name(&format!("{}{}", self.name, suffix));
        if quoted_name {
            out.push('{');
            write_quoted(&format!("{}{}", self.name, suffix), out);
        } else {
            out.push_str(self.name);
            out.push_str(suffix);
        }
        if !self.labels.is_empty() || extra.is_some() || quoted_name {
            if !quoted_name {
                out.push('{');
            }
            let mut first = !quoted_name;
            for (n, v) in self.labels {
                if !first {
                    out.push(',');
                }
                first = false;
                if is_legacy_label_name(n) {
                    out.push_str(n);
                } else {
                    write_quoted(n, out);
                }
                out.push('=');
                write_quoted(v, out);
            }
            if let Some((n, v)) = extra {
                if !first {
                    out.push(',');
                }
                out.push_str(n);
                out.push_str("=\"");
                format_openmetrics_float(v, out);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        match value {
            OmValue::Float(v) => format_openmetrics_float(v, out),
            OmValue::Count(v) => write_openmetrics_count(v, out),
            OmValue::Timestamp(ms) => write_openmetrics_timestamp(ms, out),
        }
        // `_created` is itself a timestamp, so it never carries a sample timestamp.
        if let (Some(ts), false) = (self.timestamp_ms, matches!(value, OmValue::Timestamp(_))) {
            out.push(' ');
            write_openmetrics_timestamp(ts, out);
        }
        out.push('\n');
    }
}

fn write_openmetrics_metadata(keyword: &str, name: &str, out: &mut String) {
    out.push_str("# ");
    out.push_str(keyword);
    out.push(' ');
    if is_legacy_metric_name(name) {
        out.push_str(name);
    } else {
        write_quoted(name, out);
    }
    out.push(' ');
}

/// Appends `families` to `out` in OpenMetrics 1.0.0 text, ending with `# EOF`.
///
/// Counter families named `x_total` are declared as `x` with samples `x_total` (and `x_created`
/// when [`crate::Metric::created_ms`] is set), info families `x_info` as `x`; a family whose
/// name lacks its unit's suffix gets it appended, as OpenMetrics requires. Names outside the
/// classic grammar are written in the quoted form (`{"my.metric"}`).
pub fn write_openmetrics(families: &[MetricFamily], out: &mut String) {
    for f in families {
        if f.metrics.is_empty() {
            continue;
        }
        let base = match f.metric_type {
            MetricType::Counter => f.name.strip_suffix("_total").unwrap_or(&f.name),
            MetricType::Info => f.name.strip_suffix("_info").unwrap_or(&f.name),
            _ => &f.name,
        };
        let unit = f.unit.as_deref().filter(|u| !u.is_empty());
        let name = match unit {
            Some(u) if !base.ends_with(&format!("_{u}")) => format!("{base}_{u}"),
            _ => base.to_string(),
        };
        let ty = match f.metric_type {
            MetricType::Untyped => "unknown",
            t => t.as_text(),
        };
        if !f.help.is_empty() {
            write_openmetrics_metadata("HELP", &name, out);
            out.push_str(&escape_label_value(&f.help));
            out.push('\n');
        }
        write_openmetrics_metadata("TYPE", &name, out);
        out.push_str(ty);
        out.push('\n');
        if let Some(u) = unit {
            write_openmetrics_metadata("UNIT", &name, out);
            out.push_str(u);
            out.push('\n');
        }
        for m in &f.metrics {
            let series = OmSeries {
                name: &name,
                labels: &m.labels,
                timestamp_ms: m.timestamp_ms,
            };
            let created = m.created_ms.map(OmValue::Timestamp);
            match (&m.value, f.metric_type) {
                (MetricValue::Simple(v), MetricType::Counter) => {
                    series.line(out, "_total", None, OmValue::Float(*v));
                    if let Some(c) = created {
                        series.line(out, "_created", None, c);
                    }
                }
                (MetricValue::Simple(v), MetricType::Info) => {
                    series.line(out, "_info", None, OmValue::Float(*v))
                }
                (MetricValue::Simple(v), _) => series.line(out, "", None, OmValue::Float(*v)),
                (
                    MetricValue::Summary {
                        count,
                        sum,
                        quantiles,
                    },
                    _,
                ) => {
                    for (q, v) in quantiles {
                        series.line(out, "", Some(("quantile", *q)), OmValue::Float(*v));
                    }
                    series.line(out, "_sum", None, OmValue::Float(*sum));
                    series.line(out, "_count", None, OmValue::Count(*count));
                    if let Some(c) = created {
                        series.line(out, "_created", None, c);
                    }
                }
                (
                    MetricValue::Histogram {
                        count,
                        sum,
                        buckets,
                    },
                    t,
                ) => {
                    for (le, c) in buckets {
                        series.line(out, "_bucket", Some(("le", *le)), OmValue::Count(*c));
                    }
                    if buckets.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
                        series.line(
                            out,
                            "_bucket",
                            Some(("le", f64::INFINITY)),
                            OmValue::Count(*count),
                        );
                    }
                    let (count_suffix, sum_suffix) = if t == MetricType::GaugeHistogram {
                        ("_gcount", "_gsum")
                    } else {
                        ("_count", "_sum")
                    };
                    series.line(out, sum_suffix, None, OmValue::Float(*sum));
                    series.line(out, count_suffix, None, OmValue::Count(*count));
                    if let (Some(c), false) = (created, t == MetricType::GaugeHistogram) {
                        series.line(out, "_created", None, c);
                    }
                }
            }
        }
    }
    out.push_str("# EOF\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        format_float(v, &mut s);
        s
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(f(1.0), "1");
        assert_eq!(f(1e6), "1e+06");
        assert_eq!(f(123456.0), "123456");
        assert_eq!(f(2.4973e10), "2.4973e+10");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(0.00001), "1e-05");
        assert_eq!(f(-1.5), "-1.5");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(0.25), "0.25");
    }

    #[test]
    fn histogram_gets_inf_bucket() {
        let mut fam = MetricFamily::new("h", "help", MetricType::Histogram);
        fam.metrics.push(crate::Metric {
            labels: vec![],
            value: MetricValue::Histogram {
                count: 2.0,
                sum: 3.0,
                buckets: vec![(1.0, 1.0)],
            },
            timestamp_ms: None,
            created_ms: None,
            native_histogram: None,
        });
        let mut s = String::new();
        write_text(&[fam], &mut s);
        assert!(s.contains("h_bucket{le=\"+Inf\"} 2\n"), "{s}");
    }

    fn text_of(families: &[MetricFamily]) -> String {
        let mut s = String::new();
        write_text(families, &mut s);
        s
    }

    fn om_of(families: &[MetricFamily]) -> String {
        let mut s = String::new();
        write_openmetrics(families, &mut s);
        s
    }

    fn om(v: f64) -> String {
        let mut s = String::new();
        format_openmetrics_float(v, &mut s);
        s
    }

    #[test]
    fn more_floats_like_go() {
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(999999.0), "999999");
        assert_eq!(f(1.5e-7), "1.5e-07");
        assert_eq!(f(1e100), "1e+100");
        assert_eq!(f(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(f(5e-324), "5e-324");
        assert_eq!(f(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn openmetrics_floats() {
        assert_eq!(om(1.0), "1.0");
        assert_eq!(om(0.0), "0.0");
        assert_eq!(om(-1.0), "-1.0");
        assert_eq!(om(123456.0), "123456.0");
        assert_eq!(om(1e6), "1e+06");
        assert_eq!(om(0.25), "0.25");
        assert_eq!(om(f64::NAN), "NaN");
        assert_eq!(om(f64::INFINITY), "+Inf");
        assert_eq!(om(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn text_escapes_help_and_label_values() {
        let mut fam = MetricFamily::new("m", "a\\b\nc \"q\"", MetricType::Gauge);
        fam.push([("l", "x\\y\n\"z\"")], 1.0);
        assert_eq!(
            text_of(&[fam]),
            "# HELP m a\\\\b\\nc \"q\"\n# TYPE m gauge\nm{l=\"x\\\\y\\n\\\"z\\\"\"} 1\n"
        );
    }

    #[test]
    fn text_summary_timestamps_and_empty_families() {
        let mut fam = MetricFamily::new("rpc", "", MetricType::Summary);
        fam.metrics.push(crate::Metric {
            labels: vec![("svc".into(), "a".into())],
            value: MetricValue::Summary {
                count: 3.0,
                sum: 1.5,
                quantiles: vec![(0.5, 0.2), (0.99, 1.0)],
            },
            timestamp_ms: Some(1_700_000_000_123),
            created_ms: Some(5),
            native_histogram: None,
        });
        let empty = MetricFamily::new("nothing", "h", MetricType::Counter);
        assert_eq!(
            text_of(&[empty, fam]),
            "# HELP rpc \n# TYPE rpc summary\n\
             rpc{svc=\"a\",quantile=\"0.5\"} 0.2 1700000000123\n\
             rpc{svc=\"a\",quantile=\"0.99\"} 1 1700000000123\n\
             rpc_sum{svc=\"a\"} 1.5 1700000000123\n\
             rpc_count{svc=\"a\"} 3 1700000000123\n"
        );
    }

    #[test]
    fn text_maps_openmetrics_only_types() {
        let info = MetricFamily::single("build_info", "b", MetricType::Info, 1.0);
        let untyped = MetricFamily::single("u", "", MetricType::Untyped, 2.0);
        let s = text_of(&[info, untyped]);
        assert!(s.contains("# TYPE build_info gauge\nbuild_info 1\n"), "{s}");
        assert!(s.contains("# TYPE u untyped\nu 2\n"), "{s}");
    }

    #[test]
    fn openmetrics_counter_with_unit_and_created() {
        let mut fam = MetricFamily::new(
            "http_requests_total",
            "Requests \"served\".",
            MetricType::Counter,
        );
        fam.metrics.push(crate::Metric {
            labels: vec![("code".into(), "200".into())],
            value: MetricValue::Simple(1027.0),
            timestamp_ms: None,
            created_ms: Some(1_520_430_000_123),
            native_histogram: None,
        });
        let mut secs = MetricFamily::new("cpu", "CPU time.", MetricType::Counter);
        secs.unit = Some("seconds".into());
        secs.push::<String, String>([], 2.5);
        assert_eq!(
            om_of(&[fam, secs]),
            "# HELP http_requests Requests \\\"served\\\".\n\
             # TYPE http_requests counter\n\
             http_requests_total{code=\"200\"} 1027.0\n\
             http_requests_created{code=\"200\"} 1520430000.123\n\
             # HELP cpu_seconds CPU time.\n\
             # TYPE cpu_seconds counter\n\
             # UNIT cpu_seconds seconds\n\
             cpu_seconds_total 2.5\n\
             # EOF\n"
        );
    }

    #[test]
    fn openmetrics_histogram_summary_and_gauge_histogram() {
        let mut h = MetricFamily::new("lat", "", MetricType::Histogram);
        h.metrics.push(crate::Metric {
            labels: vec![],
            value: MetricValue::Histogram {
                count: 4.0,
                sum: 2.25,
                buckets: vec![(0.5, 1.0), (1.0, 3.0)],
            },
            timestamp_ms: Some(1500),
            created_ms: Some(1000),
            native_histogram: None,
        });
        let mut g = MetricFamily::new("queue", "", MetricType::GaugeHistogram);
        g.metrics.push(crate::Metric::new(
            vec![],
            MetricValue::Histogram {
                count: 2.0,
                sum: 1.0,
                buckets: vec![(f64::INFINITY, 2.0)],
            },
        ));
        let mut s = MetricFamily::new("rpc", "", MetricType::Summary);
        s.metrics.push(crate::Metric::new(
            vec![],
            MetricValue::Summary {
                count: 1.0,
                sum: 0.5,
                quantiles: vec![(0.5, 0.5)],
            },
        ));
        assert_eq!(
            om_of(&[h, g, s]),
            "# TYPE lat histogram\n\
             lat_bucket{le=\"0.5\"} 1 1.500\n\
             lat_bucket{le=\"1.0\"} 3 1.500\n\
             lat_bucket{le=\"+Inf\"} 4 1.500\n\
             lat_sum 2.25 1.500\n\
             lat_count 4 1.500\n\
             lat_created 1\n\
             # TYPE queue gaugehistogram\n\
             queue_bucket{le=\"+Inf\"} 2\n\
             queue_gsum 1.0\n\
             queue_gcount 2\n\
             # TYPE rpc summary\n\
             rpc{quantile=\"0.5\"} 0.5\n\
             rpc_sum 0.5\n\
             rpc_count 1\n\
             # EOF\n"
        );
    }

    #[test]
    fn openmetrics_info_unknown_and_quoted_names() {
        let mut info = MetricFamily::new("build_info", "", MetricType::Info);
        info.push([("version", "1.2")], 1.0);
        let mut dotted = MetricFamily::new("my.metric", "d", MetricType::Untyped);
        dotted.push([("other.label", "x"), ("ok", "y")], -1.0);
        assert_eq!(
            om_of(&[info, dotted]),
            "# TYPE build info\n\
             build_info{version=\"1.2\"} 1.0\n\
             # HELP \"my.metric\" d\n\
             # TYPE \"my.metric\" unknown\n\
             {\"my.metric\",\"other.label\"=\"x\",ok=\"y\"} -1.0\n\
             # EOF\n"
        );
    }

    #[test]
    fn openmetrics_empty_exposition_is_just_eof() {
        assert_eq!(om_of(&[]), "# EOF\n");
        assert_eq!(
            om_of(&[MetricFamily::new("x", "", MetricType::Gauge)]),
            "# EOF\n"
        );
    }

    #[test]
    fn openmetrics_negative_timestamps() {
        let mut s = String::new();
        write_openmetrics_timestamp(-1500, &mut s);
        s.push(' ');
        write_openmetrics_timestamp(-5, &mut s);
        assert_eq!(s, "-1.500 -0.005");
    }

    #[test]
    fn legacy_names() {
        assert!(is_legacy_metric_name("a:b_c9"));
        assert!(!is_legacy_metric_name("9a"));
        assert!(!is_legacy_metric_name(""));
        assert!(!is_legacy_metric_name("a.b"));
        assert!(is_legacy_label_name("_x1"));
        assert!(!is_legacy_label_name("a:b"));
    }
}
