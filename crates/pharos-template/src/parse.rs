//! Builds the syntax tree from tokens, with Go's parse-time checks: functions must exist,
//! variables must be declared, `break`/`continue` only inside `range`, `define` only at top level.

use std::collections::{BTreeMap, HashSet};

use crate::lexer::{self, Token, TokenKind};
use crate::value::Value;

/// Nesting limit for control structures and parentheses, so hostile input cannot exhaust the stack.
const MAX_NESTING: usize = 100;

/// A node of a template body.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Literal text.
    Text(String),
    /// `{{pipeline}}`: prints the value unless the pipeline declares variables.
    Action(Pipeline),
    /// `if`, `with` and `range`.
    Branch(Box<Branch>),
    /// `{{template "name" pipeline}}`.
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipeline>,
    },
    /// `{{break}}`.
    Break,
    /// `{{continue}}`.
    Continue,
}

/// Which control structure a [`Branch`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchKind {
    If,
    With,
    Range,
}

/// `if`/`with`/`range` with their bodies.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub kind: BranchKind,
    pub pipe: Pipeline,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline: optional variable declarations, then commands joined by `|`.
#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    pub pos: usize,
    /// `$x = ...` (assignment) rather than `$x := ...` (declaration).
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// One stage of a pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    /// Byte span in the source, for error context.
    pub pos: usize,
    pub end: usize,
    pub args: Vec<Arg>,
    /// Where each argument is, parallel to `args`.
    pub spans: Vec<ArgSpan>,
}

