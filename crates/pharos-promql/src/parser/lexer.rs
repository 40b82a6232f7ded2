//! Turns PromQL text into tokens with byte positions.

use super::ParseError;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier or keyword (keywords are contextual, so the parser decides).
    Ident(String),
    /// A number literal (including `Inf`, `NaN` and hex).
    Number(f64),
    /// A duration literal, in milliseconds.
    Duration(i64),
    /// A string literal, already unescaped.
    Str(String),
    /// An operator or punctuation, as written.
    Op(&'static str),
    /// End of input.
    Eof,
}

/// A token and where it starts and ends (byte offsets).
#[derive(Clone, Debug)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset one past the last character.
    pub end: usize,
}

const OPS: &[&str] = &[
    ">/", "</", "==", "!=", ">=", "<=", "=~", "!~", "+", "-", "*", "/", "%", "^", ">", "<", "=",
    "(", ")", "{", "}", "[", "]", ",", ":", "@",
];

/// Lexes the whole input.
pub fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let b = input.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &input[start..i];
            let lower = word.to_ascii_lowercase();
            let tok = if lower == "inf" {
                Tok::Number(f64::INFINITY)
            } else if lower == "nan" {
                Tok::Number(f64::NAN)
            } else {
                Tok::Ident(word.to_string())
            };
            out.push(Token { tok, start, end: i });
            continue;
        }
        if c == b':' && i + 1 < b.len() && (b[i + 1].is_ascii_alphabetic() || b[i + 1] == b'_') {
            // Metric names may start with a colon (recording rule style).
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(input[start..i].to_string()),
                start,
                end: i,
            });
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit()) {
            let (tok, end) = lex_number(input, i)?;
            i = end;
            out.push(Token { tok, start, end: i });
            continue;
        }
        if c == b'"' || c == b'\'' || c == b'`' {
            let (s, end) = lex_string(input, i)?;
            i = end;
            out.push(Token {
                tok: Tok::Str(s),
                start,
                end: i,
            });
            continue;
        }
        let mut matched = false;
        for op in OPS {
            if input[i..].starts_with(op) {
                i += op.len();
                out.push(Token {
                    tok: Tok::Op(op),
                    start,
                    end: i,
                });
                matched = true;
                break;
            }
        }
        if !matched {
            let ch = input[i..].chars().next().unwrap_or('?');
            return Err(ParseError::at(
                input,
                start,
                format!("unexpected character: {ch:?}"),
            ));
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        start: input.len(),
        end: input.len(),
    });
    Ok(out)
}

fn lex_number(input: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let b = input.as_bytes();
    let mut i = start;
    if b[i] == b'0' && i + 1 < b.len() && (b[i + 1] == b'x' || b[i + 1] == b'X') {
        i += 2;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        let v = i64::from_str_radix(&input[start + 2..i], 16).map_err(|_| {
            ParseError::at(
                input,
                start,
                format!("bad number or duration syntax: {:?}", &input[start..i]),
            )
        })?;
        return Ok((Tok::Number(v as f64), i));
    }
    // A duration is digits followed by a unit, possibly repeated (`1h30m`).
    if let Some((ms, end)) = try_duration(input, start) {
        return Ok((Tok::Duration(ms), end));
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    if i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        return Err(ParseError::at(
            input,
            start,
            format!("bad number or duration syntax: {:?}", &input[start..j]),
        ));
    }
    let text = &input[start..i];
    let v: f64 = text.parse().map_err(|_| {
        ParseError::at(
            input,
            start,
            format!("bad number or duration syntax: {text:?}"),
        )
    })?;
    Ok((Tok::Number(v), i))
}

/// Parses a duration such as `1h30m` or `10s53ms` starting at `start`; returns milliseconds.
pub fn try_duration(input: &str, start: usize) -> Option<(i64, usize)> {
    let b = input.as_bytes();
    let mut i = start;
    let mut total: i64 = 0;
    let mut any = false;
    loop {
        let ds = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if ds == i {
            break;
        }
        let n: i64 = input[ds..i].parse().ok()?;
        let unit_ms = if input[i..].starts_with("ms") {
            i += 2;
            1
        } else {
            let u = match b.get(i) {
                Some(b's') => 1000,
                Some(b'm') => 60_000,
                Some(b'h') => 3_600_000,
                Some(b'd') => 86_400_000,
                Some(b'w') => 7 * 86_400_000,
                Some(b'y') => 365 * 86_400_000,
                _ => return if any { Some((total, ds)) } else { None },
            };
            i += 1;
            u
        };
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
        any = true;
    }
    if !any {
        return None;
    }
    if i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
        return None;
    }
    Some((total, i))
}

