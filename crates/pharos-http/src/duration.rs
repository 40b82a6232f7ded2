//! Durations as configuration files spell them: `15s`, `1m30s`, `2h`, `1d`, `500ms`.
//!
//! The grammar and limits follow Prometheus's `model.Duration`, so a `prometheus.yml` that
//! Prometheus accepts is accepted here with the same meaning, and one it rejects is rejected.
//! It lives in this crate because every consumer of HTTP client settings (scrape, remote
//! write, notifiers) also reads durations from the same files.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a duration string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string was empty.
    #[error("empty duration string")]
    Empty,
    /// The string does not follow the `<n>y<n>w<n>d<n>h<n>m<n>s<n>ms` grammar.
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    /// The value does not fit in 64-bit nanoseconds, Prometheus's limit.
    #[error("duration out of range: {0:?}")]
    OutOfRange(String),
}

/// A non-negative duration with millisecond resolution, parsed and printed like Prometheus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(Duration);

/// Unit suffixes in the only order the grammar allows, with their length in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl PromDuration {
    /// Wraps a standard duration (sub-millisecond parts are kept but never printed).
    pub const fn new(d: Duration) -> Self {
        PromDuration(d)
    }

    /// A duration of `s` whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        PromDuration(Duration::from_secs(s))
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        PromDuration(Duration::from_millis(ms))
    }

    /// The standard-library duration.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole milliseconds.
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// True for the zero duration, which many settings use to mean "unset".
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<PromDuration> for Duration {
    fn from(d: PromDuration) -> Duration {
        d.0
    }
}

impl FromStr for PromDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(DurationError::Empty);
        }
        // A bare zero is the one unit-less form Prometheus accepts.
        if s == "0" {
            return Ok(PromDuration::default());
        }
        let invalid = || DurationError::Invalid(s.to_string());
        let mut rest = s.as_bytes();
        let mut next_unit = 0usize;
        let mut total_ms: u64 = 0;
        while !rest.is_empty() {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return Err(invalid());
            }
            let (num, after) = rest.split_at(digits);
            let unit_len = after.iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let (unit, after) = after.split_at(unit_len);
            let pos = UNITS[next_unit..]
                .iter()
                .position(|(u, _)| u.as_bytes() == unit)
                .ok_or_else(invalid)?;
            let (_, unit_ms) = UNITS[next_unit + pos];
            next_unit += pos + 1;
            let num = std::str::from_utf8(num).map_err(|_| invalid())?;
            let n: u64 = num
                .parse()
                .map_err(|_| DurationError::OutOfRange(s.to_string()))?;
            total_ms = n
                .checked_mul(unit_ms)
                .and_then(|v| total_ms.checked_add(v))
                .ok_or_else(|| DurationError::OutOfRange(s.to_string()))?;
            rest = after;
        }
        // Prometheus stores durations as int64 nanoseconds; anything larger is rejected there.
        if total_ms > (i64::MAX as u64) / 1_000_000 {
            return Err(DurationError::OutOfRange(s.to_string()));
        }
        Ok(PromDuration::from_millis(total_ms))
    }
}

impl fmt::Display for PromDuration {
    /// Prints the largest units first and omits zero parts, so `90s` prints as `1m30s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, unit_ms) in UNITS {
            // Prometheus never prints weeks unless the whole value is whole weeks, nor years
            // unless the value is whole years; it prints days instead.
            if (unit == "w" || unit == "y") && !ms.is_multiple_of(unit_ms) {
                continue;
            }
            let n = ms / unit_ms;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                ms -= n * unit_ms;
            }
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PromDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 15s, 1m30s or 2h")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PromDuration, E> {
                v.parse().map_err(E::custom)
            }
            // YAML reads a bare `0` as an integer; Prometheus accepts it as a zero duration.
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PromDuration, E> {
                if v == 0 {
                    Ok(PromDuration::default())
                } else {
                    Err(E::custom(DurationError::Invalid(v.to_string())))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PromDuration, E> {
                if v == 0 {
                    Ok(PromDuration::default())
                } else {
                    Err(E::custom(DurationError::Invalid(v.to_string())))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_prometheus() {
        let cases = [
            ("0", 0),
            ("0s", 0),
            ("15s", 15_000),
            ("1m30s", 90_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("500ms", 500),
            ("1h30m10s5ms", 5_410_005),
        ];
        for (s, ms) in cases {
            assert_eq!(
                s.parse::<PromDuration>().map(PromDuration::as_millis),
                Ok(ms),
                "{s}"
            );
        }
    }

    #[test]
    fn rejects_bad_strings_with_clear_errors() {
        assert_eq!("".parse::<PromDuration>(), Err(DurationError::Empty));
        for bad in [
            "15", "1.5s", "s", "1s1m", "1m1m", "-1s", "1 s", "1S", "1sms", "10x",
        ] {
            assert_eq!(
                bad.parse::<PromDuration>(),
                Err(DurationError::Invalid(bad.into())),
                "{bad}"
            );
        }
        assert!(matches!(
            "99999999999999999999y".parse::<PromDuration>(),
            Err(DurationError::OutOfRange(_))
        ));
        assert!(matches!(
            "300y".parse::<PromDuration>(),
            Err(DurationError::OutOfRange(_))
        ));
    }

    #[test]
    fn prints_like_prometheus() {
        for (ms, s) in [
            (0, "0s"),
            (90_000, "1m30s"),
            (86_400_000, "1d"),
            (604_800_000, "1w"),
            (691_200_000, "8d"),
            (1_500, "1s500ms"),
        ] {
            assert_eq!(PromDuration::from_millis(ms).to_string(), s);
        }
    }
}
