//! Writers for the Prometheus text format 0.0.4, byte-compatible with Go's `expfmt`.

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
                MetricValue::Simple(v) => write_sample(out, &f.name, "", &m.labels, None, *v, m.timestamp_ms),
                MetricValue::Summary { count, sum, quantiles } => {
                    for (q, v) in quantiles {
                        write_sample(out, &f.name, "", &m.labels, Some(("quantile", *q)), *v, m.timestamp_ms);
                    }
                    write_sample(out, &f.name, "_sum", &m.labels, None, *sum, m.timestamp_ms);
                    write_sample(out, &f.name, "_count", &m.labels, None, *count, m.timestamp_ms);
                }
                MetricValue::Histogram { count, sum, buckets } => {
                    for (le, c) in buckets {
                        write_sample(out, &f.name, "_bucket", &m.labels, Some(("le", *le)), *c, m.timestamp_ms);
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
                    write_sample(out, &f.name, "_count", &m.labels, None, *count, m.timestamp_ms);
                }
            }
        }
    }
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
            value: MetricValue::Histogram { count: 2.0, sum: 3.0, buckets: vec![(1.0, 1.0)] },
            timestamp_ms: None,
        });
        let mut s = String::new();
        write_text(&[fam], &mut s);
        assert!(s.contains("h_bucket{le=\"+Inf\"} 2\n"), "{s}");
    }
}
