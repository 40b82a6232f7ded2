//! Go `text/template` for Pharos: alert rule annotations and labels, and notification templates.
//!
//! Templates are parsed once ([`Template::parse`], or [`Template::parse_set`] for several files)
//! and executed many times against a [`Value`] with an [`Env`] that supplies the external URL and
//! the `query` function. [`expand_alert_text`] wraps a rule's annotation text exactly as
//! Prometheus does before executing it, and [`TemplateError::alert_annotation_text`] words a
//! failure as Prometheus writes it into the annotation.
//!
//! The language follows Go's `text/template`: text and actions with trim markers and comments,
//! pipelines, variables (`:=`, `=`, `$`), field and key chains, parenthesised pipelines,
//! `if`/`else if`/`with`/`else with`/`range` (lists, maps in key order, integers; `break`,
//! `continue`, `else`), `define`, `template`, `block`, and Go's literals. Builtins: `and`, `or`
//! (short-circuit), `not`, `len`, `index`, `slice`, `print`, `printf`, `println`, `eq`, `ne`,
//! `lt`, `le`, `gt`, `ge`, `html`, `js`, `urlquery`, `call`. Prometheus's template functions and
//! the cheap part of Alertmanager's are always available; callers add their own functions and
//! methods through [`ParseOptions`]. Output and error messages match Go's (checked against
//! `promtool` in this crate's tests), including `fmt`'s float formatting.
//!
//! Data is dynamic: maps stand for Go maps (a missing key yields `""` in a map of strings, as
//! Prometheus's `missingkey=zero` gives for `map[string]string`, and nil, printed `<no value>`,
//! otherwise), [`Value::Struct`] for Go structs (a missing field is an error). Execution is
//! bounded (steps, nesting, output and argument sizes), so hostile templates fail with an error
//! rather than exhausting the process.

mod alert;
mod env;
mod error;
mod escape;
mod exec;
mod extension;
mod functions;
mod gofmt;
mod gotime;
mod humanize;
mod lexer;
mod parse;
mod value;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use alert::{expand_alert_text, AlertTemplate, ALERT_TEMPLATE_PRELUDE};
pub use env::{Env, QueryFn, QueryResultSample};
pub use error::TemplateError;
pub use extension::{CustomFunction, FunctionBody, MethodResolver, ParseOptions};
pub use value::Value;

/// A parsed template, holding the main template and every template it `define`s.
///
/// Cheap to clone: the parsed form is shared.
#[derive(Debug, Clone)]
pub struct Template {
    inner: Arc<Parsed>,
}

#[derive(Debug)]
struct Parsed {
    /// Name of the main template.
    name: String,
    /// `(name, text)` of every source, in parse order.
    sources: Vec<(String, String)>,
    /// Every template by name: each source's body under the source's name, and every `define`.
    templates: BTreeMap<String, exec::Body>,
    /// Names introduced by `define` or `block`.
    defined: Vec<String>,
    options: ParseOptions,
}

/// 1-based line and 0-based byte column of `pos` in `src`, as Go reports them.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = src.get(..pos).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = match before.rfind('\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    (line, col)
}

fn is_empty_body(nodes: &[parse::Node]) -> bool {
    nodes
        .iter()
        .all(|n| matches!(n, parse::Node::Text(t) if t.trim().is_empty()))
}

