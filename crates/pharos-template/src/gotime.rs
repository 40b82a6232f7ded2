//! Go's `time.Time` and `time.Duration` string forms, which templates print for `toTime`,
//! `humanizeTimestamp` and `toDuration`.

use std::fmt::Write;

use crate::value::Value;

/// Converts days since 1970-01-01 to a (year, month, day) civil date.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm: shift the epoch to 0000-03-01 so leap days end each era's year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `time.Time.String()` of a UTC time given in milliseconds since the epoch:
/// `2006-01-02 15:04:05.999999999 +0000 UTC` (fraction without trailing zeros).
pub(crate) fn time_string(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::new();
    if y < 0 {
        let _ = write!(out, "-{:04}", -y);
    } else {
        let _ = write!(out, "{y:04}");
    }
    let _ = write!(
        out,
        "-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if millis != 0 {
        let frac = format!("{millis:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// Writes `v / 10^prec` with the fraction's trailing zeros removed, as Go's `fmtFrac`+`fmtInt`.
fn frac_string(v: u64, prec: u32) -> String {
    let scale = 10u64.pow(prec);
    let int = v / scale;
    let frac = v % scale;
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:0width$}", width = prec as usize);
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(crate) fn duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if u < 1_000_000_000 {
        if u < 1_000 {
            let _ = write!(out, "{u}ns");
        } else if u < 1_000_000 {
            out.push_str(&frac_string(u, 3));
            out.push_str("µs");
        } else {
            out.push_str(&frac_string(u, 6));
            out.push_str("ms");
        }
        return out;
    }
    let secs_part = u % 60_000_000_000;
    let total_minutes = u / 60_000_000_000;
    let hours = total_minutes / 60;
    let minutes = total_minutes % 60;
    if hours > 0 {
        let _ = write!(out, "{hours}h{minutes}m");
    } else if minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    out.push_str(&frac_string(secs_part, 9));
    out.push('s');
    out
}

/// RFC 3339 with nanosecond precision and trailing zeros removed, as Go's JSON encoding of a
/// `time.Time` in UTC.
pub(crate) fn rfc3339(ms: i64) -> String {
    let s = time_string(ms);
    // "2006-01-02 15:04:05.999 +0000 UTC" -> "2006-01-02T15:04:05.999Z"
    let core = s.trim_end_matches(" +0000 UTC");
    format!("{}Z", core.replacen(' ', "T", 1))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Calendar fields of a UTC time in milliseconds.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    weekday: usize,
    yearday: i64,
}

fn civil(ms: i64) -> Civil {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let yearday = days - days_from_civil(year, 1, 1) + 1;
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: (sod / 60) % 60,
        second: sod % 60,
        millis: ms.rem_euclid(1000),
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
        yearday,
    }
}

/// Days since 1970-01-01 of a civil date (inverse of `civil_from_days`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `time.Time.Format` for a UTC time, with Go's reference-time layout elements
/// (`2006-01-02 15:04:05.000 MST`, `Jan _2`, `Monday`, `-07:00`, `Z07:00`, ...).
pub(crate) fn format(ms: i64, layout: &str) -> String {
    let c = civil(ms);
    let mut out = String::new();
    let mut rest = layout;
    // Longest elements first so that "January" wins over "Jan" and "2006" over "2".
    const ELEMENTS: [&str; 33] = [
        "January",
        "Monday",
        "Z07:00:00",
        "-07:00:00",
        "Z070000",
        "-070000",
        "Z07:00",
        "-07:00",
        "Z0700",
        "-0700",
        "2006",
        "Jan",
        "Mon",
        "MST",
        "Z07",
        "-07",
        "002",
        "__2",
        "_2",
        "01",
        "02",
        "03",
        "04",
        "05",
        "06",
        "15",
        "PM",
        "pm",
        "1",
        "2",
        "3",
        "4",
        "5",
    ];
    'outer: while !rest.is_empty() {
        // Fractional seconds: ".000", ",999" ... after a seconds element or anywhere in Go.
        if let Some(first) = rest.chars().next() {
            if first == '.' || first == ',' {
                let digits: String = rest[1..]
                    .chars()
                    .take_while(|d| *d == '0' || *d == '9')
                    .collect();
                let all_same = digits.chars().all(|d| digits.starts_with(d));
                let next_is_digit =
                    rest[1 + digits.len()..].starts_with(|d: char| d.is_ascii_digit());
                if !digits.is_empty() && all_same && !next_is_digit {
                    let n = digits.len();
                    let nanos = c.millis * 1_000_000;
                    let full = format!("{nanos:09}");
                    let mut frac: String = full.chars().take(n).collect();
                    if digits.starts_with('9') {
                        frac = frac.trim_end_matches('0').to_string();
                        if !frac.is_empty() {
                            out.push(first);
                            out.push_str(&frac);
                        }
                    } else {
                        out.push(first);
                        out.push_str(&frac);
                    }
                    rest = &rest[1 + n..];
                    continue;
                }
            }
        }
        for el in ELEMENTS {
            if let Some(after) = rest.strip_prefix(el) {
                // "Jan"/"Mon" must not be the start of a longer lowercase word.
                if (el == "Jan" || el == "Mon")
                    && after.starts_with(|ch: char| ch.is_ascii_lowercase())
                {
                    continue;
                }
                let h12 = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
                let text = match el {
                    "January" => MONTHS[(c.month - 1) as usize].to_string(),
                    "Jan" => MONTHS[(c.month - 1) as usize][..3].to_string(),
                    "Monday" => DAYS[c.weekday].to_string(),
                    "Mon" => DAYS[c.weekday][..3].to_string(),
                    "MST" => "UTC".to_string(),
                    "Z07:00:00" | "Z070000" | "Z07:00" | "Z0700" | "Z07" => "Z".to_string(),
                    "-07:00:00" => "+00:00:00".to_string(),
                    "-070000" => "+000000".to_string(),
                    "-07:00" => "+00:00".to_string(),
                    "-0700" => "+0000".to_string(),
                    "-07" => "+00".to_string(),
                    "2006" => format!("{:04}", c.year),
                    "06" => format!("{:02}", c.year.rem_euclid(100)),
                    "002" => format!("{:03}", c.yearday),
                    "__2" => format!("{:>3}", c.yearday),
                    "_2" => format!("{:>2}", c.day),
                    "01" => format!("{:02}", c.month),
                    "02" => format!("{:02}", c.day),
                    "03" => format!("{h12:02}"),
                    "04" => format!("{:02}", c.minute),
                    "05" => format!("{:02}", c.second),
                    "15" => format!("{:02}", c.hour),
                    "PM" => (if c.hour >= 12 { "PM" } else { "AM" }).to_string(),
                    "pm" => (if c.hour >= 12 { "pm" } else { "am" }).to_string(),
                    "1" => c.month.to_string(),
                    "2" => c.day.to_string(),
                    "3" => h12.to_string(),
                    "4" => c.minute.to_string(),
                    _ => c.second.to_string(),
                };
                out.push_str(&text);
                rest = after;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(ch) = chars.next() {
            out.push(ch);
        }
        rest = chars.as_str();
    }
    out
}

fn want_args(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

/// Methods of Go's `time.Time` that templates use (`Format`, `Unix`, `Sub`, ...), on a UTC time
/// in milliseconds. `None` when there is no such method.
pub(crate) fn time_method(ms: i64, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
    let other_time = |v: Option<&Value>| match v {
        Some(Value::Time(t)) => Ok(*t),
        Some(v) => Err(format!(
            "wrong type for value; expected time.Time; got {}",
            v.type_name()
        )),
        None => Err("missing argument".to_string()),
    };
    let c = civil(ms);
    let result = match name {
        "Format" => want_args(name, args, 1).and_then(|_| match args.first() {
            Some(Value::String(layout)) => Ok(Value::String(format(ms, layout))),
            Some(v) => Err(format!(
                "wrong type for value; expected string; got {}",
                v.type_name()
            )),
            None => Err("missing argument".into()),
        }),
        "String" => want_args(name, args, 0).map(|_| Value::String(time_string(ms))),
        "Unix" => want_args(name, args, 0).map(|_| Value::Int(ms.div_euclid(1000))),
        "UnixMilli" => want_args(name, args, 0).map(|_| Value::Int(ms)),
        "UnixMicro" => want_args(name, args, 0).map(|_| Value::Int(ms.saturating_mul(1000))),
        "UnixNano" => want_args(name, args, 0).map(|_| Value::Int(ms.saturating_mul(1_000_000))),
        // Pharos renders every time in UTC, so the local time is the UTC time.
        "UTC" | "Local" | "Round" | "Truncate" if args.len() <= 1 => Ok(Value::Time(ms)),
        "Year" => want_args(name, args, 0).map(|_| Value::Int(c.year)),
        "Day" => want_args(name, args, 0).map(|_| Value::Int(i64::from(c.day))),
        "Hour" => want_args(name, args, 0).map(|_| Value::Int(c.hour)),
        "Minute" => want_args(name, args, 0).map(|_| Value::Int(c.minute)),
        "Second" => want_args(name, args, 0).map(|_| Value::Int(c.second)),
        "YearDay" => want_args(name, args, 0).map(|_| Value::Int(c.yearday)),
        "IsZero" => want_args(name, args, 0).map(|_| Value::Bool(ms == GO_ZERO_TIME_MS)),
        "Sub" => want_args(name, args, 1).and_then(|_| {
            other_time(args.first())
                .map(|t| Value::Duration(ms.saturating_sub(t).saturating_mul(1_000_000)))
        }),
        "Add" => want_args(name, args, 1).and_then(|_| match args.first() {
            Some(Value::Duration(d)) | Some(Value::Int(d)) => {
                Ok(Value::Time(ms.saturating_add(d / 1_000_000)))
            }
            Some(v) => Err(format!(
                "wrong type for value; expected time.Duration; got {}",
                v.type_name()
            )),
            None => Err("missing argument".into()),
        }),
        "Before" => want_args(name, args, 1)
            .and_then(|_| other_time(args.first()).map(|t| Value::Bool(ms < t))),
        "After" => want_args(name, args, 1)
            .and_then(|_| other_time(args.first()).map(|t| Value::Bool(ms > t))),
        "Equal" => want_args(name, args, 1)
            .and_then(|_| other_time(args.first()).map(|t| Value::Bool(ms == t))),
        _ => return None,
    };
    Some(result)
}

/// Milliseconds since the epoch of Go's zero time, January 1, year 1, 00:00:00 UTC.
pub(crate) const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

/// Methods of Go's `time.Duration` (`Seconds`, `Minutes`, `String`, ...) on nanoseconds.
pub(crate) fn duration_method(
    ns: i64,
    name: &str,
    args: &[Value],
) -> Option<Result<Value, String>> {
    let result = match name {
        "Seconds" => want_args(name, args, 0).map(|_| Value::Float(ns as f64 / 1e9)),
        "Minutes" => want_args(name, args, 0).map(|_| Value::Float(ns as f64 / 6e10)),
        "Hours" => want_args(name, args, 0).map(|_| Value::Float(ns as f64 / 3.6e12)),
        "Milliseconds" => want_args(name, args, 0).map(|_| Value::Int(ns / 1_000_000)),
        "Microseconds" => want_args(name, args, 0).map(|_| Value::Int(ns / 1_000)),
        "Nanoseconds" => want_args(name, args, 0).map(|_| Value::Int(ns)),
        "String" => want_args(name, args, 0).map(|_| Value::String(duration_string(ns))),
        "Abs" => want_args(name, args, 0).map(|_| Value::Duration(ns.saturating_abs())),
        "Round" | "Truncate" => want_args(name, args, 1).and_then(|_| match args.first() {
            Some(Value::Duration(m)) | Some(Value::Int(m)) => {
                let m = *m;
                if m <= 0 {
                    return Ok(Value::Duration(ns));
                }
                let r = ns % m;
                let truncated = ns - r;
                if name == "Truncate" {
                    return Ok(Value::Duration(truncated));
                }
                // Round halves away from zero, as Go does.
                let rounded = if r.unsigned_abs() * 2 >= m.unsigned_abs() {
                    if ns < 0 {
                        truncated.saturating_sub(m)
                    } else {
                        truncated.saturating_add(m)
                    }
                } else {
                    truncated
                };
                Ok(Value::Duration(rounded))
            }
            Some(v) => Err(format!(
                "wrong type for value; expected time.Duration; got {}",
                v.type_name()
            )),
            None => Err("missing argument".into()),
        }),
        _ => return None,
    };
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_strings_like_go() {
        assert_eq!(time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            time_string(1_435_065_584_128),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(
            time_string(1_600_000_000_100),
            "2020-09-13 12:26:40.1 +0000 UTC"
        );
        assert_eq!(time_string(-1000), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(
            time_string(951_782_400_000),
            "2000-02-29 00:00:00 +0000 UTC"
        );
    }

    #[test]
    fn duration_strings_like_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (61_000_000_000, "1m1s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_661_000_000_000, "1h1m1s"),
            (-1_500_000_000, "-1.5s"),
        ];
        for (ns, want) in cases {
            assert_eq!(duration_string(ns), want);
        }
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        // 2015-06-23 13:19:44.128 UTC, a Tuesday.
        let t = 1_435_065_584_128;
        let cases = [
            ("2006-01-02 15:04:05", "2015-06-23 13:19:44"),
            ("2006-01-02T15:04:05Z07:00", "2015-06-23T13:19:44Z"),
            ("2006-01-02T15:04:05.000Z", "2015-06-23T13:19:44.128Z"),
            ("15:04:05.999999", "13:19:44.128"),
            (
                "Mon Jan _2 15:04:05 MST 2006",
                "Tue Jun 23 13:19:44 UTC 2015",
            ),
            (
                "Monday, 02-Jan-06 15:04:05 -0700",
                "Tuesday, 23-Jun-15 13:19:44 +0000",
            ),
            ("January 2, 2006 3:04 PM", "June 23, 2015 1:19 PM"),
            ("002 __2", "174 174"),
            ("Month", "Month"),
        ];
        for (layout, want) in cases {
            assert_eq!(format(t, layout), want, "{layout}");
        }
        assert_eq!(format(0, "2006-01-02 Mon"), "1970-01-01 Thu");
        assert_eq!(format(951_782_400_000, "Jan 2 002"), "Feb 29 060");
    }
}
