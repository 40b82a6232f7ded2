//! Go's `fmt` formatting of template values: `print`, `println`, `printf` and the `%v` form used
//! when an action writes a value.
//!
//! Floats are formatted from Rust's correctly rounded digits and then laid out with Go's rules
//! (`strconv.FormatFloat`), so `{{ $value }}` and `printf "%.2f"` print what Prometheus prints.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::env::QueryResultSample;
use crate::gotime;
use crate::value::Value;

/// Go refuses widths and precisions above this (`%!(BADWIDTH)`), which also bounds output size.
const MAX_WIDTH: usize = 1_000_000;

/// Decimal digits of a float: `digits` without trailing zeros, `dp` the decimal point position
/// (value = 0.digits * 10^dp), as Go's `strconv` decimal.
struct Digits {
    digits: Vec<u8>,
    dp: i32,
}

/// Digits of `|v|`: shortest round-trip when `sig` is `None`, else rounded to `sig` significant
/// digits (half to even on the exact binary value, as Go does).
fn digits_of(v: f64, sig: Option<usize>) -> Digits {
    let text = match sig {
        None => format!("{:e}", v.abs()),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), v.abs()),
    };
    let (mantissa, exp) = text.split_once('e').unwrap_or((text.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return Digits { digits, dp: 0 };
    }
    Digits {
        digits,
        dp: exp + 1,
    }
}

/// Rounds to `n` digits after the decimal point (for `%f`).
fn digits_fixed(v: f64, decimals: usize) -> Digits {
    let text = format!("{:.*}", decimals, v.abs());
    let (int_part, frac_part) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let int_digits = int_part.trim_start_matches('0');
    let mut digits: Vec<u8> = int_digits.bytes().collect();
    let mut dp = digits.len() as i32;
    if digits.is_empty() {
        // Leading zeros of the fraction move the decimal point.
        let lead = frac_part.bytes().take_while(|b| *b == b'0').count();
        digits.extend(frac_part.bytes().skip(lead));
        dp = -(lead as i32);
    } else {
        digits.extend(frac_part.bytes());
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        dp = 0;
    }
    Digits { digits, dp }
}

fn digit_at(d: &Digits, i: i32) -> u8 {
    if i < 0 {
        return b'0';
    }
    d.digits.get(i as usize).copied().unwrap_or(b'0')
}

/// `%e` layout of `d` with `prec` digits after the point.
fn layout_e(out: &mut String, d: &Digits, prec: usize, upper: bool) {
    out.push(if d.digits.is_empty() {
        '0'
    } else {
        char::from(digit_at(d, 0))
    });
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(digit_at(d, i as i32)));
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if d.digits.is_empty() { 0 } else { d.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push('0');
    }
    let _ = write!(out, "{exp}");
}

/// `%f` layout of `d` with `prec` digits after the point.
fn layout_f(out: &mut String, d: &Digits, prec: usize) {
    if d.dp > 0 {
        for i in 0..d.dp {
            out.push(char::from(digit_at(d, i)));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            out.push(char::from(digit_at(d, d.dp + i)));
        }
    }
}

