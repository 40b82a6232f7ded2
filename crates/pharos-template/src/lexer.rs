//! Splits template text into tokens, as Go's `text/template/parse` lexer does: text between
//! actions, and inside `{{ }}` the words, literals and punctuation, with trim markers applied.

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// Plain text outside actions (already trimmed by neighbouring trim markers).
    Text(String),
    /// `{{` (with or without trim marker).
    LeftDelim,
    /// `}}` (with or without trim marker).
    RightDelim,
    /// Run of spaces inside an action; separates arguments.
    Space,
    /// `.name` (one element of a field chain).
    Field(String),
    /// `$name` or `$`.
    Variable(String),
    /// A function name or keyword.
    Identifier(String),
    /// `.` alone.
    Dot,
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// A number literal, as written.
    Number(String),
    /// A character literal, as written (with quotes).
    Char(String),
    /// A string literal, unquoted.
    Str(String),
    /// `|`.
    Pipe,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// `(`.
    LeftParen,
    /// `)`.
    RightParen,
    /// `,`.
    Comma,
    /// Any other printable ASCII character (Go's `itemChar`), which the parser reports as
    /// unexpected.
    Punct(char),
    /// End of input.
    Eof,
}

/// A token and the byte span of its source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub pos: usize,
    pub end: usize,
}

/// A lexing error and where it happened.
#[derive(Debug, Clone)]
pub(crate) struct LexError {
    pub pos: usize,
    pub message: String,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Tokenises `src`.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        tokens: Vec::new(),
        paren_depth: 0,
    }
    .run()
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    paren_depth: usize,
}

