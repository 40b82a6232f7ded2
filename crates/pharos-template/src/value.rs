//! The dynamic value templates compute with, like Go's `interface{}`.

use std::collections::BTreeMap;

use crate::env::QueryResultSample;

/// Largest string a function may build (and largest output of one execution), so that hostile
/// templates (`printf "%1000000d"` repeated, `reReplaceAll` with huge replacements) stop with an
/// error instead of exhausting memory.
pub(crate) const MAX_STRING: usize = 8 << 20;

/// Largest total size of the arguments of one function call, which bounds the memory a call
/// can take (`print $big $big $big ...`).
pub(crate) const MAX_ARGUMENT_BYTES: usize = 64 << 20;

/// A template value.
///
/// Maps are ordered by key because Go's `range` visits map keys in sorted order.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Go's `nil`; also what a missing map key yields (printed as `<no value>`).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// A signed integer (Go's `int`).
    Int(i64),
    /// A floating point number (Go's `float64`).
    Float(f64),
    /// A string.
    String(String),
    /// A list (Go slice).
    List(Vec<Value>),
    /// A map with string keys.
    Map(BTreeMap<String, Value>),
    /// One query result sample, with fields `.Labels` and `.Value`.
    Sample(QueryResultSample),
    /// A point in time, in milliseconds since the Unix epoch (UTC), as `toTime` returns.
    Time(i64),
    /// A duration in nanoseconds (Go's `time.Duration`), as `toDuration` returns.
    Duration(i64),
    /// A string marked safe for HTML (the result of `safeHtml`): never escaped.
    SafeHtml(String),
    /// A Go struct: named fields in declaration order. Unlike a map, asking for a field it does
    /// not have is an error, as in Go (so a typo such as `.Lables` fails instead of printing
    /// nothing). `type_name` is the Go type shown in messages and by `%T`.
    Struct {
        /// Go type name, e.g. `*template.Data`.
        type_name: String,
        /// Fields in declaration order.
        fields: Vec<(String, Value)>,
    },
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

impl<V: Into<Value>> From<BTreeMap<String, V>> for Value {
    fn from(v: BTreeMap<String, V>) -> Self {
        Value::Map(v.into_iter().map(|(k, v)| (k, v.into())).collect())
    }
}

impl From<&BTreeMap<String, String>> for Value {
    fn from(v: &BTreeMap<String, String>) -> Self {
        Value::Map(
            v.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }
}

impl From<QueryResultSample> for Value {
    fn from(v: QueryResultSample) -> Self {
        Value::Sample(v)
    }
}

impl Value {
    /// Builds a map value from `(key, value)` pairs.
    pub fn map<K: Into<String>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Go's notion of truth used by `if`, `with`, `and`, `or` and `not`: the zero value of a type,
    /// nil and empty collections are false.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) | Value::SafeHtml(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Sample(_) | Value::Time(_) | Value::Struct { .. } => true,
            Value::Duration(d) => *d != 0,
        }
    }

    /// Builds a struct value from its Go type name and `(field, value)` pairs in declaration
    /// order.
    pub fn record<K: Into<String>, V: Into<Value>>(
        type_name: &str,
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> Value {
        Value::Struct {
            type_name: type_name.to_string(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Roughly how many bytes the value's text takes (strings and map keys), for resource limits.
    pub(crate) fn approx_size(&self) -> usize {
        match self {
            Value::String(s) | Value::SafeHtml(s) => s.len(),
            Value::List(l) => l.iter().map(|v| v.approx_size() + 1).sum(),
            Value::Map(m) => m.iter().map(|(k, v)| k.len() + v.approx_size() + 1).sum(),
            Value::Struct { fields, .. } => fields
                .iter()
                .map(|(k, v)| k.len() + v.approx_size() + 1)
                .sum(),
            Value::Sample(s) => s.labels.iter().map(|(k, v)| k.len() + v.len() + 1).sum(),
            _ => 8,
        }
    }

    /// The Go type name, for error messages and `%T`.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Struct { type_name, .. } => type_name,
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(l) if !l.is_empty() && l.iter().all(|v| matches!(v, Value::Sample(_))) => {
                "template.queryResult"
            }
            Value::List(_) => "[]interface {}",
            // Maps of strings stand for Go's map[string]string (labels), as in `map_zero`.
            Value::Map(m) if m.values().all(|v| matches!(v, Value::String(_))) => {
                "map[string]string"
            }
            Value::Map(_) => "map[string]interface {}",
            Value::Sample(_) => "*template.sample",
            Value::Time(_) => "*time.Time",
            Value::Duration(_) => "time.Duration",
            Value::SafeHtml(_) => "template.HTML",
        }
    }
}
