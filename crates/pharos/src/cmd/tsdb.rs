//! `pharos tsdb`: import, export and inspect storage, like `promtool tsdb`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pharos_model::{MatchOp, Matcher};
use pharos_tsdb::import::{create_blocks_from_openmetrics, dump_openmetrics};
use pharos_tsdb::{Db, Options};

/// Flags of `pharos tsdb`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: TsdbCommand,
}

#[derive(clap::Subcommand, Debug)]
enum TsdbCommand {
    /// Create blocks from exported data (like `promtool tsdb create-blocks-from`).
    #[command(name = "create-blocks-from", subcommand)]
    CreateBlocksFrom(CreateFrom),
    /// Dump samples of a data directory as OpenMetrics text.
    Dump(DumpArgs),
    /// List the blocks of a data directory.
    List(ListArgs),
}

#[derive(clap::Subcommand, Debug)]
enum CreateFrom {
    /// From an OpenMetrics text file whose samples all carry timestamps.
    Openmetrics {
        /// Input file.
        input: PathBuf,
        /// Output directory for the blocks.
        #[arg(default_value = "data/")]
        output: PathBuf,
        /// Span of each block in hours.
        #[arg(long = "max-block-duration-hours", default_value_t = 2)]
        block_hours: i64,
    },
}

#[derive(clap::Args, Debug)]
struct DumpArgs {
    /// Data directory.
    #[arg(default_value = "data/")]
    db_path: PathBuf,
    /// Earliest sample time (ms since the epoch).
    #[arg(long = "min-time", default_value_t = i64::MIN, allow_hyphen_values = true)]
    min_time: i64,
    /// Latest sample time (ms since the epoch).
    #[arg(long = "max-time", default_value_t = i64::MAX, allow_hyphen_values = true)]
    max_time: i64,
    /// Only series whose metric name matches this regular expression.
    #[arg(long = "match", default_value = ".+")]
    name_regex: String,
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    /// Data directory.
    #[arg(default_value = "data/")]
    db_path: PathBuf,
}

fn read_only_options() -> Options {
    // A CLI inspection must never delete anything the server still wants.
    Options {
        retention_time: 0,
        retention_bytes: 0,
        ..Options::default()
    }
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        TsdbCommand::CreateBlocksFrom(CreateFrom::Openmetrics {
            input,
            output,
            block_hours,
        }) => {
            let data =
                std::fs::read(&input).with_context(|| format!("read {}", input.display()))?;
            let metas = create_blocks_from_openmetrics(&data, &output, block_hours * 3600 * 1000)
                .with_context(|| format!("import {}", input.display()))?;
            for m in &metas {
                println!(
                    "BLOCK ULID {} MIN TIME {} MAX TIME {} SAMPLES {} SERIES {}",
                    m.ulid, m.min_time, m.max_time, m.stats.num_samples, m.stats.num_series
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TsdbCommand::Dump(a) => {
            let (db, _) = Db::open(&a.db_path, read_only_options())
                .with_context(|| format!("open {}", a.db_path.display()))?;
            let m = Matcher::new(MatchOp::Regex, "__name__", a.name_regex).context("--match")?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let st = dump_openmetrics(&db, &[m], a.min_time, a.max_time, &mut out)?;
            out.flush()?;
            if st.skipped_histograms > 0 {
                eprintln!(
                    "skipped {} native histogram samples (not expressible in OpenMetrics 1.0 text)",
                    st.skipped_histograms
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TsdbCommand::List(a) => {
            let (db, _) = Db::open(&a.db_path, read_only_options())
                .with_context(|| format!("open {}", a.db_path.display()))?;
            println!("BLOCK ULID\tMIN TIME\tMAX TIME\tNUM SAMPLES\tNUM CHUNKS\tNUM SERIES\tSIZE");
            for b in db.blocks() {
                let m = b.meta();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    m.ulid,
                    m.min_time,
                    m.max_time,
                    m.stats.num_samples,
                    m.stats.num_chunks,
                    m.stats.num_series,
                    b.size()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
