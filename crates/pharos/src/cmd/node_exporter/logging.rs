//! `--log.level` and `--log.format`, spelled and formatted like the Prometheus tools' go-kit
//! logger (`ts=... level=info msg="..." key=value`), so log pipelines that parse node_exporter's
//! output parse ours too.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Arg, ArgMatches, Command};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The log settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Least severe level written.
    pub level: Level,
    /// Output syntax.
    pub format: LogFormat,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            level: Level::INFO,
            format: LogFormat::Logfmt,
        }
    }
}

/// `--log.format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `key=value` pairs.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Adds the two flags to a command.
pub fn augment(cmd: Command) -> Command {
    cmd.arg(
        Arg::new("log.level")
            .long("log.level")
            .value_name("LEVEL")
            .default_value("info")
            .value_parser(["debug", "info", "warn", "error"])
            .help("Only log messages with the given severity or above.")
            .help_heading("Logging"),
    )
    .arg(
        Arg::new("log.format")
            .long("log.format")
            .value_name("FORMAT")
            .default_value("logfmt")
            .value_parser(["logfmt", "json"])
            .help("Output format of log messages.")
            .help_heading("Logging"),
    )
}

/// Reads the flags added by [`augment`].
pub fn from_matches(m: &ArgMatches) -> LogOptions {
    let level = match m.get_one::<String>("log.level").map(String::as_str) {
        Some("debug") => Level::DEBUG,
        Some("warn") => Level::WARN,
        Some("error") => Level::ERROR,
        _ => Level::INFO,
    };
    let format = match m.get_one::<String>("log.format").map(String::as_str) {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Logfmt,
    };
    LogOptions { level, format }
}

/// Installs the global logger (on stderr). A second call keeps the first logger.
pub fn init(options: &LogOptions) -> anyhow::Result<()> {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(options.level);
    let result = match options.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
    if let Err(e) = result {
        // Only possible when something already installed a logger, which then stays in charge.
        tracing::debug!(error = %e, "logger already installed");
    }
    Ok(())
}

/// go-kit style logfmt lines.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            Level::INFO => "info",
            Level::DEBUG | Level::TRACE => "debug",
        };
        write!(writer, "ts={} level={level}", rfc3339_now())?;
        if let Some(module) = event.metadata().module_path() {
            let short = module.rsplit("::").next().unwrap_or(module);
            write!(writer, " caller={short}")?;
        }
        write!(writer, " msg=")?;
        write_value(&mut writer, &fields.message)?;
        for (k, v) in &fields.pairs {
            write!(writer, " {k}=")?;
            write_value(&mut writer, v)?;
        }
        writeln!(writer)
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.pairs.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.pairs.push((field.name(), format!("{value:?}")));
        }
    }
}

/// Quotes a logfmt value when it is empty or holds spaces, quotes, `=` or control characters.
fn write_value(w: &mut Writer<'_>, v: &str) -> fmt::Result {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c.is_control())
    {
        return w.write_str(v);
    }
    write!(w, "{v:?}")
}

/// Now as `2006-01-02T15:04:05.000Z`, without pulling in a date library.
fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(now.as_secs() as i64, now.subsec_millis())
}

fn format_utc(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), valid for any day count we will meet.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(format_utc(1_795_239_926, 488), "2026-11-21T05:45:26.488Z");
    }
}
