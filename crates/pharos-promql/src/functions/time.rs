//! `time`, `timestamp` and the calendar functions (`hour`, `day_of_week`, `month` ...), all in UTC.

use pharos_model::Labels;

use super::FnCall;
use crate::engine::EvalError;
use crate::value::Value;

/// `time()`: evaluation time in seconds.
pub fn time(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    Ok(Value::Scalar(c.ts as f64 / 1000.0))
}

/// `step()`: the range query's step in seconds (0 for instant queries).
pub fn step(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    Ok(Value::Scalar(c.query.2 as f64 / 1000.0))
}

/// `range()`: the range query's end minus start in seconds.
pub fn range(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    Ok(Value::Scalar((c.query.1 - c.query.0) as f64 / 1000.0))
}

/// `start()`: the query's start in seconds.
pub fn start(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    Ok(Value::Scalar(c.query.0 as f64 / 1000.0))
}

/// `end()`: the query's end in seconds.
pub fn end(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    Ok(Value::Scalar(c.query.1 as f64 / 1000.0))
}

/// `timestamp(v)`: each sample's own timestamp in seconds.
pub fn timestamp(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    let mut v = c.take_vector(0);
    for s in &mut v {
        s.f = s.t as f64 / 1000.0;
        s.h = None;
        s.t = c.ts;
        s.drop_name = true;
    }
    Ok(Value::Vector(v))
}

/// A calendar date in UTC.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    weekday: u32,
    yday: u32,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = if m <= 2 { y + 1 } else { y };
    let mut yday = d;
    for mm in 1..m {
        yday += days_in(year, mm);
    }
    Civil {
        year,
        month: m,
        day: d,
        hour: (rem / 3600) as u32,
        minute: ((rem % 3600) / 60) as u32,
        weekday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

fn date_fn(c: &mut FnCall<'_>, f: fn(&Civil) -> f64) -> Result<Value, EvalError> {
    if c.args.is_empty() {
        let v = f(&civil(c.ts.div_euclid(1000)));
        return Ok(Value::Vector(vec![c.sample(Labels::empty(), v, false)]));
    }
    let mut v = c.take_vector(0);
    v.retain(|s| s.h.is_none());
    for s in &mut v {
        let secs = if s.f.is_nan() || s.f.is_infinite() {
            i64::MIN / 1000
        } else {
            s.f as i64
        };
        s.f = f(&civil(secs));
        s.t = c.ts;
        s.drop_name = true;
    }
    Ok(Value::Vector(v))
}

/// `day_of_month`.
pub fn day_of_month(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    date_fn(c, |d| f64::from(d.day))
}

/// `day_of_week` (0 = Sunday).
pub fn day_of_week(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    date_fn(c, |d| f64::from(d.weekday))
}

/// `day_of_year`.
pub fn day_of_year(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    date_fn(c, |d| f64::from(d.yday))
}

/// `days_in_month`.
pub fn days_in_month(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    date_fn(c, |d| f64::from(days_in(d.year, d.month)))
}

/// `hour`.
pub fn hour(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    date_fn(c, |d| f64::from(d.hour))
}

/// `minute`.
pub fn minute(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    date_fn(c, |d| f64::from(d.minute))
}

/// `month`.
pub fn month(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    date_fn(c, |d| f64::from(d.month))
}

/// `year`.
pub fn year(c: &mut FnCall<'_>) -> Result<Value, EvalError> {
    date_fn(c, |d| d.year as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let d = civil(0);
        assert_eq!(
            (d.year, d.month, d.day, d.weekday, d.yday),
            (1970, 1, 1, 4, 1)
        );
        let d = civil(1_709_251_199); // 2024-02-29T23:59:59Z
        assert_eq!(
            (d.year, d.month, d.day, d.hour, d.minute, d.yday),
            (2024, 2, 29, 23, 59, 60)
        );
    }
}
