//! The running server: storage, scrape manager, query engine and HTTP listener wired together,
//! plus configuration reloads and shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use pharos_promql::{Engine, EngineOptions};
use pharos_scrape::{PoolOptions, ScrapeManager};
use pharos_tsdb::{Compactor, Db, Options as DbOptions};
use tokio::sync::{mpsc, oneshot, Mutex as AsyncMutex};

use crate::config::{Config, ConfigError};
use crate::tsdb_sink::TsdbSink;

/// Everything the server needs to start, normally from command-line flags.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// `--config.file`.
    pub config_file: PathBuf,
    /// Configuration text to use instead of reading `config_file` (embedded defaults).
    pub config_text: Option<String>,
    /// `--storage.tsdb.path`.
    pub storage_path: PathBuf,
    /// `--storage.tsdb.retention.time` in milliseconds; 0 keeps forever.
    pub retention_time_ms: i64,
    /// `--storage.tsdb.retention.size` in bytes; 0 disables.
    pub retention_bytes: u64,
    /// `--web.listen-address`, resolved.
    pub listen: SocketAddr,
    /// `--web.external-url`, empty for the default.
    pub external_url: String,
    /// Path prefix of every route ("" for none), from `--web.route-prefix`.
    pub route_prefix: String,
    /// `--web.enable-lifecycle`.
    pub enable_lifecycle: bool,
    /// `--web.enable-admin-api`.
    pub enable_admin_api: bool,
    /// `--web.enable-remote-write-receiver`: serve `POST /api/v1/write`.
    pub enable_remote_write_receiver: bool,
    /// Query engine limits.
    pub engine: EngineOptions,
    /// Every flag and its value, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
}

/// A loaded configuration and the text it came from (served by `/api/v1/status/config`).
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    /// The parsed configuration.
    pub config: Config,
    /// The YAML as read (never served: it may hold secrets).
    pub text: String,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("error loading config from {path}: {source}")]
    Config {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: ConfigError,
    },
    /// The storage could not be opened.
    #[error("opening storage at {path}: {source}")]
    Storage {
        /// The directory.
        path: String,
        /// Cause.
        #[source]
        source: pharos_tsdb::DbError,
    },
    /// The listener could not be bound or failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Counters and timestamps for the server's own `/metrics`.
#[derive(Debug)]
pub struct ReloadStatus {
    /// Whether the last reload succeeded.
    pub last_success: bool,
    /// When the configuration was last loaded successfully.
    pub last_success_time: SystemTime,
}

/// State shared by every request handler.
pub struct AppState {
    /// The database.
    pub db: Arc<Db>,
    /// The query engine.
    pub engine: Engine,
    /// The scrape pools.
    pub scrape: AsyncMutex<ScrapeManager>,
    /// What scraped samples flow through (counts for self-metrics).
    pub sink: Arc<TsdbSink>,
    /// The configuration in force.
    pub config: RwLock<LoadedConfig>,
    /// The options the server started with.
    pub options: ServerOptions,
    /// When the server started.
    pub start_time: SystemTime,
    /// Last reload outcome.
    pub reload_status: RwLock<ReloadStatus>,
    /// Asks the main loop to reload; the reply carries the error, if any.
    pub reload_tx: mpsc::Sender<oneshot::Sender<Result<(), String>>>,
    /// Asks the main loop to shut down.
    pub quit_tx: mpsc::Sender<()>,
}

