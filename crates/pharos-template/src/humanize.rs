//! Prometheus's number, duration and time formatting functions for templates.

use crate::gofmt::format_float;
use crate::gotime;

fn g4(v: f64) -> String {
    format_float(v, 'g', 4)
}

/// `humanize`: SI prefixes, four significant digits (`1234567` -> `1.235M`, `0.12` -> `120m`).
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// `humanize1024`: binary prefixes (`ki`, `Mi`, ...).
pub(crate) fn humanize_1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with sub-second prefixes.
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        // Go converts with int64(v), which saturates in practice for huge values.
        let duration = v as i64;
        let seconds = duration % 60;
        let minutes = (duration / 60) % 60;
        let hours = (duration / 60 / 60) % 24;
        let days = duration / 60 / 60 / 24;
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// `humanizePercentage`: a ratio as a percentage with four significant digits.
pub(crate) fn humanize_percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

/// Prometheus's `floatToTime`: seconds to milliseconds since the epoch (truncated).
pub(crate) fn float_to_time_ms(v: f64) -> Result<i64, String> {
    if v.is_nan() || v.is_infinite() {
        return Err("value is NaN or Inf".into());
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            crate::gofmt::format_float(v, 'g', -1)
        ));
    }
    Ok((ns as i64) / 1_000_000)
}

/// Prometheus's `floatToDuration`: seconds to nanoseconds.
pub(crate) fn float_to_duration_ns(v: f64) -> Result<i64, String> {
    if v.is_nan() || v.is_infinite() {
        return Err("value is NaN or Inf".into());
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds duration since it overflows int64",
            crate::gofmt::format_float(v, 'g', -1)
        ));
    }
    Ok(ns as i64)
}

/// `humanizeTimestamp`: Unix seconds as Go prints a UTC `time.Time`.
pub(crate) fn humanize_timestamp(v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(g4(v));
    }
    float_to_time_ms(v).map(gotime::time_string)
}

/// Prometheus's `model.ParseDuration` (`1h30m`, `2d`, `500ms`), in seconds.
pub(crate) fn parse_prometheus_duration(s: &str) -> Result<f64, String> {
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    if s == "0" {
        return Ok(0.0);
    }
    let invalid = || format!("not a valid duration string: {s:?}");
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut total_ms: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| "duration out of range".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let pos = UNITS
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(invalid)?;
        // Units must appear largest first, each at most once.
        if pos < next_unit {
            return Err(invalid());
        }
        next_unit = pos + 1;
        let ms = n
            .checked_mul(UNITS[pos].1)
            .and_then(|v| total_ms.checked_add(v))
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or_else(|| "duration out of range".to_string())?;
        total_ms = ms;
    }
    Ok(total_ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_like_prometheus() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (1234567.0, "1.235M"),
            (0.12, "120m"),
            (1000.0, "1k"),
            (-1234.0, "-1.234k"),
            (0.000001, "1u"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
            (1e30, "1e+06Y"),
        ];
        for (v, want) in cases {
            assert_eq!(humanize(v), want, "{v}");
        }
    }

    #[test]
    fn humanize_1024_like_prometheus() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (1024.0, "1ki"),
            (1048576.0, "1Mi"),
            (1073741824.0 * 1.5, "1.5Gi"),
            (-5000.0, "-4.883ki"),
        ] {
            assert_eq!(humanize_1024(v), want, "{v}");
        }
    }

    #[test]
    fn humanize_duration_like_prometheus() {
        for (v, want) in [
            (0.0, "0s"),
            (1.0, "1s"),
            (60.0, "1m 0s"),
            (3600.0, "1h 0m 0s"),
            (86400.0, "1d 0h 0m 0s"),
            (3661.0, "1h 1m 1s"),
            (86400.0 + 3600.0 + 61.0, "1d 1h 1m 1s"),
            (1.2345, "1.234s"),
            (12.345, "12.35s"),
            (0.1, "100ms"),
            (0.0001, "100us"),
            (-3661.0, "-1h 1m 1s"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(humanize_duration(v), want, "{v}");
        }
    }

    #[test]
    fn percentages_and_timestamps() {
        assert_eq!(humanize_percentage(0.1234), "12.34%");
        assert_eq!(humanize_percentage(0.0), "0%");
        assert_eq!(humanize_percentage(1.23456), "123.5%");
        assert_eq!(
            humanize_timestamp(1435065584.128).as_deref(),
            Ok("2015-06-23 13:19:44.128 +0000 UTC")
        );
        assert_eq!(
            humanize_timestamp(0.0).as_deref(),
            Ok("1970-01-01 00:00:00 +0000 UTC")
        );
        assert_eq!(humanize_timestamp(f64::INFINITY).as_deref(), Ok("+Inf"));
        assert!(humanize_timestamp(1e20).is_err());
    }

    #[test]
    fn durations_like_prometheus() {
        assert_eq!(parse_prometheus_duration("1h30m"), Ok(5400.0));
        assert_eq!(parse_prometheus_duration("1d"), Ok(86400.0));
        assert_eq!(parse_prometheus_duration("500ms"), Ok(0.5));
        assert_eq!(parse_prometheus_duration("0"), Ok(0.0));
        assert!(parse_prometheus_duration("").is_err());
        assert!(parse_prometheus_duration("1x").is_err());
        assert!(parse_prometheus_duration("30m1h").is_err());
        assert!(parse_prometheus_duration("99999999999999999999y").is_err());
    }
}
