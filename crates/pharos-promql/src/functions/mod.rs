//! The PromQL function library.
//!
//! # Dispatch interface
//!
//! Every function is a [`FunctionDef`] in [`FUNCTIONS`]: its name, argument types (checked by the
//! parser), how many trailing optional arguments it takes, its return type, whether it is
//! experimental, and an implementation of type [`FnImpl`]. The engine evaluates the arguments
//! for one evaluation timestamp and calls the implementation with a [`FnCall`]:
//!
//! - `args` holds the evaluated arguments. A range-vector argument (`x[5m]` or a subquery) is a
//!   [`Value::Matrix`] holding only the points inside the window, and `window` gives that window
//!   (`(start, end]`, milliseconds) for functions that extrapolate to its edges.
//! - `exprs` gives the argument expressions (for `absent`, which reads selector matchers).
//! - `annotations` collects warnings and infos, positioned at `pos` or an argument's position.
//!
//! Implementations return a value (usually an instant vector whose samples' `t` is `ts`), and set
//! `drop_name` on samples whose metric name Prometheus drops, rather than removing it: the
//! engine removes names at the end of evaluation (delayed name removal).
//!
//! To add a function: write it in the file of its family and add one row to [`FUNCTIONS`].

mod histogram;
mod label;
mod math;
pub(crate) mod over_time;
mod presence;
pub(crate) mod rate;
mod sort;
mod time;

use pharos_model::Labels;

pub use histogram::classic_quantile;
pub use over_time::detect_reset;

use crate::annotations::Annotations;
use crate::engine::EvalError;
use crate::parser::{Expr, PosRange};
use crate::value::{Sample, Value, ValueType, Vector};

/// The implementation of a function.
pub type FnImpl = fn(&mut FnCall<'_>) -> Result<Value, EvalError>;

/// A function's signature and implementation.
pub struct FunctionDef {
    /// Name as called in PromQL.
    pub name: &'static str,
    /// Argument types; with `variadic != 0` the last may repeat or be omitted.
    pub args: &'static [ValueType],
    /// 0: exactly `args`; n > 0: up to n optional trailing arguments; -1: any number.
    pub variadic: i32,
    /// Return type.
    pub ret: ValueType,
    /// Only available with `--enable-feature=promql-experimental-functions`.
    pub experimental: bool,
    /// The implementation.
    pub imp: FnImpl,
}

impl std::fmt::Debug for FunctionDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FunctionDef({})", self.name)
    }
}

/// Everything a function implementation may use for one evaluation step.
pub struct FnCall<'a> {
    /// Evaluated arguments.
    pub args: Vec<Value>,
    /// Argument expressions.
    pub exprs: &'a [Expr],
    /// Evaluation timestamp (ms).
    pub ts: i64,
    /// For a range-vector argument: the window `(start, end]` in ms.
    pub window: Option<(i64, i64)>,
    /// For a range-vector argument written as a selector: its `anchored`/`smoothed` flags.
    pub range_flags: (bool, bool),
    /// The lookback delta (ms), for `anchored`/`smoothed`.
    pub lookback: i64,
    /// Where annotations go.
    pub annotations: &'a mut Annotations,
    /// Position of the call.
    pub pos: PosRange,
    /// The query's start, end and step (ms; step 0 for instant queries), for `step()`,
    /// `range()`, `start()` and `end()`.
    pub query: (i64, i64, i64),
}

impl FnCall<'_> {
    /// The argument at `i` as a scalar (NaN when missing or not a scalar).
    pub fn scalar(&self, i: usize) -> f64 {
        match self.args.get(i) {
            Some(Value::Scalar(v)) => *v,
            _ => f64::NAN,
        }
    }
    /// The argument at `i` as a string.
    pub fn string(&self, i: usize) -> Result<&str, EvalError> {
        match self.args.get(i) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(EvalError::Execution(format!(
                "expected a string argument at position {}",
                i + 1
            ))),
        }
    }
    /// Takes the argument at `i` as an instant vector.
    pub fn take_vector(&mut self, i: usize) -> Vector {
        match self.args.get_mut(i) {
            Some(Value::Vector(v)) => std::mem::take(v),
            _ => Vec::new(),
        }
    }
    /// Takes the argument at `i` as a range vector.
    pub fn take_matrix(&mut self, i: usize) -> crate::value::Matrix {
        match self.args.get_mut(i) {
            Some(Value::Matrix(m)) => std::mem::take(m),
            _ => Vec::new(),
        }
    }
    /// Position of argument `i` (or of the call).
    pub fn arg_pos(&self, i: usize) -> PosRange {
        self.exprs.get(i).map_or(self.pos, Expr::pos)
    }
    /// A float result sample at this step.
    pub fn sample(&self, metric: Labels, f: f64, drop_name: bool) -> Sample {
        Sample {
            metric,
            t: self.ts,
            f,
            h: None,
            drop_name,
        }
    }
}

