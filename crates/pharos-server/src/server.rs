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
    /// `--storage.remote.read-sample-limit` and `--storage.remote.read-max-bytes-in-frame`.
    pub remote_read_limits: pharos_remote::read_handler::ReadLimits,
    /// `--storage.remote.read-concurrent-limit`; 0 for no limit.
    pub remote_read_concurrent_limit: usize,
    /// Query engine limits.
    pub engine: EngineOptions,
    /// Every flag and its value, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// `--alertmanager.notification-queue-capacity`: alerts waiting to be sent, at most.
    pub alertmanager_queue_capacity: usize,
    /// `--alertmanager.timeout`: request timeout of `alertmanagers` entries that set none.
    pub alertmanager_timeout: Duration,
    /// `--rules.alert.resend-delay`, `--rules.alert.for-outage-tolerance` and
    /// `--rules.alert.for-grace-period`.
    pub rule_alert_timings: pharos_rules::AlertTimings,
    /// `--storage.remote.flush-deadline`: how long shutdown waits for remote write queues to
    /// send what they hold.
    pub remote_flush_deadline: Duration,
    /// `--web.config.file`, loaded: TLS, basic auth and headers for every route.
    pub web: pharos_web::WebConfig,
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
    /// Sends alerts to the configured Alertmanagers.
    pub notifier: Arc<pharos_notifier::Notifier>,
    /// Remote read: the configured endpoints queries merge with, and `/api/v1/read` limits.
    pub remote_read: Arc<crate::fanout::RemoteReadState>,
    /// One remote write queue per `remote_write` entry.
    pub remote_write: crate::remote_write_queues::RemoteWriteQueues,
    /// Recording and alerting rule groups.
    pub rules: Arc<pharos_rules::RuleManager>,
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
    // Queues first, so a fresh queue sees the first samples of newly started scrapes.
    let remote_write_error = state
        .remote_write
        .apply(
            &loaded.config.remote_write,
            &loaded.config.global.external_labels,
        )
        .await
        .err();
    let errors = state
        .scrape
        .lock()
        .await
        .apply_config(&loaded.config.scrape_configs)
        .await;
    let remote_read_error = state
        .remote_read
        .apply(
            &loaded.config.remote_read,
            pharos_model::Labels::from_pairs(loaded.config.global.external_labels.clone()),
        )
        .err();
    let notifier_error = crate::alerting::apply_to_notifier(&state.notifier, &loaded.config).err();
    let rules_error = apply_rules(state, &loaded.config).await.err();
    let ok = errors.is_empty()
        && remote_read_error.is_none()
        && notifier_error.is_none()
        && remote_write_error.is_none()
        && rules_error.is_none();
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
            .chain(remote_read_error)
            .chain(notifier_error)
            .chain(remote_write_error)
            .chain(rules_error)
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
    // A bad rule file stops the start, as in Prometheus; on reload it only fails the reload.
    pharos_rules::load_rule_files(&loaded.config.rule_files).map_err(|e| ServerError::Config {
        path: opts.config_file.display().to_string(),
        source: ConfigError::Invalid(e.to_string()),
    })?;
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
        let notifier = Arc::new(pharos_notifier::Notifier::new(
            crate::alerting::notifier_options(
                opts.alertmanager_queue_capacity,
                opts.alertmanager_timeout,
            ),
        ));
        let notify = crate::alerting::notify_fn(notifier.clone());
        let remote_read = Arc::new(crate::fanout::RemoteReadState::new(
            opts.remote_read_limits,
            opts.remote_read_concurrent_limit,
        ));
        // Rules read through the same fanout as queries: local data and every remote_read.
        let rule_storage = Arc::new(crate::fanout::OwnedFanoutStorage::new(
            db.clone(),
            remote_read.clone(),
            tokio::runtime::Handle::current(),
        ));
        let rules = Arc::new(new_rule_manager(
            &opts,
            &loaded.config,
            rule_storage,
            db.clone(),
            notify,
        ));
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
            notifier: notifier.clone(),
            remote_read,
            remote_write: crate::remote_write_queues::RemoteWriteQueues::new(db.clone()),
            rules: rules.clone(),
        });
        state
            .remote_write
            .set_metadata_source(crate::remote_write_queues::scrape_metadata_source(
                Arc::downgrade(&state),
            ));
        if let Err(e) = apply(&state, loaded).await {
            tracing::error!(error = %e, "some scrape pools could not start");
        }
        // Signal handlers go in before the listener answers: once `/-/ready` says yes, a
        // SIGTERM must mean a graceful stop, never the default of dying on the spot.
        use tokio::signal::unix::{signal, SignalKind};
        let mut sighup = signal(SignalKind::hangup())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        // Basic auth guards every route, the UI and /metrics included, as in Prometheus.
        let app = pharos_web::web_layer::apply(crate::routes::router(state.clone()), &opts.web);
        let listener =
            pharos_web::listener::BoundListener::from_listener(opts.listen.to_string(), listener);
        let (stop_http_tx, stop_http_rx) = oneshot::channel::<()>();
        let http = tokio::spawn(pharos_web::listener::serve(
            vec![listener],
            app,
            opts.web.tls.clone(),
            async {
                let _ = stop_http_rx.await;
            },
        ));

        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = sigterm.recv() => { tracing::info!("received SIGTERM, exiting gracefully"); break }
                _ = sigint.recv() => { tracing::info!("received interrupt, exiting gracefully"); break }
                _ = quit_rx.recv() => { tracing::info!("quit requested over HTTP, exiting gracefully"); break }
                _ = sighup.recv() => { let _ = reload(&state).await; }
                Some(reply) = reload_rx.recv() => { let _ = reply.send(reload(&state).await); }
            }
        }
        let _ = stop_http_tx.send(());
        if tokio::time::timeout(Duration::from_secs(10), http)
            .await
            .is_err()
        {
            tracing::warn!("HTTP connections still open after 10s; closing");
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
        // After scraping stopped, so the final staleness markers are forwarded too.
        state
            .remote_write
            .stop_all(opts.remote_flush_deadline)
            .await;
        // Rules stop without staleness markers, so that alert for-state survives a restart.
        let _ = tokio::task::spawn_blocking(move || rules.stop()).await;
        // Alerts still queued get a short, bounded chance to reach the Alertmanagers.
        notifier.stop().await;
        compactor.stop();
        if let Err(e) = db.sync() {
            tracing::error!(error = %e, "syncing the write-ahead log at shutdown failed");
        }
        tracing::info!("see you next time");
        Ok(())
    }
}

