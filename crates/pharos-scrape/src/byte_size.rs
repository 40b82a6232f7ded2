//! Byte sizes as configuration files spell them (`body_size_limit: 10MB`), base 2 like
//! Prometheus's `units.Base2Bytes`: `KB` and `KiB` both mean 1024 bytes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a size string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    /// Not of the form `<n><unit>...`.
    #[error("invalid size {0:?}: expected a number with a unit such as 512KB, 10MB or 1GiB")]
    Invalid(String),
    /// An unknown unit.
    #[error("unknown unit {unit:?} in size {input:?}: use B, KB, MB, GB, TB, PB or EB (KiB... also accepted)")]
    UnknownUnit {
        /// The unit found.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// Too large for 64 bits.
    #[error("size {0:?} is too large")]
    Overflow(String),
}

/// A number of bytes; zero means "no limit" wherever it is used as a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

const UNITS: [(&str, &str, u32); 7] = [
    ("B", "B", 0),
    ("KB", "KiB", 1),
    ("MB", "MiB", 2),
    ("GB", "GiB", 3),
    ("TB", "TiB", 4),
    ("PB", "PiB", 5),
    ("EB", "EiB", 6),
];

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t == "0" {
            return Ok(ByteSize(0));
        }
        if t.is_empty() {
            return Err(ByteSizeError::Invalid(s.into()));
        }
        let mut rest = t;
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(ByteSizeError::Invalid(s.into()));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| ByteSizeError::Overflow(s.into()))?;
            rest = &rest[digits..];
            let ulen = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..ulen];
            rest = &rest[ulen..];
            let power = UNITS
                .iter()
                .find(|(a, b, _)| *a == unit || *b == unit)
                .map(|(_, _, p)| *p)
                .ok_or_else(|| ByteSizeError::UnknownUnit {
                    unit: unit.into(),
                    input: s.into(),
                })?;
            total = 1024u64
                .checked_pow(power)
                .and_then(|m| n.checked_mul(m))
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| ByteSizeError::Overflow(s.into()))?;
        }
        Ok(ByteSize(total))
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the value exactly, like Go's `Base2Bytes.String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        for (unit, _, p) in UNITS.iter().rev() {
            let m = 1024u64.pow(*p);
            if self.0.is_multiple_of(m) {
                return write!(f, "{}{unit}", self.0 / m);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 10MB")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                if v == 0 {
                    Ok(ByteSize(0))
                } else {
                    Err(E::custom(ByteSizeError::Invalid(v.to_string())))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                self.visit_u64(
                    u64::try_from(v)
                        .map_err(|_| E::custom(ByteSizeError::Invalid(v.to_string())))?,
                )
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base2_units() {
        for (s, n) in [
            ("0", 0),
            ("0B", 0),
            ("512B", 512),
            ("1KB", 1024),
            ("1KiB", 1024),
            ("10MB", 10 << 20),
            ("1GB", 1 << 30),
            ("1MB512KB", (1 << 20) + (512 << 10)),
        ] {
            assert_eq!(s.parse::<ByteSize>(), Ok(ByteSize(n)), "{s}");
        }
        assert!(matches!(
            "10XB".parse::<ByteSize>(),
            Err(ByteSizeError::UnknownUnit { .. })
        ));
        assert!(matches!(
            "MB".parse::<ByteSize>(),
            Err(ByteSizeError::Invalid(_))
        ));
        assert!(matches!(
            "99999EB".parse::<ByteSize>(),
            Err(ByteSizeError::Overflow(_))
        ));
        assert_eq!(ByteSize(10 << 20).to_string(), "10MB");
    }
}
