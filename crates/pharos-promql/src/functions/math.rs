//! Element-wise math and trigonometry, `clamp*`, `round`, `scalar`, `vector`, `pi`.

use pharos_model::Labels;

use super::{map_floats, FnCall};
use crate::engine::EvalError;
use crate::value::{Sample, Value};

macro_rules! simple {
    ($($name:ident => $f:expr;)*) => {
        $(
            #[doc = concat!("`", stringify!($name), "(v instant-vector)`.")]
            pub fn $name(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
                map_floats(c, 0, $f)
            }
        )*
    };
}

simple! {
    abs => f64::abs;
    ceil => f64::ceil;
    floor => f64::floor;
    exp => f64::exp;
    ln => f64::ln;
    log2 => f64::log2;
    log10 => f64::log10;
    sqrt => f64::sqrt;
    sin => f64::sin;
    cos => f64::cos;
    tan => f64::tan;
    asin => f64::asin;
    acos => f64::acos;
    atan => f64::atan;
    sinh => f64::sinh;
    cosh => f64::cosh;
    tanh => f64::tanh;
    asinh => f64::asinh;
    acosh => f64::acosh;
    atanh => f64::atanh;
    deg => |v: f64| v * 180.0 / std::f64::consts::PI;
    rad => |v: f64| v * std::f64::consts::PI / 180.0;
    sgn => |v: f64| if v > 0.0 { 1.0 } else if v < 0.0 { -1.0 } else { v };
}

/// `pi()`.
pub fn pi(_c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    Ok(Value::Scalar(std::f64::consts::PI))
}

/// `clamp(v, min, max)`.
pub fn clamp(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let (lo, hi) = (c.scalar(1), c.scalar(2));
    if lo > hi {
        return Ok(Value::Vector(Vec::new()));
    }
    map_floats(c, 0, move |v| go_max(lo, go_min(hi, v)))
}

/// `clamp_max(v, max)`.
pub fn clamp_max(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let hi = c.scalar(1);
    map_floats(c, 0, move |v| go_min(hi, v))
}

/// `clamp_min(v, min)`.
pub fn clamp_min(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let lo = c.scalar(1);
    map_floats(c, 0, move |v| go_max(lo, v))
}

/// `round(v, to_nearest=1)`: rounds half up, as Prometheus does.
pub fn round(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let to = if c.args.len() > 1 { c.scalar(1) } else { 1.0 };
    let inv = 1.0 / to;
    map_floats(c, 0, move |v| (v * inv + 0.5).floor() / inv)
}

/// `scalar(v)`: the single element's value, or NaN.
pub fn scalar(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let v = c.take_vector(0);
    let floats: Vec<&Sample> = v.iter().filter(|s| s.h.is_none()).collect();
    Ok(Value::Scalar(if floats.len() == 1 {
        floats[0].f
    } else {
        f64::NAN
    }))
}

/// `min_of(a, b)`.
pub fn min_of(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    Ok(Value::Scalar(go_min(c.scalar(0), c.scalar(1))))
}

/// `max_of(a, b)`.
pub fn max_of(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    Ok(Value::Scalar(go_max(c.scalar(0), c.scalar(1))))
}

/// `vector(s)`.
pub fn vector(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let v = c.scalar(0);
    Ok(Value::Vector(vec![c.sample(Labels::empty(), v, false)]))
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}
