//! The values PromQL expressions produce.

use pharos_model::{FloatHistogram, Labels};

/// The four PromQL value types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// A single number.
    Scalar,
    /// A string.
    String,
    /// An instant vector.
    Vector,
    /// A range vector.
    Matrix,
}

impl ValueType {
    /// The name Prometheus uses in messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::String => "string",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
        }
    }
    /// The name used in the HTTP API's `resultType`.
    pub fn api_name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::String => "string",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
        }
    }
}

/// One element of an instant vector: a float or a histogram.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Labels (still including `__name__` when `drop_name` is set; removed at the end).
    pub metric: Labels,
    /// Timestamp (ms): the evaluation time, or the raw sample time for selectors.
    pub t: i64,
    /// Float value (ignored when `h` is set).
    pub f: f64,
    /// Histogram value.
    pub h: Option<Box<FloatHistogram>>,
    /// The metric name is to be dropped once evaluation finishes (Prometheus 3's delayed
    /// name removal, so `label_replace` can still read it).
    pub drop_name: bool,
}

/// An instant vector.
pub type Vector = Vec<Sample>;

/// A float point of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FPoint {
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub f: f64,
}

/// A histogram point of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct HPoint {
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub h: Box<FloatHistogram>,
}

/// One series of a range vector.
#[derive(Clone, Debug)]
pub struct Series {
    /// Labels.
    pub metric: Labels,
    /// Float points in time order.
    pub floats: Vec<FPoint>,
    /// Histogram points in time order.
    pub hists: Vec<HPoint>,
    /// See [`Sample::drop_name`].
    pub drop_name: bool,
}

/// A range vector.
pub type Matrix = Vec<Series>;

/// Any PromQL value.
#[derive(Clone, Debug)]
pub enum Value {
    /// A scalar at a time.
    Scalar(f64),
    /// A string.
    String(String),
    /// An instant vector.
    Vector(Vector),
    /// A range vector.
    Matrix(Matrix),
}

impl Value {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Scalar(_) => ValueType::Scalar,
            Value::String(_) => ValueType::String,
            Value::Vector(_) => ValueType::Vector,
            Value::Matrix(_) => ValueType::Matrix,
        }
    }
}

/// Formats a float as Prometheus does in text output (`+Inf`, `NaN`, shortest round-trip).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        let s = format!("{v}");
        // Go prints large and small magnitudes in exponent form; match the common cases.
        if v != 0.0 && (v.abs() >= 1e21 || v.abs() < 1e-4) {
            let e = format!("{v:e}");
            if let Some((m, exp)) = e.split_once('e') {
                let exp: i32 = exp.parse().unwrap_or(0);
                return format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
            }
        }
        s
    }
}

/// Removes the metric name and, with it, the `__type__` and `__unit__` metadata labels, which
/// describe the named metric and stop being true once its value is transformed.
pub fn drop_metric_name(l: &Labels) -> Labels {
    if !l
        .iter()
        .any(|x| matches!(&*x.name, "__name__" | "__type__" | "__unit__"))
    {
        return l.clone();
    }
    let mut b = l.builder();
    b.retain(|x| !matches!(&*x.name, "__name__" | "__type__" | "__unit__"));
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(1e-7), "1e-07");
        assert_eq!(format_float(1.5e300), "1.5e+300");
    }
}
