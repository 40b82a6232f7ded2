//! `pharos node-exporter`: node_exporter's command line, wired to the `pharos-node-exporter`
//! crate.
//!
//! The flags are spelled like node_exporter 1.5's (Go kingpin) so existing systemd units and
//! Ansible roles work unchanged: `--flag=value` and `--flag value` both work, and every boolean
//! flag has a `--no-` form. There is one `--collector.<name>` flag per collector, so the
//! arguments are built with clap's builder API from the collector registry rather than derived.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};
use pharos_node_exporter::collector::HostPaths;
use pharos_node_exporter::collectors::ALL;
use pharos_node_exporter::options::CollectorOptions;
use pharos_node_exporter::server::{self, Server};
use pharos_node_exporter::{CollectorSelection, Exporter, HttpOptions, WebConfig};

use logging::LogOptions;

pub mod logging;

/// Flags of `pharos node-exporter`, boxed because they are large next to other subcommands'.
#[derive(Clone, Debug, Default)]
pub struct Args {
    /// The parsed settings.
    pub settings: Box<Settings>,
}

/// Everything the node exporter flags say.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--web.listen-address`, repeatable.
    pub listen_addresses: Vec<String>,
    /// `--web.telemetry-path`.
    pub telemetry_path: String,
    /// `--web.disable-exporter-metrics`.
    pub disable_exporter_metrics: bool,
    /// `--web.max-requests`.
    pub max_requests: usize,
    /// `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
    /// `--path.*`.
    pub paths: HostPaths,
    /// `--collector.<name>`, `--no-collector.<name>`, `--collector.disable-defaults`.
    pub selection: CollectorSelection,
    /// `--collector.<name>.<setting>`.
    pub options: CollectorOptions,
    /// `--log.level`, `--log.format`.
    pub log: LogOptions,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen_addresses: vec![":9100".into()],
            telemetry_path: "/metrics".into(),
            disable_exporter_metrics: false,
            max_requests: 40,
            web_config_file: None,
            paths: HostPaths::default(),
            selection: CollectorSelection::default(),
            options: CollectorOptions::default(),
            log: LogOptions::default(),
        }
    }
}