use ValueType::{Matrix as M, Scalar as S, String as Str, Vector as V};

macro_rules! def {
    ($name:literal, [$($a:expr),*], $var:expr, $ret:expr, $exp:expr, $imp:path) => {
        FunctionDef { name: $name, args: &[$($a),*], variadic: $var, ret: $ret, experimental: $exp, imp: $imp }
    };
}

/// Every function, in Prometheus's function list.
pub static FUNCTIONS: &[FunctionDef] = &[
    def!("abs", [V], 0, V, false, math::abs),
    def!("absent", [V], 0, V, false, presence::absent),
    def!(
        "absent_over_time",
        [M],
        0,
        V,
        false,
        presence::absent_over_time
    ),
    def!("acos", [V], 0, V, false, math::acos),
    def!("acosh", [V], 0, V, false, math::acosh),
    def!("asin", [V], 0, V, false, math::asin),
    def!("asinh", [V], 0, V, false, math::asinh),
    def!("atan", [V], 0, V, false, math::atan),
    def!("atanh", [V], 0, V, false, math::atanh),
    def!("avg_over_time", [M], 0, V, false, over_time::avg_over_time),
    def!("ceil", [V], 0, V, false, math::ceil),
    def!("changes", [M], 0, V, false, over_time::changes),
    def!("clamp", [V, S, S], 0, V, false, math::clamp),
    def!("clamp_max", [V, S], 0, V, false, math::clamp_max),
    def!("clamp_min", [V, S], 0, V, false, math::clamp_min),
    def!("cos", [V], 0, V, false, math::cos),
    def!("cosh", [V], 0, V, false, math::cosh),
    def!(
        "count_over_time",
        [M],
        0,
        V,
        false,
        over_time::count_over_time
    ),
    def!("days_in_month", [V], 1, V, false, time::days_in_month),
    def!("day_of_month", [V], 1, V, false, time::day_of_month),
    def!("day_of_week", [V], 1, V, false, time::day_of_week),
    def!("day_of_year", [V], 1, V, false, time::day_of_year),
    def!("deg", [V], 0, V, false, math::deg),
    def!("delta", [M], 0, V, false, rate::delta),
    def!("deriv", [M], 0, V, false, over_time::deriv),
    def!("end", [], 0, S, true, time::end),
    def!("exp", [V], 0, V, false, math::exp),
    def!("floor", [V], 0, V, false, math::floor),
    def!(
        "first_over_time",
        [M],
        0,
        V,
        true,
        over_time::first_over_time
    ),
    def!("histogram_avg", [V], 0, V, false, histogram::histogram_avg),
    def!(
        "histogram_count",
        [V],
        0,
        V,
        false,
        histogram::histogram_count
    ),
    def!(
        "histogram_fraction",
        [S, S, V],
        0,
        V,
        false,
        histogram::histogram_fraction
    ),
    def!(
        "histogram_quantile",
        [S, V],
        0,
        V,
        false,
        histogram::histogram_quantile
    ),
    def!(
        "histogram_quantiles",
        [V, Str, S],
        -1,
        V,
        true,
        histogram::histogram_quantiles
    ),
    def!(
        "histogram_stddev",
        [V],
        0,
        V,
        false,
        histogram::histogram_stddev
    ),
    def!(
        "histogram_stdvar",
        [V],
        0,
        V,
        false,
        histogram::histogram_stdvar
    ),
    def!("histogram_sum", [V], 0, V, false, histogram::histogram_sum),
    def!(
        "double_exponential_smoothing",
        [M, S, S],
        0,
        V,
        true,
        over_time::double_exponential_smoothing
    ),
    def!("hour", [V], 1, V, false, time::hour),
    def!("idelta", [M], 0, V, false, rate::idelta),
    def!("increase", [M], 0, V, false, rate::increase),
    def!("info", [V, V], 1, V, true, label::info),
    def!("irate", [M], 0, V, false, rate::irate),
    def!(
        "label_replace",
        [V, Str, Str, Str, Str],
        0,
        V,
        false,
        label::label_replace
    ),
    def!(
        "label_join",
        [V, Str, Str, Str],
        -1,
        V,
        false,
        label::label_join
    ),
    def!(
        "last_over_time",
        [M],
        0,
        V,
        false,
        over_time::last_over_time
    ),
    def!("ln", [V], 0, V, false, math::ln),
    def!("log10", [V], 0, V, false, math::log10),
    def!("log2", [V], 0, V, false, math::log2),
    def!("mad_over_time", [M], 0, V, true, over_time::mad_over_time),
    def!("max_of", [S, S], 0, S, true, math::max_of),
    def!("min_of", [S, S], 0, S, true, math::min_of),
    def!("max_over_time", [M], 0, V, false, over_time::max_over_time),
    def!("min_over_time", [M], 0, V, false, over_time::min_over_time),
    def!(
        "ts_of_first_over_time",
        [M],
        0,
        V,
        true,
        over_time::ts_of_first_over_time
    ),
    def!(
        "ts_of_last_over_time",
        [M],
        0,
        V,
        true,
        over_time::ts_of_last_over_time
    ),
    def!(
        "ts_of_max_over_time",
        [M],
        0,
        V,
        true,
        over_time::ts_of_max_over_time
    ),
    def!(
        "ts_of_min_over_time",
        [M],
        0,
        V,
        true,
        over_time::ts_of_min_over_time
    ),
    def!("minute", [V], 1, V, false, time::minute),
    def!("month", [V], 1, V, false, time::month),
    def!("pi", [], 0, S, false, math::pi),
    def!(
        "predict_linear",
        [M, S],
        0,
        V,
        false,
        over_time::predict_linear
    ),
    def!(
        "present_over_time",
        [M],
        0,
        V,
        false,
        over_time::present_over_time
    ),
    def!(
        "quantile_over_time",
        [S, M],
        0,
        V,
        false,
        over_time::quantile_over_time
    ),
    def!("rad", [V], 0, V, false, math::rad),
    def!("range", [], 0, S, true, time::range),
    def!("rate", [M], 0, V, false, rate::rate),
    def!("resets", [M], 0, V, false, over_time::resets),
    def!("round", [V, S], 1, V, false, math::round),
    def!("scalar", [V], 0, S, false, math::scalar),
    def!("sgn", [V], 0, V, false, math::sgn),
    def!("sin", [V], 0, V, false, math::sin),
    def!("sinh", [V], 0, V, false, math::sinh),
    def!("sort", [V], 0, V, false, sort::sort),
    def!("sort_desc", [V], 0, V, false, sort::sort_desc),
    def!("sort_by_label", [V, Str], -1, V, true, sort::sort_by_label),
    def!(
        "sort_by_label_desc",
        [V, Str],
        -1,
        V,
        true,
        sort::sort_by_label_desc
    ),
    def!("sqrt", [V], 0, V, false, math::sqrt),
    def!("start", [], 0, S, true, time::start),
    def!("step", [], 0, S, true, time::step),
    def!(
        "stddev_over_time",
        [M],
        0,
        V,
        false,
        over_time::stddev_over_time
    ),
    def!(
        "stdvar_over_time",
        [M],
        0,
        V,
        false,
        over_time::stdvar_over_time
    ),
    def!("sum_over_time", [M], 0, V, false, over_time::sum_over_time),
    def!("tan", [V], 0, V, false, math::tan),
    def!("tanh", [V], 0, V, false, math::tanh),
    def!("time", [], 0, S, false, time::time),
    def!("timestamp", [V], 0, V, false, time::timestamp),
    def!("vector", [S], 0, V, false, math::vector),
    def!("year", [V], 1, V, false, time::year),
];

