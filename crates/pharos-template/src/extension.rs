//! What callers can add to the language: functions (Alertmanager's `date`, `tz`, ...) and
//! methods of their data types (Alertmanager's `.Alerts.Firing`, `.Labels.SortedPairs`, ...).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::env::Env;
use crate::value::Value;

/// The body of a caller-supplied function.
pub type FunctionBody = dyn Fn(&[Value], &Env) -> Result<Value, String> + Send + Sync;

/// A function supplied by the caller, callable from templates like a builtin. A name that is also
/// a builtin replaces the builtin, as Go's `Funcs` does.
#[derive(Clone)]
pub struct CustomFunction {
    /// Fewest arguments accepted (counting a piped-in final value).
    pub min_args: usize,
    /// Most arguments accepted; `None` for any number.
    pub max_args: Option<usize>,
    /// The implementation; an `Err` is reported as `error calling NAME: ...`.
    pub call: Arc<FunctionBody>,
}

impl CustomFunction {
    /// A function taking exactly `args` arguments.
    pub fn fixed(
        args: usize,
        call: impl Fn(&[Value], &Env) -> Result<Value, String> + Send + Sync + 'static,
    ) -> CustomFunction {
        CustomFunction {
            min_args: args,
            max_args: Some(args),
            call: Arc::new(call),
        }
    }

    /// A function taking `min_args` or more arguments.
    pub fn variadic(
        min_args: usize,
        call: impl Fn(&[Value], &Env) -> Result<Value, String> + Send + Sync + 'static,
    ) -> CustomFunction {
        CustomFunction {
            min_args,
            max_args: None,
            call: Arc::new(call),
        }
    }
}

impl fmt::Debug for CustomFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomFunction")
            .field("min_args", &self.min_args)
            .field("max_args", &self.max_args)
            .finish_non_exhaustive()
    }
}

/// Methods of caller-defined data types. Go resolves `.Name` to a method before a field or map
/// key, so the resolver is asked first for every field step; it answers `None` when `receiver`
/// has no method `name`.
pub trait MethodResolver: Send + Sync {
    /// Calls method `name` on `receiver` with `args` (empty unless the method is the last
    /// element of a chain given arguments); an `Err` is reported as `error calling NAME: ...`.
    fn call_method(
        &self,
        receiver: &Value,
        name: &str,
        args: &[Value],
    ) -> Option<Result<Value, String>>;
}

/// Options for [`crate::Template::parse_with`] and [`crate::Template::parse_set`].
#[derive(Clone, Default)]
pub struct ParseOptions {
    /// Escape every action's output for HTML (as Go's `html/template` does for text content),
    /// for email bodies; values from `safeHtml` and `safeUrl` are written unescaped.
    pub html_escape: bool,
    /// Extra functions by name.
    pub functions: BTreeMap<String, CustomFunction>,
    /// Methods of the caller's data types.
    pub methods: Option<Arc<dyn MethodResolver>>,
}

impl fmt::Debug for ParseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseOptions")
            .field("html_escape", &self.html_escape)
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .field("methods", &self.methods.as_ref().map(|_| "MethodResolver"))
            .finish()
    }
}
