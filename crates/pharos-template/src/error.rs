//! The error type of parsing and executing templates.

/// Why a template could not be parsed or executed.
///
/// Messages follow Go's wording, `template: NAME:LINE:COL: ...`, so users recognise them from
/// Prometheus and Alertmanager logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template text is malformed (unclosed action, unknown function, bad literal ...).
    #[error("template: {name}:{line}: {message}")]
    Parse {
        /// Name of the template being parsed.
        name: String,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Running the template failed (bad argument, index out of range, query error ...).
    #[error("template: {name}:{line}:{col}: executing \"{executing}\" at <{context}>: {message}")]
    Execute {
        /// Name the text was parsed under (the location's file name in Go's messages).
        name: String,
        /// Name of the template running when it failed (a `define`d one or the main one).
        executing: String,
        /// 1-based line of the failing action.
        line: usize,
        /// 1-based column (in bytes) of the failing action.
        col: usize,
        /// The source text of the failing node, shortened.
        context: String,
        /// What is wrong.
        message: String,
    },
    /// [`crate::Template::execute_template`] was asked for a template the set does not have.
    #[error("template: no template {requested:?} associated with template {name:?}")]
    NoTemplate {
        /// Name of the template set (its main template).
        name: String,
        /// The name asked for.
        requested: String,
    },
    /// Execution was stopped because it exceeded a safety limit (output size, nesting depth).
    #[error("template: {name}: {message}")]
    Limit {
        /// Name of the template being executed.
        name: String,
        /// Which limit was exceeded.
        message: String,
    },
}

impl TemplateError {
    /// The text Prometheus writes into an alert annotation or label whose expansion failed:
    /// `<error expanding template: error executing template NAME: template: ...>`.
    pub fn alert_annotation_text(&self) -> String {
        let (stage, name) = match self {
            TemplateError::Parse { name, .. } => ("parsing", name),
            TemplateError::Execute { name, .. }
            | TemplateError::Limit { name, .. }
            | TemplateError::NoTemplate { name, .. } => ("executing", name),
        };
        format!("<error expanding template: error {stage} template {name}: {self}>")
    }
}