/// `%x` of a float: `0x1.8p+01`, as Go's `strconv` `fmtX` (`prec` < 0 means shortest).
fn layout_hex(out: &mut String, v: f64, prec: i32, upper: bool) {
    let bits = v.abs().to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    exp -= 1023;
    if mant == 0 {
        exp = 0;
    }
    // Put the leading 1 at bit 60.
    mant <<= 8;
    while mant != 0 && mant & (1u64 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = (prec * 4) as u32;
        let extra = (mant << shift) & ((1u64 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > (1u64 << 59) {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1u64 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    out.push('0');
    out.push(if upper { 'X' } else { 'x' });
    out.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4;
    let hex_digit = |m: u64| char::from(digits[((m >> 60) & 15) as usize]);
    if prec < 0 && mant != 0 {
        out.push('.');
        while mant != 0 {
            out.push(hex_digit(mant));
            mant <<= 4;
        }
    } else if prec > 0 {
        out.push('.');
        for _ in 0..prec {
            out.push(hex_digit(mant));
            mant <<= 4;
        }
    }
    out.push(if upper { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    let _ = write!(out, "{e}");
}

/// Formats a finite or non-finite float like Go's `strconv.FormatFloat(v, verb, prec, 64)`
/// (`prec` < 0 means shortest), without the sign handling of `fmt` flags.
pub(crate) fn format_float(v: f64, verb: char, prec: i32) -> String {
    let mut out = String::new();
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let upper = verb.is_ascii_uppercase();
    match verb {
        'x' | 'X' => layout_hex(&mut out, v, prec, upper),
        'e' | 'E' => {
            if prec < 0 {
                let d = digits_of(v, None);
                let p = d.digits.len().saturating_sub(1);
                layout_e(&mut out, &d, p, upper);
            } else {
                let d = digits_of(v, Some(prec as usize + 1));
                layout_e(&mut out, &d, prec as usize, upper);
            }
        }
        'f' | 'F' => {
            if prec < 0 {
                let d = digits_of(v, None);
                let p = (d.digits.len() as i32 - d.dp).max(0) as usize;
                layout_f(&mut out, &d, p);
            } else {
                let d = digits_fixed(v, prec as usize);
                layout_f(&mut out, &d, prec as usize);
            }
        }
        _ => {
            // 'g' / 'G'
            let shortest = prec < 0;
            let d = if shortest {
                digits_of(v, None)
            } else {
                digits_of(v, Some(prec.max(1) as usize))
            };
            let nd = d.digits.len() as i32;
            let mut prec = if shortest { nd } else { prec.max(1) };
            let mut eprec = prec;
            if eprec > nd && nd >= d.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = d.dp - 1;
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                layout_e(&mut out, &d, (prec - 1).max(0) as usize, upper);
            } else {
                if prec > d.dp {
                    prec = nd;
                }
                layout_f(&mut out, &d, (prec - d.dp).max(0) as usize);
            }
        }
    }
    out
}

/// Parsed `%` directive flags.
#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(out: &mut String, s: &str, f: &Flags) {
    let len = s.chars().count();
    let Some(width) = f.width else {
        out.push_str(s);
        return;
    };
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if f.zero {
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(s);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

/// Pads a number: zero padding goes after the sign.
fn pad_number(out: &mut String, s: &str, f: &Flags) {
    if f.zero && !f.minus {
        if let Some(width) = f.width {
            let (sign, digits) = match s.as_bytes().first() {
                Some(b'-' | b'+' | b' ') => s.split_at(1),
                _ => ("", s),
            };
            let len = s.chars().count();
            out.push_str(sign);
            if len < width {
                out.extend(std::iter::repeat_n('0', width - len));
            }
            out.push_str(digits);
            return;
        }
    }
    let no_zero = Flags { zero: false, ..*f };
    pad(out, s, &no_zero);
}

/// Go's `%v` rendering of a value (`fmt.Sprint` of one operand).
pub(crate) fn sprint_value(v: &Value) -> String {
    let mut out = String::new();
    print_arg(&mut out, v, 'v', &Flags::default(), 0);
    out
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if out.len() > crate::value::MAX_STRING {
            break;
        }
        if i > 0 {
            let prev_string = matches!(args[i - 1], Value::String(_) | Value::SafeHtml(_));
            let this_string = matches!(a, Value::String(_) | Value::SafeHtml(_));
            if !prev_string && !this_string {
                out.push(' ');
            }
        }
        print_arg(&mut out, a, 'v', &Flags::default(), 0);
    }
    out
}

/// Go's `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if out.len() > crate::value::MAX_STRING {
            break;
        }
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', &Flags::default(), 0);
    }
    out.push('\n');
    out
}

/// `%!verb(type=value)`; Go prints the value with the directive's own flags.
fn bad_verb(out: &mut String, v: &Value, verb: char, f: &Flags) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if matches!(v, Value::Nil) {
        out.push_str("<nil>");
    } else {
        out.push_str(v.type_name());
        out.push('=');
        print_arg(out, v, 'v', f, 0);
    }
    out.push(')');
}

/// Go's `strconv.Quote`.
pub(crate) fn quote_go(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if !crate::escape::is_go_print(c) => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn fmt_integer(out: &mut String, i: i64, verb: char, f: &Flags) {
    let neg = i < 0;
    let mag = i.unsigned_abs();
    let mut body = match verb {
        'd' | 'v' => mag.to_string(),
        'b' => format!("{mag:b}"),
        'o' | 'O' => format!("{mag:o}"),
        'x' => format!("{mag:x}"),
        'X' => format!("{mag:X}"),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), f);
            return;
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let q = match c {
                '\'' => "'\\''".to_string(),
                '\\' => "'\\\\'".to_string(),
                '\n' => "'\\n'".to_string(),
                c => format!("'{c}'"),
            };
            pad(out, &q, f);
            return;
        }
        'U' => {
            let s = format!("U+{mag:04X}");
            pad(out, &s, f);
            return;
        }
        _ => {
            bad_verb(out, &Value::Int(i), verb, f);
            return;
        }
    };
    if let Some(p) = f.prec {
        if body.len() < p {
            body = format!("{}{}", "0".repeat(p - body.len()), body);
        } else if p == 0 && mag == 0 {
            body.clear();
        }
    }
    let prefix = if f.sharp {
        match verb {
            'x' => "0x",
            'X' => "0X",
            'b' => "0b",
            'o' => "0",
            _ => "",
        }
    } else if verb == 'O' {
        "0o"
    } else {
        ""
    };
    let sign = if neg {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{prefix}{body}");
    if f.prec.is_some() {
        // Go ignores the zero flag when a precision is given for integers.
        let no_zero = Flags { zero: false, ..*f };
        pad(out, &s, &no_zero);
    } else {
        pad_number(out, &s, f);
    }
}

