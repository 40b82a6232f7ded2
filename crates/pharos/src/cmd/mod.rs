//! One module per subcommand: its flags and the wiring that runs it.

pub mod check;
pub mod node_exporter;
pub mod query;
pub mod server;
pub mod test;
pub mod tsdb;
pub mod up;
