//! Range-vector functions computed straight from a selector's loaded float samples.
//!
//! The general path builds a [`crate::value::Matrix`] (one freshly allocated point vector per
//! series per step) and hands it to the function. For the common float-only functions over a
//! plain `x[d]` selector, the evaluator instead slides each series' window forward with its
//! cursor and computes the result from one reused buffer, so a range query allocates nothing
//! per series per step. Results are identical: both paths share the arithmetic.

use crate::engine::aggregate::{avg, kahan_inc};
use crate::functions::rate::{extrapolate_change, float_change};
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

    /// True for `rate`, `increase` and `delta`, which need timestamps; the others only read
    /// values.
    pub(crate) fn is_change(self) -> bool {
        matches!(self, WindowFn::Rate | WindowFn::Increase | WindowFn::Delta)
    }

    /// The function's value over the non-empty `points` of one series in `(start, end]`.
    pub(crate) fn apply(self, points: &[FPoint], start: i64, end: i64) -> Option<f64> {
        match self {
            WindowFn::Rate => float_change(points, start, end, true, true),
            WindowFn::Increase => float_change(points, start, end, true, false),
            WindowFn::Delta => float_change(points, start, end, false, false),
            _ => self.over_values(points.iter().map(|p| p.f)),
        }
    }

    /// The value of a function that only reads values (not `rate`, `increase`, `delta`).
    pub(crate) fn over_values<I>(self, mut values: I) -> Option<f64>
    where
        I: Iterator<Item = f64> + Clone,
    {
        match self {
            WindowFn::SumOverTime => {
                let (mut sum, mut comp) = (0.0f64, 0.0f64);
                for f in values {
                    (sum, comp) = kahan_inc(f, sum, comp);
                }
                Some(if sum.is_infinite() { sum } else { sum + comp })
            }
            WindowFn::AvgOverTime => Some(avg(values)),
            WindowFn::CountOverTime => Some(values.count() as f64),
            WindowFn::MinOverTime => {
                let first = values.next()?;
                Some(values.fold(first, |v, x| if x < v || v.is_nan() { x } else { v }))
            }
            WindowFn::MaxOverTime => {
                let first = values.next()?;
                Some(values.fold(first, |v, x| if x > v || v.is_nan() { x } else { v }))
            }
            WindowFn::Rate | WindowFn::Increase | WindowFn::Delta => None,
        }
    }

    /// `rate`, `increase` or `delta` over samples `a..b` of a series without stale markers,
    /// in constant time when no counter reset falls inside the window (`resets` counts the
    /// decreases up to each sample); `None` when the samples must be walked.
    pub(crate) fn change_without_resets(
        self,
        ts: &[i64],
        vs: &[f64],
        resets: &[u32],
        (a, b): (usize, usize),
        window: (i64, i64),
    ) -> Option<Option<f64>> {
        if b < a + 2 {
            return Some(None);
        }
        let point = |i: usize| -> Option<FPoint> {
            Some(FPoint {
                t: *ts.get(i)?,
                f: *vs.get(i)?,
            })
        };
        let (first, last) = (point(a)?, point(b - 1)?);
        let is_counter = self != WindowFn::Delta;
        if is_counter && resets.get(a)? != resets.get(b - 1)? {
            return None;
        }
        Some(Some(extrapolate_change(
            first,
            last,
            b - a,
            last.f - first.f,
            window,
            is_counter,
            self == WindowFn::Rate,
        )))
    }
}

/// For each sample, how many times the value decreased up to it (`v[i] < v[i-1]`), so the
/// resets inside any window are a difference of two entries.
pub(crate) fn reset_prefix(values: &[f64]) -> Vec<u32> {
    let mut out = Vec::with_capacity(values.len());
    let mut n = 0u32;
    let mut prev = None;
    for &v in values {
        if prev.is_some_and(|p| v < p) {
            n = n.saturating_add(1);
        }
        out.push(n);
        prev = Some(v);
    }
    out
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
    fn constant_time_change_matches_the_walk() {
        let t: Vec<i64> = (0..10).map(|i| i * 15_000).collect();
        let v: Vec<f64> = vec![1.0, 4.0, 9.0, 9.5, 20.0, 3.0, 7.0, 8.0, 30.0, 31.0];
        let resets = super::reset_prefix(&v);
        let p: Vec<FPoint> = t.iter().zip(&v).map(|(&t, &f)| FPoint { t, f }).collect();
        for kind in [WindowFn::Rate, WindowFn::Increase, WindowFn::Delta] {
            for (a, b) in [(0, 5), (1, 4), (5, 10), (0, 10), (3, 4)] {
                let window = (t[a] - 7_000, t[b - 1] + 2_000);
                let walked = kind.apply(&p[a..b], window.0, window.1);
                match kind.change_without_resets(&t, &v, &resets, (a, b), window) {
                    Some(fast) => assert_eq!(fast, walked, "{kind:?} {a}..{b}"),
                    None => assert!(kind != WindowFn::Delta && resets[a] != resets[b - 1]),
                }
            }
        }
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
