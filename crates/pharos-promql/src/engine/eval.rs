//! The evaluator: loads every selector's series once for the whole query, then evaluates the
//! tree at each step.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::time::Instant;

use pharos_model::{is_stale_nan, FloatHistogram, Labels};
use pharos_tsdb::{Querier, Queryable, SelectHints, ValueKind};

use super::window_fn::{self, WindowFn};
use super::{aggregate, binary, EngineOptions, EvalError, QueryRange, QueryStats, SigHasher};
use crate::annotations::Annotations;
use crate::functions::FnCall;
use crate::parser::{AtModifier, Expr, VectorSelector};
use crate::value::{FPoint, HPoint, Matrix, Sample, Series, Value, Vector};

/// One selected series held in flat arrays for the whole query.
pub(crate) struct LoadedSeries {
    pub metric: Labels,
    pub ft: Vec<i64>,
    pub fv: Vec<f64>,
    pub ht: Vec<i64>,
    pub hv: Vec<FloatHistogram>,
    /// Where the last window started and ended in `ft`: range queries move forward step by
    /// step, so the next search starts there instead of bisecting the whole series.
    cursor: std::cell::Cell<(usize, usize)>,
    /// Whether the metric name lacks a counter suffix (`rate` and `increase` then note that
    /// it might not be a counter); decided once here instead of at every step.
    not_counter_name: bool,
    /// Whether `fv` holds stale markers (range functions must then skip them one by one).
    has_stale: bool,
    /// Decreases of `fv` up to each sample, built on first use by a range function.
    resets: std::cell::OnceCell<Vec<u32>>,
}

/// First index in `ts` whose timestamp is `> bound`, searching forward from `hint` when the
/// hint is at or before the answer, else by bisection.
fn seek_after(ts: &[i64], hint: usize, bound: i64) -> usize {
    if hint <= ts.len() && (hint == 0 || ts[hint - 1] <= bound) {
        let mut i = hint;
        let limit = (hint + 8).min(ts.len());
        while i < limit && ts[i] <= bound {
            i += 1;
        }
        if i < limit || i == ts.len() {
            return i;
        }
        return i + ts[i..].partition_point(|&t| t <= bound);
    }
    ts.partition_point(|&t| t <= bound)
}

/// Most label sets whose grouping signatures are kept (see [`Evaluator::group_signatures`]).
const GROUP_SIG_CACHE_LIMIT: usize = 1 << 17;

pub(crate) struct Evaluator<'a> {
    opts: &'a EngineOptions,
    storage: &'a dyn Queryable,
    range: QueryRange,
    deadline: Instant,
    data: HashMap<usize, Vec<LoadedSeries>>,
    pub(crate) annotations: Annotations,
    total_samples: u64,
    peak_samples: u64,
    steps_checked: u32,
    /// The window of one series for the fast range-function path, reused across steps.
    window: Vec<FPoint>,
    /// Grouping signatures already computed, by aggregation and label set (see
    /// [`Evaluator::group_signature`]).
    group_sigs: HashMap<(usize, usize), (Labels, u64), BuildHasherDefault<SigHasher>>,
    /// Per aggregation, the label-set identity and signature met at each input position in
    /// the previous step: a range query usually meets the same series in the same order, so
    /// a pointer comparison replaces the lookup in `group_sigs`.
    group_sig_rows: HashMap<usize, Vec<(usize, u64)>, BuildHasherDefault<SigHasher>>,
}

fn key(vs: &VectorSelector) -> usize {
    std::ptr::from_ref(vs) as usize
}

impl<'a> Evaluator<'a> {
    pub fn new(
        opts: &'a EngineOptions,
        storage: &'a dyn Queryable,
        range: QueryRange,
        deadline: Instant,
    ) -> Result<Self, EvalError> {
        Ok(Evaluator {
            opts,
            storage,
            range,
            deadline,
            data: HashMap::new(),
            annotations: Annotations::default(),
            total_samples: 0,
            peak_samples: 0,
            steps_checked: 0,
            window: Vec::new(),
            group_sigs: HashMap::default(),
            group_sig_rows: HashMap::default(),
        })
    }

    pub fn stats(&self) -> QueryStats {
        QueryStats {
            total_queryable_samples: self.total_samples,
            peak_samples: self.peak_samples,
            ..Default::default()
        }
    }

    pub fn into_annotations(self) -> Annotations {
        self.annotations
    }

    fn at_time(&self, at: AtModifier) -> i64 {
        match at {
            AtModifier::At(t) => t,
            AtModifier::Start => self.range.start,
            AtModifier::End => self.range.end,
        }
    }

    /// The grouping signature of `labels` for the aggregation identified by `agg`, computed
    /// once per series: range queries meet the same label sets at every step. The cache keys
    /// on the label set's shared storage and keeps a clone of it, so an address can never be
    /// reused by another label set while the entry exists.
    pub(crate) fn group_signature(
        &mut self,
        agg: usize,
        labels: &Labels,
        compute: impl FnOnce(&Labels) -> u64,
    ) -> u64 {
        let id = labels.as_slice().as_ptr() as usize;
        if let Some((_, sig)) = self.group_sigs.get(&(agg, id)) {
            return *sig;
        }
        let sig = compute(labels);
        self.group_sigs.insert((agg, id), (labels.clone(), sig));
        sig
    }

