//! A scrape pool: the targets of one scrape config, kept in step with discovery. It owns one
//! scrape loop per target, starts loops for new targets, stops (with staleness markers) the
//! loops of targets that disappear, and keeps dropped targets for the UI.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use pharos_http::{ClientOptions, HttpClient, HttpConfigError};
use pharos_model::Labels;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::ScrapeConfig;
use crate::discovery::{self, DiscoveryUpdate, TargetGroup};
use crate::scrape_loop::ScrapeLoop;
use crate::sink::ScrapeSink;
use crate::target::{self, Populated, Target};
use crate::target_status::{ActiveTarget, DroppedTarget, Health, ScrapeHealth};

/// Settings of the pool that do not come from the scrape config.
#[derive(Clone, Debug, Default)]
pub struct PoolOptions {
    /// HTTP client options (`User-Agent`, connection reuse).
    pub client: ClientOptions,
    /// Mixed into every target's scrape offset; Prometheus derives it from the external labels
    /// and host name so that HA pairs do not scrape in lockstep.
    pub offset_seed: u64,
}

struct RunningLoop {
    target: Target,
    health: Arc<Mutex<ScrapeHealth>>,
    stop: oneshot::Sender<()>,
    join: JoinHandle<()>,
}

/// A read-only view of the pool's targets for the API.
#[derive(Clone, Debug, Default)]
pub struct PoolState {
    /// Active targets with their latest health.
    pub active: Vec<ActiveTarget>,
    /// Targets dropped by relabeling or unusable.
    pub dropped: Vec<DroppedTarget>,
}

/// The targets of one scrape config and their loops.
pub struct ScrapePool {
    cfg: Arc<ScrapeConfig>,
    client: HttpClient,
    sink: Arc<dyn ScrapeSink>,
    options: PoolOptions,
    groups: BTreeMap<(String, String), TargetGroup>,
    loops: HashMap<u64, RunningLoop>,
    /// Targets that could not run, with a reason (target_limit, bad labels).
    failed: Vec<(Target, ScrapeHealth)>,
    dropped: Vec<Labels>,
}

impl ScrapePool {
    /// A pool for `cfg` (after `apply_global`) writing to `sink`.
    pub fn new(
        cfg: ScrapeConfig,
        sink: Arc<dyn ScrapeSink>,
        options: PoolOptions,
    ) -> Result<Self, HttpConfigError> {
        let client = HttpClient::new(&cfg.http_client, &options.client)?;
        Ok(ScrapePool {
            cfg: Arc::new(cfg),
            client,
            sink,
            options,
            groups: BTreeMap::new(),
            loops: HashMap::new(),
            failed: Vec::new(),
            dropped: Vec::new(),
        })
    }

    /// The job name.
    pub fn name(&self) -> &str {
        &self.cfg.job_name
    }

    /// Takes in a discovery update and brings the running loops in line with it.
    pub async fn apply(&mut self, update: DiscoveryUpdate) {
        for g in update.groups {
            let key = (update.provider.clone(), g.source.clone());
            if g.targets.is_empty() {
                self.groups.remove(&key);
            } else {
                self.groups.insert(key, g);
            }
        }
        self.sync().await;
    }