impl Template {
    /// Parses `text`; `name` is used in error messages (e.g. `__alert_HighLoad`).
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        Self::parse_with(name, text, &ParseOptions::default())
    }

    /// Like [`Template::parse`], with options (HTML escaping for email bodies).
    pub fn parse_with(
        name: &str,
        text: &str,
        opts: &ParseOptions,
    ) -> Result<Template, TemplateError> {
        Self::parse_set(&[(name, text)], opts)
    }

    /// Parses several named texts (template files) into one set, as Go's `ParseFiles` does:
    /// each text is a template named after it, every `define` of every text can be called from
    /// any of them, and a later non-empty definition replaces an earlier one (so users' files can
    /// override a default template). The first text is the main template.
    pub fn parse_set(
        sources: &[(&str, &str)],
        opts: &ParseOptions,
    ) -> Result<Template, TemplateError> {
        let is_function =
            |f: &str| opts.functions.contains_key(f) || functions::lookup(f).is_some();
        let mut templates: BTreeMap<String, exec::Body> = BTreeMap::new();
        let mut defined: Vec<String> = Vec::new();
        for (index, (name, text)) in sources.iter().enumerate() {
            let tree = parse::parse(text, &is_function).map_err(|e| TemplateError::Parse {
                name: name.to_string(),
                line: line_col(text, e.pos).0,
                message: e.message,
            })?;
            let mut add = |name: String, nodes: Vec<parse::Node>| {
                // An empty body never replaces a non-empty one (Go's rule, which lets `block`
                // defaults be overridden by earlier or later definitions).
                if is_empty_body(&nodes)
                    && templates
                        .get(&name)
                        .is_some_and(|old| !is_empty_body(&old.nodes))
                {
                    return;
                }
                templates.insert(
                    name,
                    exec::Body {
                        source: index,
                        nodes,
                    },
                );
            };
            add(name.to_string(), tree.main);
            for (define, nodes) in tree.defines {
                if !defined.contains(&define) {
                    defined.push(define.clone());
                }
                add(define, nodes);
            }
        }
        defined.sort();
        let name = sources.first().map_or("", |(n, _)| n).to_string();
        templates.entry(name.clone()).or_insert(exec::Body {
            source: 0,
            nodes: Vec::new(),
        });
        Ok(Template {
            inner: Arc::new(Parsed {
                name,
                sources: sources
                    .iter()
                    .map(|(n, t)| (n.to_string(), t.to_string()))
                    .collect(),
                templates,
                defined,
                options: opts.clone(),
            }),
        })
    }

    /// The name given at parse time.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Names of the templates defined with `define` or `block`, sorted.
    pub fn defined_templates(&self) -> Vec<String> {
        self.inner.defined.clone()
    }

    /// Whether a template of this name exists in the set.
    pub fn has_template(&self, name: &str) -> bool {
        self.inner.templates.contains_key(name)
    }

    /// Runs the main template against `data`.
    pub fn execute(&self, data: &Value, env: &Env) -> Result<String, TemplateError> {
        self.run(&self.inner.name, data, env)
    }

    /// Runs the template named `name` (one `define`d in the set, or a source's main body)
    /// against `data`, as Go's `ExecuteTemplate`.
    pub fn execute_template(
        &self,
        name: &str,
        data: &Value,
        env: &Env,
    ) -> Result<String, TemplateError> {
        self.run(name, data, env)
    }

    fn run(&self, entry: &str, data: &Value, env: &Env) -> Result<String, TemplateError> {
        let p = &self.inner;
        let program = exec::Program {
            sources: &p.sources,
            templates: &p.templates,
            html_escape: p.options.html_escape,
            custom: &p.options.functions,
            methods: p.options.methods.as_deref(),
        };
        exec::execute(&program, entry, data, env).map_err(|f| match f {
            exec::Failure::At {
                source,
                pos,
                context,
                executing,
                message,
            } => {
                let (src_name, src) = p
                    .sources
                    .get(source)
                    .map_or((p.name.as_str(), ""), |(n, t)| (n.as_str(), t.as_str()));
                let (line, col) = line_col(src, pos);
                TemplateError::Execute {
                    name: src_name.to_string(),
                    executing,
                    line,
                    col,
                    context,
                    message,
                }
            }
            exec::Failure::Limit(message) => TemplateError::Limit {
                name: p.name.clone(),
                message,
            },
            exec::Failure::NoTemplate(requested) => TemplateError::NoTemplate {
                name: p.name.clone(),
                requested,
            },
        })
    }
}

#[cfg(test)]
mod template_tests;

#[cfg(test)]
mod robustness_tests;
