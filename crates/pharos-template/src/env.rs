//! What a template may reach outside its data: URLs and the `query` function.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One sample of an instant query result, as the `query` template function returns it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResultSample {
    /// The series' labels, including `__name__` when present.
    pub labels: BTreeMap<String, String>,
    /// The sample value.
    pub value: f64,
}

/// Runs an instant PromQL query for the `query` template function.
///
/// Implemented by the rules engine over its PromQL engine; a template that calls `query` without
/// one configured fails with a clear error.
pub trait QueryFn: Send + Sync {
    /// Evaluates `expr` at the evaluation time of the rule and returns its samples (a scalar result
    /// is one sample without labels).
    fn query(&self, expr: &str) -> Result<Vec<QueryResultSample>, String>;
}

/// Execution environment: the server's external URL, its path prefix and the `query` function.
#[derive(Clone, Default)]
pub struct Env {
    /// `--web.external-url`, returned by `externalURL` and used by `graphLink`/`tableLink`.
    pub external_url: String,
    /// Path prefix of the web UI (`pathPrefix`), usually the path of the external URL.
    pub path_prefix: String,
    /// Runs queries for the `query` function; `None` makes `query` fail.
    pub query: Option<Arc<dyn QueryFn>>,
    /// Current time in milliseconds since the epoch for `now`; `None` uses the system clock.
    pub now_ms: Option<i64>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("external_url", &self.external_url)
            .field("path_prefix", &self.path_prefix)
            .field("query", &self.query.as_ref().map(|_| "QueryFn"))
            .field("now_ms", &self.now_ms)
            .finish()
    }
}
