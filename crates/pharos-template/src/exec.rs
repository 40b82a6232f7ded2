//! Runs a parsed template against data, with Go's semantics for dot, variables, pipelines and
//! control structures, and limits that stop runaway templates (recursion, steps, output size).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::env::Env;
use crate::escape;
use crate::extension::{CustomFunction, MethodResolver};
use crate::functions::{self, CallContext, FnError, Param};
use crate::gofmt;
use crate::gotime;
use crate::parse::{Arg, ArgSpan, Branch, BranchKind, Command, Node, Pipeline};
use crate::value::Value;

/// Deepest chain of `{{template}}` calls (Go allows far more, but each level costs stack here).
pub(crate) const MAX_TEMPLATE_DEPTH: usize = 100;
/// Deepest combined nesting of template calls, control structures and parenthesised pipelines
/// during execution, which bounds the executor's stack use: a parenthesised level costs about
/// 7 KiB of stack in debug builds (far less optimised), so 100 levels stay well inside the
/// 2 MiB stacks of test and runtime worker threads.
pub(crate) const MAX_EXEC_NESTING: usize = 100;
/// Most commands and loop iterations one execution may run.
pub(crate) const MAX_STEPS: u64 = 2_000_000;
/// Largest output (and largest intermediate string) one execution may produce.
pub(crate) const MAX_OUTPUT: usize = crate::value::MAX_STRING;

/// One named template body and the source text it was parsed from.
#[derive(Debug)]
pub(crate) struct Body {
    /// Index of the source in [`Program::sources`].
    pub source: usize,
    pub nodes: Vec<Node>,
}

/// A parsed template set as the executor needs it.
pub(crate) struct Program<'a> {
    /// `(name, text)` of every parsed source; positions in nodes refer to these texts.
    pub sources: &'a [(String, String)],
    /// Every template by name: each source's main body and every `define`.
    pub templates: &'a BTreeMap<String, Body>,
    pub html_escape: bool,
    /// Caller-supplied functions, looked up before the builtins.
    pub custom: &'a BTreeMap<String, CustomFunction>,
    /// Caller-supplied methods, looked up before fields and map keys.
    pub methods: Option<&'a dyn MethodResolver>,
}

/// Why execution stopped.
pub(crate) enum Failure {
    /// A template error at a position in a source.
    At {
        source: usize,
        pos: usize,
        context: String,
        executing: String,
        message: String,
    },
    /// A safety limit was hit.
    Limit(String),
    /// The requested template does not exist.
    NoTemplate(String),
}

enum Flow {
    Normal,
    Break,
    Continue,
}

type Result<T> = std::result::Result<T, Failure>;

/// Executes the template `entry` of `program` with `data` as dot.
pub(crate) fn execute<'a>(
    program: &'a Program<'a>,
    entry: &str,
    data: &'a Value,
    env: &'a Env,
) -> Result<String> {
    let Some(body) = program.templates.get(entry) else {
        return Err(Failure::NoTemplate(entry.to_string()));
    };
    let mut state = State {
        program,
        env,
        vars: vec![("$".to_string(), Cow::Borrowed(data))],
        out: String::new(),
        depth: 0,
        nesting: 0,
        steps: 0,
        executing: entry.to_string(),
        source: body.source,
    };
    state.walk_list(&body.nodes, &Cow::Borrowed(data))?;
    Ok(state.out)
}

/// A value during execution: borrowed from the data or the template while possible, so that
/// reaching into large data (`range $.Alerts`) does not copy it.
type Val<'a> = Cow<'a, Value>;

struct State<'a> {
    program: &'a Program<'a>,
    env: &'a Env,
    vars: Vec<(String, Val<'a>)>,
    out: String,
    depth: usize,
    nesting: usize,
    steps: u64,
    executing: String,
    /// Source of the template running now, for error positions and context.
    source: usize,
}

