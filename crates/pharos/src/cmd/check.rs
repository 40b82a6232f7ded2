//! `pharos check`: validate configuration files like `promtool check`, with its output and
//! exit codes (0 when every file is valid, 1 otherwise).

use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `pharos check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Check that Prometheus server configuration files are valid.
    Config {
        /// The files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check that rule files are valid (like `promtool check rules`).
    Rules(super::check_rules::RulesArgs),
}

/// Checks every file, printing promtool's "Checking"/"SUCCESS"/"FAILED" lines.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let files = match args.what {
        What::Config { files } => files,
        What::Rules(a) => return super::check_rules::run(a),
    };
    let mut failed = false;
    for f in &files {
        println!("Checking {}", f.display());
        match pharos_server::Config::load(f) {
            Ok(cfg) => match super::check_rules::config_rule_files(&cfg.rule_files) {
                Ok(rule_files) => {
                    if !rule_files.is_empty() {
                        println!("  SUCCESS: {} rule files found", rule_files.len());
                    }
                    println!(
                        " SUCCESS: {} is valid prometheus config file syntax",
                        f.display()
                    );
                    println!();
                    failed |= super::check_rules::check_config_rule_files(&rule_files);
                    continue;
                }
                Err(e) => {
                    eprintln!("  FAILED: {e}");
                    failed = true;
                }
            },
            Err(e) => {
                eprintln!("  FAILED: {e}");
                failed = true;
            }
        }
        println!();
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