impl AppState {
    /// The configuration in force (a clone, so no lock is held across awaits).
    pub fn loaded_config(&self) -> LoadedConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn load_config(opts: &ServerOptions) -> Result<LoadedConfig, ServerError> {
    let path = opts.config_file.display().to_string();
    let wrap = |source| ServerError::Config {
        path: path.clone(),
        source,
    };
    let text = match &opts.config_text {
        Some(t) => t.clone(),
        None => std::fs::read_to_string(&opts.config_file).map_err(|source| {
            wrap(ConfigError::Read {
                path: opts.config_file.clone(),
                source,
            })
        })?,
    };
    let dir = opts
        .config_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let config = Config::parse(&text, &path, dir).map_err(wrap)?;
    Ok(LoadedConfig { config, text })
}

/// Applies `loaded` to the scrape manager; a pool whose HTTP client cannot be built fails the
/// whole reload, so that the user sees the error.
async fn apply(state: &AppState, loaded: LoadedConfig) -> Result<(), String> {
    let errors = state
        .scrape
        .lock()
        .await
        .apply_config(&loaded.config.scrape_configs)
        .await;
    let ok = errors.is_empty();
    {
        let mut st = state
            .reload_status
            .write()
            .unwrap_or_else(|e| e.into_inner());
        st.last_success = ok;
        if ok {
            st.last_success_time = SystemTime::now();
        }
    }
    *state.config.write().unwrap_or_else(|e| e.into_inner()) = loaded;
    if ok {
        Ok(())
    } else {
        Err(errors
            .iter()
            .map(|(job, e)| format!("scrape pool {job:?}: {e}"))
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// Re-reads the configuration file; a bad file leaves the running configuration untouched.
async fn reload(state: &AppState) -> Result<(), String> {
    let mut opts = state.options.clone();
    // Embedded defaults are only for the first start; a reload always reads the file if any.
    if opts.config_text.is_some() && !opts.config_file.exists() {
        return Ok(());
    }
    opts.config_text = None;
    match load_config(&opts) {
        Ok(loaded) => {
            let r = apply(state, loaded).await;
            match &r {
                Ok(()) => {
                    tracing::info!(file = %opts.config_file.display(), "configuration reloaded")
                }
                Err(e) => tracing::error!(error = %e, "configuration reload partly failed"),
            }
            r
        }
        Err(e) => {
            state
                .reload_status
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .last_success = false;
            tracing::error!(error = %e, "configuration reload failed; keeping the running configuration");
            Err(e.to_string())
        }
    }
}

/// A server with its configuration loaded, its port bound and its storage open, not yet
/// serving: `pharos up` prepares every component before starting any, so a taken port or a
/// bad file stops everything early.
pub struct PreparedServer {
    opts: ServerOptions,
    loaded: LoadedConfig,
    db: Arc<Db>,
    compactor: Compactor,
    listener: tokio::net::TcpListener,
}

/// Runs the server until `/-/quit`, SIGTERM or Ctrl-C (or `shutdown` resolving).
pub async fn run(
    opts: ServerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    prepare(opts).await?.serve(shutdown).await
}

/// Loads the configuration, binds the listen address and opens storage.
pub async fn prepare(opts: ServerOptions) -> Result<PreparedServer, ServerError> {
    let loaded = load_config(&opts)?;
    if !loaded.config.rule_files.is_empty() {
        tracing::warn!(
            patterns = loaded.config.rule_files.len(),
            "rule evaluation is not implemented yet; rule_files are listed but not loaded"
        );
    }
    if !loaded.config.alerting.alertmanagers.is_empty() {
        tracing::warn!(
            alertmanagers = loaded.config.alerting.alertmanagers.len(),
            "alerting is configured but no alerts are sent yet: rule evaluation and notification are not implemented"
        );
    }
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let db_opts = DbOptions {
        retention_time: opts.retention_time_ms,
        retention_bytes: opts.retention_bytes,
        ..DbOptions::default()
    };
    let (db, report) =
        Db::open(&opts.storage_path, db_opts).map_err(|source| ServerError::Storage {
            path: opts.storage_path.display().to_string(),
            source,
        })?;
    tracing::info!(
        path = %opts.storage_path.display(),
        blocks = report.blocks,
        "storage opened"
    );
    let db = Arc::new(db);
    // Prometheus compacts once a minute; retention is applied by the same call.
    let compactor = Compactor::spawn(&db, Duration::from_secs(60))?;
    Ok(PreparedServer {
        opts,
        loaded,
        db,
        compactor,
        listener,
    })
}

impl PreparedServer {
    /// The bound address (useful when the port was 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `/-/quit`, SIGTERM or Ctrl-C (or `shutdown` resolving), then stops
    /// scraping, the compactor and the HTTP listener in that order.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let PreparedServer {
            opts,
            loaded,
            db,
            compactor,
            listener,
        } = self;
        let sink = Arc::new(TsdbSink::new(db.clone()));
        let pool_opts = PoolOptions {
            offset_seed: offset_seed(&loaded.config.global.external_labels, opts.listen),
            ..PoolOptions::default()
        };
        let manager = ScrapeManager::new(sink.clone(), pool_opts);
        let (reload_tx, mut reload_rx) = mpsc::channel::<oneshot::Sender<Result<(), String>>>(4);
        let (quit_tx, mut quit_rx) = mpsc::channel::<()>(1);
        let state = Arc::new(AppState {
            db: db.clone(),
            engine: Engine::new(opts.engine.clone()),
            scrape: AsyncMutex::new(manager),
            sink,
            config: RwLock::new(loaded.clone()),
            options: opts.clone(),
            start_time: SystemTime::now(),
            reload_status: RwLock::new(ReloadStatus {
                last_success: true,
                last_success_time: SystemTime::now(),
            }),
            reload_tx,
            quit_tx,
        });
        if let Err(e) = apply(&state, loaded).await {
            tracing::error!(error = %e, "some scrape pools could not start");
        }
        let app = crate::routes::router(state.clone());
        tracing::info!(address = %listener.local_addr()?, "listening");
        let (stop_http_tx, stop_http_rx) = oneshot::channel::<()>();
        let http = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_http_rx.await;
                })
                .await
        });

        let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = sigterm.recv() => { tracing::info!("received SIGTERM, exiting gracefully"); break }
                _ = tokio::signal::ctrl_c() => { tracing::info!("received interrupt, exiting gracefully"); break }
                _ = quit_rx.recv() => { tracing::info!("quit requested over HTTP, exiting gracefully"); break }
                _ = sighup.recv() => { let _ = reload(&state).await; }
                Some(reply) = reload_rx.recv() => { let _ = reply.send(reload(&state).await); }
            }
        }
        let _ = stop_http_tx.send(());
        match tokio::time::timeout(Duration::from_secs(10), http).await {
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "HTTP server failed"),
            Err(_) => tracing::warn!("HTTP connections still open after 10s; closing"),
            _ => {}
        }
        // Stop scraping first so the last staleness markers reach storage before it closes.
        let manager = std::mem::replace(
            &mut *state.scrape.lock().await,
            ScrapeManager::new(
                Arc::new(pharos_scrape::MemorySink::new()),
                PoolOptions::default(),
            ),
        );
        manager.stop().await;
        compactor.stop();
        if let Err(e) = db.sync() {
            tracing::error!(error = %e, "syncing the write-ahead log at shutdown failed");
        }
        tracing::info!("see you next time");
        Ok(())
    }
}

/// Spreads scrape start offsets per server, as Prometheus does with its external labels.
fn offset_seed(external: &BTreeMap<String, String>, listen: SocketAddr) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    external.hash(&mut h);
    listen.hash(&mut h);
    h.finish()
}