impl<'a> State<'a> {
    fn src(&self) -> &'a str {
        self.program
            .sources
            .get(self.source)
            .map_or("", |(_, text)| text.as_str())
    }

    fn fail_at(&self, cmd: &Command, message: impl Into<String>) -> Failure {
        let context = self
            .src()
            .get(cmd.pos..cmd.end)
            .unwrap_or("")
            .trim()
            .to_string();
        Failure::At {
            source: self.source,
            pos: cmd.pos,
            context,
            executing: self.executing.clone(),
            message: message.into(),
        }
    }

    /// An error located at one operand, as Go reports errors about a node.
    fn fail_span(&self, span: ArgSpan, message: impl Into<String>) -> Failure {
        let context = self
            .src()
            .get(span.start..span.end)
            .unwrap_or("")
            .trim()
            .to_string();
        Failure::At {
            source: self.source,
            pos: span.node_pos,
            context,
            executing: self.executing.clone(),
            message: message.into(),
        }
    }

    fn first_span(cmd: &Command) -> ArgSpan {
        cmd.spans.first().copied().unwrap_or(ArgSpan {
            node_pos: cmd.pos,
            start: cmd.pos,
            end: cmd.end,
        })
    }

    fn fail_pos(&self, pos: usize, context: &str, message: impl Into<String>) -> Failure {
        Failure::At {
            source: self.source,
            pos,
            context: context.to_string(),
            executing: self.executing.clone(),
            message: message.into(),
        }
    }

    fn step(&mut self) -> Result<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(Failure::Limit(format!(
                "execution exceeded {MAX_STEPS} steps"
            )));
        }
        Ok(())
    }

    fn write(&mut self, s: &str) -> Result<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(Failure::Limit(format!(
                "output exceeded {MAX_OUTPUT} bytes"
            )));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, list: &'a [Node], dot: &Val<'a>) -> Result<Flow> {
        for node in list {
            match self.walk(node, dot)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, node: &'a Node, dot: &Val<'a>) -> Result<Flow> {
        match node {
            Node::Text(t) => self.write(t)?,
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe, true)?;
                if pipe.decl.is_empty() {
                    self.print_value(&v)?;
                }
            }
            Node::Branch(b) => return self.walk_branch(b, dot),
            Node::Template { pos, name, pipe } => self.walk_template(*pos, name, pipe, dot)?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn print_value(&mut self, v: &Value) -> Result<()> {
        let text = match v {
            Value::Nil => "<no value>".to_string(),
            Value::SafeHtml(s) => s.clone(),
            other => gofmt::sprint_value(other),
        };
        if self.program.html_escape && !matches!(v, Value::SafeHtml(_)) {
            return self.write(&escape::html_template_escape(&text));
        }
        self.write(&text)
    }

    fn enter(&mut self) -> Result<()> {
        self.nesting += 1;
        if self.nesting > MAX_EXEC_NESTING {
            return Err(Failure::Limit(format!(
                "exceeded maximum nesting depth ({MAX_EXEC_NESTING})"
            )));
        }
        Ok(())
    }

    fn walk_branch(&mut self, b: &'a Branch, dot: &Val<'a>) -> Result<Flow> {
        self.enter()?;
        let flow = self.walk_branch_inner(b, dot);
        self.nesting -= 1;
        flow
    }

    fn walk_branch_inner(&mut self, b: &'a Branch, dot: &Val<'a>) -> Result<Flow> {
        let mark = self.vars.len();
        let is_range = b.kind == BranchKind::Range;
        // A range's variables take each element in turn; they need not hold the whole value.
        let val = self.eval_pipeline(dot, &b.pipe, !is_range)?;
        let flow = match b.kind {
            BranchKind::If | BranchKind::With => {
                if val.is_true() {
                    let new_dot = if b.kind == BranchKind::With {
                        &val
                    } else {
                        dot
                    };
                    self.walk_list(&b.list, new_dot)?
                } else if let Some(else_list) = &b.else_list {
                    self.walk_list(else_list, dot)?
                } else {
                    Flow::Normal
                }
            }
            BranchKind::Range => self.walk_range(b, dot, val)?,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, b: &'a Branch, dot: &Val<'a>, val: Val<'a>) -> Result<Flow> {
        type Items<'i> = Box<dyn Iterator<Item = (Val<'i>, Val<'i>)> + 'i>;
        // Integers are ranged lazily: `range 1000000000` must hit the step limit, not allocate.
        let (count, items): (usize, Items<'a>) = match val {
            Cow::Borrowed(Value::List(l)) => (
                l.len(),
                Box::new(
                    l.iter()
                        .enumerate()
                        .map(|(i, v)| (Cow::Owned(Value::from(i)), Cow::Borrowed(v))),
                ),
            ),
            Cow::Owned(Value::List(l)) => (
                l.len(),
                Box::new(
                    l.into_iter()
                        .enumerate()
                        .map(|(i, v)| (Cow::Owned(Value::from(i)), Cow::Owned(v))),
                ),
            ),
            Cow::Borrowed(Value::Map(m)) => (
                m.len(),
                Box::new(
                    m.iter()
                        .map(|(k, v)| (Cow::Owned(Value::String(k.clone())), Cow::Borrowed(v))),
                ),
            ),
            Cow::Owned(Value::Map(m)) => (
                m.len(),
                Box::new(
                    m.into_iter()
                        .map(|(k, v)| (Cow::Owned(Value::String(k)), Cow::Owned(v))),
                ),
            ),
            Cow::Borrowed(&Value::Int(n)) | Cow::Owned(Value::Int(n)) => {
                if b.pipe.decl.len() > 1 {
                    let msg = format!("can't use {n} to iterate over more than one variable");
                    return Err(match b.pipe.cmds.first() {
                        Some(c) => self.fail_at(c, msg),
                        None => Failure::Limit(msg),
                    });
                }
                (
                    usize::try_from(n.max(0)).unwrap_or(usize::MAX),
                    Box::new(
                        (0..n.max(0))
                            .map(|i| (Cow::Owned(Value::Int(i)), Cow::Owned(Value::Int(i)))),
                    ),
                )
            }
            Cow::Borrowed(Value::Nil) | Cow::Owned(Value::Nil) => (0, Box::new(std::iter::empty())),
            other => {
                let msg = format!("range can't iterate over {}", gofmt::sprint_value(&other));
                return Err(match b.pipe.cmds.first() {
                    Some(c) => self.fail_at(c, msg),
                    None => Failure::Limit(msg),
                });
            }
        };
        if count == 0 {
            if let Some(else_list) = &b.else_list {
                return self.walk_list(else_list, dot);
            }
            return Ok(Flow::Normal);
        }
        let decl_mark = self.vars.len();
        for (index, elem) in items {
            self.step()?;
            // Declared range variables are the top one (element) and the one below (index).
            match b.pipe.decl.len() {
                0 => {}
                1 => self.set_range_var(&b.pipe, 0, decl_mark, elem.clone()),
                _ => {
                    self.set_range_var(&b.pipe, 0, decl_mark, index);
                    self.set_range_var(&b.pipe, 1, decl_mark, elem.clone());
                }
            }
            let flow = self.walk_list(&b.list, &elem)?;
            self.vars.truncate(decl_mark);
            if let Flow::Break = flow {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn set_range_var(&mut self, pipe: &Pipeline, i: usize, decl_mark: usize, v: Val<'a>) {
        let Some(name) = pipe.decl.get(i) else {
            return;
        };
        if pipe.is_assign {
            // An unknown name was already refused when the range's pipeline ran.
            let _ = self.set_var(name, v);
            return;
        }
        // Declared variables sit just below `decl_mark`, in declaration order.
        let n = pipe.decl.len();
        if let Some(slot) = (decl_mark + i)
            .checked_sub(n)
            .and_then(|idx| self.vars.get_mut(idx))
        {
            slot.1 = v;
        }
    }

    /// Assigns to an existing variable; false when there is none of that name.
    fn set_var(&mut self, name: &str, v: Val<'a>) -> bool {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                true
            }
            None => false,
        }
    }

    fn walk_template(
        &mut self,
        pos: usize,
        name: &str,
        pipe: &'a Option<Pipeline>,
        dot: &Val<'a>,
    ) -> Result<()> {
        let program = self.program;
        let Some(body) = program.templates.get(name) else {
            let pipe_text = pipe
                .as_ref()
                .and_then(|p| {
                    let end = p.cmds.last().map_or(p.pos, |c| c.end);
                    self.src().get(p.pos..end)
                })
                .map(|t| format!(" {}", t.trim()))
                .unwrap_or_default();
            return Err(self.fail_pos(
                pos,
                &format!("{{{{template {name:?}{pipe_text}}}}}"),
                format!("template {name:?} not defined"),
            ));
        };
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p, true)?,
            None => Cow::Owned(Value::Nil),
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(Failure::Limit(format!(
                "exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"
            )));
        }
        self.depth += 1;
        self.enter()?;
        let saved_vars =
            std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.executing, name.to_string());
        let saved_source = std::mem::replace(&mut self.source, body.source);
        let result = self.walk_list(&body.nodes, &new_dot);
        self.vars = saved_vars;
        self.executing = saved_name;
        self.source = saved_source;
        self.depth -= 1;
        self.nesting -= 1;
        result.map(|_| ())
    }

    /// Runs a pipeline; its declared variables get its value when `declare_value` is set (and
    /// nil otherwise: a range sets them per element).
    fn eval_pipeline(
        &mut self,
        dot: &Val<'a>,
        pipe: &'a Pipeline,
        declare_value: bool,
    ) -> Result<Val<'a>> {
        let mut last: Option<Val<'a>> = None;
        for cmd in &pipe.cmds {
            last = Some(self.eval_command(dot, cmd, last)?);
        }
        let v = last.unwrap_or(Cow::Owned(Value::Nil));
        for name in &pipe.decl {
            let stored = if declare_value {
                v.clone()
            } else {
                Cow::Owned(Value::Nil)
            };
            if pipe.is_assign {
                if !self.set_var(name, stored) {
                    // Go reports it at the pipeline's last command.
                    let message = format!("undefined variable: {name}");
                    return Err(match pipe.cmds.last() {
                        Some(c) => self.fail_at(c, message),
                        None => self.fail_pos(pipe.pos, name, message),
                    });
                }
            } else {
                self.vars.push((name.clone(), stored));
            }
        }
        Ok(v)
    }

    fn not_a_function(&self, cmd: &Command, final_val: &Option<Val<'a>>) -> Result<()> {
        if cmd.args.len() > 1 || final_val.is_some() {
            let span = Self::first_span(cmd);
            let first = self.src().get(span.start..span.end).unwrap_or("").trim();
            return Err(
                self.fail_span(span, format!("can't give argument to non-function {first}"))
            );
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Val<'a>,
        cmd: &'a Command,
        final_val: Option<Val<'a>>,
    ) -> Result<Val<'a>> {
        self.step()?;
        let Some(first) = cmd.args.first() else {
            return Err(self.fail_at(cmd, "empty command"));
        };
        let span = Self::first_span(cmd);
        let rest = cmd.args.get(1..).unwrap_or(&[]);
        let rest_spans = cmd.spans.get(1..).unwrap_or(&[]);
        let has_args = !rest.is_empty() || final_val.is_some();
        match first {
            Arg::Identifier(name) => self
                .eval_function(dot, cmd, span, name, rest, rest_spans, final_val)
                .map(Cow::Owned),
            Arg::Field(fields) => {
                let call_args = self.method_args(dot, cmd, has_args, final_val)?;
                self.eval_fields(span, dot.clone(), fields, call_args.as_deref())
            }
            Arg::Variable(name, fields) => {
                if fields.is_empty() {
                    self.not_a_function(cmd, &final_val)?;
                }
                let call_args = self.method_args(dot, cmd, has_args, final_val)?;
                self.eval_variable(span, name, fields, call_args.as_deref())
            }
            Arg::Chain(inner, fields) => {
                let v = self.eval_arg(dot, cmd, span, inner)?;
                let call_args = self.method_args(dot, cmd, has_args, final_val)?;
                self.eval_fields(span, v, fields, call_args.as_deref())
            }
            Arg::Pipe(p) => {
                self.not_a_function(cmd, &final_val)?;
                self.enter()?;
                let v = self.eval_pipeline(dot, p, true);
                self.nesting -= 1;
                v
            }
            Arg::Dot => {
                self.not_a_function(cmd, &final_val)?;
                Ok(dot.clone())
            }
            Arg::Nil => Err(self.fail_span(span, "nil is not a command")),
            Arg::Literal(v) => {
                self.not_a_function(cmd, &final_val)?;
                Ok(Cow::Borrowed(v))
            }
        }
    }

    /// The arguments of a method call (`.Time.Format "..."`, or a value piped into a field):
    /// `None` when the command gives none.
    fn method_args(
        &mut self,
        dot: &Val<'a>,
        cmd: &'a Command,
        has_args: bool,
        final_val: Option<Val<'a>>,
    ) -> Result<Option<Vec<Value>>> {
        if !has_args {
            return Ok(None);
        }
        let mut values = Vec::new();
        for (i, arg) in cmd.args.iter().enumerate().skip(1) {
            let span = cmd
                .spans
                .get(i)
                .copied()
                .unwrap_or_else(|| Self::first_span(cmd));
            let v = self.eval_arg(dot, cmd, span, arg)?;
            push_bounded(&mut values, v)?;
        }
        if let Some(f) = final_val {
            push_bounded(&mut values, f)?;
        }
        Ok(Some(values))
    }

    /// A method of `receiver`: the builtin ones of times and durations, then the caller's.
    fn call_method(
        &self,
        receiver: &Value,
        name: &str,
        args: &[Value],
    ) -> Option<std::result::Result<Value, String>> {
        match receiver {
            Value::Time(ms) => gotime::time_method(*ms, name, args),
            Value::Duration(ns) => gotime::duration_method(*ns, name, args),
            other => self
                .program
                .methods
                .and_then(|m| m.call_method(other, name, args)),
        }
    }

    /// `$name.field...`: a variable that holds borrowed data stays borrowed; one holding a
    /// computed value is walked in place and only the result copied.
    fn eval_variable(
        &self,
        span: ArgSpan,
        name: &str,
        fields: &[String],
        call_args: Option<&[Value]>,
    ) -> Result<Val<'a>> {
        let slot = self
            .vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| self.fail_span(span, format!("undefined variable: {name}")))?;
        match slot {
            Cow::Borrowed(r) => self.eval_fields(span, Cow::Borrowed(*r), fields, call_args),
            Cow::Owned(v) => self
                .eval_fields(span, Cow::Borrowed(v), fields, call_args)
                .map(|r| Cow::Owned(r.into_owned())),
        }
    }

    /// Follows a field chain; `call_args` are the arguments given to the last element, which
    /// only methods accept. Borrowed input gives borrowed output; owned input is taken apart
    /// without copying.
    fn eval_fields<'v>(
        &self,
        span: ArgSpan,
        start: Cow<'v, Value>,
        fields: &[String],
        call_args: Option<&[Value]>,
    ) -> Result<Cow<'v, Value>> {
        let has_args = call_args.is_some();
        let mut v = start;
        for (i, field) in fields.iter().enumerate() {
            let last = i + 1 == fields.len();
            let fail = |message: String| Err(self.fail_span(span, message));
            let args = if last { call_args.unwrap_or(&[]) } else { &[] };
            if let Some(result) = self.call_method(&v, field, args) {
                match result {
                    Ok(r) => v = Cow::Owned(r),
                    Err(m) => return fail(format!("error calling {field}: {m}")),
                }
                continue;
            }
            v = match &*v {
                Value::Map(m) => {
                    if last && has_args {
                        return fail(format!("{field} is not a method but has arguments"));
                    }
                    if !m.contains_key(field) {
                        v = Cow::Owned(functions::map_zero(m));
                        continue;
                    }
                    child(v, field)
                }
                Value::Struct { type_name, fields } => {
                    if last && has_args {
                        return fail(format!(
                            "{field} has arguments but cannot be invoked as function"
                        ));
                    }
                    if !fields.iter().any(|(name, _)| name == field) {
                        return fail(format!("can't evaluate field {field} in type {type_name}"));
                    }
                    child(v, field)
                }
                Value::Sample(s) => match field.as_str() {
                    "Labels" => Cow::Owned(Value::from(&s.labels)),
                    "Value" => Cow::Owned(Value::Float(s.value)),
                    _ => {
                        return fail(format!(
                            "can't evaluate field {field} in type *template.sample"
                        ))
                    }
                },
                Value::Nil => Cow::Owned(Value::Nil),
                other => {
                    return fail(format!(
                        "can't evaluate field {field} in type {}",
                        other.type_name()
                    ))
                }
            };
        }
        Ok(v)
    }

    fn eval_arg(
        &mut self,
        dot: &Val<'a>,
        cmd: &'a Command,
        span: ArgSpan,
        arg: &'a Arg,
    ) -> Result<Val<'a>> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Cow::Owned(Value::Nil)),
            Arg::Literal(v) => Ok(Cow::Borrowed(v)),
            Arg::Field(fields) => self.eval_fields(span, dot.clone(), fields, None),
            Arg::Variable(name, fields) => self.eval_variable(span, name, fields, None),
            Arg::Pipe(p) => {
                self.enter()?;
                let v = self.eval_pipeline(dot, p, true);
                self.nesting -= 1;
                v
            }
            Arg::Identifier(name) => self
                .eval_function(dot, cmd, span, name, &[], &[], None)
                .map(Cow::Owned),
            Arg::Chain(inner, fields) => {
                let v = self.eval_arg(dot, cmd, span, inner)?;
                self.eval_fields(span, v, fields, None)
            }
        }
    }

    /// Evaluates an argument for a parameter of type `param`, with Go's checks: literals must
    /// suit the type, other values must have it (nil passes where Go allows nil).
    fn eval_typed_arg(
        &mut self,
        dot: &Val<'a>,
        cmd: &'a Command,
        span: ArgSpan,
        arg: &'a Arg,
        param: Param,
    ) -> Result<Val<'a>> {
        if param == Param::Any {
            return self.eval_arg(dot, cmd, span, arg);
        }
        match arg {
            Arg::Literal(v) => {
                if param.accepts(v) {
                    return Ok(Cow::Borrowed(v));
                }
                let text = self.src().get(span.start..span.end).unwrap_or("").trim();
                if param == Param::Str {
                    return Err(self.fail_span(span, format!("expected string; found {text}")));
                }
                Err(self.fail_span(
                    span,
                    format!("can't handle {text} for arg of type {}", param.go_type()),
                ))
            }
            Arg::Nil => {
                if param == Param::Str {
                    return Err(self.fail_span(span, "cannot assign nil to string"));
                }
                Ok(Cow::Owned(Value::Nil))
            }
            _ => {
                let v = self.eval_arg(dot, cmd, span, arg)?;
                self.check_type(span, v, param)
            }
        }
    }

    fn check_type(&self, span: ArgSpan, v: Val<'a>, param: Param) -> Result<Val<'a>> {
        if param.accepts(&v) {
            return Ok(v);
        }
        if matches!(*v, Value::Nil) {
            if param == Param::Str {
                return Err(self.fail_span(span, "invalid value; expected string"));
            }
            return Ok(v);
        }
        Err(self.fail_span(
            span,
            format!(
                "wrong type for value; expected {}; got {}",
                param.go_type(),
                v.type_name()
            ),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_function(
        &mut self,
        dot: &Val<'a>,
        cmd: &'a Command,
        fn_span: ArgSpan,
        name: &str,
        args: &'a [Arg],
        spans: &[ArgSpan],
        final_val: Option<Val<'a>>,
    ) -> Result<Value> {
        if let Some(custom) = self.program.custom.get(name) {
            return self.call_custom(dot, cmd, fn_span, name, custom, args, spans, final_val);
        }
        let Some(func) = functions::lookup(name) else {
            return Err(self.fail_span(fn_span, format!("{name:?} is not a defined function")));
        };
        let argc = args.len() + usize::from(final_val.is_some());
        let arity_ok = if func.variadic {
            argc >= func.params
        } else {
            argc == func.params
        };
        if !arity_ok {
            let want = if func.variadic { "at least " } else { "" };
            return Err(self.fail_span(
                fn_span,
                format!(
                    "wrong number of args for {name}: want {want}{} got {argc}",
                    func.params
                ),
            ));
        }
        let span_of = |i: usize| spans.get(i).copied().unwrap_or(fn_span);
        // `and` and `or` stop evaluating at the first deciding argument.
        if name == "and" || name == "or" {
            let want_truth = name == "or";
            let mut last: Val<'a> = Cow::Owned(Value::Nil);
            for (i, arg) in args.iter().enumerate() {
                last = self.eval_arg(dot, cmd, span_of(i), arg)?;
                if last.is_true() == want_truth {
                    return Ok(last.into_owned());
                }
            }
            if let Some(f) = final_val {
                last = f;
            }
            return Ok(last.into_owned());
        }
        // `len` needs no copy of a large list or map.
        if name == "len" && args.len() + usize::from(final_val.is_some()) == 1 {
            let v = match (args.first(), final_val) {
                (Some(arg), _) => self.eval_arg(dot, cmd, span_of(0), arg)?,
                (None, Some(f)) => f,
                (None, None) => Cow::Owned(Value::Nil),
            };
            let n = match &*v {
                Value::String(s) | Value::SafeHtml(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                Value::Nil => {
                    return Err(self.fail_at(cmd, "error calling len: len of nil pointer"))
                }
                other => {
                    return Err(self.fail_at(
                        cmd,
                        format!("error calling len: len of type {}", other.type_name()),
                    ))
                }
            };
            return Ok(Value::from(n));
        }
        let mut values = Vec::with_capacity(argc);
        for (i, arg) in args.iter().enumerate() {
            let param = functions::param_type(name, i);
            let v = self.eval_typed_arg(dot, cmd, span_of(i), arg, param)?;
            push_bounded(&mut values, v)?;
        }
        if let Some(f) = final_val {
            let param = functions::param_type(name, args.len());
            let whole = ArgSpan {
                node_pos: cmd.pos,
                start: cmd.pos,
                end: cmd.end,
            };
            let v = self.check_type(whole, f, param)?;
            push_bounded(&mut values, v)?;
        }
        let ctx = CallContext { env: self.env };
        match (func.call)(&ctx, values) {
            Ok(v) => {
                if let Value::String(s) | Value::SafeHtml(s) = &v {
                    if s.len() > MAX_OUTPUT {
                        return Err(Failure::Limit(format!(
                            "a value exceeded {MAX_OUTPUT} bytes"
                        )));
                    }
                }
                Ok(v)
            }
            Err(FnError::Call(m)) => Err(self.fail_at(cmd, format!("error calling {name}: {m}"))),
            Err(FnError::Arg(m)) => Err(self.fail_at(cmd, m)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call_custom(
        &mut self,
        dot: &Val<'a>,
        cmd: &'a Command,
        fn_span: ArgSpan,
        name: &str,
        custom: &CustomFunction,
        args: &'a [Arg],
        spans: &[ArgSpan],
        final_val: Option<Val<'a>>,
    ) -> Result<Value> {
        let argc = args.len() + usize::from(final_val.is_some());
        if argc < custom.min_args || custom.max_args.is_some_and(|max| argc > max) {
            let want = match custom.max_args {
                Some(max) if max == custom.min_args => max.to_string(),
                Some(max) => format!("{} to {max}", custom.min_args),
                None => format!("at least {}", custom.min_args),
            };
            return Err(self.fail_span(
                fn_span,
                format!("wrong number of args for {name}: want {want} got {argc}"),
            ));
        }
        let mut values = Vec::with_capacity(argc);
        for (i, arg) in args.iter().enumerate() {
            let span = spans.get(i).copied().unwrap_or(fn_span);
            let v = self.eval_arg(dot, cmd, span, arg)?;
            push_bounded(&mut values, v)?;
        }
        if let Some(f) = final_val {
            push_bounded(&mut values, f)?;
        }
        (custom.call)(&values, self.env)
            .map_err(|m| self.fail_at(cmd, format!("error calling {name}: {m}")))
    }
}

/// Adds an evaluated argument (copying it out of the data only now), refusing calls whose
/// arguments together exceed [`crate::value::MAX_ARGUMENT_BYTES`] before more copies are made.
fn push_bounded(values: &mut Vec<Value>, v: Val<'_>) -> Result<()> {
    let total: usize = values.iter().map(Value::approx_size).sum::<usize>() + v.approx_size();
    if total > crate::value::MAX_ARGUMENT_BYTES {
        return Err(Failure::Limit(format!(
            "function arguments exceed {} bytes",
            crate::value::MAX_ARGUMENT_BYTES
        )));
    }
    values.push(v.into_owned());
    Ok(())
}

/// The map entry or struct field `name` of `v`: borrowed when `v` is borrowed, moved out when
/// `v` is owned; nil when absent.
fn child<'v>(v: Cow<'v, Value>, name: &str) -> Cow<'v, Value> {
    fn pick<'x>(v: &'x Value, name: &str) -> Option<&'x Value> {
        match v {
            Value::Map(m) => m.get(name),
            Value::Struct { fields, .. } => fields.iter().find(|(n, _)| n == name).map(|(_, f)| f),
            _ => None,
        }
    }
    match v {
        Cow::Borrowed(b) => pick(b, name).map_or(Cow::Owned(Value::Nil), Cow::Borrowed),
        Cow::Owned(Value::Map(mut m)) => Cow::Owned(m.remove(name).unwrap_or_default()),
        Cow::Owned(Value::Struct { fields, .. }) => Cow::Owned(
            fields
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, f)| f)
                .unwrap_or_default(),
        ),
        Cow::Owned(_) => Cow::Owned(Value::Nil),
    }
}