/// Finds a function by name.
pub fn lookup(name: &str) -> Option<&'static FunctionDef> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Applies `f` to every float sample of the vector argument `i`, dropping the metric name;
/// histogram samples are dropped (these functions are defined on floats only).
pub(crate) fn map_floats(
    c: &mut FnCall<'_>,
    i: usize,
    f: impl Fn(f64) -> f64,
) -> Result<Value, EvalError> {
    let mut v = c.take_vector(i);
    v.retain(|s| s.h.is_none());
    for s in &mut v {
        s.f = f(s.f);
        s.t = c.ts;
        s.drop_name = true;
    }
    Ok(Value::Vector(v))
}

/// True for a name Prometheus 3 accepts as a label name (any valid UTF-8, not empty).
pub fn valid_label_name(s: &str) -> bool {
    !s.is_empty() && !s.starts_with(crate::parser::INVALID_UTF8_PREFIX)
}

/// Quotes like Go's `%q`, rendering invalid UTF-8 bytes as `\x..`.
pub fn go_quote(s: &str) -> String {
    if let Some(raw) = s.strip_prefix(crate::parser::INVALID_UTF8_PREFIX) {
        return format!("\"{raw}\"");
    }
    format!("{s:?}")
}

/// Where a series falls in `[0, 1)` for `limit_ratio`: its label hash scaled down, so the same
/// series is kept at every step.
pub fn ratio_offset(l: &Labels) -> f64 {
    l.stable_hash() as f64 / u64::MAX as f64
}
