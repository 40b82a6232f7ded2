//! One module per subcommand: its flags and the wiring that runs it.

pub mod check;
pub mod check_rules;
pub mod node_exporter;
pub mod query;
pub mod server;
pub mod test;
pub mod test_rules;
pub mod tsdb;
pub mod up;
