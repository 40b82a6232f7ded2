//! Whether a client accepts gzip, from its `Accept-Encoding` header (RFC 9110 section 12.5.3).

/// True when `header` lists `gzip` (or `x-gzip`, or `*` without an explicit gzip entry) with a
/// non-zero quality.
pub fn accepts_gzip(header: &str) -> bool {
    let mut star = false;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q_zero = parts.any(|p| {
            let p = p.trim();
            match p.split_once('=') {
                Some((k, v)) if k.trim().eq_ignore_ascii_case("q") => {
                    v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                }
                _ => false,
            }
        });
        match coding.as_str() {
            "gzip" | "x-gzip" => return !q_zero,
            "*" => star = !q_zero,
            _ => {}
        }
    }
    star
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn browsers_and_curl() {
        assert!(accepts_gzip("gzip, deflate, br, zstd"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("x-gzip"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("br, deflate"));
    }

    #[test]
    fn quality_zero_refuses_and_star_accepts() {
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzip; q=0.000, *"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("*;q=0"));
        assert!(accepts_gzip("identity, *;q=0.1"));
        assert!(!accepts_gzip("gzip;q=bogus=1;q=0"));
    }
}
