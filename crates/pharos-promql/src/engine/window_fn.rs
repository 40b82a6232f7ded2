//! Range-vector functions computed straight from a selector's loaded float samples.
//!
//! The general path builds a [`crate::value::Matrix`] (one freshly allocated point vector per
//! series per step) and hands it to the function. For the common float-only functions over a
//! plain `x[d]` selector, the evaluator instead slides each series' window forward with its
//! cursor and computes the result from one reused buffer, so a range query allocates nothing
//! per series per step. Results are identical: both paths share the arithmetic.

use crate::engine::aggregate::{avg, kahan_inc};
use crate::functions::rate::float_change;
use crate::value::FPoint;

/// A range-vector function with a float-only fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WindowFn {
    Rate,
    Increase,
    Delta,
    SumOverTime,
    AvgOverTime,
    CountOverTime,
    MinOverTime,
    MaxOverTime,
}

impl WindowFn {
    /// The fast-path function called `name`, if there is one.
    pub(crate) fn from_name(name: &str) -> Option<WindowFn> {
        Some(match name {
            "rate" => WindowFn::Rate,
            "increase" => WindowFn::Increase,
            "delta" => WindowFn::Delta,
            "sum_over_time" => WindowFn::SumOverTime,
            "avg_over_time" => WindowFn::AvgOverTime,
            "count_over_time" => WindowFn::CountOverTime,
            "min_over_time" => WindowFn::MinOverTime,
            "max_over_time" => WindowFn::MaxOverTime,
            _ => return None,
        })
    }

    /// True for the functions that expect a counter (and note names that do not look like one).
    pub(crate) fn wants_counter(self) -> bool {
        matches!(self, WindowFn::Rate | WindowFn::Increase)
    }

    /// The function's value over the non-empty `points` of one series in `(start, end]`.
    pub(crate) fn apply(self, points: &[FPoint], start: i64, end: i64) -> Option<f64> {
        let first = points.first()?.f;
        match self {
            WindowFn::Rate => float_change(points, start, end, true, true),
            WindowFn::Increase => float_change(points, start, end, true, false),
            WindowFn::Delta => float_change(points, start, end, false, false),
            WindowFn::SumOverTime => {
                let (mut sum, mut comp) = (0.0f64, 0.0f64);
                for p in points {
                    (sum, comp) = kahan_inc(p.f, sum, comp);
                }
                Some(if sum.is_infinite() { sum } else { sum + comp })
            }
            WindowFn::AvgOverTime => Some(avg(points.iter().map(|p| p.f))),
            WindowFn::CountOverTime => Some(points.len() as f64),
            WindowFn::MinOverTime => Some(points.iter().skip(1).fold(first, |v, x| {
                if x.f < v || v.is_nan() {
                    x.f
                } else {
                    v
                }
            })),
            WindowFn::MaxOverTime => Some(points.iter().skip(1).fold(first, |v, x| {
                if x.f > v || v.is_nan() {
                    x.f
                } else {
                    v
                }
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WindowFn;
    use crate::value::FPoint;

    fn pts(v: &[(i64, f64)]) -> Vec<FPoint> {
        v.iter().map(|&(t, f)| FPoint { t, f }).collect()
    }

    #[test]
    fn counter_reset_is_added_back() {
        let p = pts(&[(0, 10.0), (10_000, 20.0), (20_000, 5.0), (30_000, 15.0)]);
        let inc = WindowFn::Increase.apply(&p, 0, 30_000);
        // 10 before the reset, 15 after it; the window is exactly covered.
        assert_eq!(inc, Some(25.0));
    }

    #[test]
    fn min_and_max_skip_leading_nan() {
        let p = pts(&[(0, f64::NAN), (1, 3.0), (2, -1.0)]);
        assert_eq!(WindowFn::MinOverTime.apply(&p, 0, 2), Some(-1.0));
        assert_eq!(WindowFn::MaxOverTime.apply(&p, 0, 2), Some(3.0));
        assert_eq!(WindowFn::CountOverTime.apply(&p, 0, 2), Some(3.0));
        assert_eq!(WindowFn::Rate.apply(&p[..1], 0, 2), None);
    }
}
