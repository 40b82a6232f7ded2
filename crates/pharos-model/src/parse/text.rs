//! The streaming parser for the Prometheus text format 0.0.4 and OpenMetrics 1.0 text.
//!
//! Both formats share one line grammar; OpenMetrics is stricter about whitespace, has no free
//! comments, adds `# UNIT`, exemplars and a mandatory `# EOF`, and writes timestamps in seconds
//! rather than milliseconds. Each call to [`TextParser::next_entry`] consumes exactly one line, so
//! the work per call is bounded by the line's length and the parser always makes progress.

use std::borrow::Cow;

use super::ParseError;
use crate::family::MetricType;

/// Which of the two text formats to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFlavor {
    /// The Prometheus text format 0.0.4: timestamps in integer milliseconds, `#` comments.
    Prometheus,
    /// OpenMetrics 1.0 text: timestamps in float seconds, exemplars, `# UNIT`, `# EOF`.
    OpenMetrics,
}

/// A label name and value, borrowed from the input unless escapes had to be resolved.
pub type LabelPair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// One parsed line.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'e> {
    /// `# HELP name text`, with the text unescaped.
    Help {
        /// The metric family name.
        name: Cow<'e, str>,
        /// The help text.
        help: Cow<'e, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// The metric family name.
        name: Cow<'e, str>,
        /// The declared type (`untyped` and `unknown` both map to [`MetricType::Untyped`]).
        metric_type: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics only).
    Unit {
        /// The metric family name.
        name: Cow<'e, str>,
        /// The unit.
        unit: &'e str,
    },
    /// Any other `#` line of the text format, without the leading `#`.
    Comment(&'e str),
    /// A sample line.
    Series(Series<'e>),
    /// `# EOF`, the mandatory last line of OpenMetrics.
    Eof,
}

/// A sample line: `name{labels} value [timestamp] [# exemplar]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series<'e> {
    /// The full sample name, suffix included (`http_requests_total`, `rpc_bucket`).
    pub name: Cow<'e, str>,
    /// Labels in the order written, without the metric name.
    pub labels: &'e [LabelPair<'e>],
    /// The sample value.
    pub value: f64,
    /// The sample timestamp in milliseconds (OpenMetrics seconds are converted).
    pub timestamp_ms: Option<i64>,
    /// The exemplar, if the line has one (OpenMetrics only).
    pub exemplar: Option<Exemplar<'e>>,
}

/// An OpenMetrics exemplar: `# {trace_id="x"} 1.0 123.4`.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar<'e> {
    /// The exemplar's labels.
    pub labels: &'e [LabelPair<'e>],
    /// The exemplar's value.
    pub value: f64,
    /// The exemplar's timestamp in milliseconds, if given.
    pub timestamp_ms: Option<i64>,
}

/// A streaming parser over a whole text or OpenMetrics exposition held in memory.
///
/// Call [`TextParser::next_entry`] until it returns `None`. After the first error the parser
/// stops and returns `None`, so a caller that ignores errors cannot loop forever.
pub struct TextParser<'a> {
    input: &'a [u8],
    pos: usize,
    line: usize,
    flavor: TextFlavor,
    seen_eof: bool,
    done: bool,
    /// Reused across lines so that parsing a series allocates nothing in the common case.
    labels: Vec<LabelPair<'a>>,
    exemplar_labels: Vec<LabelPair<'a>>,
}

impl<'a> TextParser<'a> {
    /// A parser over `input` in the given flavor.
    pub fn new(input: &'a [u8], flavor: TextFlavor) -> Self {
        TextParser {
            input,
            pos: 0,
            line: 0,
            flavor,
            seen_eof: false,
            done: false,
            labels: Vec::new(),
            exemplar_labels: Vec::new(),
        }
    }

    /// The 1-based number of the line the last entry came from (0 before the first call).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The flavor being parsed.
    pub fn flavor(&self) -> TextFlavor {
        self.flavor
    }

    /// The next entry, `None` at the end of input or after an error.
    ///
    /// Not an `Iterator`: entries borrow the parser's reusable label buffers, which is what
    /// keeps parsing a series free of allocations.
    pub fn next_entry(&mut self) -> Option<Result<Entry<'_>, ParseError>> {
        let text = match self.next_line()? {
            Ok(text) => text,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let result = parse_line(
            self.flavor,
            text,
            self.line,
            &mut self.labels,
            &mut self.exemplar_labels,
        );
        match result {
            Ok(Line::Eof) => self.seen_eof = true,
            Ok(_) => {}
            Err(_) => self.done = true,
        }
        Some(result.map(|line| line.into_entry(&self.labels, &self.exemplar_labels)))
    }