    /// The signatures of `labels` (one per input sample) for aggregation `agg`, using
    /// [`Evaluator::group_signature`] for label sets not met at the same position before.
    pub(crate) fn group_signatures<'l>(
        &mut self,
        agg: usize,
        labels: impl Iterator<Item = &'l Labels>,
        compute: impl Fn(&Labels) -> u64,
    ) -> Vec<u64> {
        // Label sets made anew at every step (by `label_replace`, say) would make the cache
        // grow with the query's length; start over past a bound. Rows go too, as they rely on
        // the cache keeping their label sets alive.
        if self.group_sigs.len() > GROUP_SIG_CACHE_LIMIT {
            self.group_sigs.clear();
            self.group_sig_rows.clear();
        }
        let mut row = self.group_sig_rows.remove(&agg).unwrap_or_default();
        let mut out = Vec::with_capacity(row.len());
        for (i, l) in labels.enumerate() {
            let id = l.as_slice().as_ptr() as usize;
            // Entries in `row` were all registered in `group_sigs`, which keeps their label
            // sets alive, so an equal address means the same label set.
            let sig = match row.get(i) {
                Some(&(known, sig)) if known == id => sig,
                _ => {
                    let sig = self.group_signature(agg, l, &compute);
                    match row.get_mut(i) {
                        Some(slot) => *slot = (id, sig),
                        None => row.push((id, sig)),
                    }
                    sig
                }
            };
            out.push(sig);
        }
        self.group_sig_rows.insert(agg, row);
        out
    }

    /// The time at which `e`, evaluated at `ts`, reads its samples: `@` and `offset` of its
    /// selector or subquery move it. `info` reads its info series at that time.
    fn reference_time(&self, e: &Expr, ts: i64) -> i64 {
        match e {
            Expr::Paren(e, _) | Expr::Neg(e, _) => self.reference_time(e, ts),
            Expr::Vector(vs) => vs.at.map_or(ts, |a| self.at_time(a)) - vs.offset,
            Expr::Matrix(m) => m.vs.at.map_or(ts, |a| self.at_time(a)) - m.vs.offset,
            Expr::Subquery(s) => {
                let t = s.at.map_or(ts, |a| self.at_time(a)) - s.offset;
                self.reference_time(&s.expr, t)
            }
            Expr::Call { args, .. } => args
                .iter()
                .find(|a| a.value_type() != crate::value::ValueType::Scalar)
                .map_or(ts, |a| self.reference_time(a, ts)),
            _ => ts,
        }
    }

    pub(crate) fn check_deadline(&mut self) -> Result<(), EvalError> {
        self.steps_checked = self.steps_checked.wrapping_add(1);
        if self.steps_checked & 63 == 0 && Instant::now() > self.deadline {
            return Err(EvalError::Timeout("expression evaluation"));
        }
        Ok(())
    }

    /// Works out which time range each selector reads, then loads its series.
    pub fn prepare(&mut self, e: &Expr) -> Result<(), EvalError> {
        let mut wanted: Vec<(&VectorSelector, i64, i64)> = Vec::new();
        self.collect(e, self.range.start, self.range.end, &mut wanted);
        if wanted.is_empty() {
            return Ok(());
        }
        let mint = wanted.iter().map(|w| w.1).min().unwrap_or(0);
        let maxt = wanted.iter().map(|w| w.2).max().unwrap_or(0);
        let mut stats_only = std::collections::HashSet::new();
        stats_selectors(e, false, &mut stats_only);
        let querier = self.storage.querier(mint, maxt)?;
        for (vs, lo, hi) in wanted {
            let mut series = self.load(&*querier, vs, lo, hi)?;
            if stats_only.contains(&key(vs)) {
                series.iter_mut().for_each(detect_resets_on_read);
            }
            self.data.insert(key(vs), series);
        }
        Ok(())
    }

    fn collect<'e>(
        &self,
        e: &'e Expr,
        lo: i64,
        hi: i64,
        out: &mut Vec<(&'e VectorSelector, i64, i64)>,
    ) {
        match e {
            Expr::Number(..) | Expr::Str(..) => {}
            Expr::Paren(e, _) | Expr::Neg(e, _) => self.collect(e, lo, hi, out),
            Expr::Binary { lhs, rhs, .. } => {
                self.collect(lhs, lo, hi, out);
                self.collect(rhs, lo, hi, out);
            }
            Expr::Aggregate { expr, param, .. } => {
                self.collect(expr, lo, hi, out);
                if let Some(p) = param {
                    self.collect(p, lo, hi, out);
                }
            }
            Expr::Call { func, args, .. } => {
                for (i, a) in args.iter().enumerate() {
                    if func.name == "info" && i == 1 {
                        // Info series are read as of the base argument's reference time.
                        let base = args.first();
                        let (rlo, rhi) = base.map_or((lo, hi), |b| {
                            (self.reference_time(b, lo), self.reference_time(b, hi))
                        });
                        self.collect(a, lo.min(rlo).min(rhi), hi.max(rlo).max(rhi), out);
                    } else {
                        self.collect(a, lo, hi, out);
                    }
                }
            }
            Expr::Vector(vs) => {
                let (lo, hi) = vs
                    .at
                    .map_or((lo, hi), |a| (self.at_time(a), self.at_time(a)));
                let ahead = if vs.smoothed {
                    self.opts.lookback_delta
                } else {
                    0
                };
                out.push((
                    vs,
                    lo - vs.offset - self.opts.lookback_delta,
                    hi - vs.offset + ahead,
                ));
            }
            Expr::Matrix(m) => {
                let (lo, hi) =
                    m.vs.at
                        .map_or((lo, hi), |a| (self.at_time(a), self.at_time(a)));
                // Anchored/smoothed ranges also look one lookback beyond the window.
                let extra = if m.anchored || m.smoothed {
                    self.opts.lookback_delta
                } else {
                    0
                };
                out.push((
                    &m.vs,
                    lo - m.vs.offset - m.range - extra,
                    hi - m.vs.offset + extra,
                ));
            }
            Expr::Subquery(s) => {
                let (lo, hi) =
                    s.at.map_or((lo, hi), |a| (self.at_time(a), self.at_time(a)));
                let step = s.step.unwrap_or(self.opts.default_subquery_step).max(1);
                self.collect(&s.expr, lo - s.offset - s.range - step, hi - s.offset, out);
            }
        }
    }

    fn load(
        &mut self,
        q: &dyn Querier,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<LoadedSeries>, EvalError> {
        let hints = SelectHints {
            start: mint,
            end: maxt,
            func: None,
        };
        let selected = if vs.matchers.iter().all(|m| m.matches("")) {
            // Only `info`'s selector may match empty; every series has a name.
            let mut ms = vs.matchers.clone();
            ms.push(
                pharos_model::Matcher::new(pharos_model::MatchOp::Regex, "__name__", ".+")
                    .map_err(|e| EvalError::Execution(e.to_string()))?,
            );
            q.select(Some(&hints), &ms)?
        } else {
            q.select(Some(&hints), &vs.matchers)?
        };
        let mut out = Vec::with_capacity(selected.len());
        for s in selected {
            let metric = s.labels().clone();
            let not_counter_name =
                crate::functions::rate::lacks_counter_suffix(metric.metric_name().unwrap_or(""));
            let mut ls = LoadedSeries {
                not_counter_name,
                has_stale: false,
                resets: std::cell::OnceCell::new(),
                metric,
                ft: Vec::new(),
                fv: Vec::new(),
                ht: Vec::new(),
                hv: Vec::new(),
                cursor: std::cell::Cell::new((0, 0)),
            };
            let mut it = s.iter();
            let mut kind = it.seek(mint);
            while kind != ValueKind::None {
                let t = it.at_t();
                if t > maxt {
                    break;
                }
                match kind {
                    ValueKind::Float => {
                        let (t, v) = it.at();
                        ls.ft.push(t);
                        ls.fv.push(v);
                    }
                    ValueKind::Histogram => {
                        let (t, h) = it.at_histogram();
                        ls.ht.push(t);
                        ls.hv.push(h);
                    }
                    ValueKind::None => {}
                }
                kind = it.next();
            }
            ls.has_stale = ls.fv.iter().any(|f| is_stale_nan(*f));
            let n = (ls.ft.len() + ls.hv.len()) as u64;
            self.total_samples += n;
            if self.total_samples > self.opts.max_samples as u64 {
                return Err(EvalError::TooManySamples("query execution"));
            }
            self.check_deadline()?;
            out.push(ls);
        }
        Ok(out)
    }

    /// Evaluates over the whole query range and assembles the result.
    pub fn run(&mut self, e: &Expr) -> Result<Value, EvalError> {
        let QueryRange { start, end, step } = self.range;
        if step == 0 {
            let v = self.eval(e, start)?;
            self.note_peak(&v);
            return finish_instant(v, start);
        }
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut out: Matrix = Vec::new();
        let mut held: u64 = 0;
        let mut ts = start;
        while ts <= end {
            self.check_deadline()?;
            if Instant::now() > self.deadline {
                return Err(EvalError::Timeout("expression evaluation"));
            }
            let v = self.eval(e, ts)?;
            self.note_peak(&v);
            let vec = match v {
                Value::Scalar(f) => vec![Sample {
                    metric: Labels::empty(),
                    t: ts,
                    f,
                    h: None,
                    drop_name: false,
                }],
                Value::Vector(v) => v,
                _ => {
                    return Err(EvalError::Execution(
                        "range query must evaluate to a scalar or vector".into(),
                    ))
                }
            };
            for s in vec {
                held += 1;
                let i = match index.get(&s.metric) {
                    Some(&i) => i,
                    None => {
                        index.insert(s.metric.clone(), out.len());
                        out.push(Series {
                            metric: s.metric.clone(),
                            floats: vec![],
                            hists: vec![],
                            drop_name: s.drop_name,
                        });
                        out.len() - 1
                    }
                };
                let series = &mut out[i];
                let last_t = series
                    .floats
                    .last()
                    .map(|p| p.t)
                    .max(series.hists.last().map(|p| p.t));
                if last_t == Some(ts) {
                    return Err(EvalError::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                series.drop_name |= s.drop_name;
                match s.h {
                    Some(h) => series.hists.push(HPoint { t: ts, h }),
                    None => series.floats.push(FPoint { t: ts, f: s.f }),
                }
            }
            self.peak_samples = self.peak_samples.max(held);
            if held > self.opts.max_samples as u64 {
                return Err(EvalError::TooManySamples("query execution"));
            }
            ts += step;
        }
        for s in &mut out {
            if s.drop_name {
                s.metric = crate::value::drop_metric_name(&s.metric);
            }
        }
        out.sort_by(|a, b| a.metric.cmp(&b.metric));
        Ok(Value::Matrix(merge_same_labels(out)?))
    }

    fn note_peak(&mut self, v: &Value) {
        let n = match v {
            Value::Vector(v) => v.len() as u64,
            Value::Matrix(m) => m
                .iter()
                .map(|s| (s.floats.len() + s.hists.len()) as u64)
                .sum(),
            _ => 1,
        };
        self.peak_samples = self.peak_samples.max(n);
    }

    pub(crate) fn eval(&mut self, e: &Expr, ts: i64) -> Result<Value, EvalError> {
        match e {
            Expr::Number(v, _) => Ok(Value::Scalar(*v)),
            Expr::Str(s, _) => Ok(Value::String(s.clone())),
            Expr::Paren(e, _) => self.eval(e, ts),
            Expr::Neg(inner, _) => match self.eval(inner, ts)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(mut v) => {
                    for s in &mut v {
                        s.f = -s.f;
                        if let Some(h) = &mut s.h {
                            crate::histogram::scale(h, -1.0);
                        }
                        s.t = ts;
                        s.drop_name = true;
                    }
                    Ok(Value::Vector(v))
                }
                _ => Err(EvalError::Execution(
                    "unary minus on a non-numeric value".into(),
                )),
            },
            Expr::Binary {
                op,
                lhs,
                rhs,
                return_bool,
                matching,
                pos,
            } => {
                let l = self.eval(lhs, ts)?;
                let r = self.eval(rhs, ts)?;
                binary::eval_binary(
                    self,
                    *op,
                    l,
                    r,
                    *return_bool,
                    matching.as_ref(),
                    ts,
                    *pos,
                    lhs,
                    rhs,
                )
            }
            Expr::Aggregate {
                op,
                expr,
                param,
                grouping,
                without,
                pos,
            } => {
                let p = match param {
                    Some(p) => Some(self.eval(p, ts)?),
                    None => None,
                };
                let Value::Vector(v) = self.eval(expr, ts)? else {
                    return Err(EvalError::Execution("aggregation over a non-vector".into()));
                };
                aggregate::eval_aggregate(
                    self,
                    *op,
                    v,
                    p,
                    grouping,
                    *without,
                    ts,
                    *pos,
                    param.as_deref(),
                    expr,
                )
            }
            Expr::Call { func, args, pos } => {
                if let (Some(kind), [arg]) = (WindowFn::from_name(func.name), args.as_slice()) {
                    if let Expr::Matrix(m) = arg.unparen() {
                        if let Some(v) = self.eval_window_fn(kind, m, ts, arg.pos())? {
                            return Ok(v);
                        }
                    }
                }
                if self.range.step > 0 && func.name.starts_with("sort") {
                    self.annotations
                        .warn("sort is ineffective for range queries since results are always ordered by labels", *pos);
                }
                let mut vals = Vec::with_capacity(args.len());
                let mut window = None;
                let mut flags = (false, false);
                for (i, a) in args.iter().enumerate() {
                    if func.name == "info" && i == 1 {
                        let base_t = args.first().map_or(ts, |b| self.reference_time(b, ts));
                        vals.push(self.eval(a, base_t)?);
                        continue;
                    }
                    match a.unparen() {
                        Expr::Matrix(m) => {
                            let tref = m.vs.at.map_or(ts, |a| self.at_time(a)) - m.vs.offset;
                            window = Some((tref - m.range, tref));
                            flags = (m.anchored, m.smoothed);
                            vals.push(Value::Matrix(self.eval_matrix(m, ts)?));
                        }
                        Expr::Subquery(s) => {
                            let tref = s.at.map_or(ts, |a| self.at_time(a)) - s.offset;
                            window = Some((tref - s.range, tref));
                            vals.push(self.eval(a, ts)?);
                        }
                        _ => vals.push(self.eval(a, ts)?),
                    }
                }
                let mut call = FnCall {
                    args: vals,
                    exprs: args,
                    ts,
                    window,
                    range_flags: flags,
                    lookback: self.opts.lookback_delta,
                    annotations: &mut self.annotations,
                    pos: *pos,
                    query: (self.range.start, self.range.end, self.range.step),
                };
                (func.imp)(&mut call)
            }
            Expr::Vector(vs) => Ok(Value::Vector(self.eval_vector(vs, ts))),
            Expr::Matrix(m) => Ok(Value::Matrix(self.eval_matrix(m, ts)?)),
            Expr::Subquery(s) => {
                let tref = s.at.map_or(ts, |a| self.at_time(a)) - s.offset;
                let step = s.step.unwrap_or(self.opts.default_subquery_step).max(1);
                let lo = tref - s.range;
                // Go's integer division truncates toward zero; keep its alignment exactly.
                let mut t = step * (lo / step);
                if t <= lo {
                    t += step;
                }
                let mut index: HashMap<Labels, usize> = HashMap::new();
                let mut out: Matrix = Vec::new();
                let mut held = 0usize;
                while t <= tref {
                    self.check_deadline()?;
                    let v = self.eval(&s.expr, t)?;
                    if let Value::Vector(v) = v {
                        for smp in v {
                            held += 1;
                            let i = match index.get(&smp.metric) {
                                Some(&i) => i,
                                None => {
                                    index.insert(smp.metric.clone(), out.len());
                                    out.push(Series {
                                        metric: smp.metric.clone(),
                                        floats: vec![],
                                        hists: vec![],
                                        drop_name: smp.drop_name,
                                    });
                                    out.len() - 1
                                }
                            };
                            match smp.h {
                                Some(mut h) => {
                                    // A subquery may return one stored sample many times, so
                                    // counter resets are detected from values, not hints.
                                    if h.counter_reset_hint != crate::histogram::GAUGE {
                                        h.counter_reset_hint = 0;
                                    }
                                    out[i].hists.push(HPoint { t, h })
                                }
                                None => out[i].floats.push(FPoint { t, f: smp.f }),
                            }
                        }
                    }
                    if held > self.opts.max_samples {
                        return Err(EvalError::TooManySamples("subquery evaluation"));
                    }
                    t += step;
                }
                self.peak_samples = self.peak_samples.max(held as u64);
                Ok(Value::Matrix(out))
            }
        }
    }

    pub(crate) fn eval_vector(&mut self, vs: &VectorSelector, ts: i64) -> Vector {
        let tref = vs.at.map_or(ts, |a| self.at_time(a)) - vs.offset;
        let mint = tref - self.opts.lookback_delta;
        let Some(series) = self.data.get(&key(vs)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in series {
            if vs.smoothed && !s.ht.is_empty() {
                let name = s.metric.metric_name().unwrap_or("");
                match smoothed_histogram(s, tref, mint, self.opts.lookback_delta) {
                    SmoothedHistogram::Value(h) => out.push(Sample {
                        metric: s.metric.clone(),
                        t: tref,
                        f: 0.0,
                        h: Some(Box::new(h)),
                        drop_name: false,
                    }),
                    SmoothedHistogram::MixedKinds => self.annotations.warn(
                        format!("encountered a mix of histograms and floats for metric name {name:?}"),
                        vs.pos,
                    ),
                    SmoothedHistogram::MixedSchemas => self.annotations.warn(
                        format!("vector contains a mix of histograms with exponential and custom buckets schemas for metric name {name:?}"),
                        vs.pos,
                    ),
                    SmoothedHistogram::Float(f) => out.push(Sample {
                        metric: s.metric.clone(),
                        t: tref,
                        f,
                        h: None,
                        drop_name: false,
                    }),
                    SmoothedHistogram::None => {}
                }
                continue;
            }
            if vs.smoothed {
                if let Some(f) = smoothed_value(s, tref, mint, self.opts.lookback_delta) {
                    out.push(Sample {
                        metric: s.metric.clone(),
                        t: tref,
                        f,
                        h: None,
                        drop_name: false,
                    });
                }
                continue;
            }
            let fi = seek_after(&s.ft, s.cursor.get().1, tref);
            s.cursor.set((0, fi));
            let hi = s.ht.partition_point(|&t| t <= tref);
            let f = (fi > 0 && s.ft[fi - 1] > mint).then(|| fi - 1);
            let h = (hi > 0 && s.ht[hi - 1] > mint).then(|| hi - 1);
            // The newer of the two kinds wins; a newer stale marker hides the series.
            let float_newer = match (f, h) {
                (Some(f), Some(h)) => s.ft[f] > s.ht[h],
                (Some(_), None) => true,
                _ => false,
            };
            if let (true, Some(f)) = (float_newer, f) {
                if !is_stale_nan(s.fv[f]) {
                    out.push(Sample {
                        metric: s.metric.clone(),
                        t: s.ft[f],
                        f: s.fv[f],
                        h: None,
                        drop_name: false,
                    });
                }
            } else if let Some(h) = h {
                out.push(Sample {
                    metric: s.metric.clone(),
                    t: s.ht[h],
                    f: 0.0,
                    h: Some(Box::new(s.hv[h].clone())),
                    drop_name: false,
                });
            }
        }
        out
    }

    pub(crate) fn eval_matrix(
        &mut self,
        m: &crate::parser::MatrixSelector,
        ts: i64,
    ) -> Result<Matrix, EvalError> {
        let tref = m.vs.at.map_or(ts, |a| self.at_time(a)) - m.vs.offset;
        let lo = tref - m.range;
        let Some(series) = self.data.get(&key(&m.vs)) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut n = 0usize;
        for s in series {
            let (ca, cb) = s.cursor.get();
            let a = seek_after(&s.ft, ca, lo);
            let b = seek_after(&s.ft, cb.max(a), tref);
            s.cursor.set((a, b));
            let mut floats = Vec::new();
            if a < b {
                floats.reserve(b - a);
                for i in a..b {
                    if !is_stale_nan(s.fv[i]) {
                        floats.push(FPoint {
                            t: s.ft[i],
                            f: s.fv[i],
                        });
                    }
                }
            }
            let ha = s.ht.partition_point(|&t| t <= lo);
            let hb = s.ht.partition_point(|&t| t <= tref);
            let hists: Vec<HPoint> = (ha..hb)
                .map(|i| HPoint {
                    t: s.ht[i],
                    h: Box::new(s.hv[i].clone()),
                })
                .collect();
            // Anchored ranges need a sample inside the window; smoothed ones may interpolate
            // both edges from the samples around an empty window (`extend_range` drops the
            // series if there are none).
            if !floats.is_empty() || !hists.is_empty() || m.smoothed {
                n += floats.len() + hists.len();
                out.push(Series {
                    metric: s.metric.clone(),
                    floats,
                    hists,
                    drop_name: false,
                });
            }
        }
        if n > self.opts.max_samples {
            return Err(EvalError::TooManySamples("query execution"));
        }
        self.peak_samples = self.peak_samples.max(n as u64);
        if m.anchored || m.smoothed {
            self.extend_range(m, &mut out, lo, tref);
        }
        Ok(out)
    }

    /// `kind` over a plain range selector, straight from the loaded samples; `None` when the
    /// general path is needed (anchored or smoothed ranges, series holding histograms).
    fn eval_window_fn(
        &mut self,
        kind: WindowFn,
        m: &crate::parser::MatrixSelector,
        ts: i64,
        arg_pos: crate::parser::PosRange,
    ) -> Result<Option<Value>, EvalError> {
        if m.anchored || m.smoothed {
            return Ok(None);
        }
        let tref = m.vs.at.map_or(ts, |a| self.at_time(a)) - m.vs.offset;
        let lo = tref - m.range;
        let Some(series) = self.data.get(&key(&m.vs)) else {
            return Ok(Some(Value::Vector(Vec::new())));
        };
        if series.iter().any(|s| !s.ht.is_empty()) {
            return Ok(None);
        }
        let window = &mut self.window;
        let mut out = Vec::with_capacity(series.len());
        let mut n = 0usize;
        let mut not_counters: Vec<&str> = Vec::new();
        for s in series {
            let (ca, cb) = s.cursor.get();
            let a = seek_after(&s.ft, ca, lo);
            let b = seek_after(&s.ft, cb.max(a), tref);
            s.cursor.set((a, b));
            if b <= a {
                continue;
            }
            if !s.has_stale {
                // Fast: read the loaded arrays in place.
                n += b - a;
                if kind.wants_counter() && s.not_counter_name {
                    not_counters.push(s.metric.metric_name().unwrap_or(""));
                }
                let value = if kind.is_change() {
                    let resets = s.resets.get_or_init(|| window_fn::reset_prefix(&s.fv));
                    kind.change_without_resets(&s.ft, &s.fv, resets, (a, b), (lo, tref))
                } else {
                    s.fv.get(a..b).map(|v| kind.over_values(v.iter().copied()))
                };
                let value = match value {
                    Some(v) => v,
                    None => {
                        window.clear();
                        window.extend(
                            s.ft.iter()
                                .zip(&s.fv)
                                .skip(a)
                                .take(b - a)
                                .map(|(&t, &f)| FPoint { t, f }),
                        );
                        kind.apply(window, lo, tref)
                    }
                };
                if let Some(f) = value {
                    out.push(Sample {
                        metric: s.metric.clone(),
                        t: ts,
                        f,
                        h: None,
                        drop_name: true,
                    });
                }
                continue;
            }
            window.clear();
            if let (Some(ts_in), Some(vs_in)) = (s.ft.get(a..b), s.fv.get(a..b)) {
                window.extend(
                    ts_in
                        .iter()
                        .zip(vs_in)
                        .filter(|(_, f)| !is_stale_nan(**f))
                        .map(|(&t, &f)| FPoint { t, f }),
                );
            }
            if window.is_empty() {
                continue;
            }
            n += window.len();
            if kind.wants_counter() && s.not_counter_name {
                not_counters.push(s.metric.metric_name().unwrap_or(""));
            }
            if let Some(f) = kind.apply(window, lo, tref) {
                out.push(Sample {
                    metric: s.metric.clone(),
                    t: ts,
                    f,
                    h: None,
                    drop_name: true,
                });
            }
        }
        for name in not_counters {
            self.annotations.info(
                format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"),
                arg_pos,
            );
        }
        if n > self.opts.max_samples {
            return Err(EvalError::TooManySamples("query execution"));
        }
        self.peak_samples = self.peak_samples.max(n as u64);
        Ok(Some(Value::Vector(out)))
    }

    /// For `anchored`/`smoothed` ranges: adds the sample just before the window (within the
    /// lookback) and, for `smoothed`, the one just after, so the functions can interpolate.
    fn extend_range(&self, m: &crate::parser::MatrixSelector, out: &mut Matrix, lo: i64, hi: i64) {
        let Some(series) = self.data.get(&key(&m.vs)) else {
            return;
        };
        for o in out.iter_mut() {
            let Some(s) = series.iter().find(|s| s.metric == o.metric) else {
                continue;
            };
            let was_empty = o.floats.is_empty() && o.hists.is_empty();
            let before = o.floats.len();
            let a = s.ft.partition_point(|&t| t <= lo);
            // Only the latest sample at or before the window start anchors it, whatever its kind.
            let hist_anchor = s.ht.get(s.ht.partition_point(|&t| t <= lo).wrapping_sub(1));
            let float_anchor = a.checked_sub(1).and_then(|i| s.ft.get(i));
            let hist_first = match (hist_anchor, float_anchor) {
                (Some(h), Some(f)) => h > f,
                (Some(_), None) => true,
                _ => false,
            };
            if !hist_first
                && a > 0
                && s.ft[a - 1] > lo - self.opts.lookback_delta
                && !is_stale_nan(s.fv[a - 1])
            {
                o.floats.insert(
                    0,
                    FPoint {
                        t: s.ft[a - 1],
                        f: s.fv[a - 1],
                    },
                );
            }
            if m.smoothed {
                let b = s.ft.partition_point(|&t| t <= hi);
                if b < s.ft.len()
                    && s.ft[b] <= hi + self.opts.lookback_delta
                    && !is_stale_nan(s.fv[b])
                {
                    o.floats.push(FPoint {
                        t: s.ft[b],
                        f: s.fv[b],
                    });
                }
            }
            // An empty window is only bridged by a sample on each side of it.
            if was_empty && o.floats.len() < before + 2 {
                o.floats.clear();
            }
            if !o.hists.is_empty() || (was_empty && o.floats.is_empty()) || hist_first {
                self.extend_histograms(m, s, o, (lo, hi), was_empty, !hist_first);
            }
        }
        out.retain(|s| !s.floats.is_empty() || !s.hists.is_empty());
    }
}

impl Evaluator<'_> {
    /// The histogram part of `extend_range`: adds the histogram just before the window and,
    /// for `smoothed`, the one just after.
    fn extend_histograms(
        &self,
        m: &crate::parser::MatrixSelector,
        s: &LoadedSeries,
        o: &mut Series,
        (lo, hi): (i64, i64),
        was_empty: bool,
        float_anchors: bool,
    ) {
        let before = o.hists.len();
        let a = s.ht.partition_point(|&t| t <= lo);
        if float_anchors {
            // A later float sample anchors the window instead.
        } else if let (Some(&t), Some(h)) = (
            a.checked_sub(1).and_then(|i| s.ht.get(i)),
            a.checked_sub(1).and_then(|i| s.hv.get(i)),
        ) {
            if t > lo - self.opts.lookback_delta {
                o.hists.insert(
                    0,
                    HPoint {
                        t,
                        h: Box::new(h.clone()),
                    },
                );
            }
        }
        if m.smoothed {
            let b = s.ht.partition_point(|&t| t <= hi);
            if let (Some(&t), Some(h)) = (s.ht.get(b), s.hv.get(b)) {
                if t <= hi + self.opts.lookback_delta {
                    o.hists.push(HPoint {
                        t,
                        h: Box::new(h.clone()),
                    });
                }
            }
        }
        if was_empty && o.hists.len() < before + 2 {
            o.hists.clear();
        }
    }
}

/// Finds the selectors read only for histogram count and sum (under `histogram_count`,
/// `histogram_sum` or `histogram_avg`, not through a subquery or a binary operator).
/// Prometheus reads those through an iterator that decides counter resets on the fly, so
/// their samples carry explicit reset hints, which aggregations then check for conflicts.
fn stats_selectors(e: &Expr, stats: bool, out: &mut std::collections::HashSet<usize>) {
    match e {
        Expr::Number(..) | Expr::Str(..) => {}
        Expr::Paren(e, _) | Expr::Neg(e, _) => stats_selectors(e, stats, out),
        Expr::Binary { lhs, rhs, .. } => {
            stats_selectors(lhs, false, out);
            stats_selectors(rhs, false, out);
        }
        Expr::Aggregate { expr, param, .. } => {
            stats_selectors(expr, stats, out);
            if let Some(p) = param {
                stats_selectors(p, false, out);
            }
        }
        Expr::Call { func, args, .. } => {
            let stats = match func.name {
                "histogram_count" | "histogram_sum" | "histogram_avg" => true,
                "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => false,
                _ => stats,
            };
            args.iter().for_each(|a| stats_selectors(a, stats, out));
        }
        Expr::Vector(vs) => {
            if stats {
                out.insert(key(vs));
            }
        }
        Expr::Matrix(m) => {
            if stats {
                out.insert(key(&m.vs));
            }
        }
        Expr::Subquery(s) => stats_selectors(&s.expr, false, out),
    }
}

/// Gives every histogram sample whose hint is unknown an explicit one, judged against the
/// histogram before it, as Prometheus's statistics-only iterator does.
fn detect_resets_on_read(s: &mut LoadedSeries) {
    for i in 1..s.hv.len() {
        let (before, rest) = s.hv.split_at_mut(i);
        let (Some(prev), Some(cur)) = (before.last(), rest.first_mut()) else {
            continue;
        };
        if cur.counter_reset_hint == 0 {
            cur.counter_reset_hint = if crate::functions::detect_reset(prev, cur) {
                1
            } else {
                2
            };
        }
    }
}

/// The outcome of a `smoothed` instant selector on a series holding histograms.
enum SmoothedHistogram {
    Value(FloatHistogram),
    Float(f64),
    MixedKinds,
    MixedSchemas,
    None,
}

/// [`smoothed_value`] for a series holding histograms: the histogram at `t`, interpolated
/// between the samples around it (a counter crossing a reset restarts from zero), or the
/// last one before it. Neighbours of different kinds or bucket schemas give no value.
fn smoothed_histogram(s: &LoadedSeries, t: i64, mint: i64, lookback: i64) -> SmoothedHistogram {
    let hi = s.ht.partition_point(|&x| x <= t);
    let fi = s.ft.partition_point(|&x| x <= t);
    let hb = hi
        .checked_sub(1)
        .and_then(|i| Some((*s.ht.get(i)?, s.hv.get(i)?)));
    let fb = fi
        .checked_sub(1)
        .and_then(|i| Some((*s.ft.get(i)?, *s.fv.get(i)?)))
        .filter(|(_, f)| !is_stale_nan(*f));
    let ha = s.ht.get(hi).copied().zip(s.hv.get(hi));
    let fa =
        s.ft.get(fi)
            .copied()
            .zip(s.fv.get(fi).copied())
            .filter(|(_, f)| !is_stale_nan(*f));
    // The later sample before `t` and the earlier one after it, whatever their kinds.
    let before_is_float = match (fb, hb) {
        (Some((ft, _)), Some((ht, _))) => ft > ht,
        (Some(_), None) => true,
        _ => false,
    };
    let after_is_float = match (fa, ha) {
        (Some((ft, _)), Some((ht, _))) => ft < ht,
        (Some(_), None) => true,
        _ => false,
    };
    let before_t = if before_is_float {
        fb.map(|x| x.0)
    } else {
        hb.map(|x| x.0)
    };
    let Some(bt) = before_t.filter(|&bt| bt > mint) else {
        return SmoothedHistogram::None;
    };
    let after_t = if after_is_float {
        fa.map(|x| x.0)
    } else {
        ha.map(|x| x.0)
    }
    .filter(|&at| at <= t + lookback);
    if bt == t || after_t.is_none() {
        return match (before_is_float, fb, hb) {
            (true, Some((_, f)), _) => SmoothedHistogram::Float(f),
            (false, _, Some((_, h))) => SmoothedHistogram::Value(h.clone()),
            _ => SmoothedHistogram::None,
        };
    }
    if before_is_float != after_is_float {
        return SmoothedHistogram::MixedKinds;
    }
    let (Some((at, a)), Some((ct, b))) = (hb, ha) else {
        // Both neighbours are floats: the float rules apply.
        return smoothed_value(s, t, mint, lookback)
            .map_or(SmoothedHistogram::None, SmoothedHistogram::Float);
    };
    if (a.schema == crate::histogram::CUSTOM) != (b.schema == crate::histogram::CUSTOM) {
        return SmoothedHistogram::MixedSchemas;
    }
    let frac = (t - at) as f64 / (ct - at) as f64;
    let is_counter = b.counter_reset_hint != crate::histogram::GAUGE;
    if is_counter && crate::functions::detect_reset(a, b) {
        let mut v = b.clone();
        crate::histogram::scale(&mut v, frac);
        return SmoothedHistogram::Value(v);
    }
    let Ok((mut step, _)) = crate::histogram::add(b, a, true) else {
        return SmoothedHistogram::MixedSchemas;
    };
    crate::histogram::scale(&mut step, frac);
    match crate::histogram::add(a, &step, false) {
        Ok((mut v, _)) => {
            v.counter_reset_hint = a.counter_reset_hint;
            SmoothedHistogram::Value(v)
        }
        Err(_) => SmoothedHistogram::MixedSchemas,
    }
}

/// The value of a `smoothed` instant selector: the sample at `t`, or linear interpolation
/// between the samples around it, or the last one before it.
fn smoothed_value(s: &LoadedSeries, t: i64, mint: i64, lookback: i64) -> Option<f64> {
    let i = s.ft.partition_point(|&x| x <= t);
    let before = (i > 0 && s.ft[i - 1] > mint && !is_stale_nan(s.fv[i - 1]))
        .then(|| (s.ft[i - 1], s.fv[i - 1]));
    let after = (i < s.ft.len() && s.ft[i] <= t + lookback && !is_stale_nan(s.fv[i]))
        .then(|| (s.ft[i], s.fv[i]));
    match (before, after) {
        (Some((bt, bv)), _) if bt == t => Some(bv),
        (Some((bt, bv)), Some((at, av))) => {
            Some(bv + (av - bv) * (t - bt) as f64 / (at - bt) as f64)
        }
        (Some((_, bv)), None) => Some(bv),
        _ => None,
    }
}

/// Drops names marked for removal and checks the final vector for duplicate label sets.
fn finish_instant(v: Value, ts: i64) -> Result<Value, EvalError> {
    match v {
        Value::Vector(mut v) => {
            let mut any_dropped = false;
            for s in &mut v {
                s.t = ts;
                if s.drop_name {
                    s.metric = crate::value::drop_metric_name(&s.metric);
                    any_dropped = true;
                }
                s.drop_name = false;
            }
            if any_dropped {
                let mut seen = std::collections::HashSet::with_capacity(v.len());
                for s in &v {
                    if !seen.insert(&s.metric) {
                        return Err(EvalError::Execution(
                            "vector cannot contain metrics with the same labelset".into(),
                        ));
                    }
                }
            }
            Ok(Value::Vector(v))
        }
        Value::Matrix(mut m) => {
            for s in &mut m {
                if s.drop_name {
                    s.metric = crate::value::drop_metric_name(&s.metric);
                    s.drop_name = false;
                }
            }
            let mut seen = std::collections::HashSet::with_capacity(m.len());
            for s in &m {
                if !seen.insert(&s.metric) {
                    return Err(EvalError::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
            }
            Ok(Value::Matrix(m))
        }
        v => Ok(v),
    }
}

/// Series that became identical once names were dropped are merged when their points do not
/// overlap in time; overlapping points are an error, as in Prometheus.
fn merge_same_labels(sorted: Matrix) -> Result<Matrix, EvalError> {
    let mut out: Matrix = Vec::with_capacity(sorted.len());
    for s in sorted {
        match out.last_mut() {
            Some(last) if last.metric == s.metric => {
                last.floats.extend(s.floats);
                last.hists.extend(s.hists);
                last.floats.sort_by_key(|p| p.t);
                last.hists.sort_by_key(|p| p.t);
                let mut ts: Vec<i64> = last
                    .floats
                    .iter()
                    .map(|p| p.t)
                    .chain(last.hists.iter().map(|p| p.t))
                    .collect();
                ts.sort_unstable();
                if ts.windows(2).any(|w| w[0] == w[1]) {
                    return Err(EvalError::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
            }
            _ => out.push(s),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::seek_after;

    #[test]
    fn seek_after_matches_bisection() {
        let ts: Vec<i64> = (0..100).map(|i| i * 10).collect();
        for hint in [0usize, 3, 50, 99, 100, 120] {
            for bound in [-5i64, 0, 5, 15, 333, 990, 2000] {
                assert_eq!(
                    seek_after(&ts, hint, bound),
                    ts.partition_point(|&t| t <= bound),
                    "hint {hint} bound {bound}"
                );
            }
        }
    }
}
