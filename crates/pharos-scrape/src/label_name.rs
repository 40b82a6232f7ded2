//! What counts as a label name in configuration files.

/// True for names matching `[a-zA-Z_][a-zA-Z0-9_]*`, the classic Prometheus label name rule
/// that configuration files are validated against.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_rule() {
        for ok in ["a", "_", "job", "__address__", "A1_b"] {
            assert!(is_valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "é", " a"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
    }
}