fn fmt_float(out: &mut String, v: f64, verb: char, f: &Flags) {
    let (go_verb, default_prec) = match verb {
        'v' => ('g', -1),
        'g' | 'G' | 'x' | 'X' => (verb, -1),
        'e' | 'E' | 'f' | 'F' => (verb, 6),
        _ => {
            bad_verb(out, &Value::Float(v), verb, f);
            return;
        }
    };
    let prec = f.prec.map_or(default_prec, |p| p.min(MAX_WIDTH) as i32);
    let mut s = format_float(v, go_verb, prec);
    if f.sharp && go_verb.eq_ignore_ascii_case(&'g') && v.is_finite() {
        s = sharp_g(v, go_verb, prec);
    }
    // Go always writes "+Inf"; NaN and finite numbers get a sign only when asked for.
    if !s.starts_with('-') && !s.starts_with('+') {
        if f.plus {
            s.insert(0, '+');
        } else if f.space {
            s.insert(0, ' ');
        }
    }
    if v.is_finite() {
        pad_number(out, &s, f);
    } else {
        let no_zero = Flags { zero: false, ..*f };
        pad(out, &s, &no_zero);
    }
}

/// `%#g`: keeps trailing zeros up to the precision (6 when unspecified) and the decimal point.
fn sharp_g(v: f64, verb: char, prec: i32) -> String {
    let p = if prec < 0 { 6 } else { prec.max(1) };
    let d = digits_of(v, Some(p as usize));
    let exp = if d.digits.is_empty() { 0 } else { d.dp - 1 };
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    if exp < -4 || exp >= p {
        layout_e(&mut out, &d, (p - 1) as usize, verb == 'G');
    } else {
        let decimals = (p - 1 - exp).max(0) as usize;
        let d = digits_fixed(v, decimals);
        layout_f(&mut out, &d, decimals);
        if !out.contains('.') {
            out.push('.');
        }
    }
    out
}

