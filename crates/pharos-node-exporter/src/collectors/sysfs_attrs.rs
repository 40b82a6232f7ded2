//! Reading sysfs attribute files: one value per file, which drivers and older kernels may
//! leave out.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use super::host_source::io_error;
use crate::collector::CollectError;

/// A text attribute, trimmed. A missing file reads as empty so that one attribute a driver
/// leaves out does not hide the whole device.
pub(super) fn read_optional_attribute(path: &Path) -> Result<String, CollectError> {
    match fs::read_to_string(path) {
        Ok(raw) => Ok(raw.trim().to_string()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(io_error(path, source)),
    }
}

/// Parses an unsigned integer the way Go's `strconv.ParseUint(s, 0, 64)` does for the forms
/// sysfs uses: `0x` hexadecimal (most FC counters), leading-zero octal, or decimal.
pub(super) fn parse_sysfs_uint(raw: &str) -> Option<u64> {
    let raw = raw.replace('_', "");
    if let Some(hex) = raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if raw.len() > 1 && raw.starts_with('0') {
        let octal = raw.trim_start_matches(['0', 'o', 'O']);
        return if octal.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(octal, 8).ok()
        };
    }
    raw.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_unsigned_integers() {
        assert_eq!(parse_sysfs_uint("0x1f"), Some(31));
        assert_eq!(parse_sysfs_uint("010"), Some(8));
        assert_eq!(parse_sysfs_uint("0"), Some(0));
        assert_eq!(parse_sysfs_uint("42"), Some(42));
        assert_eq!(parse_sysfs_uint("-1"), None);
        assert_eq!(parse_sysfs_uint(""), None);
    }
}