    /// Advances to the next line that carries an entry, skipping blank lines of the text format.
    fn next_line(&mut self) -> Option<Result<&'a str, ParseError>> {
        loop {
            if self.done {
                return None;
            }
            if self.pos >= self.input.len() {
                self.done = true;
                if self.flavor == TextFlavor::OpenMetrics && !self.seen_eof {
                    return Some(Err(ParseError::Text {
                        line: self.line + 1,
                        column: 1,
                        message: "expected '# EOF' before the end of input".into(),
                    }));
                }
                return None;
            }
            let start = self.pos;
            let rest = self.input.get(start..).unwrap_or_default();
            let end = memchr::memchr(b'\n', rest).map_or(self.input.len(), |i| start + i);
            self.pos = end + 1;
            self.line += 1;
            let raw = self.input.get(start..end).unwrap_or_default();
            if self.seen_eof {
                return Some(Err(ParseError::Text {
                    line: self.line,
                    column: 1,
                    message: "unexpected data after '# EOF'".into(),
                }));
            }
            let text = match std::str::from_utf8(raw) {
                Ok(text) => text,
                Err(e) => {
                    let valid = raw.get(..e.valid_up_to()).unwrap_or_default();
                    let column = String::from_utf8_lossy(valid).chars().count() + 1;
                    return Some(Err(ParseError::Text {
                        line: self.line,
                        column,
                        message: "invalid UTF-8".into(),
                    }));
                }
            };
            if self.flavor == TextFlavor::Prometheus
                && text.bytes().all(|b| b == b' ' || b == b'\t')
            {
                continue;
            }
            return Some(Ok(text));
        }
    }
}

/// A parsed line whose label slices still live in the parser's buffers.
enum Line<'a> {
    Help(Cow<'a, str>, Cow<'a, str>),
    Type(Cow<'a, str>, MetricType),
    Unit(Cow<'a, str>, &'a str),
    Comment(&'a str),
    Series {
        name: Cow<'a, str>,
        value: f64,
        timestamp_ms: Option<i64>,
        exemplar: Option<(f64, Option<i64>)>,
    },
    Eof,
}

impl<'a> Line<'a> {
    fn into_entry<'e>(
        self,
        labels: &'e [LabelPair<'a>],
        exemplar_labels: &'e [LabelPair<'a>],
    ) -> Entry<'e>
    where
        'a: 'e,
    {
        match self {
            Line::Help(name, help) => Entry::Help { name, help },
            Line::Type(name, metric_type) => Entry::Type { name, metric_type },
            Line::Unit(name, unit) => Entry::Unit { name, unit },
            Line::Comment(c) => Entry::Comment(c),
            Line::Eof => Entry::Eof,
            Line::Series {
                name,
                value,
                timestamp_ms,
                exemplar,
            } => Entry::Series(Series {
                name,
                labels,
                value,
                timestamp_ms,
                exemplar: exemplar.map(|(value, timestamp_ms)| Exemplar {
                    labels: exemplar_labels,
                    value,
                    timestamp_ms,
                }),
            }),
        }
    }
}

fn parse_line<'a>(
    flavor: TextFlavor,
    text: &'a str,
    line: usize,
    labels: &mut Vec<LabelPair<'a>>,
    exemplar_labels: &mut Vec<LabelPair<'a>>,
) -> Result<Line<'a>, ParseError> {
    let mut c = Cursor {
        s: text,
        i: 0,
        line,
        flavor,
    };
    if flavor == TextFlavor::Prometheus {
        c.skip_blanks();
    }
    if c.peek() == Some(b'#') {
        return parse_hash_line(&mut c);
    }
    labels.clear();
    exemplar_labels.clear();
    parse_series(&mut c, labels, exemplar_labels)
}

