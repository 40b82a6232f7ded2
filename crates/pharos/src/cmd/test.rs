//! `pharos test`: runs PromQL test scripts and rule unit tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pharos_promql::promqltest::{run_file, FileReport};

/// Flags of `pharos test`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Run PromQL test scripts (Prometheus's promqltest format) and count passed evaluations.
    Promql(PromqlArgs),
    /// Run rule unit tests (promtool's `test rules` format).
    Rules(crate::cmd::test_rules::Args),
}

/// Flags of `pharos test promql`.
#[derive(clap::Args, Debug)]
struct PromqlArgs {
    /// Test files, or directories whose `*.test` files are run.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// How many failures to show per file.
    #[arg(long, default_value_t = 3)]
    show_failures: usize,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Promql(a) => run_promql(a),
        What::Rules(a) => crate::cmd::test_rules::run(a),
    }
}

fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "test"))
                .collect();
            inside.sort();
            files.extend(inside);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(files)
}

fn print_report(r: &FileReport, show: usize) {
    println!(
        "{:<28} {:>5} passed {:>5} failed",
        r.name, r.passed, r.failed
    );
    for f in r.failures.iter().take(show) {
        println!("  line {}: {}", f.line, f.command);
        for l in f.message.lines() {
            println!("    {l}");
        }
    }
}

fn run_promql(a: PromqlArgs) -> anyhow::Result<ExitCode> {
    let files = collect(&a.paths)?;
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let r = run_file(Path::new(f))?;
        print_report(&r, a.show_failures);
        passed += r.passed;
        failed += r.failed;
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
