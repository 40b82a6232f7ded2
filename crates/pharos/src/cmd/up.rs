//! `pharos up`: every component in one process, with embedded defaults.
//!
//! Components are prepared one after another (config validated, ports bound) so that a taken
//! port or a bad setting stops everything before anything serves; then they all run as tasks
//! in one runtime until SIGINT/SIGTERM, or until one of them fails. Adding a component (the
//! server on :9090, Alertmanager on :9093, ...) means adding one entry to `prepare_all`.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::cmd::node_exporter::{self, logging};

/// Flags of `pharos up`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the node exporter listens.
    #[arg(
        long = "node-exporter.listen-address",
        value_name = "ADDRESS",
        default_value = ":9100"
    )]
    node_exporter_listen_address: String,

    /// Do not run the node exporter.
    #[arg(long = "no-node-exporter")]
    no_node_exporter: bool,

    /// Where the Prometheus-compatible server listens.
    #[arg(
        long = "server.listen-address",
        value_name = "ADDRESS",
        default_value = ":9090"
    )]
    server_listen_address: String,

    /// Where the server stores its data.
    #[arg(
        long = "server.storage.tsdb.path",
        value_name = "DIR",
        default_value = "data/"
    )]
    server_storage_path: std::path::PathBuf,

    /// Do not run the server.
    #[arg(long = "no-server")]
    no_server: bool,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_name = "LEVEL", default_value = "info",
          value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,

    /// Output format of log messages.
    #[arg(long = "log.format", value_name = "FORMAT", default_value = "logfmt", value_parser = ["logfmt", "json"])]
    log_format: String,
}

/// A component that is ready to run: given a shutdown signal, a future that serves until it.
type Running = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A prepared component.
struct Component {
    name: &'static str,
    start: Box<dyn FnOnce(Shutdown) -> Running + Send>,
}

/// Resolves when shutdown is requested; clonable so each component gets one.
#[derive(Clone)]
struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    async fn wait(mut self) {
        // An error means the sender is gone, which also means stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

async fn prepare_all(args: &Args) -> anyhow::Result<Vec<Component>> {
    let mut components = Vec::new();
    if !args.no_node_exporter {
        let ne_args = node_exporter::Settings {
            listen_addresses: vec![args.node_exporter_listen_address.clone()],
            ..node_exporter::Settings::default()
        };
        let server = node_exporter::prepare(&ne_args)
            .await
            .context("node exporter")?;
        for addr in server.local_addrs() {
            tracing::info!(component = "node-exporter", address = %addr, "ready");
        }
        components.push(Component {
            name: "node-exporter",
            start: Box::new(move |shutdown: Shutdown| {
                Box::pin(async move {
                    server.serve(shutdown.wait()).await;
                    Ok(())
                })
            }),
        });
    }
    if !args.no_server {
        let options = crate::cmd::server::up_options(
            &args.server_listen_address,
            &args.server_storage_path,
            (!args.no_node_exporter).then_some(args.node_exporter_listen_address.as_str()),
        )
        .context("server")?;
        let server = pharos_server::prepare(options).await.context("server")?;
        tracing::info!(component = "server", address = %server.local_addr()?, "ready");
        components.push(Component {
            name: "server",
            start: Box::new(move |shutdown: Shutdown| {
                Box::pin(async move {
                    server.serve(shutdown.wait()).await?;
                    Ok(())
                })
            }),
        });
    }
    Ok(components)
}

/// Runs the subcommand until SIGINT or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = logging::LogOptions {
        level: match args.log_level.as_str() {
            "debug" => tracing::Level::DEBUG,
            "warn" => tracing::Level::WARN,
            "error" => tracing::Level::ERROR,
            _ => tracing::Level::INFO,
        },
        format: if args.log_format == "json" {
            logging::LogFormat::Json
        } else {
            logging::LogFormat::Logfmt
        },
    };
    logging::init(&log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let components = prepare_all(&args).await?;
        if components.is_empty() {
            anyhow::bail!("every component is disabled; nothing to run");
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for c in components {
            let name = c.name;
            let running = (c.start)(Shutdown(stop_rx.clone()));
            tasks.spawn(async move { (name, running.await) });
        }
        tracing::info!("pharos is up; press Ctrl-C to stop");

        let mut failure = None;
        tokio::select! {
            _ = shutdown_signal() => {}
            Some(done) = tasks.join_next() => {
                // A component ending on its own is a failure: nothing else asked it to stop.
                failure = Some(match done {
                    Ok((name, Ok(()))) => anyhow::anyhow!("{name} stopped unexpectedly"),
                    Ok((name, Err(e))) => e.context(name),
                    Err(e) => anyhow::anyhow!("a component crashed: {e}"),
                });
            }
        }
        let _ = stop_tx.send(true);
        while let Some(done) = tasks.join_next().await {
            if let Ok((name, Err(e))) = done {
                tracing::error!(component = name, error = %e, "failed while stopping");
            }
        }
        match failure {
            Some(e) => Err(e),
            None => {
                tracing::info!("stopped");
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (systemd, Kubernetes, `kill`).
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            // Without a SIGTERM handler, Ctrl-C still works.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT, shutting down"),
        _ = term => tracing::info!("received SIGTERM, shutting down"),
    }
}