    async fn sync(&mut self) {
        let mut active = Vec::new();
        let mut dropped = Vec::new();
        for p in target::populate_groups(&self.cfg, self.groups.values()) {
            match p {
                Populated::Active(t) => active.push(t),
                Populated::Dropped(l) => dropped.push(l),
                Populated::Failed(l, e) => {
                    tracing::debug!(job = %self.cfg.job_name, error = %e, "target dropped");
                    dropped.push(l);
                }
            }
        }
        let keep = usize::try_from(self.cfg.keep_dropped_targets).unwrap_or(usize::MAX);
        if keep > 0 {
            dropped.truncate(keep);
        }
        self.dropped = dropped;
        // Identical targets from several groups are scraped once.
        let mut wanted: HashMap<u64, Target> = HashMap::new();
        for t in active {
            wanted.entry(t.hash()).or_insert(t);
        }
        let limit = usize::try_from(self.cfg.target_limit).unwrap_or(usize::MAX);
        if limit > 0 && wanted.len() > limit {
            // Like Prometheus, exceeding the limit stops the whole pool rather than picking
            // which targets to keep.
            let message = format!(
                "target_limit exceeded (number of targets: {}, limit: {limit})",
                wanted.len()
            );
            self.stop_all().await;
            let health = ScrapeHealth {
                health: Health::Down,
                last_error: message,
                ..ScrapeHealth::default()
            };
            self.failed = wanted.into_values().map(|t| (t, health.clone())).collect();
            return;
        }
        self.failed.clear();
        let gone: Vec<u64> = self
            .loops
            .keys()
            .filter(|h| !wanted.contains_key(h))
            .copied()
            .collect();
        for h in gone {
            if let Some(l) = self.loops.remove(&h) {
                let _ = l.stop.send(());
                let _ = l.join.await;
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        for (h, t) in wanted {
            if self.loops.contains_key(&h) {
                continue;
            }
            let sl = ScrapeLoop::new(
                self.cfg.clone(),
                t.clone(),
                self.client.clone(),
                self.sink.clone(),
            );
            let health = sl.health();
            let (stop, stop_rx) = oneshot::channel();
            let offset = t.offset(now, self.options.offset_seed);
            let join = tokio::spawn(sl.run(offset, stop_rx));
            self.loops.insert(
                h,
                RunningLoop {
                    target: t,
                    health,
                    stop,
                    join,
                },
            );
        }
    }

    async fn stop_all(&mut self) {
        let loops: Vec<RunningLoop> = self.loops.drain().map(|(_, l)| l).collect();
        let mut joins = Vec::with_capacity(loops.len());
        for l in loops {
            let _ = l.stop.send(());
            joins.push(l.join);
        }
        for j in joins {
            let _ = j.await;
        }
    }

    /// Stops every loop; each writes staleness markers for its series.
    pub async fn stop(mut self) {
        self.stop_all().await;
    }

    /// The targets and their health, for `/api/v1/targets`.
    pub fn state(&self) -> PoolState {
        let pool = self.cfg.job_name.as_str();
        let mut active: Vec<ActiveTarget> = self
            .loops
            .values()
            .map(|l| {
                let health = l.health.lock().map(|h| h.clone()).unwrap_or_default();
                ActiveTarget::new(pool, &l.target, &health)
            })
            .chain(
                self.failed
                    .iter()
                    .map(|(t, h)| ActiveTarget::new(pool, t, h)),
            )
            .collect();
        active.sort_by(|a, b| a.scrape_url.cmp(&b.scrape_url));
        let dropped = self
            .dropped
            .iter()
            .map(|l| DroppedTarget::new(pool, l))
            .collect();
        PoolState { active, dropped }
    }
}

/// A pool running with its discovery, in the background.
pub struct RunningPool {
    state: Arc<RwLock<PoolState>>,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl RunningPool {
    /// Starts discovery for `cfg` and a pool fed by it.
    pub fn start(
        cfg: ScrapeConfig,
        sink: Arc<dyn ScrapeSink>,
        options: PoolOptions,
    ) -> Result<Self, HttpConfigError> {
        let mut pool = ScrapePool::new(cfg.clone(), sink, options)?;
        let state = Arc::new(RwLock::new(PoolState::default()));
        let published = state.clone();
        let (tx, mut rx) = mpsc::channel::<DiscoveryUpdate>(16);
        let (shutdown, mut shutdown_rx) = oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            let _discovery = discovery::start(&cfg, tx);
            // Health changes after every scrape, so the published view is refreshed on a
            // short timer as well as after each discovery update.
            let mut refresh = tokio::time::interval(std::time::Duration::from_secs(1));
            // Static-only configs close the channel after their one update; the pool keeps
            // scraping those targets until shut down.
            let mut discovery_open = true;
            loop {
                tokio::select! {
                    biased;
                    _ = &mut shutdown_rx => break,
                    update = rx.recv(), if discovery_open => match update {
                        Some(u) => pool.apply(u).await,
                        None => discovery_open = false,
                    },
                    _ = refresh.tick() => {}
                }
                if let Ok(mut s) = published.write() {
                    *s = pool.state();
                }
            }
            pool.stop().await;
        });
        Ok(RunningPool {
            state,
            shutdown: Some(shutdown),
            join: Some(join),
        })
    }

    /// The latest view of the pool's targets (refreshed every second).
    pub fn state(&self) -> PoolState {
        self.state.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops discovery and every loop, waiting for end-of-run staleness markers.
    pub async fn stop(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = j.await;
        }
    }
}

impl Drop for RunningPool {
    fn drop(&mut self) {
        if let Some(j) = &self.join {
            j.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GlobalScrapeDefaults;
    use crate::sink::MemorySink;

    fn pool(yaml: &str) -> ScrapePool {
        let mut cfg: ScrapeConfig = match serde_saphyr::from_str(yaml) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        if let Err(e) = cfg.apply_global(&GlobalScrapeDefaults::default()) {
            panic!("{e}");
        }
        match ScrapePool::new(cfg, Arc::new(MemorySink::new()), PoolOptions::default()) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn group(source: &str, addrs: &[&str]) -> TargetGroup {
        TargetGroup {
            source: source.into(),
            targets: addrs
                .iter()
                .map(|a| Labels::from_pairs([("__address__", *a)]))
                .collect(),
            labels: Labels::empty(),
        }
    }

    #[tokio::test]
    async fn targets_follow_discovery() {
        let mut p = pool("job_name: j\nscrape_interval: 1h\nscrape_timeout: 1s\n");
        let update = DiscoveryUpdate {
            provider: "file/0".into(),
            groups: vec![
                group("a", &["127.0.0.1:1", "127.0.0.1:2"]),
                group("b", &["127.0.0.1:1"]),
            ],
        };
        p.apply(update).await;
        assert_eq!(
            p.state().active.len(),
            2,
            "duplicates across groups are scraped once"
        );
        p.apply(DiscoveryUpdate {
            provider: "file/0".into(),
            groups: vec![group("a", &[])],
        })
        .await;
        let state = p.state();
        assert_eq!(state.active.len(), 1);
        assert_eq!(state.active[0].scrape_url, "http://127.0.0.1:1/metrics");
        p.stop().await;
    }

    #[tokio::test]
    async fn target_limit_marks_every_target_down() {
        let mut p = pool("job_name: j\nscrape_interval: 1h\nscrape_timeout: 1s\ntarget_limit: 1\n");
        p.apply(DiscoveryUpdate {
            provider: "static".into(),
            groups: vec![group("0", &["127.0.0.1:1", "127.0.0.1:2"])],
        })
        .await;
        let state = p.state();
        assert_eq!(state.active.len(), 2);
        for t in &state.active {
            assert_eq!(t.health, Health::Down);
            assert_eq!(
                t.last_error,
                "target_limit exceeded (number of targets: 2, limit: 1)"
            );
        }
        assert!(p.loops.is_empty());
        p.stop().await;
    }

    #[tokio::test]
    async fn keep_dropped_targets_bounds_the_list() {
        let mut p = pool("job_name: j\nkeep_dropped_targets: 2\nrelabel_configs:\n  - action: drop\n    source_labels: [__address__]\n    regex: '.*'\n");
        p.apply(DiscoveryUpdate {
            provider: "static".into(),
            groups: vec![group("0", &["a:1", "b:1", "c:1"])],
        })
        .await;
        let state = p.state();
        assert!(state.active.is_empty());
        assert_eq!(state.dropped.len(), 2);
        assert_eq!(
            state.dropped[0]
                .discovered_labels
                .get("__address__")
                .map(String::as_str),
            Some("a:1")
        );
        p.stop().await;
    }
}
