//! Label matchers (`=`, `!=`, `=~`, `!~`) as used by PromQL selectors and the storage querier.

use std::fmt;

use regex::Regex;

/// How a matcher compares a label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        })
    }
}

/// A regex that failed to compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {source}")]
pub struct MatcherError {
    /// The pattern as the user wrote it.
    pub pattern: String,
    /// Why it failed.
    #[source]
    pub source: regex::Error,
}

/// One label matcher. Regexes are anchored at both ends, as in Prometheus.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name to test.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Literal value or regex source, as written.
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher, compiling the regex for `=~` and `!~`.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|source| MatcherError {
                    pattern: value.clone(),
                    source,
                })?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Shorthand for an `=` matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Tests a label value; an absent label is tested as the empty string.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == value,
            MatchOp::NotEqual => self.value != value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// True when the matcher accepts the empty string, i.e. also selects series without the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For regex matchers that are a plain alternation of literals (`a|b|c`), the literals;
    /// lets the index look values up directly instead of scanning.
    pub fn set_matches(&self) -> Option<Vec<String>> {
        if self.op != MatchOp::Regex && self.op != MatchOp::NotRegex {
            return None;
        }
        let special = |c: char| "\\.+*?()[]{}^$".contains(c);
        if self.value.chars().any(special) {
            return None;
        }
        Some(self.value.split('|').map(str::to_owned).collect())
    }

    /// For regex matchers that start with a literal (`foo.*`), that literal prefix.
    pub fn literal_prefix(&self) -> Option<&str> {
        if self.op != MatchOp::Regex {
            return None;
        }
        let end = self
            .value
            .find(|c: char| "\\.+*?()[]{}^$|".contains(c))
            .unwrap_or(self.value.len());
        (end > 0 && self.value.contains('|').then_some(()).is_none()).then(|| &self.value[..end])
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored() {
        let m = Matcher::new(MatchOp::Regex, "a", "fo+").unwrap();
        assert!(m.matches("foo"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("foox"));
    }

    #[test]
    fn alternation_literals() {
        let m = Matcher::new(MatchOp::Regex, "a", "x|y|z").unwrap();
        assert_eq!(m.set_matches().unwrap(), ["x", "y", "z"]);
        let m = Matcher::new(MatchOp::Regex, "a", "x.*").unwrap();
        assert_eq!(m.set_matches(), None);
        assert_eq!(m.literal_prefix(), Some("x"));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Matcher::new(MatchOp::Regex, "a", "(").is_err());
    }
}
