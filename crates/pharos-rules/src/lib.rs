//! Prometheus's rule engine for Pharos: recording and alerting rules read from rule files
//! ([`rule_file`]), evaluated group by group at aligned times ([`group`]) by a
//! [`RuleManager`] that keeps alert state across reloads, with alerts handed to the notifier
//! through [`NotifyFn`].
//!
//! Everything time-dependent takes explicit timestamps, so a test runner can load rule files,
//! evaluate each group at time T against any storage ([`Group::eval`] with an
//! [`EvalContext`] over a [`pharos_tsdb::MemStorage`]) and read alert states and the
//! `ALERTS` series back.

pub mod alert;
pub mod context;
pub mod group;
pub mod manager;
pub mod notify;
pub mod rule;
pub mod rule_file;
pub mod rule_storage;

pub use alert::{Alert, AlertState};
pub use context::{AlertTimings, EvalContext};
pub use group::{group_key, Group, GroupStatus};
pub use manager::{expand_rule_files, load_rule_files, LoadError, RuleManager};
pub use notify::{AlertToSend, NotifyFn};
pub use rule::{Rule, RuleHealth, ALERTS_FOR_STATE_METRIC, ALERTS_METRIC};
pub use rule_file::{
    load_rule_file, parse_rule_file, GroupSpec, RuleFile, RuleFileError, RuleKind, RuleSpec,
};
pub use rule_storage::{RuleAppendable, RuleSample, RuleValue};