impl Lexer<'_> {
    fn err<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            pos,
            message: message.into(),
        })
    }

    fn push(&mut self, kind: TokenKind, pos: usize) {
        let end = self.pos.max(pos);
        self.tokens.push(Token { kind, pos, end });
    }

    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn run(mut self) -> Result<Vec<Token>, LexError> {
        let mut trim_next_text = false;
        loop {
            // Text up to the next left delimiter.
            let start = self.pos;
            let next = self.rest().find("{{").map(|i| i + self.pos);
            let end = next.unwrap_or(self.bytes.len());
            let mut text = self.src.get(start..end).unwrap_or("");
            if trim_next_text {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            let Some(delim) = next else {
                if !text.is_empty() {
                    self.push(TokenKind::Text(text.to_string()), start);
                }
                self.push(TokenKind::Eof, self.bytes.len());
                return Ok(self.tokens);
            };
            let after = delim + 2;
            let left_trim = self.bytes.get(after) == Some(&b'-')
                && self.bytes.get(after + 1).is_some_and(|b| is_space(*b));
            if left_trim {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                self.push(TokenKind::Text(text.to_string()), start);
            }
            self.pos = if left_trim { after + 2 } else { after };
            // Comments.
            let comment_start = if left_trim {
                // Go allows `{{- /* x */ -}}`: the space after the marker, then the comment.
                let mut p = self.pos;
                while self.bytes.get(p).is_some_and(|b| is_space(*b)) {
                    p += 1;
                }
                p
            } else {
                self.pos
            };
            if self
                .src
                .get(comment_start..)
                .is_some_and(|s| s.starts_with("/*"))
            {
                let body = comment_start + 2;
                let Some(close) = self.src.get(body..).and_then(|s| s.find("*/")) else {
                    return self.err(delim, "unclosed comment");
                };
                self.pos = body + close + 2;
                let (is_delim, trim) = self.at_right_delim();
                if !is_delim {
                    return self.err(delim, "comment ends before closing delimiter");
                }
                self.pos += if trim { 4 } else { 2 };
                trim_next_text = trim;
                continue;
            }
            self.push(TokenKind::LeftDelim, delim);
            trim_next_text = self.lex_inside_action(delim)?;
        }
    }

    /// Whether the input at `pos` is `}}` or ` -}}`; the second value says it has a trim marker.
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest().as_bytes();
        if rest.len() >= 4 && is_space(rest[0]) && rest[1] == b'-' && &rest[2..4] == b"}}" {
            return (true, true);
        }
        (rest.starts_with(b"}}"), false)
    }

    /// Lexes one action up to and including its right delimiter; returns whether it had a
    /// right trim marker.
    fn lex_inside_action(&mut self, delim_pos: usize) -> Result<bool, LexError> {
        self.paren_depth = 0;
        loop {
            let (is_delim, trim) = self.at_right_delim();
            if is_delim {
                if self.paren_depth > 0 {
                    return self.err(self.pos, "unclosed left paren");
                }
                let p = if trim { self.pos + 1 } else { self.pos };
                self.push(TokenKind::RightDelim, p);
                self.pos += if trim { 4 } else { 2 };
                return Ok(trim);
            }
            let Some(c) = self.peek_char() else {
                return self.err(delim_pos, "unclosed action");
            };
            let start = self.pos;
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    while self.bytes.get(self.pos).is_some_and(|b| is_space(*b)) {
                        self.pos += 1;
                        // Stop before a space that starts a trim-marked closing delimiter.
                        if self.at_right_delim() == (true, true) {
                            break;
                        }
                    }
                    self.push(TokenKind::Space, start);
                }
                '=' => {
                    self.pos += 1;
                    self.push(TokenKind::Assign, start);
                }
                ':' => {
                    if self.bytes.get(self.pos + 1) != Some(&b'=') {
                        return self.err(start, "expected :=");
                    }
                    self.pos += 2;
                    self.push(TokenKind::Declare, start);
                }
                '|' => {
                    self.pos += 1;
                    self.push(TokenKind::Pipe, start);
                }
                '"' => self.lex_quote(start)?,
                '`' => self.lex_raw_quote(start)?,
                '\'' => self.lex_char(start)?,
                '$' => {
                    self.pos += 1;
                    let name = self.scan_alnum();
                    let text = format!("${name}");
                    self.check_terminator()?;
                    self.push(TokenKind::Variable(text), start);
                }
                '.' => {
                    if self.bytes.get(self.pos + 1).is_some_and(u8::is_ascii_digit) {
                        self.lex_number(start)?;
                    } else {
                        self.pos += 1;
                        let name = self.scan_alnum();
                        if name.is_empty() {
                            self.check_terminator()?;
                            self.push(TokenKind::Dot, start);
                        } else {
                            self.check_terminator()?;
                            self.push(TokenKind::Field(name), start);
                        }
                    }
                }
                '+' | '-' | '0'..='9' => self.lex_number(start)?,
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.push(TokenKind::LeftParen, start);
                }
                ')' => {
                    // An unmatched one is reported by the parser, as Go does.
                    self.pos += 1;
                    self.paren_depth = self.paren_depth.saturating_sub(1);
                    self.push(TokenKind::RightParen, start);
                }
                ',' => {
                    self.pos += 1;
                    self.push(TokenKind::Comma, start);
                }
                c if is_alnum(c) => {
                    let word = self.scan_alnum();
                    self.check_terminator()?;
                    let kind = match word.as_str() {
                        "true" => TokenKind::Bool(true),
                        "false" => TokenKind::Bool(false),
                        "nil" => TokenKind::Nil,
                        _ => TokenKind::Identifier(word),
                    };
                    self.push(kind, start);
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.pos += 1;
                    self.push(TokenKind::Punct(c), start);
                }
                c => {
                    return self.err(
                        start,
                        format!("unrecognized character in action: {}", go_rune(c)),
                    );
                }
            }
        }
    }

    fn scan_alnum(&mut self) -> String {
        let rest = self.rest();
        let len: usize = rest
            .chars()
            .take_while(|c| is_alnum(*c))
            .map(char::len_utf8)
            .sum();
        let word = rest.get(..len).unwrap_or("").to_string();
        self.pos += len;
        word
    }

    /// After a word, Go requires a space, punctuation or the closing delimiter.
    fn check_terminator(&self) -> Result<(), LexError> {
        let Some(c) = self.peek_char() else {
            return Ok(());
        };
        if matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '(' | '='
        ) || self.rest().starts_with("}}")
        {
            return Ok(());
        }
        self.err(self.pos, format!("bad character {}", go_rune(c)))
    }

    fn lex_number(&mut self, start: usize) -> Result<(), LexError> {
        let b = self.bytes;
        let mut p = self.pos;
        if matches!(b.get(p), Some(b'+' | b'-')) {
            p += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        let mut exp_chars: &[u8] = b"eE";
        if b.get(p) == Some(&b'0') {
            match b.get(p + 1) {
                Some(b'x' | b'X') => {
                    p += 2;
                    digits = b"0123456789abcdefABCDEF_";
                    exp_chars = b"pP";
                }
                Some(b'o' | b'O') => {
                    p += 2;
                    digits = b"01234567_";
                    exp_chars = b"";
                }
                Some(b'b' | b'B') => {
                    p += 2;
                    digits = b"01_";
                    exp_chars = b"";
                }
                _ => {}
            }
        }
        while b.get(p).is_some_and(|c| digits.contains(c)) {
            p += 1;
        }
        if b.get(p) == Some(&b'.') {
            p += 1;
            while b.get(p).is_some_and(|c| digits.contains(c)) {
                p += 1;
            }
        }
        if !exp_chars.is_empty() && b.get(p).is_some_and(|c| exp_chars.contains(c)) {
            p += 1;
            if matches!(b.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            while b.get(p).is_some_and(u8::is_ascii_digit) {
                p += 1;
            }
        }
        let text = self.src.get(start..p).unwrap_or("");
        self.pos = p;
        if self.peek_char().is_some_and(is_alnum) || text == "+" || text == "-" {
            let end = self.pos + self.peek_char().map_or(0, char::len_utf8);
            return self.err(
                start,
                format!(
                    "bad number syntax: {:?}",
                    self.src.get(start..end).unwrap_or("")
                ),
            );
        }
        self.push(TokenKind::Number(text.to_string()), start);
        Ok(())
    }

    fn lex_quote(&mut self, start: usize) -> Result<(), LexError> {
        let mut p = start + 1;
        let b = self.bytes;
        loop {
            match b.get(p) {
                None | Some(b'\n') => return self.err(start, "unterminated quoted string"),
                Some(b'\\') => {
                    if b.get(p + 1).is_none() || b.get(p + 1) == Some(&b'\n') {
                        return self.err(start, "unterminated quoted string");
                    }
                    p += 2;
                }
                Some(b'"') => break,
                Some(_) => p += 1,
            }
        }
        let raw = self.src.get(start..=p).unwrap_or("");
        let value = unquote(raw).map_err(|m| LexError {
            pos: start,
            message: m,
        })?;
        self.pos = p + 1;
        self.push(TokenKind::Str(value), start);
        Ok(())
    }

    fn lex_raw_quote(&mut self, start: usize) -> Result<(), LexError> {
        let body = start + 1;
        let Some(end) = self.src.get(body..).and_then(|s| s.find('`')) else {
            return self.err(start, "unterminated raw quoted string");
        };
        let value = self
            .src
            .get(body..body + end)
            .unwrap_or("")
            .replace('\r', "");
        self.pos = body + end + 1;
        self.push(TokenKind::Str(value), start);
        Ok(())
    }

    fn lex_char(&mut self, start: usize) -> Result<(), LexError> {
        let mut p = start + 1;
        let b = self.bytes;
        loop {
            match b.get(p) {
                None | Some(b'\n') => return self.err(start, "unterminated character constant"),
                Some(b'\\') => p += 2,
                Some(b'\'') => break,
                Some(_) => p += 1,
            }
        }
        let raw = self.src.get(start..=p).unwrap_or("").to_string();
        self.pos = p + 1;
        self.push(TokenKind::Char(raw), start);
        Ok(())
    }
}

/// Go's `%#U` rendering of a rune for error messages.
fn go_rune(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

/// Interprets a Go double-quoted string literal (with its quotes) or a char literal body.
pub(crate) fn unquote(raw: &str) -> Result<String, String> {
    let quote = raw.chars().next().unwrap_or('"');
    let inner = raw
        .strip_prefix(quote)
        .and_then(|s| s.strip_suffix(quote))
        .ok_or_else(|| format!("invalid syntax: {raw}"))?;
    let mut out = String::new();
    let mut bytes_buf: Vec<u8> = Vec::new();
    let mut chars = inner.chars().peekable();
    let flush = |out: &mut String, buf: &mut Vec<u8>| {
        if !buf.is_empty() {
            out.push_str(&String::from_utf8_lossy(buf));
            buf.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut out, &mut bytes_buf);
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            return Err(format!("invalid syntax: {raw}"));
        };
        let simple = match e {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '"' if quote == '"' => Some('"'),
            '\'' if quote == '\'' => Some('\''),
            _ => None,
        };
        if let Some(s) = simple {
            flush(&mut out, &mut bytes_buf);
            out.push(s);
            continue;
        }
        let take_hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
            let s: String = chars.by_ref().take(n).collect();
            if s.len() != n {
                return None;
            }
            u32::from_str_radix(&s, 16).ok()
        };
        match e {
            'x' => {
                let v = take_hex(&mut chars, 2).ok_or_else(|| format!("invalid syntax: {raw}"))?;
                bytes_buf.push(v as u8);
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let s = format!("{e}{rest}");
                let v = u32::from_str_radix(&s, 8)
                    .ok()
                    .filter(|v| *v <= 255 && s.len() == 3)
                    .ok_or_else(|| format!("invalid syntax: {raw}"))?;
                bytes_buf.push(v as u8);
            }
            'u' | 'U' => {
                let n = if e == 'u' { 4 } else { 8 };
                let v = take_hex(&mut chars, n)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("invalid syntax: {raw}"))?;
                flush(&mut out, &mut bytes_buf);
                out.push(v);
            }
            _ => return Err(format!("invalid syntax: {raw}")),
        }
    }
    flush(&mut out, &mut bytes_buf);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        lex(src)
            .map(|t| t.into_iter().map(|t| t.kind).collect())
            .unwrap_or_default()
    }

    #[test]
    fn trims_and_comments() {
        assert_eq!(
            kinds("a  {{- 1 -}}  b"),
            vec![
                TokenKind::Text("a".into()),
                TokenKind::LeftDelim,
                TokenKind::Number("1".into()),
                TokenKind::RightDelim,
                TokenKind::Text("b".into()),
                TokenKind::Eof
            ]
        );
        assert_eq!(
            kinds("x {{- /* c */ -}} y"),
            vec![
                TokenKind::Text("x".into()),
                TokenKind::Text("y".into()),
                TokenKind::Eof
            ]
        );
        // `{{-3}}` is a negative number, not a trim marker.
        assert!(kinds("{{-3}}").contains(&TokenKind::Number("-3".into())));
    }

    #[test]
    fn lexing_errors() {
        for (src, msg) in [
            ("{{ .x", "unclosed action"),
            ("{{/* x", "unclosed comment"),
            ("{{/* x */ .y}}", "comment ends before closing delimiter"),
            ("{{ \"abc }}", "unterminated quoted string"),
            ("{{ 3x }}", "bad number syntax"),
            ("{{ ( }}", "unclosed left paren"),
            ("{{ → }}", "unrecognized character in action: U+2192 '→'"),
        ] {
            let e = lex(src).err().map(|e| e.message).unwrap_or_default();
            assert!(e.contains(msg), "{src}: {e}");
        }
    }

    #[test]
    fn unquotes_go_escapes() {
        assert_eq!(
            unquote(r#""a\tb\n\"c\x41\u00e9\101""#).ok(),
            Some("a\tb\n\"cAéA".to_string())
        );
        assert!(unquote(r#""\q""#).is_err());
    }
}
