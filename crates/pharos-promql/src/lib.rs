//! PromQL for Pharos: a hand-written parser ([`parser`]), an evaluation engine ([`engine`]) over
//! the storage read traits of `pharos-tsdb`, the function library ([`functions`]), and a runner
//! for Prometheus's PromQL test-script language ([`promqltest`]).

pub mod annotations;
pub mod engine;
pub mod functions;
pub mod histogram;
pub mod parser;
pub mod promqltest;
pub mod value;

pub use annotations::{Annotation, Annotations};
pub use engine::{Engine, EngineOptions, EvalError, QueryStats};
pub use parser::{parse, Expr, ParseError};
pub use value::{Value, ValueType};
