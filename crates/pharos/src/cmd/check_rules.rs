//! `pharos check rules`: validate rule files like `promtool check rules`, with its output and
//! exit codes, and the rule-file part of `pharos check config`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pharos_rules::RuleFile;

/// Which lint checks run besides validation (`--lint`), as promtool spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lint {
    /// Every lint check.
    All,
    /// Rules with the same name and labels.
    #[value(name = "duplicate-rules")]
    DuplicateRules,
    /// No lint checks.
    None,
}

/// Flags of `pharos check rules`.
#[derive(clap::Args, Debug)]
pub struct RulesArgs {
    /// Linting checks to apply to the rules.
    #[arg(long = "lint", value_enum, default_value = "duplicate-rules")]
    pub lint: Lint,
    /// Make lint problems exit with status 3.
    #[arg(long = "lint-fatal")]
    pub lint_fatal: bool,
    /// The rule files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// What checking one file found.
enum Outcome {
    /// Valid, with the rule count and lint findings (empty when clean).
    Valid(usize, String),
    /// Invalid, with every error.
    Invalid(Vec<String>),
}

/// Recording or alerting rules sharing a name and labels, in promtool's report format.
fn duplicate_report(file: &RuleFile) -> String {
    let mut keyed: Vec<(String, pharos_model::Labels)> = file
        .groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .map(|r| (r.name().to_string(), r.labels.clone()))
        .collect();
    keyed.sort();
    let mut dups: Vec<&(String, pharos_model::Labels)> = Vec::new();
    for pair in keyed.windows(2) {
        if let [a, b] = pair {
            if a == b && dups.last() != Some(&b) {
                dups.push(b);
            }
        }
    }
    if dups.is_empty() {
        return String::new();
    }
    let mut out = format!("{} duplicate rule(s) found.\n", dups.len());
    for (name, labels) in dups {
        out.push_str(&format!("Metric: {name}\nLabel(s):\n"));
        for l in labels.iter() {
            out.push_str(&format!("\t{}: {}\n", l.name, l.value));
        }
    }
    out.push_str("Might cause inconsistency while recording expressions");
    out
}

fn check_file(path: &Path, lint: Lint) -> Outcome {
    match pharos_rules::load_rule_file(path) {
        Ok(f) => {
            let findings = if lint == Lint::None {
                String::new()
            } else {
                duplicate_report(&f)
            };
            Outcome::Valid(f.rule_count(), findings)
        }
        Err(errs) => Outcome::Invalid(errs.iter().map(|e| e.to_string()).collect()),
    }
}

/// Checks one file, printing promtool's lines; `indent` prefixes error lines (promtool indents
/// them under `check config`, not under `check rules`). Returns (failed, lint problem).
fn report(path: &Path, lint: Lint, indent: &str) -> (bool, bool) {
    println!("Checking {}", path.display());
    match check_file(path, lint) {
        Outcome::Valid(n, findings) if findings.is_empty() => {
            println!("  SUCCESS: {n} rules found");
            println!();
            (false, false)
        }
        Outcome::Valid(_, findings) => {
            // promtool reports lint findings as a failure that only `--lint-fatal` makes fatal.
            eprintln!("  FAILED:");
            eprintln!("{indent}lint error {findings}");
            println!();
            (false, true)
        }
        Outcome::Invalid(errs) => {
            eprintln!("  FAILED:");
            for e in errs {
                eprintln!("{indent}{e}");
            }
            println!();
            (true, false)
        }
    }
}

/// `pharos check rules FILE...`: exit 1 when a file is invalid, 3 for lint findings with
/// `--lint-fatal`, else 0.
pub fn run(args: RulesArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut lint_found = false;
    for f in &args.files {
        let (bad, lint) = report(f, args.lint, "");
        failed |= bad;
        lint_found |= lint;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else if lint_found && args.lint_fatal {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// The files `rule_files` patterns name, with promtool's error for an explicit (non-glob)
/// file that does not exist.
pub fn config_rule_files(patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in patterns {
        let matched =
            pharos_rules::expand_rule_files(std::slice::from_ref(p)).map_err(|e| e.to_string())?;
        if !p.contains('*') && matched.is_empty() {
            return Err(format!("{p:?} does not point to an existing file"));
        }
        out.extend(matched.into_iter().map(PathBuf::from));
    }
    Ok(out)
}

/// Checks the rule files of a valid configuration as `promtool check config` does; returns
/// true when one is invalid.
pub fn check_config_rule_files(files: &[PathBuf]) -> bool {
    let mut failed = false;
    for f in files {
        failed |= report(f, Lint::DuplicateRules, "     ").0;
    }
    failed
}