fn lex_string(input: &str, start: usize) -> Result<(String, usize), ParseError> {
    let b = input.as_bytes();
    let quote = b[start];
    let mut i = start + 1;
    let mut out = String::new();
    if quote == b'`' {
        while i < b.len() && b[i] != b'`' {
            i += 1;
        }
        if i >= b.len() {
            return Err(ParseError::at(
                input,
                start,
                "unterminated raw string".into(),
            ));
        }
        return Ok((input[start + 1..i].to_string(), i + 1));
    }
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        let Some(&c) = b.get(i) else {
            return Err(ParseError::at(
                input,
                start,
                "unterminated quoted string".into(),
            ));
        };
        if c == quote {
            i += 1;
            break;
        }
        if c == b'\n' {
            return Err(ParseError::at(
                input,
                start,
                "unterminated quoted string".into(),
            ));
        }
        if c != b'\\' {
            bytes.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = b.get(i + 1) else {
            return Err(ParseError::at(
                input,
                start,
                "unterminated quoted string".into(),
            ));
        };
        i += 2;
        match e {
            b'a' => bytes.push(7),
            b'b' => bytes.push(8),
            b'f' => bytes.push(12),
            b'n' => bytes.push(b'\n'),
            b'r' => bytes.push(b'\r'),
            b't' => bytes.push(b'\t'),
            b'v' => bytes.push(11),
            b'\\' => bytes.push(b'\\'),
            b'"' | b'\'' if e == quote => bytes.push(e),
            b'x' | b'u' | b'U' => {
                let n = match e {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = input
                    .get(i..i + n)
                    .ok_or_else(|| ParseError::at(input, i, "invalid escape sequence".into()))?;
                let v = u32::from_str_radix(hex, 16)
                    .map_err(|_| ParseError::at(input, i, "invalid escape sequence".into()))?;
                i += n;
                if e == b'x' {
                    bytes.push(v as u8);
                } else {
                    let ch = char::from_u32(v).ok_or_else(|| {
                        ParseError::at(input, i, "invalid escape sequence".into())
                    })?;
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
            }
            b'0'..=b'7' => {
                let oct = input
                    .get(i - 1..i + 2)
                    .ok_or_else(|| ParseError::at(input, i, "invalid escape sequence".into()))?;
                let v = u32::from_str_radix(oct, 8)
                    .map_err(|_| ParseError::at(input, i, "invalid escape sequence".into()))?;
                i += 2;
                bytes.push(v as u8);
            }
            _ => {
                return Err(ParseError::at(
                    input,
                    i - 2,
                    format!("unknown escape sequence {:?}", e as char),
                ));
            }
        }
    }
    // Go strings may hold invalid UTF-8; we keep it lossless where possible and replace otherwise,
    // and the evaluator rejects such values as label names.
    out.push_str(&match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => invalid_utf8_marker(e.as_bytes()),
    });
    Ok((out, i))
}

/// Renders invalid UTF-8 the way Go's `%q` does (`\xc5`), so error messages match Prometheus.
fn invalid_utf8_marker(bytes: &[u8]) -> String {
    let mut s = String::from(INVALID_UTF8_PREFIX);
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Marks a string that held invalid UTF-8 in the query (Rust strings cannot), so label-name
/// validation can reject it with the bytes rendered as escapes.
pub const INVALID_UTF8_PREFIX: &str = "\u{0}\u{1}invalid-utf8:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_numbers() {
        let t = lex("1h30m 10s53ms 2. .5 1e3 0x1f Inf").unwrap();
        let toks: Vec<Tok> = t.into_iter().map(|t| t.tok).collect();
        assert_eq!(toks[0], Tok::Duration(5_400_000));
        assert_eq!(toks[1], Tok::Duration(10_053));
        assert_eq!(toks[2], Tok::Number(2.0));
        assert_eq!(toks[3], Tok::Number(0.5));
        assert_eq!(toks[4], Tok::Number(1000.0));
        assert_eq!(toks[5], Tok::Number(31.0));
        assert_eq!(toks[6], Tok::Number(f64::INFINITY));
    }

    #[test]
    fn strings_unescape() {
        let t = lex(r#""a\"b\n" 'c' `d\e`"#).unwrap();
        assert_eq!(t[0].tok, Tok::Str("a\"b\n".into()));
        assert_eq!(t[1].tok, Tok::Str("c".into()));
        assert_eq!(t[2].tok, Tok::Str("d\\e".into()));
    }
}
