//! Query evaluation: limits, errors, statistics and the public entry points. The evaluator
//! itself lives in [`eval`], binary operators in [`binary`], aggregations in [`aggregate`].

pub(crate) mod aggregate;
mod binary;
mod eval;
mod window_fn;

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use pharos_tsdb::{Queryable, StorageError};

use crate::annotations::Annotations;
use crate::parser::{self, Expr, ParseError, ParseOptions};
use crate::value::{Value, ValueType};

pub(crate) use aggregate::kahan_inc as kahan;

/// A small, fast hasher (FNV-1a) for label signatures computed once per sample per step;
/// signatures are only compared within one evaluation, so DoS-resistant hashing is not needed.
#[derive(Clone, Copy)]
pub(crate) struct SigHasher(u64);

impl Default for SigHasher {
    fn default() -> Self {
        SigHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for SigHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // Whole words mix in one multiply (as FxHash does) instead of eight byte steps.
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Why a query failed. [`EvalError::error_type`] gives the Prometheus API error type.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The query did not parse or type-check.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Bad request parameters (time range, step...).
    #[error("{0}")]
    BadData(String),
    /// The query ran past its timeout.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query would hold more samples than allowed.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// Evaluation failed (duplicate label sets, bad function argument...).
    #[error("{0}")]
    Execution(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl EvalError {
    /// The `errorType` of the HTTP API.
    pub fn error_type(&self) -> &'static str {
        match self {
            EvalError::Parse(_) | EvalError::BadData(_) => "bad_data",
            EvalError::Timeout(_) => "timeout",
            EvalError::TooManySamples(_) | EvalError::Execution(_) => "execution",
            EvalError::Storage(_) => "internal",
        }
    }
}

/// Engine settings and the limits that protect the server.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (ms). Prometheus default 5m.
    pub lookback_delta: i64,
    /// Wall-clock limit per query.
    pub timeout: Duration,
    /// Most samples a query may hold in memory at once.
    pub max_samples: usize,
    /// Most queries evaluated at the same time; others wait.
    pub max_concurrency: usize,
    /// Step of subqueries written without one (ms); Prometheus uses the global evaluation interval.
    pub default_subquery_step: i64,
    /// Allow experimental functions.
    pub experimental_functions: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60 * 1000,
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_concurrency: 20,
            default_subquery_step: 60_000,
            experimental_functions: false,
        }
    }
}

/// Statistics of one query (`stats=all`).
#[derive(Clone, Debug, Default)]
pub struct QueryStats {
    /// Total samples loaded from storage.
    pub total_queryable_samples: u64,
    /// Most samples held at once.
    pub peak_samples: u64,
    /// Time spent parsing.
    pub parse_time: Duration,
    /// Time spent loading series from storage.
    pub prepare_time: Duration,
    /// Time spent evaluating.
    pub eval_time: Duration,
    /// Time spent waiting for a concurrency slot.
    pub queue_time: Duration,
}

/// The outcome of a successful query.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Warnings and infos.
    pub annotations: Annotations,
    /// Statistics.
    pub stats: QueryStats,
}

/// Evaluates PromQL queries against storage, enforcing the limits in [`EngineOptions`].
pub struct Engine {
    opts: EngineOptions,
    running: Mutex<usize>,
    slot_free: Condvar,
}

struct Slot<'a>(&'a Engine);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.0.slot_free.notify_one();
    }
}

/// Parameters of one query.
#[derive(Clone, Copy, Debug)]
pub struct QueryRange {
    /// First evaluation time (ms).
    pub start: i64,
    /// Last evaluation time (ms).
    pub end: i64,
    /// Step (ms); 0 for an instant query.
    pub step: i64,
}

impl Engine {
    /// An engine with the given options.
    pub fn new(opts: EngineOptions) -> Self {
        Engine {
            opts,
            running: Mutex::new(0),
            slot_free: Condvar::new(),
        }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Parses a query with this engine's feature flags.
    pub fn parse(&self, query: &str) -> Result<Expr, ParseError> {
        parser::parse(
            query,
            ParseOptions {
                experimental_functions: self.opts.experimental_functions,
                ..Default::default()
            },
        )
    }

    fn parse_for(&self, query: &str, range: QueryRange) -> Result<Expr, ParseError> {
        parser::parse(
            query,
            ParseOptions {
                experimental_functions: self.opts.experimental_functions,
                step: range.step,
                range: range.end - range.start,
            },
        )
    }

    fn acquire(&self, deadline: Instant) -> Result<Slot<'_>, EvalError> {
        let mut n = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= self.opts.max_concurrency.max(1) {
            let now = Instant::now();
            if now >= deadline {
                return Err(EvalError::Timeout("query queue"));
            }
            let (g, _) = self
                .slot_free
                .wait_timeout(n, deadline - now)
                .unwrap_or_else(|e| e.into_inner());
            n = g;
        }
        *n += 1;
        Ok(Slot(self))
    }

    /// Evaluates `query` at time `ts` (ms).
    pub fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        ts: i64,
    ) -> Result<QueryResult, EvalError> {
        self.run(
            storage,
            query,
            QueryRange {
                start: ts,
                end: ts,
                step: 0,
            },
        )
    }

    /// Evaluates `query` at every `step` from `start` to `end` (ms, inclusive).
    pub fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, EvalError> {
        if step <= 0 {
            return Err(EvalError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(EvalError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        if (end - start) / step > 11_000 {
            return Err(EvalError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        self.run(storage, query, QueryRange { start, end, step })
    }

    fn run(
        &self,
        storage: &dyn Queryable,
        query: &str,
        range: QueryRange,
    ) -> Result<QueryResult, EvalError> {
        let began = Instant::now();
        let deadline = began + self.opts.timeout;
        let expr = self.parse_for(query, range)?;
        let parse_time = began.elapsed();
        if range.step > 0 {
            let t = expr.value_type();
            if t != ValueType::Scalar && t != ValueType::Vector {
                return Err(EvalError::BadData(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    t.name()
                )));
            }
        }
        let queued = Instant::now();
        let _slot = self.acquire(deadline)?;
        let queue_time = queued.elapsed();
        let mut ev = eval::Evaluator::new(&self.opts, storage, range, deadline)?;
        let prepared = Instant::now();
        ev.prepare(&expr)?;
        let prepare_time = prepared.elapsed();
        let evaluated = Instant::now();
        let value = ev.run(&expr)?;
        let mut stats = ev.stats();
        stats.parse_time = parse_time;
        stats.prepare_time = prepare_time;
        stats.eval_time = evaluated.elapsed();
        stats.queue_time = queue_time;
        Ok(QueryResult {
            value,
            annotations: ev.into_annotations(),
            stats,
        })
    }
}
