//! A hand-written PromQL parser (Pratt style for operators) with Prometheus 3 syntax: quoted
//! UTF-8 metric and label names, `@ start()`/`end()`, `limitk`/`limit_ratio`, and the
//! experimental `anchored`/`smoothed` range modifiers. Type checking happens while parsing,
//! so every error carries the position of the offending expression.

mod ast;
mod lexer;
mod parse;

#[cfg(test)]
mod nesting_tests;

pub use ast::{
    line_col, AggOp, AtModifier, BinOp, Cardinality, Expr, MatrixSelector, PosRange, Subquery,
    VectorMatching, VectorSelector,
};
pub use lexer::{try_duration, INVALID_UTF8_PREFIX};
pub use parse::{parse, parse_selector, ParseOptions, MAX_NESTING};

use std::fmt;

/// A query did not parse or type-check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// `line:column` of the problem.
    pub position: String,
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(input: &str, offset: usize, message: String) -> Self {
        ParseError {
            position: line_col(input, offset),
            offset,
            message,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: parse error: {}", self.position, self.message)
    }
}

impl std::error::Error for ParseError {}