fn parse_hash_line<'a>(c: &mut Cursor<'a>) -> Result<Line<'a>, ParseError> {
    c.i += 1;
    let after_hash = c.i;
    if c.flavor == TextFlavor::OpenMetrics {
        if c.rest() == " EOF" {
            return Ok(Line::Eof);
        }
        c.expect_byte(b' ', "' ' after '#'")?;
    } else if !c.skip_blanks() {
        return Ok(Line::Comment(c.rest()));
    }
    let keyword_start = c.i;
    while c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
        c.i += 1;
    }
    let keyword = c.s.get(keyword_start..c.i).unwrap_or_default();
    let is_metadata = matches!(keyword, "HELP" | "TYPE")
        || (keyword == "UNIT" && c.flavor == TextFlavor::OpenMetrics);
    let followed_by_blank = matches!(c.peek(), Some(b' ' | b'\t'));
    if !is_metadata || !followed_by_blank {
        if c.flavor == TextFlavor::Prometheus {
            return Ok(Line::Comment(c.s.get(after_hash..).unwrap_or_default()));
        }
        c.i = keyword_start;
        return Err(c.expected("HELP, TYPE, UNIT or EOF after '# '"));
    }
    c.separator()?;
    let name = if c.peek() == Some(b'"') {
        c.quoted_string("metric name")?
    } else {
        Cow::Borrowed(c.metric_name()?)
    };
    if name.is_empty() {
        return Err(c.error_at(keyword_start, "empty metric name"));
    }
    match keyword {
        "HELP" => {
            // An empty help text may be written with or without the separating blank.
            if c.at_end() {
                return Ok(Line::Help(name, Cow::Borrowed("")));
            }
            c.separator()?;
            let help = unescape(c.rest(), c.flavor == TextFlavor::OpenMetrics);
            Ok(Line::Help(name, help))
        }
        "TYPE" => {
            c.separator()?;
            let type_start = c.i;
            let word = c.token();
            let metric_type = match (word, c.flavor) {
                ("counter", _) => MetricType::Counter,
                ("gauge", _) => MetricType::Gauge,
                ("histogram", _) => MetricType::Histogram,
                ("summary", _) => MetricType::Summary,
                ("untyped", TextFlavor::Prometheus) | ("unknown", TextFlavor::OpenMetrics) => {
                    MetricType::Untyped
                }
                ("gaugehistogram", TextFlavor::OpenMetrics) => MetricType::GaugeHistogram,
                ("info", TextFlavor::OpenMetrics) => MetricType::Info,
                ("stateset", TextFlavor::OpenMetrics) => MetricType::StateSet,
                ("", _) => return Err(c.expected("a metric type")),
                (other, _) => {
                    return Err(c.error_at(type_start, &format!("unknown metric type '{other}'")))
                }
            };
            c.end_of_line("end of line after the metric type")?;
            Ok(Line::Type(name, metric_type))
        }
        _ => {
            // UNIT, OpenMetrics only.
            let unit = if c.at_end() {
                ""
            } else {
                c.separator()?;
                c.rest()
            };
            if !unit.is_empty() && !name.ends_with(&format!("_{unit}")) {
                return Err(c.error_at(
                    keyword_start,
                    &format!("unit '{unit}' is not a suffix of metric name '{name}'"),
                ));
            }
            Ok(Line::Unit(name, unit))
        }
    }
}

fn parse_series<'a>(
    c: &mut Cursor<'a>,
    labels: &mut Vec<LabelPair<'a>>,
    exemplar_labels: &mut Vec<LabelPair<'a>>,
) -> Result<Line<'a>, ParseError> {
    let start = c.i;
    let mut name = None;
    if c.peek() != Some(b'{') {
        name = Some(Cow::Borrowed(c.metric_name()?));
        // The text format allows blanks between the name and its braces.
        let after_name = c.i;
        if c.flavor == TextFlavor::Prometheus && c.skip_blanks() && c.peek() != Some(b'{') {
            c.i = after_name;
        }
    }
    if c.peek() == Some(b'{') {
        c.labels(labels, Some(&mut name))?;
    }
    let Some(name) = name else {
        return Err(c.error_at(start, "expected a metric name, found none"));
    };
    if name.is_empty() {
        return Err(c.error_at(start, "empty metric name"));
    }
    c.separator()?;
    let value = c.float("sample value")?;
    let mut timestamp_ms = None;
    let mut exemplar = None;
    if c.flavor == TextFlavor::Prometheus {
        c.skip_blanks();
        if !c.at_end() {
            timestamp_ms = Some(c.integer_timestamp()?);
            c.skip_blanks();
            c.end_of_line("end of line after the timestamp")?;
        }
        return Ok(Line::Series {
            name,
            value,
            timestamp_ms,
            exemplar,
        });
    }
    if c.at_end() {
        return Ok(Line::Series {
            name,
            value,
            timestamp_ms,
            exemplar,
        });
    }
    c.expect_byte(b' ', "' ' or end of line after the value")?;
    if c.peek() != Some(b'#') {
        timestamp_ms = Some(c.seconds_timestamp("timestamp or '# ' exemplar")?);
        if c.at_end() {
            return Ok(Line::Series {
                name,
                value,
                timestamp_ms,
                exemplar,
            });
        }
        c.expect_byte(b' ', "' ' or end of line after the timestamp")?;
    }
    c.expect_byte(b'#', "'#' starting an exemplar")?;
    c.expect_byte(b' ', "' ' after '#'")?;
    if c.peek() != Some(b'{') {
        return Err(c.expected("'{' starting the exemplar labels"));
    }
    c.labels(exemplar_labels, None)?;
    c.expect_byte(b' ', "' ' after the exemplar labels")?;
    let ex_value = c.float("exemplar value")?;
    let mut ex_ts = None;
    if !c.at_end() {
        c.expect_byte(b' ', "' ' or end of line after the exemplar value")?;
        ex_ts = Some(c.seconds_timestamp("exemplar timestamp")?);
        c.end_of_line("end of line after the exemplar timestamp")?;
    }
    exemplar = Some((ex_value, ex_ts));
    Ok(Line::Series {
        name,
        value,
        timestamp_ms,
        exemplar,
    })
}