fn fmt_string(out: &mut String, s: &str, verb: char, f: &Flags, v: &Value) {
    match verb {
        'v' | 's' => {
            if f.sharp && verb == 'v' {
                pad(out, &quote_go(s), f);
                return;
            }
            match f.prec {
                Some(p) => {
                    let t: String = s.chars().take(p).collect();
                    pad(out, &t, f);
                }
                None => pad(out, s, f),
            }
        }
        'q' => {
            let t: String = match f.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            if f.sharp && !t.contains('`') {
                pad(out, &format!("`{t}`"), f);
            } else {
                pad(out, &quote_go(&t), f);
            }
        }
        'x' | 'X' => {
            let mut h = String::new();
            for (i, b) in s.bytes().enumerate() {
                if f.space && i > 0 {
                    h.push(' ');
                }
                if f.sharp && (f.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(h, "{b:02x}");
                } else {
                    let _ = write!(h, "{b:02X}");
                }
            }
            pad(out, &h, f);
        }
        _ => bad_verb(out, v, verb, f),
    }
}

fn print_map(out: &mut String, m: &BTreeMap<String, Value>, verb: char, f: &Flags, depth: usize) {
    out.push_str("map[");
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        fmt_string(out, k, verb, f, &Value::String(k.clone()));
        out.push(':');
        print_arg(out, v, verb, f, depth + 1);
    }
    out.push(']');
}

fn print_sample(out: &mut String, s: &QueryResultSample, verb: char, f: &Flags, depth: usize) {
    if depth > 0 {
        // A pointer inside a container prints as its address in Go; the content is more useful.
        out.push_str("0x");
    }
    out.push_str("&{");
    let labels: BTreeMap<String, Value> = s
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if f.plus {
        out.push_str("Labels:");
    }
    print_map(out, &labels, verb, f, depth + 1);
    out.push(' ');
    if f.plus {
        out.push_str("Value:");
    }
    fmt_float(out, s.value, verb, f);
    out.push('}');
}

fn print_arg(out: &mut String, v: &Value, verb: char, f: &Flags, depth: usize) {
    if verb == 'T' {
        pad(out, v.type_name(), f);
        return;
    }
    match v {
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", f),
            _ => bad_verb(out, v, verb, f),
        },
        Value::Bool(b) => match verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, f),
            _ => bad_verb(out, v, verb, f),
        },
        Value::Int(i) => fmt_integer(out, *i, verb, f),
        Value::Float(x) => fmt_float(out, *x, verb, f),
        Value::String(s) | Value::SafeHtml(s) => fmt_string(out, s, verb, f, v),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, item, verb, f, depth + 1);
            }
            out.push(']');
        }
        Value::Map(m) => print_map(out, m, verb, f, depth),
        Value::Sample(s) => print_sample(out, s, verb, f, depth),
        Value::Struct { fields, .. } => {
            out.push('{');
            for (i, (name, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if f.plus {
                    out.push_str(name);
                    out.push(':');
                }
                print_arg(out, v, verb, f, depth + 1);
            }
            out.push('}');
        }
        Value::Time(ms) => match verb {
            'v' | 's' | 'q' | 'x' | 'X' => {
                let s = gotime::time_string(*ms);
                fmt_string(out, &s, verb, f, v);
            }
            _ => bad_verb(out, v, verb, f),
        },
        Value::Duration(ns) => match verb {
            'v' | 's' | 'q' | 'x' | 'X' => {
                let s = gotime::duration_string(*ns);
                fmt_string(out, &s, verb, f, v);
            }
            _ => fmt_integer(out, *ns, verb, f),
        },
    }
}