/// The external URL alerts link back to: `--web.external-url`, or `http://<hostname>:<port>`
/// as Prometheus defaults it; without a trailing slash.
fn rule_external_url(opts: &ServerOptions) -> String {
    if !opts.external_url.is_empty() {
        return opts.external_url.trim_end_matches('/').to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("http://{host}:{}", opts.listen.port())
}

/// The rule manager reading `queryable` and writing to `db`, with no groups until the first
/// [`apply`].
fn new_rule_manager(
    opts: &ServerOptions,
    config: &Config,
    queryable: Arc<dyn pharos_tsdb::Queryable>,
    db: Arc<Db>,
    notify: pharos_rules::NotifyFn,
) -> pharos_rules::RuleManager {
    let mut ctx =
        pharos_rules::EvalContext::new(Arc::new(Engine::new(opts.engine.clone())), queryable, db);
    ctx.notify = notify;
    ctx.external_url = rule_external_url(opts);
    ctx.path_prefix = opts.route_prefix.clone();
    ctx.external_labels = pharos_model::Labels::from_pairs(config.global.external_labels.clone());
    ctx.set_timings(opts.rule_alert_timings);
    pharos_rules::RuleManager::new(ctx)
}

/// Loads the configured rule files; a bad file leaves the running groups untouched.
async fn apply_rules(state: &AppState, config: &Config) -> Result<(), String> {
    let rules = state.rules.clone();
    let patterns = config.rule_files.clone();
    let interval = i64::try_from(config.global.evaluation_interval.as_millis()).unwrap_or(60_000);
    let offset = i64::try_from(config.global.rule_query_offset.as_millis()).unwrap_or(0);
    let external_labels = pharos_model::Labels::from_pairs(config.global.external_labels.clone());
    tokio::task::spawn_blocking(move || {
        let mut ctx = rules.context();
        ctx.external_labels = external_labels;
        rules.set_context(ctx);
        rules.update(&patterns, interval, offset)
    })
    .await
    .map_err(|e| format!("loading rules: {e}"))?
    .map_err(|e| format!("loading rules: {e}"))
}

/// Spreads scrape start offsets per server, as Prometheus does with its external labels.
fn offset_seed(external: &BTreeMap<String, String>, listen: SocketAddr) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    external.hash(&mut h);
    listen.hash(&mut h);
    h.finish()
}