/// Resolves `\\`, `\n` and (in OpenMetrics) `\"`; other escapes are kept as written, as
/// Prometheus does.
fn unescape(s: &str, quotes: bool) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Class bit of bytes allowed in unquoted metric names after the first (`[a-zA-Z0-9_:]`).
const METRIC_NAME_CHAR: u8 = 1;
/// Class bit of bytes allowed in unquoted label names after the first (`[a-zA-Z0-9_]`).
const LABEL_NAME_CHAR: u8 = 2;

/// Character classes by byte: a table lookup per byte is what keeps name scanning cheap.
static NAME_CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' {
            table[b] = METRIC_NAME_CHAR | LABEL_NAME_CHAR;
        } else if c == b':' {
            table[b] = METRIC_NAME_CHAR;
        }
        b += 1;
    }
    table
};

/// A position within one line, with the helpers the grammar needs.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
    line: usize,
    flavor: TextFlavor,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or_default()
    }

    fn error_at(&self, i: usize, message: &str) -> ParseError {
        let column = self.s.get(..i).map_or(i, |p| p.chars().count()) + 1;
        ParseError::Text {
            line: self.line,
            column,
            message: message.to_string(),
        }
    }

    fn expected(&self, what: &str) -> ParseError {
        let found = match self.rest().chars().next() {
            None => "end of line".to_string(),
            Some(c) => format!("{c:?}"),
        };
        self.error_at(self.i, &format!("expected {what}, found {found}"))
    }

    fn expect_byte(&mut self, b: u8, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// Skips spaces and tabs; true if there were any.
    fn skip_blanks(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    /// The separator between tokens: one space in OpenMetrics, any run of blanks in the text
    /// format.
    fn separator(&mut self) -> Result<(), ParseError> {
        if self.flavor == TextFlavor::OpenMetrics {
            return self.expect_byte(b' ', "' '");
        }
        if self.skip_blanks() {
            Ok(())
        } else {
            Err(self.expected("' '"))
        }
    }

    /// Blanks inside braces: allowed in the text format, not in OpenMetrics.
    fn skip_inner_blanks(&mut self) {
        if self.flavor == TextFlavor::Prometheus {
            self.skip_blanks();
        }
    }

    fn end_of_line(&mut self, what: &str) -> Result<(), ParseError> {
        if self.flavor == TextFlavor::Prometheus {
            self.skip_blanks();
        }
        if self.at_end() {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// The token up to the next blank or the end of the line.
    fn token(&mut self) -> &'a str {
        let start = self.i;
        while !matches!(self.peek(), None | Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or_default()
    }

    /// Advances over bytes whose class includes `class`, returning how many there were.
    fn skip_class(&mut self, class: u8) -> usize {
        let start = self.i;
        let bytes = self.s.as_bytes();
        while let Some(&b) = bytes.get(self.i) {
            if NAME_CLASSES[usize::from(b)] & class == 0 {
                break;
            }
            self.i += 1;
        }
        self.i - start
    }

    fn metric_name(&mut self) -> Result<&'a str, ParseError> {
        let start = self.i;
        if self.peek().is_none_or(|b| b.is_ascii_digit()) || self.skip_class(METRIC_NAME_CHAR) == 0
        {
            return Err(self.expected("a metric name"));
        }
        Ok(self.s.get(start..self.i).unwrap_or_default())
    }

    fn label_name(&mut self) -> Result<&'a str, ParseError> {
        let start = self.i;
        if self.peek().is_none_or(|b| b.is_ascii_digit()) || self.skip_class(LABEL_NAME_CHAR) == 0 {
            return Err(self.expected("a label name or '}'"));
        }
        Ok(self.s.get(start..self.i).unwrap_or_default())
    }

    /// A double-quoted string with `\\`, `\"` and `\n` escapes, borrowed when it has none.
    fn quoted_string(&mut self, what: &str) -> Result<Cow<'a, str>, ParseError> {
        let open = self.i;
        if self.peek() != Some(b'"') {
            return Err(self.expected(&format!("'\"' starting the {what}")));
        }
        self.i += 1;
        let start = self.i;
        let bytes = self.s.as_bytes();
        let mut owned: Option<String> = None;
        let mut chunk_start = start;
        loop {
            let rest = bytes.get(self.i..).unwrap_or_default();
            let Some(offset) = memchr::memchr2(b'"', b'\\', rest) else {
                self.i = self.s.len();
                return Err(self.error_at(open, &format!("unterminated {what}: no closing '\"'")));
            };
            self.i += offset;
            if self.peek() == Some(b'"') {
                let tail = self.s.get(chunk_start..self.i).unwrap_or_default();
                self.i += 1;
                return Ok(match owned {
                    None => Cow::Borrowed(tail),
                    Some(mut o) => {
                        o.push_str(tail);
                        Cow::Owned(o)
                    }
                });
            }
            // A backslash: flush the text before it, then resolve the escape.
            let o = owned.get_or_insert_with(String::new);
            o.push_str(self.s.get(chunk_start..self.i).unwrap_or_default());
            let escaped = self.s.get(self.i + 1..).and_then(|r| r.chars().next());
            match escaped {
                Some('\\') => o.push('\\'),
                Some('"') => o.push('"'),
                Some('n') => o.push('\n'),
                Some(other) => {
                    o.push('\\');
                    o.push(other);
                }
                None => {
                    self.i = self.s.len();
                    return Err(
                        self.error_at(open, &format!("unterminated {what}: no closing '\"'"))
                    );
                }
            }
            self.i += 1 + escaped.map_or(0, char::len_utf8);
            chunk_start = self.i;
        }
    }

    /// `{name="value",...}` into `out`. When `metric_name` is given, a quoted string not followed
    /// by `=` is taken as the metric name (`{"my.metric", a="b"}`).
    fn labels(
        &mut self,
        out: &mut Vec<LabelPair<'a>>,
        mut metric_name: Option<&mut Option<Cow<'a, str>>>,
    ) -> Result<(), ParseError> {
        self.expect_byte(b'{', "'{'")?;
        let mut first = true;
        loop {
            self.skip_inner_blanks();
            if self.peek() == Some(b'}') && (first || self.flavor == TextFlavor::Prometheus) {
                self.i += 1;
                return Ok(());
            }
            let item_start = self.i;
            let name = if self.peek() == Some(b'"') {
                let quoted = self.quoted_string("quoted name")?;
                self.skip_inner_blanks();
                if self.peek() != Some(b'=') {
                    match metric_name.as_deref_mut() {
                        Some(slot @ None) => *slot = Some(quoted),
                        Some(Some(_)) => {
                            return Err(self.error_at(item_start, "metric name given twice"))
                        }
                        None => return Err(self.expected("'=' after the label name")),
                    }
                    self.skip_inner_blanks();
                    first = false;
                    if self.label_separator()? {
                        return Ok(());
                    }
                    continue;
                }
                quoted
            } else {
                Cow::Borrowed(self.label_name()?)
            };
            if name.is_empty() {
                return Err(self.error_at(item_start, "empty label name"));
            }
            self.skip_inner_blanks();
            self.expect_byte(b'=', "'=' after the label name")?;
            self.skip_inner_blanks();
            if self.peek() != Some(b'"') {
                return Err(self.expected("'\"' starting the label value"));
            }
            let value = self.quoted_string("label value")?;
            out.push((name, value));
            self.skip_inner_blanks();
            first = false;
            if self.label_separator()? {
                return Ok(());
            }
        }
    }

    /// After a label: `,` (returns false, more may follow) or `}` (returns true, done).
    fn label_separator(&mut self) -> Result<bool, ParseError> {
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(b'}') => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(self.expected("',' or '}' after a label")),
        }
    }

    fn float(&mut self, what: &str) -> Result<f64, ParseError> {
        let start = self.i;
        let token = self.token();
        if token.is_empty() {
            return Err(self.expected(what));
        }
        parse_float(token).ok_or_else(|| self.error_at(start, &format!("invalid {what} {token:?}")))
    }

    fn integer_timestamp(&mut self) -> Result<i64, ParseError> {
        let start = self.i;
        let token = self.token();
        token.parse::<i64>().map_err(|_| {
            self.error_at(
                start,
                &format!("invalid timestamp {token:?}, expected integer milliseconds"),
            )
        })
    }

    fn seconds_timestamp(&mut self, what: &str) -> Result<i64, ParseError> {
        let start = self.i;
        let token = self.token();
        if token.is_empty() {
            return Err(self.expected(what));
        }
        let secs = parse_float(token)
            .filter(|s| s.is_finite())
            .ok_or_else(|| {
                self.error_at(
                    start,
                    &format!("invalid timestamp {token:?}, expected seconds"),
                )
            })?;
        // Rounding rather than truncating keeps `1520879607.789` at ...789 ms despite binary
        // floating point; the range check keeps the cast from saturating silently.
        let ms = (secs * 1000.0).round();
        if !(-9.2e18..=9.2e18).contains(&ms) {
            return Err(self.error_at(start, &format!("timestamp {token:?} out of range")));
        }
        Ok(ms as i64)
    }
}