/// Per-collector settings: (flag, help, node_exporter's default shown in the help).
const COLLECTOR_SETTINGS: &[(&str, &str, Option<&str>)] = &[
    ("collector.textfile.directory", "Directory to read text files with metrics from.", None),
    (
        "collector.filesystem.mount-points-exclude",
        "Regexp of mount points to exclude for filesystem collector.",
        Some(r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"),
    ),
    (
        "collector.filesystem.fs-types-exclude",
        "Regexp of filesystem types to exclude for filesystem collector.",
        Some(
            r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$",
        ),
    ),
    (
        "collector.netdev.device-include",
        "Regexp of net devices to include (mutually exclusive to device-exclude).",
        None,
    ),
    (
        "collector.netdev.device-exclude",
        "Regexp of net devices to exclude (mutually exclusive to device-include).",
        None,
    ),
    ("collector.netclass.ignored-devices", "Regexp of net devices to ignore for netclass collector.", Some("^$")),
    (
        "collector.diskstats.device-exclude",
        "Regexp of diskstats devices to exclude.",
        Some(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"),
    ),
    (
        "collector.systemd.unit-include",
        "Regexp of systemd units to include. Units must both match include and not match exclude to be included.",
        Some(".+"),
    ),
    (
        "collector.netstat.fields",
        "Regexp of fields to return for netstat collector.",
        Some(r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"),
    ),
    (
        "collector.vmstat.fields",
        "Regexp of fields to return for vmstat collector.",
        Some(r"^(oom_kill|pgpg|pswp|pg.*fault).*"),
    ),
    (
        "collector.filesystem.mount-timeout",
        "How long to wait for a mount to respond before marking it as stale (Go duration, e.g. 5s).",
        Some("5s"),
    ),
    (
        "collector.powersupply.ignored-supplies",
        "Regexp of power supplies to ignore for powersupplyclass collector.",
        Some("^$"),
    ),
    (
        "collector.cpu.info.flags-include",
        "Filter the `flags` field in cpuInfo with a value that must be a regular expression.",
        None,
    ),
    (
        "collector.cpu.info.bugs-include",
        "Filter the `bugs` field in cpuInfo with a value that must be a regular expression.",
        None,
    ),
    ("collector.arp.device-include", "Regexp of arp devices to include (mutually exclusive to device-exclude).", None),
    ("collector.arp.device-exclude", "Regexp of arp devices to exclude (mutually exclusive to device-include).", None),
    ("collector.diskstats.device-include", "Regexp of diskstats devices to include.", None),
    (
        "collector.systemd.unit-exclude",
        "Regexp of systemd units to exclude. Units must both match include and not match exclude to be included.",
        Some(r".+\.(automount|device|mount|scope|slice|target)"),
    ),
];

/// A boolean kingpin flag: `--name` plus a hidden `--no-name`, the later one winning.
fn bool_flag(cmd: Command, name: &str, help: String, heading: &'static str) -> Command {
    let negated = format!("no-{name}");
    cmd.arg(
        Arg::new(name.to_string())
            .long(name.to_string())
            .action(ArgAction::SetTrue)
            .help(help)
            .help_heading(heading)
            .overrides_with(negated.clone()),
    )
    .arg(
        Arg::new(negated.clone())
            .long(negated)
            .action(ArgAction::SetTrue)
            .hide(true)
            .overrides_with(name.to_string()),
    )
}

/// The state of a boolean kingpin flag: `Some(true)` for `--name`, `Some(false)` for
/// `--no-name`, `None` when neither was given.
fn bool_state(m: &ArgMatches, name: &str) -> Option<bool> {
    let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine) && m.get_flag(id);
    if given(name) {
        Some(true)
    } else if given(&format!("no-{name}")) {
        Some(false)
    } else {
        None
    }
}

impl clap::Args for Args {
    fn augment_args(cmd: Command) -> Command {
        let mut cmd = cmd
            .version(env!("CARGO_PKG_VERSION"))
            .after_help(
                "Flags are spelled like node_exporter 1.5's. Every boolean flag also has a --no- form \
                 (e.g. --no-collector.wifi, --no-web.disable-exporter-metrics); the last one given wins.",
            )
            .arg(
                Arg::new("web.listen-address")
                    .long("web.listen-address")
                    .value_name("ADDRESS")
                    .action(ArgAction::Append)
                    .default_value(":9100")
                    .help("Addresses on which to expose metrics and web interface. Repeatable for multiple addresses.")
                    .help_heading("Web"),
            )
            .arg(
                Arg::new("web.telemetry-path")
                    .long("web.telemetry-path")
                    .value_name("PATH")
                    .default_value("/metrics")
                    .help("Path under which to expose metrics.")
                    .help_heading("Web"),
            )
            .arg(
                Arg::new("web.max-requests")
                    .long("web.max-requests")
                    .value_name("N")
                    .default_value("40")
                    .value_parser(clap::value_parser!(usize))
                    .help("Maximum number of parallel scrape requests. Use 0 to disable.")
                    .help_heading("Web"),
            )
            .arg(
                Arg::new("web.config.file")
                    .long("web.config.file")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Path to configuration file that can enable TLS or authentication (exporter-toolkit format).")
                    .help_heading("Web"),
            );
        cmd = bool_flag(
            cmd,
            "web.disable-exporter-metrics",
            "Exclude metrics about the exporter itself (promhttp_*, process_*).".into(),
            "Web",
        );
        for (flag, default, help) in [
            ("path.procfs", "/proc", "procfs mountpoint."),
            ("path.sysfs", "/sys", "sysfs mountpoint."),
            ("path.rootfs", "/", "rootfs mountpoint."),
            ("path.udev.data", "/run/udev/data", "udev data path."),
        ] {
            cmd = cmd.arg(
                Arg::new(flag)
                    .long(flag)
                    .value_name("PATH")
                    .default_value(default)
                    .value_parser(clap::value_parser!(PathBuf))
                    .help(help)
                    .help_heading("Paths"),
            );
        }
        cmd = bool_flag(
            cmd,
            "collector.disable-defaults",
            "Set all collectors to disabled by default.".into(),
            "Collectors",
        );
        cmd = bool_flag(
            cmd,
            "collector.cpu.info",
            "Enables metric node_cpu_info.".into(),
            "Collector settings",
        );
        cmd = bool_flag(
            cmd,
            "collector.stat.softirq",
            "Export softirq calls per vector.".into(),
            "Collector settings",
        );
        cmd = bool_flag(
            cmd,
            "collector.bcache.priorityStats",
            "Expose expensive priority stats.".into(),
            "Collector settings",
        );
        cmd = bool_flag(
            cmd,
            "collector.rapl.enable-zone-label",
            "Label RAPL metrics with rapl_zone instead of naming the zone in the metric.".into(),
            "Collector settings",
        );
        for reg in ALL {
            let name = format!("collector.{}", reg.name);
            let default = if reg.default_enabled {
                "enabled"
            } else {
                "disabled"
            };
            cmd = bool_flag(
                cmd,
                &name,
                format!("Enable the {} collector (default: {default}).", reg.name),
                "Collectors",
            );
        }
        for (flag, help, default) in COLLECTOR_SETTINGS {
            let help = match default {
                Some(d) => format!("{help} [node_exporter default: {d}]"),
                None => (*help).to_string(),
            };
            cmd = cmd.arg(
                Arg::new(*flag)
                    .long(*flag)
                    .value_name("VALUE")
                    .help(help)
                    .help_heading("Collector settings"),
            );
        }
        logging::augment(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for Args {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let string = |id: &str| m.get_one::<String>(id).cloned();
        let path = |id: &str| m.get_one::<PathBuf>(id).cloned().unwrap_or_default();

        // Collect --collector.<name> switches in command-line order, so later ones win.
        let mut switches: Vec<(usize, String, bool)> = Vec::new();
        for reg in ALL {
            let id = format!("collector.{}", reg.name);
            if let Some(on) = bool_state(m, &id) {
                let flag = if on { id.clone() } else { format!("no-{id}") };
                let at = m.index_of(&flag).unwrap_or(0);
                switches.push((at, reg.name.to_string(), on));
            }
        }
        switches.sort_by_key(|s| s.0);

        let setting = |flag: &str| string(flag);
        // node_exporter refuses these pairs at start-up; failing on every scrape instead would
        // hide the mistake in a log line.
        for (include, exclude) in [
            (
                "collector.netdev.device-include",
                "collector.netdev.device-exclude",
            ),
            (
                "collector.arp.device-include",
                "collector.arp.device-exclude",
            ),
        ] {
            if setting(include).is_some() && setting(exclude).is_some() {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("--{include} and --{exclude} are mutually exclusive\n"),
                ));
            }
        }
        let mount_timeout = match setting("collector.filesystem.mount-timeout") {
            Some(text) => Some(parse_go_duration(&text).ok_or_else(|| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("invalid value {text:?} for --collector.filesystem.mount-timeout: expected a duration such as 5s or 500ms\n"),
                )
            })?),
            None => None,
        };
        Ok(Args {
            settings: Box::new(Settings {
                listen_addresses: m
                    .get_many::<String>("web.listen-address")
                    .map(|v| v.cloned().collect())
                    .unwrap_or_default(),
                telemetry_path: string("web.telemetry-path").unwrap_or_else(|| "/metrics".into()),
                disable_exporter_metrics: bool_state(m, "web.disable-exporter-metrics")
                    .unwrap_or(false),
                max_requests: m
                    .get_one::<usize>("web.max-requests")
                    .copied()
                    .unwrap_or(40),
                web_config_file: m.get_one::<PathBuf>("web.config.file").cloned(),
                paths: HostPaths {
                    procfs: path("path.procfs"),
                    sysfs: path("path.sysfs"),
                    rootfs: path("path.rootfs"),
                    udev_data: path("path.udev.data"),
                },
                selection: CollectorSelection {
                    disable_defaults: bool_state(m, "collector.disable-defaults").unwrap_or(false),
                    overrides: switches.into_iter().map(|(_, n, on)| (n, on)).collect(),
                },
                options: CollectorOptions {
                    textfile_directory: setting("collector.textfile.directory").map(PathBuf::from),
                    filesystem_mount_points_exclude: setting(
                        "collector.filesystem.mount-points-exclude",
                    ),
                    filesystem_fs_types_exclude: setting("collector.filesystem.fs-types-exclude"),
                    netdev_device_include: setting("collector.netdev.device-include"),
                    netdev_device_exclude: setting("collector.netdev.device-exclude"),
                    netclass_ignored_devices: setting("collector.netclass.ignored-devices"),
                    diskstats_device_exclude: setting("collector.diskstats.device-exclude"),
                    systemd_unit_include: setting("collector.systemd.unit-include"),
                    systemd_unit_exclude: setting("collector.systemd.unit-exclude"),
                    cpu_info: bool_state(m, "collector.cpu.info").unwrap_or(false),
                    netstat_fields: setting("collector.netstat.fields"),
                    vmstat_fields: setting("collector.vmstat.fields"),
                    filesystem_mount_timeout: mount_timeout,
                    powersupply_ignored_supplies: setting("collector.powersupply.ignored-supplies"),
                    rapl_zone_label: bool_state(m, "collector.rapl.enable-zone-label")
                        .unwrap_or(false),
                    cpu_info_flags_include: setting("collector.cpu.info.flags-include"),
                    cpu_info_bugs_include: setting("collector.cpu.info.bugs-include"),
                    stat_softirq: bool_state(m, "collector.stat.softirq").unwrap_or(false),
                    arp_device_include: setting("collector.arp.device-include"),
                    arp_device_exclude: setting("collector.arp.device-exclude"),
                    diskstats_device_include: setting("collector.diskstats.device-include"),
                    bcache_priority_stats: bool_state(m, "collector.bcache.priorityStats")
                        .unwrap_or(false),
                },
                log: logging::from_matches(m),
            }),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// Validates the flags, reads the web config, checks the host paths, builds the collectors and
/// binds every listen address. Everything that can go wrong at start-up goes wrong here.
pub async fn prepare(args: &Settings) -> anyhow::Result<Server> {
    let web = match &args.web_config_file {
        Some(path) if !path.as_os_str().is_empty() => WebConfig::load(path)?,
        _ => WebConfig::default(),
    };
    check_host_paths(&args.paths)?;
    let registrations = args.selection.resolve()?;
    let exporter = Exporter::new(
        &registrations,
        &args.options,
        args.paths.clone(),
        !args.disable_exporter_metrics,
    );
    tracing::info!(collectors = %exporter.collector_names().join(","), "enabled collectors");
    let http = HttpOptions {
        telemetry_path: args.telemetry_path.clone(),
        max_requests: args.max_requests,
        openmetrics: false,
        // The exporter idles between scrapes; see `HttpOptions::release_memory`.
        release_memory: true,
    };
    let router = pharos_node_exporter::http::router(Arc::new(exporter), &http, &web);
    if args.listen_addresses.is_empty() {
        anyhow::bail!("no --web.listen-address given");
    }
    let mut listeners = Vec::with_capacity(args.listen_addresses.len());
    for address in &args.listen_addresses {
        listeners.push(server::bind(address).await?);
    }
    Ok(Server::new(listeners, router, web.tls))
}

/// Parses a Go `time.Duration` string such as `5s`, `1m30s` or `250ms`.
fn parse_go_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest.get(..number_end)?.parse().ok()?;
        rest = rest.get(number_end..)?;
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match rest.get(..unit_end)? {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = rest.get(unit_end..)?;
    }
    std::time::Duration::try_from_secs_f64(total).ok()
}

/// A procfs or sysfs path that does not exist almost always means a typo or a container without
/// the host's /proc mounted: say so at start-up instead of serving a scrape full of failures.
fn check_host_paths(paths: &HostPaths) -> anyhow::Result<()> {
    let stat = paths.proc("stat");
    std::fs::metadata(&stat).with_context(|| {
        format!(
            "--path.procfs={}: cannot read {} — is procfs mounted there? (in a container, mount the host's /proc and point --path.procfs at it)",
            paths.procfs.display(),
            stat.display()
        )
    })?;
    if !paths.sysfs.is_dir() {
        anyhow::bail!(
            "--path.sysfs={}: not a directory — is sysfs mounted there?",
            paths.sysfs.display()
        );
    }
    if !paths.rootfs.is_dir() {
        anyhow::bail!("--path.rootfs={}: not a directory", paths.rootfs.display());
    }
    Ok(())
}

/// How long an idle scrape worker thread is kept. Longer than common scrape intervals (15s,
/// 30s, 60s), so regular scrapes reuse the threads instead of starting new ones each time.
const WORKER_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(150);
/// Blocking threads: two per scrape, a few concurrent scrapes, plus the odd DNS lookup or
/// bcrypt check. A collector stuck in the kernel holds its thread, so leave some headroom.
const MAX_BLOCKING_THREADS: usize = 16;

/// The async runtime for serving scrapes. An exporter answers a handful of requests a minute:
/// one thread for all I/O is plenty, and the collecting happens on blocking worker threads
/// (see `Exporter::gather`). Worker threads per core would only add idle stacks and arenas.
fn exporter_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(WORKER_KEEP_ALIVE)
        .build()
        .context("starting the async runtime")
}

/// glibc gives every thread that allocates its own malloc arena (up to eight per core), and
/// memory freed in an arena mostly stays resident. An exporter's few threads allocate little
/// and rarely at the same time, so one shared arena keeps the resident size down at no
/// measurable cost.
fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes allocator tuning; it is called before any other thread
    // exists, and an unsupported option is reported by the return value, which is ignored
    // because the default is a fine fallback.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Runs the subcommand until SIGINT or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    limit_malloc_arenas();
    let args = *args.settings;
    logging::init(&args.log)?;
    tracing::info!(
        version = pharos_node_exporter::build_info::VERSION,
        "starting pharos node-exporter"
    );
    let runtime = exporter_runtime()?;
    runtime.block_on(async {
        let server = prepare(&args).await?;
        server.serve(crate::cmd::up::shutdown_signal()).await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("5s"),
            Some(std::time::Duration::from_secs(5))
        );
        assert_eq!(
            parse_go_duration("1m30s"),
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            parse_go_duration("250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(parse_go_duration("0"), Some(std::time::Duration::ZERO));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration("5 parsecs"), None);
    }
}
