//! The PromQL syntax tree.

use std::fmt;

use pharos_model::Matcher;

use crate::functions::FunctionDef;
use crate::value::ValueType;

/// Byte offsets of an expression in the query text (`end` exclusive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PosRange {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl PosRange {
    /// `line:column` of the start (both 1-based), as Prometheus prints positions.
    pub fn line_col(&self, input: &str) -> String {
        line_col(input, self.start)
    }
}

/// `line:column` (1-based) of byte offset `at` in `input`.
pub fn line_col(input: &str, at: usize) -> String {
    let at = at.min(input.len());
    let before = input.get(..at).unwrap_or(input);
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(at, |nl| at - nl - 1) + 1;
    format!("{line}:{col}")
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `>`
    Gtr,
    /// `<`
    Lss,
    /// `>=`
    Gte,
    /// `<=`
    Lte,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
    /// `</`: keep histogram observations below the cutoff (experimental).
    TrimUpper,
    /// `>/`: keep histogram observations above the cutoff (experimental).
    TrimLower,
}

impl BinOp {
    /// True for `==`, `!=`, `>`, `<`, `>=`, `<=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte
        )
    }
    /// True for `and`, `or`, `unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
    /// Binding strength; higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte => 3,
            BinOp::TrimUpper | BinOp::TrimLower => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Atan2 => 5,
            BinOp::Pow => 6,
        }
    }
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Atan2 => "atan2",
            BinOp::Eql => "==",
            BinOp::Neq => "!=",
            BinOp::Gtr => ">",
            BinOp::Lss => "<",
            BinOp::Gte => ">=",
            BinOp::Lte => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
            BinOp::TrimUpper => "</",
            BinOp::TrimLower => ">/",
        }
    }
}

/// Aggregation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `count_values`
    CountValues,
    /// `quantile`
    Quantile,
    /// `limitk`
    Limitk,
    /// `limit_ratio`
    LimitRatio,
}

impl AggOp {
    /// Looks an aggregation up by its PromQL name.
    pub fn from_name(s: &str) -> Option<AggOp> {
        Some(match s {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "count" => AggOp::Count,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "group" => AggOp::Group,
            "stddev" => AggOp::Stddev,
            "stdvar" => AggOp::Stdvar,
            "topk" => AggOp::Topk,
            "bottomk" => AggOp::Bottomk,
            "count_values" => AggOp::CountValues,
            "quantile" => AggOp::Quantile,
            "limitk" => AggOp::Limitk,
            "limit_ratio" => AggOp::LimitRatio,
            _ => return None,
        })
    }
    /// The PromQL name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Count => "count",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Group => "group",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::CountValues => "count_values",
            AggOp::Quantile => "quantile",
            AggOp::Limitk => "limitk",
            AggOp::LimitRatio => "limit_ratio",
        }
    }
    /// The type of the parameter, for those that take one.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggOp::Topk | AggOp::Bottomk | AggOp::Quantile | AggOp::Limitk | AggOp::LimitRatio => {
                Some(ValueType::Scalar)
            }
            AggOp::CountValues => Some(ValueType::String),
            _ => None,
        }
    }
}

/// `@` modifier value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AtModifier {
    /// A fixed time in milliseconds.
    At(i64),
    /// `@ start()`: the query's start.
    Start,
    /// `@ end()`: the query's end.
    End,
}

/// How two vectors' samples pair up in a binary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cardinality {
    /// One sample on each side.
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// `on`/`ignoring` and `group_left`/`group_right` of a binary expression.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorMatching {
    /// Pairing cardinality.
    pub card: Cardinality,
    /// True for `on(...)`, false for `ignoring(...)` (or none).
    pub on: bool,
    /// The labels listed in `on`/`ignoring`.
    pub labels: Vec<String>,
    /// Extra labels listed in `group_left(...)`/`group_right(...)`.
    pub include: Vec<String>,
    /// `fill_left(v)`/`fill(v)`: value used when the left side has no match (experimental).
    pub fill_left: Option<f64>,
    /// `fill_right(v)`/`fill(v)`: value used when the right side has no match (experimental).
    pub fill_right: Option<f64>,
}