/// Parses a sample value as Go's `strconv.ParseFloat` would for exposition values: decimal and
/// exponent forms, `NaN`, `Inf`, `+Inf`, `-Inf` in any case.
fn parse_float(token: &str) -> Option<f64> {
    // Rust also accepts "infinity" and "nan" in any case, as Go does; it rejects Go's hex
    // floats, which no exporter writes.
    token.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(input: &str, flavor: TextFlavor) -> Result<Vec<String>, ParseError> {
        let mut p = TextParser::new(input.as_bytes(), flavor);
        let mut out = Vec::new();
        let mut guard = 0;
        while let Some(e) = p.next_entry() {
            guard += 1;
            assert!(guard < 10_000, "parser did not terminate");
            out.push(format!("{:?}", e?));
        }
        Ok(out)
    }

    fn first_series(
        input: &str,
        flavor: TextFlavor,
    ) -> (String, Vec<(String, String)>, f64, Option<i64>) {
        let mut p = TextParser::new(input.as_bytes(), flavor);
        loop {
            match p.next_entry() {
                Some(Ok(Entry::Series(s))) => {
                    let labels = s
                        .labels
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect();
                    return (s.name.to_string(), labels, s.value, s.timestamp_ms);
                }
                Some(Ok(_)) => {}
                other => panic!("no series: {other:?}"),
            }
        }
    }

    fn err(input: &str, flavor: TextFlavor) -> (usize, usize, String) {
        match entries(input, flavor) {
            Err(ParseError::Text {
                line,
                column,
                message,
            }) => (line, column, message),
            other => panic!("expected an error for {input:?}, got {other:?}"),
        }
    }

    const P: TextFlavor = TextFlavor::Prometheus;
    const OM: TextFlavor = TextFlavor::OpenMetrics;

    #[test]
    fn text_metadata_and_series() {
        let input = "# HELP go_gc Help with \\\\ and \\n and \\\"q\\\".\n# TYPE go_gc summary\n\
                     # just a comment\n\ngo_gc{quantile=\"0.5\"} 1.5e-05\ngo_gc_sum 3 1700000000000\n";
        let mut p = TextParser::new(input.as_bytes(), P);
        match p.next_entry() {
            Some(Ok(Entry::Help { name, help })) => {
                assert_eq!(name, "go_gc");
                assert_eq!(help, "Help with \\ and \n and \\\"q\\\".");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            p.next_entry(),
            Some(Ok(Entry::Type {
                metric_type: MetricType::Summary,
                ..
            }))
        ));
        assert!(matches!(
            p.next_entry(),
            Some(Ok(Entry::Comment(" just a comment")))
        ));
        match p.next_entry() {
            Some(Ok(Entry::Series(s))) => {
                assert_eq!(s.name, "go_gc");
                assert_eq!(
                    s.labels,
                    &[(Cow::Borrowed("quantile"), Cow::Borrowed("0.5"))]
                );
                assert_eq!(s.value, 1.5e-5);
                assert_eq!(s.timestamp_ms, None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.line(), 5);
        match p.next_entry() {
            Some(Ok(Entry::Series(s))) => assert_eq!(s.timestamp_ms, Some(1_700_000_000_000)),
            other => panic!("{other:?}"),
        }
        assert!(p.next_entry().is_none());
        assert!(p.next_entry().is_none());
    }

    #[test]
    fn text_whitespace_is_lenient() {
        let (name, labels, v, ts) =
            first_series("  \n\tm  { a = \"1\" , b=\"2\", }\t 7 \t -5 \t", P);
        assert_eq!(name, "m");
        assert_eq!(labels, [("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!((v, ts), (7.0, Some(-5)));
        let (_, labels, _, _) = first_series("m{} 1", P);
        assert!(labels.is_empty());
    }

    #[test]
    fn special_values() {
        for (text, want) in [
            ("NaN", f64::NAN),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("inf", f64::INFINITY),
        ] {
            let (_, _, v, _) = first_series(&format!("m {text}\n"), P);
            assert!(
                v.to_bits() == want.to_bits() || (v.is_nan() && want.is_nan()),
                "{text}"
            );
        }
        let (_, _, v, _) = first_series("m -0.5e3\n", P);
        assert_eq!(v, -500.0);
    }

    #[test]
    fn label_value_escapes() {
        let (_, labels, _, _) = first_series("m{a=\"x\\\\y\\\"z\\nw\\t\",b=\"ünï\"} 1\n", P);
        assert_eq!(labels[0].1, "x\\y\"z\nw\\t");
        assert_eq!(labels[1].1, "ünï");
    }

    #[test]
    fn quoted_utf8_names() {
        let (name, labels, _, _) = first_series("{\"my.metric\", \"other.label\"=\"x\"} 1\n", P);
        assert_eq!(name, "my.metric");
        assert_eq!(labels, [("other.label".into(), "x".into())]);
        let (name, labels, _, _) = first_series("{a=\"b\",\"dotted.name\"} 2\n", P);
        assert_eq!(name, "dotted.name");
        assert_eq!(labels.len(), 1);
        let (name, _, _, _) = first_series("{\"only\"} 2\n", P);
        assert_eq!(name, "only");
        let (name, labels, _, _) = first_series(
            "# TYPE \"a.b\" counter\n{\"a.b_total\",\"c.d\"=\"e\"} 1.0\n# EOF\n",
            OM,
        );
        assert_eq!(name, "a.b_total");
        assert_eq!(labels, [("c.d".into(), "e".into())]);
        let got = entries("# HELP \"a b\" the help\n", P).unwrap_or_default();
        assert_eq!(got, ["Help { name: \"a b\", help: \"the help\" }"]);
    }

    #[test]
    fn openmetrics_full() {
        let input = "# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\n# HELP foo_seconds Help \\\"q\\\".\n\
                     foo_seconds_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.890\n\
                     foo_seconds_created{a=\"b\"} 1520430000.123\n\
                     foo_seconds_total{a=\"c\"} 1 # {id=\"x\"} 2\n# EOF\n";
        let mut p = TextParser::new(input.as_bytes(), OM);
        assert!(matches!(
            p.next_entry(),
            Some(Ok(Entry::Type {
                metric_type: MetricType::Counter,
                ..
            }))
        ));
        assert!(matches!(
            p.next_entry(),
            Some(Ok(Entry::Unit {
                unit: "seconds",
                ..
            }))
        ));
        match p.next_entry() {
            Some(Ok(Entry::Help { help, .. })) => assert_eq!(help, "Help \"q\"."),
            other => panic!("{other:?}"),
        }
        match p.next_entry() {
            Some(Ok(Entry::Series(s))) => {
                assert_eq!(s.name, "foo_seconds_total");
                assert_eq!(s.timestamp_ms, Some(1_520_879_607_789));
                let ex = s.exemplar.unwrap_or_else(|| panic!("no exemplar"));
                assert_eq!(
                    ex.labels,
                    &[(Cow::Borrowed("trace_id"), Cow::Borrowed("KOO5S4vxi0o"))]
                );
                assert_eq!(ex.value, 0.67);
                assert_eq!(ex.timestamp_ms, Some(1_520_879_602_890));
            }
            other => panic!("{other:?}"),
        }
        match p.next_entry() {
            Some(Ok(Entry::Series(s))) => {
                assert_eq!(s.name, "foo_seconds_created");
                assert_eq!(s.value, 1_520_430_000.123);
                assert!(s.exemplar.is_none());
            }
            other => panic!("{other:?}"),
        }
        match p.next_entry() {
            Some(Ok(Entry::Series(s))) => {
                let ex = s.exemplar.unwrap_or_else(|| panic!("no exemplar"));
                assert_eq!((ex.value, ex.timestamp_ms), (2.0, None));
                assert_eq!(s.timestamp_ms, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(p.next_entry(), Some(Ok(Entry::Eof))));
        assert!(p.next_entry().is_none());
    }

    #[test]
    fn openmetrics_types_and_eof_without_newline() {
        let got = entries(
            "# TYPE a gaugehistogram\n# TYPE b info\n# TYPE c stateset\n# TYPE d unknown\n# EOF",
            OM,
        );
        assert_eq!(got.map(|v| v.len()), Ok(5));
    }

    #[test]
    fn text_errors_have_positions() {
        let cases: &[(&str, (usize, usize, &str))] = &[
            (
                "m{a=\"1\"",
                (1, 8, "expected ',' or '}' after a label, found end of line"),
            ),
            (
                "m{a=1} 1",
                (1, 5, "expected '\"' starting the label value, found '1'"),
            ),
            (
                "m{a\"1\"} 1",
                (1, 4, "expected '=' after the label name, found '\"'"),
            ),
            (
                "m{1a=\"x\"} 1",
                (1, 3, "expected a label name or '}', found '1'"),
            ),
            (
                "m{a=\"x\" b=\"y\"} 1",
                (1, 9, "expected ',' or '}' after a label, found 'b'"),
            ),
            ("m", (1, 2, "expected ' ', found end of line")),
            ("m ", (1, 3, "expected sample value, found end of line")),
            ("m abc", (1, 3, "invalid sample value \"abc\"")),
            (
                "m 1 1.5",
                (
                    1,
                    5,
                    "invalid timestamp \"1.5\", expected integer milliseconds",
                ),
            ),
            (
                "m 1 2 3",
                (1, 7, "expected end of line after the timestamp, found '3'"),
            ),
            ("\n\n9m 1", (3, 1, "expected a metric name, found '9'")),
            ("# TYPE m bogus", (1, 10, "unknown metric type 'bogus'")),
            ("# TYPE m", (1, 9, "expected ' ', found end of line")),
            (
                "# TYPE m counter extra",
                (
                    1,
                    18,
                    "expected end of line after the metric type, found 'e'",
                ),
            ),
            ("# TYPE m info", (1, 10, "unknown metric type 'info'")),
            ("{a=\"b\"} 1", (1, 1, "expected a metric name, found none")),
            ("{\"x\",\"y\"} 1", (1, 6, "metric name given twice")),
            ("m{\"\"} 1", (1, 3, "metric name given twice")),
            ("{\"\"} 1", (1, 1, "empty metric name")),
            ("m{\"\"=\"v\"} 1", (1, 3, "empty label name")),
            ("m{a=\"x\\", (1, 5, "unterminated label value")),
            ("m{a=\"é\"}x", (1, 9, "expected ' ', found 'x'")),
            (
                "m 1 # {a=\"b\"} 1",
                (
                    1,
                    5,
                    "invalid timestamp \"#\", expected integer milliseconds",
                ),
            ),
        ];
        for (input, (line, column, message)) in cases {
            let (l, c, m) = err(input, P);
            assert_eq!((l, c), (*line, *column), "{input:?}: {m}");
            assert!(
                m.starts_with(message),
                "{input:?}: got {m:?}, want {message:?}"
            );
        }
    }

    #[test]
    fn openmetrics_errors_have_positions() {
        let cases: &[(&str, (usize, usize, &str))] = &[
            ("m 1\n", (2, 1, "expected '# EOF' before the end of input")),
            ("", (1, 1, "expected '# EOF' before the end of input")),
            ("# EOF\nm 1\n", (2, 1, "unexpected data after '# EOF'")),
            ("# EOF\n\n", (2, 1, "unexpected data after '# EOF'")),
            (
                "\n# EOF\n",
                (1, 1, "expected a metric name, found end of line"),
            ),
            (
                "# random comment\n# EOF\n",
                (1, 3, "expected HELP, TYPE, UNIT or EOF after '# '"),
            ),
            (
                "#TYPE m gauge\n",
                (1, 2, "expected ' ' after '#', found 'T'"),
            ),
            (
                "# TYPE  m gauge\n",
                (1, 8, "expected a metric name, found ' '"),
            ),
            (
                "# TYPE m untyped\n",
                (1, 10, "unknown metric type 'untyped'"),
            ),
            (
                "# UNIT m_bytes seconds\n",
                (
                    1,
                    3,
                    "unit 'seconds' is not a suffix of metric name 'm_bytes'",
                ),
            ),
            ("m  1\n# EOF\n", (1, 3, "expected sample value, found ' '")),
            (
                "m{a=\"1\", b=\"2\"} 1\n# EOF\n",
                (1, 9, "expected a label name or '}', found ' '"),
            ),
            (
                "m{a=\"1\",} 1\n# EOF\n",
                (1, 9, "expected a label name or '}', found '}'"),
            ),
            (
                "m 1 \n# EOF\n",
                (
                    1,
                    5,
                    "expected timestamp or '# ' exemplar, found end of line",
                ),
            ),
            (
                "m 1 NaN\n# EOF\n",
                (1, 5, "invalid timestamp \"NaN\", expected seconds"),
            ),
            (
                "m 1 1e300\n# EOF\n",
                (1, 5, "timestamp \"1e300\" out of range"),
            ),
            (
                "m 1 # x\n# EOF\n",
                (1, 7, "expected '{' starting the exemplar labels, found 'x'"),
            ),
            (
                "m 1 #{a=\"b\"} 1\n# EOF\n",
                (1, 6, "expected ' ' after '#', found '{'"),
            ),
            (
                "m 1 # {a=\"b\"}\n# EOF\n",
                (
                    1,
                    14,
                    "expected ' ' after the exemplar labels, found end of line",
                ),
            ),
            (
                "m 1 # {a=\"b\"} 1 2 3\n# EOF\n",
                (
                    1,
                    18,
                    "expected end of line after the exemplar timestamp, found ' '",
                ),
            ),
            (
                "m 1 # {\"x\"} 1\n# EOF\n",
                (1, 11, "expected '=' after the label name, found '}'"),
            ),
            (
                "m 1 2 3\n# EOF\n",
                (1, 7, "expected '#' starting an exemplar, found '3'"),
            ),
            ("m\t1\n# EOF\n", (1, 2, "expected ' ', found '\\t'")),
            (
                "# EOF \n",
                (1, 3, "expected HELP, TYPE, UNIT or EOF after '# '"),
            ),
        ];
        for (input, (line, column, message)) in cases {
            let (l, c, m) = err(input, OM);
            assert_eq!((l, c), (*line, *column), "{input:?}: {m}");
            assert!(
                m.starts_with(message),
                "{input:?}: got {m:?}, want {message:?}"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_reported_with_column() {
        let mut p = TextParser::new(b"m 1\nm{a=\"\xff\"} 1\n", P);
        assert!(matches!(p.next_entry(), Some(Ok(_))));
        match p.next_entry() {
            Some(Err(ParseError::Text {
                line: 2,
                column: 6,
                message,
            })) => assert_eq!(message, "invalid UTF-8"),
            other => panic!("{other:?}"),
        }
        assert!(p.next_entry().is_none());
    }

    #[test]
    fn stops_after_first_error() {
        let mut p = TextParser::new(b"bad line here\nm 1\n", P);
        assert!(matches!(p.next_entry(), Some(Err(_))));
        assert!(p.next_entry().is_none());
    }

    #[test]
    fn labels_borrow_input_when_unescaped() {
        let input = "m{a=\"plain\",b=\"esc\\\"aped\"} 1\n";
        let mut p = TextParser::new(input.as_bytes(), P);
        match p.next_entry() {
            Some(Ok(Entry::Series(s))) => {
                assert!(matches!(s.labels[0].1, Cow::Borrowed(_)));
                assert!(matches!(s.labels[1].1, Cow::Owned(_)));
                assert!(matches!(s.name, Cow::Borrowed(_)));
            }
            other => panic!("{other:?}"),
        }
    }
}
