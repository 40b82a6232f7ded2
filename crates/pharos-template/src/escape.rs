//! Escapers: Go's `html`, `js` and `urlquery` template functions, `html/template`'s text
//! escaping for email bodies, URL unescaping and JSON for `toJson`.

use std::fmt::Write;

use crate::gofmt;
use crate::gotime;
use crate::value::Value;

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `html/template`'s escaping of a value written into HTML text.
pub(crate) fn html_template_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// An approximation of Go's `unicode.IsPrint`: graphic characters and the ASCII space; not
/// controls, other spaces, line/paragraph separators or invisible format characters.
pub(crate) fn is_go_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            '\u{AD}'
                | '\u{600}'..='\u{605}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E000}'..='\u{F8FF}'
        ))
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if !is_go_print(c) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Go's `url.QueryUnescape`.
pub(crate) fn query_unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = s.get(i + 1..i + 3).unwrap_or("");
                let v = (hex.len() == 2)
                    .then(|| u8::from_str_radix(hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| {
                        let bad: String = s.get(i..).unwrap_or("").chars().take(3).collect();
                        format!("invalid URL escape {bad:?}")
                    })?;
                out.push(v);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go's encoding/json escapes HTML-significant characters by default.
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = gofmt::format_float(f, 'e', -1);
        // Go's encoding/json writes e-07 as e-7.
        let s = s.replace("e-0", "e-").replace("e+0", "e+");
        out.push_str(&s);
    } else {
        out.push_str(&gofmt::format_float(f, 'f', -1));
    }
}

fn json_value(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Duration(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => json_float(out, *f),
        Value::String(s) | Value::SafeHtml(s) => json_string(out, s),
        Value::List(l) => {
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(out, item);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k);
                out.push(':');
                json_value(out, item);
            }
            out.push('}');
        }
        Value::Sample(s) => {
            out.push_str("{\"Labels\":{");
            for (i, (k, v)) in s.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k);
                out.push(':');
                json_string(out, v);
            }
            out.push_str("},\"Value\":");
            json_float(out, s.value);
            out.push('}');
        }
        Value::Time(ms) => json_string(out, &gotime::rfc3339(*ms)),
        Value::Struct { fields, .. } => {
            out.push('{');
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k);
                out.push(':');
                json_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Encodes a value as JSON, as Go's `encoding/json` would.
pub(crate) fn to_json(v: &Value) -> String {
    let mut out = String::new();
    json_value(&mut out, v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapers_like_go() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            js_escape("It's <b>\"x\"</b>\n="),
            "It\\'s \\u003Cb\\u003E\\\"x\\\"\\u003C/b\\u003E\\u000A\\u003D"
        );
        assert_eq!(query_escape("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(query_unescape("a+b%26c").as_deref(), Ok("a b&c"));
        assert!(query_unescape("%zz").is_err());
        assert_eq!(html_template_escape("a+b<"), "a&#43;b&lt;");
        assert_eq!(js_escape("\u{2028}é"), "\\u2028é");
    }

    #[test]
    fn json_like_go() {
        let v = Value::map([("b", Value::from(1.5)), ("a", Value::from("<x>"))]);
        assert_eq!(to_json(&v), r#"{"a":"\u003cx\u003e","b":1.5}"#);
        assert_eq!(to_json(&Value::Float(1e21)), "1e+21");
        assert_eq!(to_json(&Value::Float(100.0)), "100");
    }
}