/// An instant vector selector such as `foo{a="b"} offset 5m @ 100`.
#[derive(Clone, Debug)]
pub struct VectorSelector {
    /// The metric name as written before the braces (or via a quoted name inside them).
    pub name: Option<String>,
    /// All matchers, including one for the name.
    pub matchers: Vec<Matcher>,
    /// `offset` in milliseconds (negative for `offset -5m`).
    pub offset: i64,
    /// `@` modifier.
    pub at: Option<AtModifier>,
    /// Where it appears.
    pub pos: PosRange,
    /// The `smoothed` modifier (experimental): interpolate between neighbouring samples.
    pub smoothed: bool,
}

/// A range vector selector such as `foo[5m]`.
#[derive(Clone, Debug)]
pub struct MatrixSelector {
    /// The selector inside.
    pub vs: VectorSelector,
    /// Range in milliseconds.
    pub range: i64,
    /// The `anchored` modifier (experimental).
    pub anchored: bool,
    /// The `smoothed` modifier (experimental).
    pub smoothed: bool,
    /// Where it appears.
    pub pos: PosRange,
}

/// A subquery `expr[range:step]`.
#[derive(Clone, Debug)]
pub struct Subquery {
    /// The inner expression.
    pub expr: Box<Expr>,
    /// Range in milliseconds.
    pub range: i64,
    /// Step in milliseconds; `None` means the engine's default.
    pub step: Option<i64>,
    /// `offset` in milliseconds.
    pub offset: i64,
    /// `@` modifier.
    pub at: Option<AtModifier>,
    /// Where it appears.
    pub pos: PosRange,
}

/// A PromQL expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A number.
    Number(f64, PosRange),
    /// A string.
    Str(String, PosRange),
    /// `( expr )`.
    Paren(Box<Expr>, PosRange),
    /// `-expr` (`+expr` is dropped at parse time).
    Neg(Box<Expr>, PosRange),
    /// `lhs op rhs`.
    Binary {
        /// Operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
        /// The `bool` modifier.
        return_bool: bool,
        /// Vector matching, when both sides are vectors.
        matching: Option<VectorMatching>,
        /// Where it appears.
        pos: PosRange,
    },
    /// An aggregation such as `sum by (job) (x)`.
    Aggregate {
        /// Operator.
        op: AggOp,
        /// Aggregated expression.
        expr: Box<Expr>,
        /// Parameter (`k`, `q`, label name...).
        param: Option<Box<Expr>>,
        /// Labels of `by`/`without`.
        grouping: Vec<String>,
        /// True for `without`.
        without: bool,
        /// Where it appears.
        pos: PosRange,
    },
    /// A function call.
    Call {
        /// The function.
        func: &'static FunctionDef,
        /// Arguments.
        args: Vec<Expr>,
        /// Where it appears.
        pos: PosRange,
    },
    /// An instant vector selector.
    Vector(VectorSelector),
    /// A range vector selector.
    Matrix(MatrixSelector),
    /// A subquery.
    Subquery(Subquery),
}

impl Expr {
    /// Where the expression appears in the query.
    pub fn pos(&self) -> PosRange {
        match self {
            Expr::Number(_, p) | Expr::Str(_, p) | Expr::Paren(_, p) | Expr::Neg(_, p) => *p,
            Expr::Binary { pos, .. } | Expr::Aggregate { pos, .. } | Expr::Call { pos, .. } => *pos,
            Expr::Vector(v) => v.pos,
            Expr::Matrix(m) => m.pos,
            Expr::Subquery(s) => s.pos,
        }
    }

