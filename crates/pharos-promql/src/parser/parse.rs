//! The recursive-descent / Pratt parser and the type checks Prometheus applies while parsing.

use pharos_model::{MatchOp, Matcher};

use super::ast::*;
use super::lexer::{lex, Tok, Token};
use super::ParseError;
use crate::functions;
use crate::value::ValueType;

/// Parser switches.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions {
    /// Allow functions marked experimental (`--enable-feature=promql-experimental-functions`).
    pub experimental_functions: bool,
    /// The query's step (ms), the value of `step()` in duration expressions.
    pub step: i64,
    /// The query's end minus start (ms), the value of `range()` in duration expressions.
    pub range: i64,
}

/// How deeply expressions may nest: both the parser's recursion and the height of the finished
/// syntax tree (which a left-associative chain such as `a + b + c + ...` grows without
/// recursion) stay within this many levels, so every stage that walks the tree recursively
/// (parsing, evaluation, printing, the API's JSON, dropping) has a known stack bound. Prometheus
/// has no limit because Go stacks grow; real queries nest well under 50 levels. In an
/// unoptimised build one level costs up to about 9 KiB of stack (parsing a nested aggregation),
/// so the deepest accepted query needs about half of a 2 MiB thread stack, the size tokio and
/// `std::thread` give by default.
pub const MAX_NESTING: usize = 128;

/// Parses and type-checks a PromQL expression.
pub fn parse(input: &str, opts: ParseOptions) -> Result<Expr, ParseError> {
    let toks = lex(input)?;
    let mut p = Parser {
        input,
        toks,
        i: 0,
        opts,
        allow_empty_selector: false,
        nesting: 0,
    };
    if matches!(p.peek(), Tok::Eof) {
        return Err(ParseError::at(
            input,
            0,
            "no expression found in input".into(),
        ));
    }
    let (e, _) = p.expr(0)?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected("end of input"));
    }
    Ok(e)
}

/// Parses a bare series selector such as `foo{a="b"}` (used by the test-script loader and the
/// series/labels API).
pub fn parse_selector(input: &str) -> Result<VectorSelector, ParseError> {
    let e = parse(
        input,
        ParseOptions {
            experimental_functions: true,
            ..Default::default()
        },
    )?;
    match e {
        Expr::Vector(v) => Ok(v),
        _ => Err(ParseError::at(
            input,
            0,
            "expected a series selector".into(),
        )),
    }
}

/// Seconds to milliseconds, rejecting values that do not fit.
fn to_ms(secs: f64) -> Option<i64> {
    let ms = (secs * 1000.0).round();
    (ms.is_finite() && ms.abs() < 9.2e18).then_some(ms as i64)
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<Token>,
    i: usize,
    opts: ParseOptions,
    /// Set while parsing the selector argument of `info`, which may match empty.
    allow_empty_selector: bool,
    /// How many `expr`/`dur_expr` calls are active: the parser's own recursion depth.
    nesting: usize,
}

