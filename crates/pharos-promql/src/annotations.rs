//! Warnings and info annotations attached to query results, rendered as Prometheus does
//! (`PromQL warning: ... (1:6)`).

use crate::parser::PosRange;

/// Severity of an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// A result may be wrong.
    Warning,
    /// Something worth knowing, e.g. a counter-looking name fed to `rate`.
    Info,
}

/// One annotation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Annotation {
    /// Warning or info.
    pub severity: Severity,
    /// The message without prefix or position.
    pub message: String,
    /// The expression it is about.
    pub pos: PosRange,
}

impl Annotation {
    /// Renders as the HTTP API does, with the `line:col` of the expression.
    pub fn render(&self, query: &str) -> String {
        let prefix = match self.severity {
            Severity::Warning => "PromQL warning",
            Severity::Info => "PromQL info",
        };
        format!("{prefix}: {} ({})", self.message, self.pos.line_col(query))
    }
}

/// The set of annotations of one query, deduplicated and in first-seen order.
#[derive(Clone, Debug, Default)]
pub struct Annotations {
    items: Vec<Annotation>,
}

impl Annotations {
    /// Adds a warning.
    pub fn warn(&mut self, message: impl Into<String>, pos: PosRange) {
        self.add(Annotation {
            severity: Severity::Warning,
            message: message.into(),
            pos,
        });
    }
    /// Adds an info annotation.
    pub fn info(&mut self, message: impl Into<String>, pos: PosRange) {
        self.add(Annotation {
            severity: Severity::Info,
            message: message.into(),
            pos,
        });
    }
    fn add(&mut self, a: Annotation) {
        if !self.items.contains(&a) {
            self.items.push(a);
        }
    }
    /// All annotations.
    pub fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.items.iter()
    }
    /// Rendered warnings.
    pub fn warnings(&self, query: &str) -> Vec<String> {
        self.render(query, Severity::Warning)
    }
    /// Rendered infos.
    pub fn infos(&self, query: &str) -> Vec<String> {
        self.render(query, Severity::Info)
    }
    fn render(&self, query: &str, s: Severity) -> Vec<String> {
        self.items
            .iter()
            .filter(|a| a.severity == s)
            .map(|a| a.render(query))
            .collect()
    }
    /// Number of annotations.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