    /// The type of value the expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(..) => ValueType::Scalar,
            Expr::Str(..) => ValueType::String,
            Expr::Paren(e, _) | Expr::Neg(e, _) => e.value_type(),
            Expr::Binary { lhs, rhs, .. } => {
                if lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Aggregate { .. } | Expr::Vector(_) => ValueType::Vector,
            Expr::Call { func, .. } => func.ret,
            Expr::Matrix(_) | Expr::Subquery(_) => ValueType::Matrix,
        }
    }

    /// Strips parentheses.
    pub fn unparen(&self) -> &Expr {
        match self {
            Expr::Paren(e, _) => e.unparen(),
            e => e,
        }
    }
}

fn fmt_dur(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("y", 31_536_000_000),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

fn fmt_mods(f: &mut fmt::Formatter<'_>, offset: i64, at: Option<AtModifier>) -> fmt::Result {
    match at {
        Some(AtModifier::At(t)) => write!(f, " @ {:.3}", t as f64 / 1000.0)?,
        Some(AtModifier::Start) => write!(f, " @ start()")?,
        Some(AtModifier::End) => write!(f, " @ end()")?,
        None => {}
    }
    if offset > 0 {
        write!(f, " offset {}", fmt_dur(offset))?;
    } else if offset < 0 {
        write!(f, " offset -{}", fmt_dur(-offset))?;
    }
    Ok(())
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = &self.name {
            f.write_str(n)?;
        }
        let ms: Vec<String> = self
            .matchers
            .iter()
            .filter(|m| {
                !(self.name.is_some()
                    && m.name == "__name__"
                    && m.op == pharos_model::MatchOp::Equal)
            })
            .map(|m| m.to_string())
            .collect();
        if !ms.is_empty() || self.name.is_none() {
            write!(f, "{{{}}}", ms.join(", "))?;
        }
        Ok(())
    }
}

/// Prints the expression back as PromQL (used in error messages).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(v, _) => write!(f, "{}", crate::value::format_float(*v)),
            Expr::Str(s, _) => write!(f, "{s:?}"),
            Expr::Paren(e, _) => write!(f, "({e})"),
            Expr::Neg(e, _) => write!(f, "-{e}"),
            Expr::Binary {
                op,
                lhs,
                rhs,
                return_bool,
                matching,
                ..
            } => {
                write!(f, "{lhs} {}", op.as_str())?;
                if *return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = matching {
                    if m.on || !m.labels.is_empty() {
                        write!(
                            f,
                            " {}({})",
                            if m.on { "on" } else { "ignoring" },
                            m.labels.join(", ")
                        )?;
                    }
                    match m.card {
                        Cardinality::ManyToOne => {
                            write!(f, " group_left({})", m.include.join(", "))?
                        }
                        Cardinality::OneToMany => {
                            write!(f, " group_right({})", m.include.join(", "))?
                        }
                        _ => {}
                    }
                }
                write!(f, " {rhs}")
            }
            Expr::Aggregate {
                op,
                expr,
                param,
                grouping,
                without,
                ..
            } => {
                f.write_str(op.as_str())?;
                if *without || !grouping.is_empty() {
                    write!(
                        f,
                        " {} ({})",
                        if *without { "without" } else { "by" },
                        grouping.join(", ")
                    )?;
                    f.write_str(" ")?;
                }
                match param {
                    Some(p) => write!(f, "({p}, {expr})"),
                    None => write!(f, "({expr})"),
                }
            }
            Expr::Call { func, args, .. } => {
                let a: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                write!(f, "{}({})", func.name, a.join(", "))
            }
            Expr::Vector(v) => {
                write!(f, "{v}")?;
                fmt_mods(f, v.offset, v.at)
            }
            Expr::Matrix(m) => {
                write!(f, "{}[{}]", m.vs, fmt_dur(m.range))?;
                fmt_mods(f, m.vs.offset, m.vs.at)
            }
            Expr::Subquery(s) => {
                write!(
                    f,
                    "{}[{}:{}]",
                    s.expr,
                    fmt_dur(s.range),
                    s.step.map(fmt_dur).unwrap_or_default()
                )?;
                fmt_mods(f, s.offset, s.at)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_col("abc", 0), "1:1");
        assert_eq!(line_col("ab\ncd", 4), "2:2");
    }
}