/// What an identifier followed by `(` (or `by`/`without`) starts.
enum Callee {
    Aggregation(AggOp),
    Function(&'static functions::FunctionDef),
}

fn type_name(t: ValueType) -> &'static str {
    t.name()
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok {
        self.toks.get(self.i).map_or(&Tok::Eof, |t| &t.tok)
    }
    fn peek_at(&self, k: usize) -> &Tok {
        self.toks.get(self.i + k).map_or(&Tok::Eof, |t| &t.tok)
    }
    fn tok(&self) -> Token {
        self.toks.get(self.i).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            start: self.input.len(),
            end: self.input.len(),
        })
    }
    fn bump(&mut self) -> Token {
        let t = self.tok();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn prev_end(&self) -> usize {
        if self.i == 0 {
            0
        } else {
            self.toks
                .get(self.i - 1)
                .map_or(self.input.len(), |t| t.end)
        }
    }
    fn err(&self, offset: usize, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.input, offset, msg.into())
    }
    fn describe(t: &Tok) -> String {
        match t {
            Tok::Ident(s) => format!("identifier {s:?}"),
            Tok::Number(_) => "number".into(),
            Tok::Duration(_) => "duration".into(),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Op(o) => format!("\"{o}\""),
            Tok::Eof => "end of input".into(),
        }
    }
    fn unexpected(&self, wanted: &str) -> ParseError {
        let t = self.tok();
        self.err(
            t.start,
            format!("unexpected {}, expected {wanted}", Self::describe(&t.tok)),
        )
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }
    /// Keywords are case-insensitive in PromQL.
    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w.eq_ignore_ascii_case(word))
    }
    fn expect_op(&mut self, op: &str) -> Result<Token, ParseError> {
        if self.is_op(op) {
            Ok(self.bump())
        } else {
            Err(self.unexpected(&format!("\"{op}\"")))
        }
    }

    fn binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Op("+") => BinOp::Add,
            Tok::Op("-") => BinOp::Sub,
            Tok::Op("*") => BinOp::Mul,
            Tok::Op("/") => BinOp::Div,
            Tok::Op("%") => BinOp::Mod,
            Tok::Op("^") => BinOp::Pow,
            Tok::Op("==") => BinOp::Eql,
            Tok::Op("!=") => BinOp::Neq,
            Tok::Op(">") => BinOp::Gtr,
            Tok::Op("<") => BinOp::Lss,
            Tok::Op(">=") => BinOp::Gte,
            Tok::Op("<=") => BinOp::Lte,
            Tok::Op("</") => BinOp::TrimUpper,
            Tok::Op(">/") => BinOp::TrimLower,
            Tok::Ident(w) => match w.to_ascii_lowercase().as_str() {
                "and" => BinOp::And,
                "or" => BinOp::Or,
                "unless" => BinOp::Unless,
                "atan2" => BinOp::Atan2,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn too_deep(&self, offset: usize) -> ParseError {
        self.err(
            offset,
            format!("query is too deeply nested (more than {MAX_NESTING} levels)"),
        )
    }

    /// Accepts a tree height, or refuses it at `offset` when it exceeds [`MAX_NESTING`].
    fn bounded_height(&self, height: usize, offset: usize) -> Result<usize, ParseError> {
        if height > MAX_NESTING {
            Err(self.too_deep(offset))
        } else {
            Ok(height)
        }
    }

    /// Enters one level of recursive parsing, refusing to go deeper than [`MAX_NESTING`] so
    /// that hostile input cannot overflow the stack. Callers leave with `self.nesting -= 1`.
    fn enter(&mut self) -> Result<(), ParseError> {
        if self.nesting >= MAX_NESTING {
            return Err(self.too_deep(self.start_offset()));
        }
        self.nesting += 1;
        Ok(())
    }

    /// Where the current token starts.
    fn start_offset(&self) -> usize {
        self.toks.get(self.i).map_or(self.input.len(), |t| t.start)
    }

    /// An expression whose operators bind at least as tightly as `min_prec`, with the height of
    /// its syntax tree.
    ///
    /// This and the functions it recurses through (`operator_chain`, `unary`, `signed`,
    /// `primary`, `parenthesised`, `call`, `aggregation`) keep their own stack frames small
    /// and leave the bulky work to helpers that return before recursing, because the frames
    /// of one nesting level, times [`MAX_NESTING`], must fit a thread's stack.
    fn expr(&mut self, min_prec: u8) -> Result<(Expr, usize), ParseError> {
        self.enter()?;
        let out = self.operator_chain(min_prec);
        self.nesting -= 1;
        out
    }

    /// The modifiers after a binary operator: `bool`, `on`/`ignoring`, `group_left`/
    /// `group_right` and `fill*`. Kept out of [`Self::operator_chain`] so that the recursive
    /// path's stack frames stay small.
    #[inline(never)]
    fn operator_modifiers(
        &mut self,
        op: BinOp,
    ) -> Result<(bool, VectorMatching, bool), ParseError> {
        let mut return_bool = false;
        if self.is_ident("bool") {
            self.bump();
            return_bool = true;
        }
        let mut matching = VectorMatching {
            card: if op.is_set() {
                Cardinality::ManyToMany
            } else {
                Cardinality::OneToOne
            },
            on: false,
            labels: vec![],
            include: vec![],
            fill_left: None,
            fill_right: None,
        };
        let mut has_matching = false;
        if self.is_ident("on") || self.is_ident("ignoring") {
            matching.on = self.is_ident("on");
            self.bump();
            matching.labels = self.label_list()?;
            has_matching = true;
            if self.is_ident("group_left") || self.is_ident("group_right") {
                let left = self.is_ident("group_left");
                let t = self.bump();
                if op.is_set() {
                    return Err(self.err(
                        t.start,
                        format!("no grouping allowed for \"{}\" operation", op.as_str()),
                    ));
                }
                matching.card = if left {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                };
                if self.is_op("(") {
                    matching.include = self.label_list()?;
                }
            }
        }
        // `fill(v)`, `fill_left(v)`, `fill_right(v)` modifiers.
        loop {
            let which = match self.peek() {
                Tok::Ident(w) if matches!(self.peek_at(1), Tok::Op("(")) => w.to_ascii_lowercase(),
                _ => break,
            };
            if !matches!(which.as_str(), "fill" | "fill_left" | "fill_right") {
                break;
            }
            self.bump();
            self.expect_op("(")?;
            let neg = if self.is_op("-") {
                self.bump();
                true
            } else {
                if self.is_op("+") {
                    self.bump();
                }
                false
            };
            let Tok::Number(v) = self.peek().clone() else {
                return Err(self.unexpected("number"));
            };
            self.bump();
            self.expect_op(")")?;
            let v = if neg { -v } else { v };
            if which != "fill_right" {
                matching.fill_left = Some(v);
            }
            if which != "fill_left" {
                matching.fill_right = Some(v);
            }
            has_matching = true;
        }
        Ok((return_bool, matching, has_matching))
    }

    fn operator_chain(&mut self, min_prec: u8) -> Result<(Expr, usize), ParseError> {
        let (mut lhs, mut height) = self.unary()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_tok = self.bump();
            let (return_bool, matching, has_matching) = self.operator_modifiers(op)?;
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let (rhs, rhs_height) = self.expr(next_min)?;
            // Folding into `lhs` deepens the tree without any recursion in the parser.
            height = self.bounded_height(height.max(rhs_height) + 1, op_tok.start)?;
            let pos = PosRange {
                start: lhs.pos().start,
                end: rhs.pos().end,
            };
            lhs = self.check_binary(
                op,
                lhs,
                rhs,
                return_bool,
                matching,
                has_matching,
                op_tok.start,
                pos,
            )?;
        }
        Ok((lhs, height))
    }

    #[allow(clippy::too_many_arguments)]
    fn check_binary(
        &self,
        op: BinOp,
        lhs: Expr,
        rhs: Expr,
        return_bool: bool,
        mut matching: VectorMatching,
        has_matching: bool,
        op_at: usize,
        pos: PosRange,
    ) -> Result<Expr, ParseError> {
        let lt = lhs.value_type();
        let rt = rhs.value_type();
        let ok = |t: ValueType| t == ValueType::Scalar || t == ValueType::Vector;
        if !ok(lt) || !ok(rt) {
            return Err(self.err(
                pos.start,
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        if return_bool && !op.is_comparison() {
            return Err(self.err(
                op_at,
                "bool modifier can only be used on comparison operators",
            ));
        }
        if op.is_comparison() && !return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar
        {
            return Err(self.err(op_at, "comparisons between scalars must use BOOL modifier"));
        }
        let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
        if has_matching && !both_vectors {
            return Err(self.err(
                pos.start,
                "vector matching only allowed between instant vectors",
            ));
        }
        if op.is_set() && !both_vectors {
            return Err(self.err(
                pos.start,
                format!(
                    "set operator \"{}\" not allowed in binary scalar expression",
                    op.as_str()
                ),
            ));
        }
        if both_vectors
            && matches!(
                matching.card,
                Cardinality::ManyToOne | Cardinality::OneToMany
            )
            && matching.on
        {
            for l in &matching.include {
                if matching.labels.contains(l) {
                    return Err(self.err(
                        op_at,
                        format!("label \"{l}\" must not occur in ON and GROUP clause at once"),
                    ));
                }
            }
        }
        let matching = if both_vectors {
            if op.is_set() {
                matching.card = Cardinality::ManyToMany;
            }
            Some(matching)
        } else {
            None
        };
        Ok(Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            return_bool,
            matching,
            pos,
        })
    }

    fn unary(&mut self) -> Result<(Expr, usize), ParseError> {
        if self.is_op("-") || self.is_op("+") {
            return self.signed();
        }
        let (prim, height) = self.primary()?;
        self.postfix(prim, height)
    }

    /// `-expr` or `+expr`.
    fn signed(&mut self) -> Result<(Expr, usize), ParseError> {
        let sign = self.bump();
        // Unary operators bind tighter than everything except `^`.
        let (e, height) = self.expr(BinOp::Pow.precedence())?;
        self.apply_sign(sign, e, height)
    }

    /// Type-checks a signed operand and folds the sign into it (numbers absorb it, `+` vanishes).
    #[inline(never)]
    fn apply_sign(&self, sign: Token, e: Expr, height: usize) -> Result<(Expr, usize), ParseError> {
        let neg = matches!(sign.tok, Tok::Op("-"));
        let pos = PosRange {
            start: sign.start,
            end: e.pos().end,
        };
        let ty = e.value_type();
        if ty != ValueType::Scalar && ty != ValueType::Vector {
            return Err(self.err(
                sign.start,
                format!("unary expression only allowed on expressions of type scalar or instant vector, got {:?}", type_name(ty)),
            ));
        }
        if !neg {
            return Ok(match e {
                Expr::Number(v, _) => (Expr::Number(v, pos), height),
                e => (e, height),
            });
        }
        Ok(match e {
            Expr::Number(v, _) => (Expr::Number(-v, pos), height),
            e => (
                Expr::Neg(Box::new(e), pos),
                self.bounded_height(height + 1, sign.start)?,
            ),
        })
    }

    /// A duration inside `[...]`: a literal or a duration expression (`5m+30s`, `step()*2`).
    fn duration_value(&mut self, what: &str) -> Result<i64, ParseError> {
        let t = self.tok();
        let secs = self.dur_expr(0, what)?;
        to_ms(secs).ok_or_else(|| self.err(t.start, format!("invalid duration: {secs}")))
    }

    /// A duration after `offset`: one (optionally signed) term, so `x offset 5m + y` still adds.
    fn offset_value(&mut self) -> Result<i64, ParseError> {
        let t = self.tok();
        let neg = if self.is_op("-") {
            self.bump();
            true
        } else {
            if self.is_op("+") {
                self.bump();
            }
            false
        };
        let secs = self.dur_primary("duration")?;
        let secs = if neg { -secs } else { secs };
        to_ms(secs).ok_or_else(|| self.err(t.start, format!("invalid duration: {secs}")))
    }

    fn dur_expr(&mut self, min_prec: u8, what: &str) -> Result<f64, ParseError> {
        self.enter()?;
        let out = self.dur_operator_chain(min_prec, what);
        self.nesting -= 1;
        out
    }

    fn dur_operator_chain(&mut self, min_prec: u8, what: &str) -> Result<f64, ParseError> {
        let mut lhs = if self.is_op("-") {
            self.bump();
            -self.dur_expr(6, what)?
        } else if self.is_op("+") {
            self.bump();
            self.dur_expr(6, what)?
        } else {
            self.dur_primary(what)?
        };
        loop {
            let (op, prec) = match self.peek() {
                Tok::Op("+") => ('+', 4),
                Tok::Op("-") => ('-', 4),
                Tok::Op("*") => ('*', 5),
                Tok::Op("/") => ('/', 5),
                Tok::Op("%") => ('%', 5),
                Tok::Op("^") => ('^', 6),
                _ => return Ok(lhs),
            };
            if prec < min_prec {
                return Ok(lhs);
            }
            let op_tok = self.bump();
            let rhs = self.dur_expr(if op == '^' { prec } else { prec + 1 }, what)?;
            lhs = match op {
                '+' => lhs + rhs,
                '-' => lhs - rhs,
                '*' => lhs * rhs,
                '/' => {
                    if rhs == 0.0 {
                        return Err(self.err(op_tok.start, "division by zero"));
                    }
                    lhs / rhs
                }
                '%' => {
                    if rhs == 0.0 {
                        return Err(self.err(op_tok.start, "modulo by zero"));
                    }
                    lhs % rhs
                }
                _ => lhs.powf(rhs),
            };
        }
    }

    fn dur_primary(&mut self, what: &str) -> Result<f64, ParseError> {
        let t = self.tok();
        match &t.tok {
            Tok::Duration(ms) => {
                self.bump();
                Ok(*ms as f64 / 1000.0)
            }
            Tok::Number(v) if v.is_finite() => {
                self.bump();
                Ok(*v)
            }
            Tok::Op("(") => {
                self.bump();
                let v = self.dur_expr(0, what)?;
                self.expect_op(")")?;
                Ok(v)
            }
            Tok::Ident(w) => {
                let w = w.to_ascii_lowercase();
                match w.as_str() {
                    "step" | "range" => {
                        self.bump();
                        self.expect_op("(")?;
                        self.expect_op(")")?;
                        Ok(if w == "step" {
                            self.opts.step
                        } else {
                            self.opts.range
                        } as f64
                            / 1000.0)
                    }
                    "min_of" | "max_of" => {
                        self.bump();
                        self.expect_op("(")?;
                        let a = self.dur_expr(0, what)?;
                        self.expect_op(",")?;
                        let b = self.dur_expr(0, what)?;
                        self.expect_op(")")?;
                        Ok(if w == "min_of" { a.min(b) } else { a.max(b) })
                    }
                    _ => Err(self.unexpected(what)),
                }
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// Applies ranges, subqueries and modifiers after a primary expression of tree height
    /// `height`.
    fn postfix(&mut self, mut e: Expr, mut height: usize) -> Result<(Expr, usize), ParseError> {
        loop {
            if self.is_op("[") {
                let open = self.bump();
                let range = self.duration_value("duration")?;
                if self.is_op(":") {
                    self.bump();
                    let step = if self.is_op("]") {
                        None
                    } else {
                        Some(self.duration_value("duration")?)
                    };
                    let close = self.expect_op("]")?;
                    let ty = e.value_type();
                    if ty != ValueType::Vector {
                        return Err(self.err(
                            e.pos().start,
                            format!(
                                "subquery is only allowed on instant vector, got {} instead",
                                type_name(ty)
                            ),
                        ));
                    }
                    if step == Some(0) {
                        return Err(self.err(open.start, "zero step in subquery"));
                    }
                    let pos = PosRange {
                        start: e.pos().start,
                        end: close.end,
                    };
                    height = self.bounded_height(height + 1, open.start)?;
                    e = Expr::Subquery(Subquery {
                        expr: Box::new(e),
                        range,
                        step,
                        offset: 0,
                        at: None,
                        pos,
                    });
                } else {
                    let close = self.expect_op("]")?;
                    let Expr::Vector(vs) = e else {
                        return Err(
                            self.err(open.start, "ranges only allowed for vector selectors")
                        );
                    };
                    if vs.offset != 0 || vs.at.is_some() {
                        return Err(
                            self.err(open.start, "no offset or @ modifiers allowed before range")
                        );
                    }
                    if range <= 0 {
                        return Err(self.err(open.start, "range must be greater than 0"));
                    }
                    let pos = PosRange {
                        start: vs.pos.start,
                        end: close.end,
                    };
                    e = Expr::Matrix(MatrixSelector {
                        vs,
                        range,
                        anchored: false,
                        smoothed: false,
                        pos,
                    });
                }
                continue;
            }
            if self.is_ident("offset") {
                let t = self.bump();
                let d = self.offset_value()?;
                let end = self.prev_end();
                match &mut e {
                    Expr::Vector(vs) if vs.offset == 0 => {
                        vs.offset = d;
                        vs.pos.end = end;
                    }
                    Expr::Matrix(m) if m.vs.offset == 0 => {
                        m.vs.offset = d;
                        m.pos.end = end;
                    }
                    Expr::Subquery(s) if s.offset == 0 => {
                        s.offset = d;
                        s.pos.end = end;
                    }
                    Expr::Vector(_) | Expr::Matrix(_) | Expr::Subquery(_) => {
                        return Err(self.err(t.start, "offset may not be set multiple times"));
                    }
                    _ => {
                        return Err(self.err(
                            t.start,
                            "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                        ))
                    }
                }
                continue;
            }
            if self.is_op("@") {
                let t = self.bump();
                let at = if self.is_ident("start") || self.is_ident("end") {
                    let start = self.is_ident("start");
                    self.bump();
                    self.expect_op("(")?;
                    self.expect_op(")")?;
                    if start {
                        AtModifier::Start
                    } else {
                        AtModifier::End
                    }
                } else {
                    let neg = if self.is_op("-") {
                        self.bump();
                        true
                    } else {
                        if self.is_op("+") {
                            self.bump();
                        }
                        false
                    };
                    let nt = self.tok();
                    let v = match nt.tok {
                        Tok::Number(v) => v,
                        Tok::Duration(ms) => ms as f64 / 1000.0,
                        _ => return Err(self.unexpected("number or start() or end()")),
                    };
                    self.bump();
                    let v = if neg { -v } else { v };
                    if !v.is_finite() || v.abs() * 1000.0 > i64::MAX as f64 {
                        return Err(self.err(
                            nt.start,
                            format!("timestamp out of bounds for @ modifier: {v}"),
                        ));
                    }
                    AtModifier::At((v * 1000.0).round() as i64)
                };
                let end = self.prev_end();
                match &mut e {
                    Expr::Vector(vs) if vs.at.is_none() => {
                        vs.at = Some(at);
                        vs.pos.end = end;
                    }
                    Expr::Matrix(m) if m.vs.at.is_none() => {
                        m.vs.at = Some(at);
                        m.pos.end = end;
                    }
                    Expr::Subquery(s) if s.at.is_none() => {
                        s.at = Some(at);
                        s.pos.end = end;
                    }
                    Expr::Vector(_) | Expr::Matrix(_) | Expr::Subquery(_) => {
                        return Err(self.err(t.start, "@ <timestamp> may not be set multiple times"));
                    }
                    _ => {
                        return Err(self.err(
                            t.start,
                            "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                        ))
                    }
                }
                continue;
            }
            if let Expr::Vector(vs) = &mut e {
                if self.is_ident("smoothed") {
                    self.bump();
                    vs.smoothed = true;
                    vs.pos.end = self.prev_end();
                    continue;
                }
            }
            if let Expr::Matrix(m) = &mut e {
                if self.is_ident("anchored") {
                    self.bump();
                    m.anchored = true;
                    m.pos.end = self.prev_end();
                    continue;
                }
                if self.is_ident("smoothed") {
                    self.bump();
                    m.smoothed = true;
                    m.pos.end = self.prev_end();
                    continue;
                }
            }
            return Ok((e, height));
        }
    }

    /// A primary expression with the height of its syntax tree.
    fn primary(&mut self) -> Result<(Expr, usize), ParseError> {
        if self.is_op("(") {
            return self.parenthesised();
        }
        let start = self.start_offset();
        match self.callee()? {
            Some(Callee::Aggregation(op)) => self.aggregation(op, start),
            Some(Callee::Function(func)) => self.call(func, start),
            None => self.leaf(),
        }
    }

    fn parenthesised(&mut self) -> Result<(Expr, usize), ParseError> {
        let start = self.bump().start;
        let (e, height) = self.expr(0)?;
        let end = self.expect_op(")")?.end;
        let height = self.bounded_height(height + 1, start)?;
        Ok((Expr::Paren(Box::new(e), PosRange { start, end }), height))
    }

    /// Whether the current token starts an aggregation or a function call, and which.
    #[inline(never)]
    fn callee(&self) -> Result<Option<Callee>, ParseError> {
        let Tok::Ident(word) = self.peek() else {
            return Ok(None);
        };
        let next = self.peek_at(1);
        let start = self.start_offset();
        if let Some(op) = AggOp::from_name(&word.to_ascii_lowercase()) {
            if matches!(next, Tok::Op("("))
                || matches!(next, Tok::Ident(w) if w.eq_ignore_ascii_case("by") || w.eq_ignore_ascii_case("without"))
            {
                return Ok(Some(Callee::Aggregation(op)));
            }
        }
        if !matches!(next, Tok::Op("(")) {
            return Ok(None);
        }
        let Some(func) = functions::lookup(word) else {
            return Err(self.err(start, format!("unknown function with name {word:?}")));
        };
        if func.experimental && !self.opts.experimental_functions {
            return Err(self.err(start, format!("function {word:?} is not enabled")));
        }
        Ok(Some(Callee::Function(func)))
    }

    /// A number, string or selector: an expression without subexpressions.
    #[inline(never)]
    fn leaf(&mut self) -> Result<(Expr, usize), ParseError> {
        let t = self.tok();
        let at = PosRange {
            start: t.start,
            end: t.end,
        };
        match &t.tok {
            Tok::Number(v) => {
                self.bump();
                Ok((Expr::Number(*v, at), 1))
            }
            Tok::Duration(ms) => {
                self.bump();
                Ok((Expr::Number(*ms as f64 / 1000.0, at), 1))
            }
            Tok::Str(s) => {
                self.bump();
                Ok((Expr::Str(s.clone(), at), 1))
            }
            Tok::Op("{") => Ok((self.selector(None, t.start)?, 1)),
            Tok::Ident(word) => {
                if matches!(
                    word.to_ascii_lowercase().as_str(),
                    "by" | "without"
                        | "on"
                        | "ignoring"
                        | "group_left"
                        | "group_right"
                        | "bool"
                        | "offset"
                ) {
                    return Err(self.unexpected("expression"));
                }
                let word = word.clone();
                self.bump();
                Ok((self.selector(Some(word), t.start)?, 1))
            }
            _ => Err(self.unexpected("expression")),
        }
    }

    fn label_name(&mut self) -> Result<String, ParseError> {
        let t = self.tok();
        match t.tok {
            Tok::Ident(w) => {
                self.bump();
                Ok(w)
            }
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            // Keywords such as `inf`/`nan` lex as numbers but are valid label names.
            Tok::Number(_)
                if self.input[t.start..t.end]
                    .chars()
                    .all(|c| c.is_ascii_alphabetic()) =>
            {
                self.bump();
                Ok(self.input[t.start..t.end].to_string())
            }
            _ => Err(self.unexpected("label name")),
        }
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_op("(")?;
        let mut out = Vec::new();
        while !self.is_op(")") {
            out.push(self.label_name()?);
            if self.is_op(",") {
                self.bump();
            } else if !self.is_op(")") {
                return Err(self.unexpected("\",\" or \")\""));
            }
        }
        self.bump();
        Ok(out)
    }

    fn selector(&mut self, name: Option<String>, start: usize) -> Result<Expr, ParseError> {
        let mut matchers = Vec::new();
        let mut name = name;
        if let Some(n) = &name {
            matchers.push(Matcher::equal("__name__", n.clone()));
        }
        let mut end = self.prev_end();
        if self.is_op("{") {
            self.bump();
            while !self.is_op("}") {
                let lt = self.tok();
                let lname = self.label_name()?;
                let op = match self.peek() {
                    Tok::Op("=") => Some(MatchOp::Equal),
                    Tok::Op("!=") => Some(MatchOp::NotEqual),
                    Tok::Op("=~") => Some(MatchOp::Regex),
                    Tok::Op("!~") => Some(MatchOp::NotRegex),
                    _ => None,
                };
                match op {
                    None if matches!(lt.tok, Tok::Str(_)) => {
                        if name.is_some() {
                            return Err(self.err(
                                lt.start,
                                format!(
                                    "metric name must not be set twice: {:?} or {lname:?}",
                                    name.unwrap_or_default()
                                ),
                            ));
                        }
                        name = Some(lname.clone());
                        matchers.push(Matcher::equal("__name__", lname));
                    }
                    None => return Err(self.unexpected("label matching operator")),
                    Some(op) => {
                        self.bump();
                        let vt = self.tok();
                        let Tok::Str(v) = vt.tok else {
                            return Err(self.unexpected("string"));
                        };
                        self.bump();
                        let m = Matcher::new(op, lname.clone(), v).map_err(|e| {
                            self.err(
                                vt.start,
                                format!(
                                    "invalid regular expression in label matcher: {}",
                                    e.source
                                ),
                            )
                        })?;
                        if lname == "__name__" && op == MatchOp::Equal && name.is_some() {
                            return Err(self.err(
                                lt.start,
                                format!(
                                    "metric name must not be set twice: {:?} or {:?}",
                                    name.clone().unwrap_or_default(),
                                    m.value
                                ),
                            ));
                        }
                        matchers.push(m);
                    }
                }
                if self.is_op(",") {
                    self.bump();
                } else if !self.is_op("}") {
                    return Err(self.unexpected("\",\" or \"}\""));
                }
            }
            end = self.bump().end;
        }
        if !self.allow_empty_selector
            && (matchers.is_empty() || matchers.iter().all(|m| m.matches("")))
        {
            return Err(self.err(
                start,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(Expr::Vector(VectorSelector {
            name,
            matchers,
            offset: 0,
            at: None,
            pos: PosRange { start, end },
            smoothed: false,
        }))
    }

    fn aggregation(&mut self, op: AggOp, start: usize) -> Result<(Expr, usize), ParseError> {
        self.bump();
        let mut grouping = Vec::new();
        let mut without = false;
        let mut have_grouping = false;
        if self.is_ident("by") || self.is_ident("without") {
            without = self.is_ident("without");
            self.bump();
            grouping = self.label_list()?;
            have_grouping = true;
        }
        let open = self.expect_op("(")?;
        let mut args = Vec::new();
        let mut height = 0;
        while !self.is_op(")") {
            let (arg, arg_height) = self.expr(0)?;
            height = height.max(arg_height);
            args.push(arg);
            if self.is_op(",") {
                self.bump();
            } else if !self.is_op(")") {
                return Err(self.unexpected("\",\" or \")\""));
            }
        }
        let mut end = self.bump().end;
        if !have_grouping && (self.is_ident("by") || self.is_ident("without")) {
            without = self.is_ident("without");
            self.bump();
            grouping = self.label_list()?;
            end = self.prev_end();
        }
        let height = self.bounded_height(height + 1, start)?;
        let agg = self.check_aggregation(
            op,
            args,
            grouping,
            without,
            open.start,
            PosRange { start, end },
        )?;
        Ok((agg, height))
    }

    /// Type-checks a parsed aggregation; `open` is where its argument list starts.
    #[inline(never)]
    fn check_aggregation(
        &self,
        op: AggOp,
        mut args: Vec<Expr>,
        grouping: Vec<String>,
        without: bool,
        open: usize,
        pos: PosRange,
    ) -> Result<Expr, ParseError> {
        let want = if op.param_type().is_some() { 2 } else { 1 };
        if args.len() != want {
            return Err(self.err(
                open,
                format!("wrong number of arguments for aggregate expression provided, expected {want}, got {}", args.len()),
            ));
        }
        let expr = args
            .pop()
            .ok_or_else(|| self.err(open, "missing aggregation argument"))?;
        let param = args.pop();
        let et = expr.value_type();
        if et != ValueType::Vector {
            return Err(self.err(
                expr.pos().start,
                format!(
                    "expected type instant vector in aggregation expression, got {}",
                    type_name(et)
                ),
            ));
        }
        if let (Some(p), Some(pt)) = (&param, op.param_type()) {
            if p.value_type() != pt {
                return Err(self.err(
                    p.pos().start,
                    format!(
                        "expected type {} in aggregation parameter, got {}",
                        type_name(pt),
                        type_name(p.value_type())
                    ),
                ));
            }
        }
        Ok(Expr::Aggregate {
            op,
            expr: Box::new(expr),
            param: param.map(Box::new),
            grouping,
            without,
            pos,
        })
    }

    fn call(
        &mut self,
        func: &'static functions::FunctionDef,
        start: usize,
    ) -> Result<(Expr, usize), ParseError> {
        self.bump();
        self.expect_op("(")?;
        let mut args = Vec::new();
        let mut height = 0;
        while !self.is_op(")") {
            self.allow_empty_selector = func.name == "info" && args.len() == 1;
            let arg = self.expr(0);
            self.allow_empty_selector = false;
            let (arg, arg_height) = arg?;
            height = height.max(arg_height);
            args.push(arg);
            if self.is_op(",") {
                self.bump();
            } else if !self.is_op(")") {
                return Err(self.unexpected("\",\" or \")\""));
            }
        }
        let end = self.bump().end;
        let pos = PosRange { start, end };
        let height = self.bounded_height(height + 1, start)?;
        Ok((self.check_call(func, args, pos)?, height))
    }

    /// Completes and type-checks a parsed function call.
    #[inline(never)]
    fn check_call(
        &self,
        func: &'static functions::FunctionDef,
        mut args: Vec<Expr>,
        pos: PosRange,
    ) -> Result<Expr, ParseError> {
        let start = pos.start;
        if func.name == "info" {
            // The info selector defaults to `target_info` when it names no metric.
            let default = || Matcher::equal("__name__", "target_info");
            if args.len() == 1 {
                args.push(Expr::Vector(VectorSelector {
                    name: None,
                    matchers: vec![default()],
                    offset: 0,
                    at: None,
                    pos,
                    smoothed: false,
                }));
            } else if let Some(Expr::Vector(vs)) = args.get_mut(1) {
                if !vs.matchers.iter().any(|m| m.name == "__name__") {
                    vs.matchers.push(default());
                }
            }
        }
        let nargs = func.args.len();
        if func.variadic == 0 {
            if nargs != args.len() {
                return Err(self.err(
                    start,
                    format!(
                        "expected {nargs} argument(s) in call to {:?}, got {}",
                        func.name,
                        args.len()
                    ),
                ));
            }
        } else {
            let min = nargs.saturating_sub(1);
            if min > args.len() {
                return Err(self.err(
                    start,
                    format!(
                        "expected at least {min} argument(s) in call to {:?}, got {}",
                        func.name,
                        args.len()
                    ),
                ));
            }
            let max = min as i64 + i64::from(func.variadic);
            if func.variadic > 0 && (args.len() as i64) > max {
                return Err(self.err(
                    start,
                    format!(
                        "expected at most {max} argument(s) in call to {:?}, got {}",
                        func.name,
                        args.len()
                    ),
                ));
            }
        }
        for (i, a) in args.iter().enumerate() {
            let want = func
                .args
                .get(i)
                .or(func.args.last())
                .copied()
                .unwrap_or(ValueType::Vector);
            let got = a.value_type();
            if got != want {
                return Err(self.err(
                    a.pos().start,
                    format!(
                        "expected type {} in call to function {:?}, got {}",
                        type_name(want),
                        func.name,
                        type_name(got)
                    ),
                ));
            }
            if let Expr::Matrix(m) = a.unparen() {
                if m.anchored
                    && !["resets", "changes", "rate", "increase", "delta"].contains(&func.name)
                {
                    return Err(self.err(a.pos().start, format!(
                        "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with {}", func.name)));
                }
                if m.smoothed && !["rate", "increase", "delta"].contains(&func.name) {
                    return Err(self.err(a.pos().start, format!(
                        "smoothed modifier can only be used with: delta, increase, rate - not with {}", func.name)));
                }
            }
        }
        Ok(Expr::Call { func, args, pos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        match parse(
            s,
            ParseOptions {
                experimental_functions: true,
                ..Default::default()
            },
        ) {
            Ok(e) => e,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(p("1 + 2 * 3").to_string(), "1 + 2 * 3");
        match p("2 ^ 3 ^ 2") {
            Expr::Binary { lhs, .. } => assert!(matches!(*lhs, Expr::Number(..))),
            e => panic!("{e:?}"),
        }
        match p("-2 ^ 2") {
            Expr::Neg(..) => {}
            e => panic!("{e:?}"),
        }
        match p("a - b - c") {
            Expr::Binary { lhs, .. } => assert!(matches!(*lhs, Expr::Binary { .. })),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn selectors_and_modifiers() {
        let e = p(r#"foo{a="b", c=~"d.*",}[5m] offset 1m @ start()"#);
        match e {
            Expr::Matrix(m) => {
                assert_eq!(m.range, 300_000);
                assert_eq!(m.vs.offset, 60_000);
                assert_eq!(m.vs.at, Some(AtModifier::Start));
                assert_eq!(m.vs.matchers.len(), 3);
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(p(r#"{"a.b"}"#), Expr::Vector(v) if v.name.as_deref() == Some("a.b")));
        assert!(matches!(p("rate(foo[5m:30s])"), Expr::Call { .. }));
    }

    #[test]
    fn aggregations() {
        assert!(matches!(
            p("sum by (a) (x)"),
            Expr::Aggregate { without: false, .. }
        ));
        assert!(matches!(
            p("sum(x) without (a)"),
            Expr::Aggregate { without: true, .. }
        ));
        assert!(matches!(
            p("topk(3, x)"),
            Expr::Aggregate { param: Some(_), .. }
        ));
        assert!(matches!(
            p("limitk(3, x)"),
            Expr::Aggregate { param: Some(_), .. }
        ));
    }

    #[test]
    fn type_errors_have_positions() {
        let e = parse("rate(foo)", ParseOptions::default()).unwrap_err();
        assert!(parse("foo[5m+30s] offset (1m*2)", ParseOptions::default()).is_ok());
        assert_eq!(e.to_string(), "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector");
        assert!(parse("1 > 2", ParseOptions::default()).is_err());
        assert!(parse("{a=\"\"}", ParseOptions::default()).is_err());
        assert!(parse("foo offset", ParseOptions::default()).is_err());
        assert!(parse("sum(", ParseOptions::default()).is_err());
    }
}
