//! `pharos`: the command-line entry point. Parses flags and wires the component crates together;
//! no component logic lives here.

mod cmd;

use clap::{Parser, Subcommand};

/// Pharos: a Prometheus-compatible monitoring stack in one binary.
#[derive(Parser, Debug)]
#[command(name = "pharos", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every component with embedded defaults (node exporter on :9100, server on :9090).
    Up(cmd::up::Args),
    /// Expose this host's metrics like node_exporter (default :9100).
    NodeExporter(cmd::node_exporter::Args),
    /// Inspect, import and export storage blocks (like `promtool tsdb`).
    Tsdb(cmd::tsdb::Args),
    /// Run test scripts (PromQL test files) and rule unit tests.
    Test(cmd::test::Args),
    /// Query a Prometheus-compatible server (like `promtool query`).
    Query(cmd::query::Args),
    /// Run the Prometheus-compatible server (default :9090).
    // Boxed: the server has by far the most flags.
    Server(Box<cmd::server::Args>),
    /// Check configuration files (like `promtool check`).
    Check(cmd::check::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_from(cmd::server::implicit_server_args(std::env::args_os()));
    let result = match cli.command {
        Command::Up(a) => cmd::up::run(a),
        Command::NodeExporter(a) => cmd::node_exporter::run(a),
        Command::Tsdb(a) => cmd::tsdb::run(a),
        Command::Test(a) => cmd::test::run(a),
        Command::Query(a) => cmd::query::run(a),
        Command::Server(a) => cmd::server::run(*a),
        Command::Check(a) => cmd::check::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pharos: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