/// Go's `fmt.Sprintf` over template values.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if out.len() > crate::value::MAX_STRING {
            // The caller rejects strings this long; stop building it.
            return out;
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut f = Flags::default();
        // Flags.
        while let Some(&(_, c)) = chars.peek() {
            match c {
                '#' => f.sharp = true,
                '0' => f.zero = true,
                '+' => f.plus = true,
                '-' => f.minus = true,
                ' ' => f.space = true,
                _ => break,
            }
            chars.next();
        }
        // Explicit argument index, width.
        let mut bad_width = false;
        if let Some(n) = parse_arg_index(&mut chars) {
            arg_num = n;
            reordered = true;
        }
        if chars.peek().map(|&(_, c)| c) == Some('*') {
            chars.next();
            match args.get(arg_num) {
                Some(Value::Int(w)) => {
                    let w = *w;
                    if w < 0 {
                        f.minus = true;
                    }
                    let w = w.unsigned_abs() as usize;
                    if w > MAX_WIDTH {
                        bad_width = true;
                    } else {
                        f.width = Some(w);
                    }
                }
                _ => bad_width = true,
            }
            arg_num += 1;
        } else {
            let w = parse_number(&mut chars);
            if let Some(w) = w {
                if w > MAX_WIDTH {
                    bad_width = true;
                } else {
                    f.width = Some(w);
                }
            }
        }
        if bad_width {
            out.push_str("%!(BADWIDTH)");
        }
        // Precision.
        let mut bad_prec = false;
        if chars.peek().map(|&(_, c)| c) == Some('.') {
            chars.next();
            if let Some(n) = parse_arg_index(&mut chars) {
                arg_num = n;
                reordered = true;
            }
            if chars.peek().map(|&(_, c)| c) == Some('*') {
                chars.next();
                match args.get(arg_num) {
                    Some(Value::Int(p)) if *p >= 0 && (*p as usize) <= MAX_WIDTH => {
                        f.prec = Some(*p as usize)
                    }
                    _ => bad_prec = true,
                }
                arg_num += 1;
            } else {
                let p = parse_number(&mut chars).unwrap_or(0);
                if p > MAX_WIDTH {
                    bad_prec = true;
                } else {
                    f.prec = Some(p);
                }
            }
        }
        if bad_prec {
            out.push_str("%!(BADPREC)");
        }
        if let Some(n) = parse_arg_index(&mut chars) {
            arg_num = n;
            reordered = true;
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if f.minus {
            f.zero = false;
        }
        match args.get(arg_num) {
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
            Some(a) => {
                let flags = if verb == 'v' {
                    Flags {
                        sharp: f.sharp,
                        ..f
                    }
                } else {
                    f
                };
                print_arg(&mut out, a, verb, &flags, 0);
                arg_num += 1;
            }
        }
    }
    if !reordered && arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args.iter().enumerate().skip(arg_num) {
            if i > arg_num {
                out.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                out.push_str("<nil>");
            } else {
                out.push_str(a.type_name());
                out.push('=');
                print_arg(&mut out, a, 'v', &Flags::default(), 0);
            }
        }
        out.push(')');
    }
    out
}

