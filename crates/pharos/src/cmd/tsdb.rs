//! `pharos tsdb`: import, export and inspect storage, like `promtool tsdb`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pharos_model::{MatchOp, Matcher};
use pharos_tsdb::import::{create_blocks_from_openmetrics, dump_openmetrics};
use pharos_tsdb::Db;

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
    /// Report label cardinality of a block or the head (like `promtool tsdb analyze`).
    Analyze(AnalyzeArgs),
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

#[derive(clap::Args, Debug)]
struct AnalyzeArgs {
    /// Data directory.
    #[arg(default_value = "data/")]
    db_path: PathBuf,
    /// Block to analyze (default: the newest block, or the head when there is none; `head`
    /// picks the head).
    block_id: Option<String>,
    /// Entries shown per list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

/// Opens a data directory for inspection without taking its lock or writing anything, so
/// it is safe on a directory a running server owns (like promtool's read-only open).
fn open_for_inspection(dir: &std::path::Path) -> anyhow::Result<Db> {
    if let Some(pid) = pharos_tsdb::lock::running_holder(dir) {
        eprintln!(
            "note: {} is in use by a running process (pid {pid}); reading it read-only without \
             its lock. Samples written after this point are not shown.",
            dir.display()
        );
    }
    let (db, _) =
        Db::open_read_only(dir).with_context(|| format!("open {} read-only", dir.display()))?;
    Ok(db)
}

fn print_analysis(what: &str, a: &pharos_tsdb::analyze::Analysis) {
    println!("{what}");
    println!("Total Series: {}", a.total_series);
    println!("Label names: {}", a.label_names);
    println!("Postings (unique label pairs): {}", a.label_pairs);
    println!(
        "Postings entries (total label pairs): {}",
        a.label_pair_entries
    );
    let section = |title: &str, rows: &[(String, u64)]| {
        println!("\n{title}:");
        for (k, v) in rows {
            println!("{v} {k}");
        }
    };
    section("Highest cardinality labels", &a.highest_cardinality_labels);
    section(
        "Label names with highest cumulative label value length",
        &a.value_bytes_by_label,
    );
    section("Most common label pairs", &a.most_common_pairs);
    section(
        "Highest cardinality metric names",
        &a.highest_cardinality_metrics,
    );
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
            let db = open_for_inspection(&a.db_path)?;
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
            let db = open_for_inspection(&a.db_path)?;
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
        TsdbCommand::Analyze(a) => {
            let db = open_for_inspection(&a.db_path)?;
            let blocks = db.blocks();
            let block = match a.block_id.as_deref() {
                Some("head") => None,
                Some(id) => Some(
                    blocks
                        .iter()
                        .find(|b| b.meta().ulid == id)
                        .with_context(|| format!("no block {id} in {}", a.db_path.display()))?,
                ),
                None => blocks.iter().max_by_key(|b| b.meta().max_time),
            };
            match block {
                Some(b) => {
                    let m = b.meta();
                    print_analysis(
                        &format!(
                            "Block ID: {}\nDuration: {}s\nSeries in block: {}",
                            m.ulid,
                            (m.max_time - m.min_time) / 1000,
                            m.stats.num_series
                        ),
                        &pharos_tsdb::analyze::analyze(b.postings(), a.limit),
                    );
                }
                None => print_analysis(
                    "Head (in-memory series rebuilt from the WAL)",
                    &db.analyze_head(a.limit),
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