/// Where an operand is in the source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArgSpan {
    /// The position Go reports for the operand's node: for a chain (`.a.b`, `$x.a`, `(p).a`)
    /// that is where the field chain starts after the first element.
    pub node_pos: usize,
    pub start: usize,
    pub end: usize,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.a.b`
    Field(Vec<String>),
    /// `$x.a.b`
    Variable(String, Vec<String>),
    /// `(pipeline).a.b` or `func.a` (the function is called with no arguments).
    Chain(Box<Arg>, Vec<String>),
    /// A function name.
    Identifier(String),
    /// `.`
    Dot,
    /// `nil`
    Nil,
    /// A literal (bool, number, string).
    Literal(Value),
    /// `(pipeline)`
    Pipe(Box<Pipeline>),
}

/// A parse error at a byte offset.
#[derive(Debug, Clone)]
pub(crate) struct ParseError {
    pub pos: usize,
    pub message: String,
}

/// The result of parsing: the main body and every `define`d template.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub main: Vec<Node>,
    pub defines: BTreeMap<String, Vec<Node>>,
}

/// Parses `src`. `is_function` says whether a name is a known function.
pub(crate) fn parse(src: &str, is_function: &dyn Fn(&str) -> bool) -> Result<Parsed, ParseError> {
    let tokens = lexer::lex(src).map_err(|e| ParseError {
        pos: e.pos,
        message: e.message,
    })?;
    let mut p = Parser {
        src,
        tokens,
        idx: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        nesting: 0,
        is_function,
        defines: BTreeMap::new(),
        defined_here: HashSet::new(),
    };
    let main = p.parse_top()?;
    Ok(Parsed {
        main,
        defines: p.defines,
    })
}

/// How a list ended.
enum ListEnd {
    End,
    Else(usize),
    Eof,
}

struct Parser<'f> {
    src: &'f str,
    tokens: Vec<Token>,
    idx: usize,
    vars: Vec<String>,
    range_depth: usize,
    nesting: usize,
    is_function: &'f dyn Fn(&str) -> bool,
    defines: BTreeMap<String, Vec<Node>>,
    defined_here: HashSet<String>,
}

fn err<T>(pos: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        pos,
        message: message.into(),
    })
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "block"
            | "break"
            | "continue"
            | "define"
            | "else"
            | "end"
            | "if"
            | "range"
            | "template"
            | "with"
    )
}

/// Whether a token can start an operand (Go's `operand`/`term`).
fn starts_operand(kind: &TokenKind) -> bool {
    match kind {
        TokenKind::Identifier(w) => !is_keyword(w),
        TokenKind::Bool(_)
        | TokenKind::Char(_)
        | TokenKind::Dot
        | TokenKind::Field(_)
        | TokenKind::Number(_)
        | TokenKind::Nil
        | TokenKind::Str(_)
        | TokenKind::Variable(_)
        | TokenKind::LeftParen => true,
        _ => false,
    }
}

/// Go's `%q` of a token's text, shortened to 10 characters as Go's parser does.
fn go_quote_short(text: &str) -> String {
    if text.chars().count() > 10 {
        let head: String = text.chars().take(10).collect();
        return format!("{}...", crate::gofmt::quote_go(&head));
    }
    crate::gofmt::quote_go(text)
}

impl Parser<'_> {
    /// A token as Go's parser names it in messages: keywords as `<if>`, the rest quoted.
    fn describe(&self, t: &Token) -> String {
        match &t.kind {
            TokenKind::Eof => "EOF".into(),
            TokenKind::LeftDelim => "\"{{\"".into(),
            TokenKind::RightDelim => "\"}}\"".into(),
            TokenKind::Text(text) => go_quote_short(text),
            TokenKind::Identifier(w) if is_keyword(w) => format!("<{w}>"),
            TokenKind::Dot => "<.>".into(),
            TokenKind::Nil => "<nil>".into(),
            _ => go_quote_short(self.src.get(t.pos..t.end).unwrap_or("")),
        }
    }

    fn peek(&self) -> &Token {
        // The lexer always ends with Eof, and `next` never moves past it.
        self.tokens
            .get(self.idx)
            .or_else(|| self.tokens.last())
            .unwrap_or(&EOF_TOKEN)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.idx < self.tokens.len() {
            self.idx += 1;
        }
        t
    }

    fn skip_space(&mut self) {
        while self.peek().kind == TokenKind::Space {
            self.idx += 1;
        }
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    fn parse_top(&mut self) -> Result<Vec<Node>, ParseError> {
        let mut nodes = Vec::new();
        loop {
            let t = self.next();
            let described = self.describe(&t);
            match t.kind {
                TokenKind::Eof => return Ok(nodes),
                TokenKind::Text(s) => nodes.push(Node::Text(s)),
                TokenKind::LeftDelim => {
                    let save = self.idx;
                    let k = self.next_non_space();
                    if k.kind == TokenKind::Identifier("define".into()) {
                        self.parse_define(k.pos)?;
                        continue;
                    }
                    self.idx = save;
                    match self.parse_action(t.pos)? {
                        Action::Node(n) => nodes.push(n),
                        Action::End(pos) => return err(pos, "unexpected {{end}}"),
                        Action::Else(pos) => return err(pos, "unexpected {{else}}"),
                    }
                }
                _ => return err(t.pos, format!("unexpected {described}")),
            }
        }
    }

    /// Parses a list until `{{end}}` or `{{else}}`; the opening delimiter of the terminator has
    /// been consumed along with its keyword.
    fn parse_list(&mut self) -> Result<(Vec<Node>, ListEnd), ParseError> {
        let mut nodes = Vec::new();
        loop {
            let t = self.next();
            let described = self.describe(&t);
            match t.kind {
                TokenKind::Eof => return Ok((nodes, ListEnd::Eof)),
                TokenKind::Text(s) => nodes.push(Node::Text(s)),
                TokenKind::LeftDelim => {
                    let save = self.idx;
                    let k = self.next_non_space();
                    if k.kind == TokenKind::Identifier("define".into()) {
                        return err(k.pos, "unexpected <define> in command");
                    }
                    self.idx = save;
                    match self.parse_action(t.pos)? {
                        Action::Node(n) => nodes.push(n),
                        Action::End(_) => return Ok((nodes, ListEnd::End)),
                        Action::Else(pos) => return Ok((nodes, ListEnd::Else(pos))),
                    }
                }
                _ => return err(t.pos, format!("unexpected {described}")),
            }
        }
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), ParseError> {
        let t = self.next_non_space();
        if t.kind != TokenKind::RightDelim {
            return err(
                t.pos,
                format!("unexpected {} in {context}", self.describe(&t)),
            );
        }
        Ok(())
    }

    fn parse_define(&mut self, pos: usize) -> Result<(), ParseError> {
        let name_tok = self.next_non_space();
        let TokenKind::Str(name) = name_tok.kind.clone() else {
            return err(
                name_tok.pos,
                format!("unexpected {} in define clause", self.describe(&name_tok)),
            );
        };
        self.expect_right_delim("define clause")?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let (body, end) = self.parse_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        match end {
            ListEnd::End => {}
            ListEnd::Else(p) => return err(p, "unexpected {{else}}"),
            ListEnd::Eof => return err(pos, "unexpected EOF"),
        }
        self.add_define(name, body, pos)
    }

    fn add_define(&mut self, name: String, body: Vec<Node>, pos: usize) -> Result<(), ParseError> {
        let empty = body
            .iter()
            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
        if self.defined_here.contains(&name) && !empty {
            if let Some(existing) = self.defines.get(&name) {
                let existing_empty = existing
                    .iter()
                    .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
                if !existing_empty {
                    return err(
                        pos,
                        format!("template: multiple definition of template {name:?}"),
                    );
                }
            }
        }
        // An empty definition never replaces a non-empty one (Go's rule for `block` overrides).
        if empty && self.defines.contains_key(&name) {
            return Ok(());
        }
        self.defined_here.insert(name.clone());
        self.defines.insert(name, body);
        Ok(())
    }

    fn parse_action(&mut self, delim_pos: usize) -> Result<Action, ParseError> {
        let t = self.peek_non_space().clone();
        if let TokenKind::Identifier(word) = &t.kind {
            match word.as_str() {
                "end" => {
                    self.next();
                    self.expect_right_delim("end")?;
                    return Ok(Action::End(t.pos));
                }
                "else" => {
                    self.next();
                    // `else if` / `else with` are handled by the caller, which sees the keyword.
                    return Ok(Action::Else(t.pos));
                }
                "if" => {
                    self.next();
                    return self.parse_branch(BranchKind::If, t.pos).map(Action::Node);
                }
                "with" => {
                    self.next();
                    return self.parse_branch(BranchKind::With, t.pos).map(Action::Node);
                }
                "range" => {
                    self.next();
                    return self
                        .parse_branch(BranchKind::Range, t.pos)
                        .map(Action::Node);
                }
                "template" => {
                    self.next();
                    return self.parse_template(t.pos).map(Action::Node);
                }
                "block" => {
                    self.next();
                    return self.parse_block(t.pos).map(Action::Node);
                }
                "break" | "continue" => {
                    self.next();
                    if self.range_depth == 0 {
                        return err(t.pos, format!("{{{{{word}}}}} outside {{{{range}}}}"));
                    }
                    self.expect_right_delim(word)?;
                    return Ok(Action::Node(if word == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    }));
                }
                _ => {}
            }
        }
        let _ = delim_pos;
        let pipe = self.parse_pipeline("command", false)?;
        Ok(Action::Node(Node::Action(pipe)))
    }

    fn enter(&mut self, pos: usize) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return err(pos, "template nesting too deep");
        }
        Ok(())
    }

    fn parse_branch(&mut self, kind: BranchKind, pos: usize) -> Result<Node, ParseError> {
        self.enter(pos)?;
        let context = match kind {
            BranchKind::If => "if",
            BranchKind::With => "with",
            BranchKind::Range => "range",
        };
        let var_mark = self.vars.len();
        let pipe = self.parse_control_pipeline(kind, context)?;
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let (list, end) = self.parse_list()?;
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let else_list = match end {
            ListEnd::End => None,
            ListEnd::Eof => return err(pos, "unexpected EOF"),
            ListEnd::Else(else_pos) => {
                // `{{else if ...}}` / `{{else with ...}}` chain into a nested branch that shares
                // this branch's {{end}}.
                let next = self.peek_non_space().clone();
                let chained = match &next.kind {
                    TokenKind::Identifier(w) if w == "if" && kind == BranchKind::If => {
                        Some(BranchKind::If)
                    }
                    TokenKind::Identifier(w) if w == "with" && kind == BranchKind::With => {
                        Some(BranchKind::With)
                    }
                    _ => None,
                };
                if let Some(k) = chained {
                    self.next();
                    let nested = self.parse_branch(k, next.pos)?;
                    Some(vec![nested])
                } else {
                    self.expect_right_delim("else")?;
                    let (else_list, end) = self.parse_list()?;
                    match end {
                        ListEnd::End => {}
                        ListEnd::Else(p) => return err(p, "expected end; found {{else}}"),
                        ListEnd::Eof => return err(else_pos, "unexpected EOF"),
                    }
                    Some(else_list)
                }
            }
        };
        self.vars.truncate(var_mark);
        self.nesting -= 1;
        Ok(Node::Branch(Box::new(Branch {
            kind,
            pipe,
            list,
            else_list,
        })))
    }

    fn parse_control_pipeline(
        &mut self,
        kind: BranchKind,
        context: &str,
    ) -> Result<Pipeline, ParseError> {
        let pipe = self.parse_pipeline(context, kind == BranchKind::Range)?;
        if pipe.cmds.is_empty() {
            return err(pipe.pos, format!("missing value for {context}"));
        }
        Ok(pipe)
    }

    fn parse_template(&mut self, pos: usize) -> Result<Node, ParseError> {
        let name_tok = self.next_non_space();
        let TokenKind::Str(name) = name_tok.kind.clone() else {
            return err(
                name_tok.pos,
                format!("unexpected {} in template clause", self.describe(&name_tok)),
            );
        };
        let pipe = if self.peek_non_space().kind == TokenKind::RightDelim {
            self.next();
            None
        } else {
            Some(self.parse_pipeline("template clause", false)?)
        };
        // Go reports template-call errors at the name's position.
        let _ = pos;
        Ok(Node::Template {
            pos: name_tok.pos,
            name,
            pipe,
        })
    }

    fn parse_block(&mut self, pos: usize) -> Result<Node, ParseError> {
        self.enter(pos)?;
        let name_tok = self.next_non_space();
        let TokenKind::Str(name) = name_tok.kind.clone() else {
            return err(
                name_tok.pos,
                format!("unexpected {} in block clause", self.describe(&name_tok)),
            );
        };
        let pipe = if self.peek_non_space().kind == TokenKind::RightDelim {
            self.next();
            None
        } else {
            Some(self.parse_pipeline("block clause", false)?)
        };
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let (body, end) = self.parse_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        match end {
            ListEnd::End => {}
            ListEnd::Else(p) => return err(p, "unexpected {{else}}"),
            ListEnd::Eof => return err(pos, "unexpected EOF"),
        }
        self.add_define(name.clone(), body, pos)?;
        self.nesting -= 1;
        Ok(Node::Template {
            pos: name_tok.pos,
            name,
            pipe,
        })
    }

    /// Parses `[decl :=] cmd | cmd ...` up to and including `}}` (or `)` when `context` is
    /// "parenthesized pipeline"), with Go's checks and messages.
    fn parse_pipeline(
        &mut self,
        context: &str,
        allow_two_vars: bool,
    ) -> Result<Pipeline, ParseError> {
        let start = self.peek_non_space().pos;
        let mut pipe = Pipeline {
            pos: start,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        let in_parens = context == "parenthesized pipeline";
        // Declarations: `$x :=`, `$x =`, and in a range `$i, $e :=`. As in Go, a declared name
        // is in scope from here on; assigning to an unknown one fails when it runs.
        loop {
            let save = self.idx;
            let TokenKind::Variable(v) = self.peek_non_space().kind.clone() else {
                break;
            };
            self.next();
            let after = self.peek_non_space().clone();
            match after.kind {
                TokenKind::Declare | TokenKind::Assign => {
                    self.next();
                    pipe.is_assign = after.kind == TokenKind::Assign;
                    pipe.decl.push(v.clone());
                    self.vars.push(v);
                    break;
                }
                TokenKind::Comma => {
                    self.next();
                    pipe.decl.push(v.clone());
                    self.vars.push(v);
                    if allow_two_vars && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            TokenKind::Variable(_)
                            | TokenKind::RightDelim
                            | TokenKind::RightParen => continue,
                            _ => return err(start, "range can only initialize variables"),
                        }
                    }
                    return err(start, format!("too many declarations in {context}"));
                }
                _ => {
                    self.idx = save;
                    break;
                }
            }
        }
        loop {
            let t = self.peek_non_space().clone();
            match t.kind {
                TokenKind::RightDelim if !in_parens => {
                    self.next();
                    break;
                }
                TokenKind::RightParen if in_parens => {
                    self.next();
                    break;
                }
                ref k if starts_operand(k) => {
                    let cmd = self.parse_command()?;
                    pipe.cmds.push(cmd);
                }
                _ => {
                    return err(
                        t.pos,
                        format!("unexpected {} in {context}", self.describe(&t)),
                    );
                }
            }
        }
        if pipe.cmds.is_empty() {
            return err(start, format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(c.args.first(), Some(Arg::Literal(_) | Arg::Dot | Arg::Nil)) {
                return err(
                    c.pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(pipe)
    }

    /// Parses one command: operands separated by spaces, ending before `}}` or `)`, or at `|`.
    fn parse_command(&mut self) -> Result<Command, ParseError> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            end: pos,
            args: Vec::new(),
            spans: Vec::new(),
        };
        loop {
            self.skip_space();
            if starts_operand(&self.peek().kind) {
                let start = self.peek().pos;
                let (arg, node_pos) = self.parse_operand()?;
                cmd.args.push(arg);
                cmd.end = self.peek().pos;
                cmd.spans.push(ArgSpan {
                    node_pos,
                    start,
                    end: cmd.end,
                });
            }
            let t = self.next();
            match t.kind {
                TokenKind::Space => continue,
                TokenKind::RightDelim | TokenKind::RightParen => {
                    self.idx -= 1;
                }
                TokenKind::Pipe => {}
                _ => {
                    return err(
                        t.pos,
                        format!("unexpected {} in operand", self.describe(&t)),
                    );
                }
            }
            break;
        }
        if cmd.args.is_empty() {
            return err(pos, "empty command");
        }
        Ok(cmd)
    }

    fn parse_fields(&mut self) -> Vec<String> {
        let mut fields = Vec::new();
        while let TokenKind::Field(f) = &self.peek().kind {
            fields.push(f.clone());
            self.next();
        }
        fields
    }

    /// Parses one operand; returns it with the position Go reports for it.
    fn parse_operand(&mut self) -> Result<(Arg, usize), ParseError> {
        let t = self.next();
        let chain_pos = |p: &Self| {
            if matches!(p.peek().kind, TokenKind::Field(_)) {
                p.peek().pos
            } else {
                t.pos
            }
        };
        let term = match t.kind {
            TokenKind::Identifier(name) => {
                if !(self.is_function)(&name) {
                    return err(t.pos, format!("function {name:?} not defined"));
                }
                Arg::Identifier(name)
            }
            TokenKind::Dot => Arg::Dot,
            TokenKind::Nil => Arg::Nil,
            TokenKind::Variable(v) => {
                if !self.vars.contains(&v) {
                    return err(t.pos, format!("undefined variable {v:?}"));
                }
                let node_pos = chain_pos(self);
                let fields = self.parse_fields();
                return Ok((Arg::Variable(v, fields), node_pos));
            }
            TokenKind::Field(f) => {
                let node_pos = chain_pos(self);
                let mut fields = vec![f];
                fields.extend(self.parse_fields());
                return Ok((Arg::Field(fields), node_pos));
            }
            TokenKind::Bool(b) => Arg::Literal(Value::Bool(b)),
            TokenKind::Number(n) => Arg::Literal(parse_number(&n).map_err(|m| ParseError {
                pos: t.pos,
                message: m,
            })?),
            TokenKind::Char(c) => {
                let s = lexer::unquote(&c).map_err(|m| ParseError {
                    pos: t.pos,
                    message: m,
                })?;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(ch), None) => Arg::Literal(Value::Int(i64::from(u32::from(ch)))),
                    _ => return err(t.pos, format!("malformed character constant: {c}")),
                }
            }
            TokenKind::Str(s) => Arg::Literal(Value::String(s)),
            TokenKind::LeftParen => {
                self.enter(t.pos)?;
                let pipe = self.parse_pipeline("parenthesized pipeline", false)?;
                self.nesting -= 1;
                Arg::Pipe(Box::new(pipe))
            }
            _ => {
                return err(
                    t.pos,
                    format!("unexpected {} in operand", self.describe(&t)),
                )
            }
        };
        if matches!(self.peek().kind, TokenKind::Field(_)) {
            let node_pos = chain_pos(self);
            let fields = self.parse_fields();
            match term {
                Arg::Literal(_) | Arg::Nil => {
                    return err(t.pos, "unexpected . after term");
                }
                Arg::Dot => return err(t.pos, "unexpected . after term \".\""),
                other => return Ok((Arg::Chain(Box::new(other), fields), node_pos)),
            }
        }
        Ok((term, t.pos))
    }
}

static EOF_TOKEN: Token = Token {
    kind: TokenKind::Eof,
    pos: 0,
    end: 0,
};

enum Action {
    Node(Node),
    End(usize),
    Else(usize),
}

/// Interprets a number literal as Go's template parser does: integers (decimal, hex, octal,
/// binary, with `_`) become `Int`, anything with a fraction or exponent becomes `Float`.
pub(crate) fn parse_number(text: &str) -> Result<Value, String> {
    let bad = || format!("bad number syntax: {text:?}");
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let clean = body.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let int_parsed = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('.') || h.contains('p') {
            None
        } else {
            Some(i128::from_str_radix(h, 16))
        }
    } else if let Some(o) = lower.strip_prefix("0o") {
        Some(i128::from_str_radix(o, 8))
    } else if let Some(b) = lower.strip_prefix("0b") {
        Some(i128::from_str_radix(b, 2))
    } else if lower.contains(['.', 'e']) {
        None
    } else if lower.len() > 1 && lower.starts_with('0') {
        // Go reads a leading 0 as octal.
        Some(i128::from_str_radix(&lower[1..], 8))
    } else {
        Some(lower.parse::<i128>())
    };
    match int_parsed {
        Some(Ok(v)) => {
            let v = if neg { -v } else { v };
            i64::try_from(v)
                .map(Value::Int)
                .or(Ok(Value::Float(v as f64)))
        }
        Some(Err(_)) => Err(bad()),
        None => {
            if lower.starts_with("0x") {
                return parse_hex_float(&lower)
                    .map(|f| Value::Float(if neg { -f } else { f }))
                    .ok_or_else(bad);
            }
            let f: f64 = clean.parse().map_err(|_| bad())?;
            Ok(Value::Float(if neg { -f } else { f }))
        }
    }
}

/// `0x1.8p3` style hexadecimal floats.
fn parse_hex_float(lower: &str) -> Option<f64> {
    let body = lower.strip_prefix("0x")?;
    let (mant, exp) = match body.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}