fn parse_number(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(&(_, c)) = chars.peek() {
        let Some(d) = c.to_digit(10) else { break };
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

/// `[n]` explicit argument index (1-based in the format, 0-based returned).
fn parse_arg_index(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<usize> {
    if chars.peek().map(|&(_, c)| c) != Some('[') {
        return None;
    }
    let mut probe = chars.clone();
    probe.next();
    let n = parse_number(&mut probe)?;
    if probe.next().map(|(_, c)| c) != Some(']') || n == 0 {
        return None;
    }
    *chars = probe;
    Some(n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_float_like_go() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e20, "1e+20"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.1, "0.1"),
            (100.0, "100"),
            (1.5e-7, "1.5e-07"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(sprint_value(&Value::Float(v)), want, "{v}");
        }
    }

    #[test]
    fn printf_like_go() {
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("%s", vec!["hi".into()], "hi"),
            ("%d", vec![42.into()], "42"),
            (
                "%5d|%-5d|%05d",
                vec![42.into(), 42.into(), (-42).into()],
                "   42|42   |-0042",
            ),
            ("%+d % d", vec![5.into(), 5.into()], "+5  5"),
            ("%f", vec![4.56789.into()], "4.567890"),
            ("%.2f", vec![4.56789.into()], "4.57"),
            ("%.0f", vec![2.5.into()], "2"),
            ("%5.1f|", vec![4.56789.into()], "  4.6|"),
            ("%08.3f", vec![(-4.56789).into()], "-004.568"),
            ("%g", vec![100000.0.into()], "100000"),
            ("%g", vec![1e6.into()], "1e+06"),
            ("%.4g", vec![1234567.0.into()], "1.235e+06"),
            ("%.4g", vec![1.0.into()], "1"),
            ("%.4g", vec![12.345.into()], "12.35"),
            ("%.3g", vec![0.000012345.into()], "1.23e-05"),
            ("%e", vec![1234.5678.into()], "1.234568e+03"),
            ("%E", vec![0.0.into()], "0.000000E+00"),
            ("%.2e", vec![(-1234.5678).into()], "-1.23e+03"),
            ("%v", vec![1.5.into()], "1.5"),
            ("%q", vec!["a\"b\n".into()], "\"a\\\"b\\n\""),
            ("%x %X", vec![255.into(), "hi".into()], "ff 6869"),
            (
                "%#x %o %b",
                vec![255.into(), 8.into(), 5.into()],
                "0xff 10 101",
            ),
            ("%-10s|", vec!["left".into()], "left      |"),
            ("%10s|", vec!["right".into()], "     right|"),
            ("%.2s", vec!["abcdef".into()], "ab"),
            ("%%", vec![], "%"),
            ("%d%%", vec![50.into()], "50%"),
            ("%d", vec![], "%!d(MISSING)"),
            ("%d", vec!["x".into()], "%!d(string=x)"),
            ("%s", vec![1.into()], "%!s(int=1)"),
            ("a", vec![1.into()], "a%!(EXTRA int=1)"),
            ("%t", vec![true.into()], "true"),
            ("%v", vec![Value::Nil], "<nil>"),
            ("%s", vec![Value::Nil], "%!s(<nil>)"),
            ("%c", vec![65.into()], "A"),
            ("%U", vec![65.into()], "U+0041"),
            ("%v", vec![vec![1, 2].into()], "[1 2]"),
            ("%[2]d %[1]d", vec![1.into(), 2.into()], "2 1"),
            ("%*d", vec![4.into(), 7.into()], "   7"),
            ("%.3d", vec![7.into()], "007"),
            ("%6.2f%%", vec![12.3456.into()], " 12.35%"),
            ("%T", vec![1.5.into()], "float64"),
            (
                "%X %x %x %.1x",
                vec![3.5.into(), 1.0.into(), 0.0.into(), 1.96875.into()],
                "0X1.CP+01 0x1p+00 0x0p+00 0x1.0p+01",
            ),
            ("%.*f", vec![7.into(), 2.into()], "%!f(int=0000002)"),
            ("%f", vec![f64::INFINITY.into()], "+Inf"),
            ("%05.1f", vec![f64::NAN.into()], "  NaN"),
            ("%!", vec![], "%!!(MISSING)"),
            ("%", vec![], "%!(NOVERB)"),
        ];
        for (fmt, args, want) in cases {
            assert_eq!(sprintf(fmt, &args), want, "format {fmt:?}");
        }
    }

    #[test]
    fn sprint_spacing_like_go() {
        assert_eq!(sprint(&["a".into(), "b".into()]), "ab");
        assert_eq!(sprint(&[1.into(), 2.into()]), "1 2");
        assert_eq!(
            sprint(&["a".into(), 1.into(), 2.into(), "b".into()]),
            "a1 2b"
        );
        assert_eq!(sprintln(&["a".into(), 1.into()]), "a 1\n");
        let m = Value::map([("b", 2), ("a", 1)]);
        assert_eq!(sprint_value(&m), "map[a:1 b:2]");
    }
}
