//! The scrape manager: every scrape pool of a configuration, and what a configuration reload
//! changes. Pools whose config is unchanged keep running (their caches and phases too);
//! changed pools restart; removed pools stop and mark their series stale.

use std::collections::BTreeMap;
use std::sync::Arc;

use pharos_http::HttpConfigError;

use crate::config::ScrapeConfig;
use crate::pool::{PoolOptions, PoolState, RunningPool};
use crate::sink::ScrapeSink;

struct ManagedPool {
    cfg: ScrapeConfig,
    pool: RunningPool,
}

/// All scrape pools of the server.
pub struct ScrapeManager {
    sink: Arc<dyn ScrapeSink>,
    options: PoolOptions,
    pools: BTreeMap<String, ManagedPool>,
    /// Pools started (or tried) since the manager was created, for
    /// `prometheus_target_scrape_pools_total`.
    creation_attempts: u64,
}

/// The targets of every pool, in the shape `/api/v1/targets` groups them.
#[derive(Clone, Debug, Default)]
pub struct TargetsView {
    /// Pool (job) name to its state, sorted by name.
    pub pools: BTreeMap<String, PoolState>,
}

impl ScrapeManager {
    /// A manager with no pools yet.
    pub fn new(sink: Arc<dyn ScrapeSink>, options: PoolOptions) -> Self {
        ScrapeManager {
            sink,
            options,
            pools: BTreeMap::new(),
            creation_attempts: 0,
        }
    }

    /// Brings the running pools in line with `configs` (already validated, with
    /// `apply_global` applied). A pool whose client settings are unusable is not started and
    /// its error returned; the other pools are still applied.
    pub async fn apply_config(
        &mut self,
        configs: &[ScrapeConfig],
    ) -> Vec<(String, HttpConfigError)> {
        let mut errors = Vec::new();
        let wanted: BTreeMap<&str, &ScrapeConfig> =
            configs.iter().map(|c| (c.job_name.as_str(), c)).collect();
        let names: Vec<String> = self.pools.keys().cloned().collect();
        for name in names {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|c| self.pools.get(&name).is_some_and(|p| p.cfg == **c));
            if !keep {
                if let Some(p) = self.pools.remove(&name) {
                    p.pool.stop().await;
                }
            }
        }
        for (name, cfg) in wanted {
            if self.pools.contains_key(name) {
                continue;
            }
            self.creation_attempts += 1;
            match RunningPool::start(cfg.clone(), self.sink.clone(), self.options.clone()) {
                Ok(pool) => {
                    self.pools.insert(
                        name.to_string(),
                        ManagedPool {
                            cfg: cfg.clone(),
                            pool,
                        },
                    );
                }
                Err(e) => errors.push((name.to_string(), e)),
            }
        }
        errors
    }

    /// How many pools have been started or tried since the manager was created (a counter,
    /// as Prometheus reports it).
    pub fn pool_creation_attempts(&self) -> u64 {
        self.creation_attempts
    }

    /// Names of the running pools.
    pub fn pool_names(&self) -> Vec<String> {
        self.pools.keys().cloned().collect()
    }

    /// The current targets of every pool.
    pub fn targets(&self) -> TargetsView {
        TargetsView {
            pools: self
                .pools
                .iter()
                .map(|(n, p)| (n.clone(), p.pool.state()))
                .collect(),
        }
    }

    /// Stops every pool, waiting for their end-of-run staleness markers.
    pub async fn stop(mut self) {
        let pools = std::mem::take(&mut self.pools);
        for (_, p) in pools {
            p.pool.stop().await;
        }
    }
}
