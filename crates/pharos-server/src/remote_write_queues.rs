//! The server's remote write queues: one [`QueueManager`] per `remote_write` entry, kept
//! running across reloads when the entry and the external labels are unchanged, and flushed
//! with a bound on shutdown. Also renders the queues' `prometheus_remote_storage_*` metrics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use pharos_model::labels::escape_label_value;
use pharos_model::MetricType;
use pharos_remote::{MetadataSource, QueueManager, QueueMetrics, RemoteWriteConfig};
use pharos_tsdb::exemplar::Metadata;
use pharos_tsdb::Db;
use tokio::sync::Mutex as AsyncMutex;

/// How long a queue being replaced on reload may take to send what it holds; what is left is
/// sent by its successor, which resumes from the recorded position.
const RELOAD_FLUSH: Duration = Duration::from_secs(5);

/// Labels and counters of one running queue, for `/metrics`.
#[derive(Clone)]
struct QueueView {
    name: String,
    url: String,
    metrics: Arc<QueueMetrics>,
    min_shards: usize,
    max_shards: usize,
}

/// Every running remote write queue.
pub struct RemoteWriteQueues {
    db: Arc<Db>,
    queues: AsyncMutex<Vec<QueueManager>>,
    views: RwLock<Vec<QueueView>>,
    metadata: OnceLock<MetadataSource>,
}

fn metric_type_from_name(t: &str) -> MetricType {
    match t {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::StateSet,
        _ => MetricType::Untyped,
    }
}

/// Metadata the active scrape targets expose, as remote write sends it (Prometheus's
/// metadata watcher reads the same scrape caches).
pub fn scrape_metadata_source(state: Weak<crate::server::AppState>) -> MetadataSource {
    Arc::new(move || {
        let state = state.clone();
        Box::pin(async move {
            let Some(st) = state.upgrade() else {
                return Vec::new();
            };
            let view = st.scrape.lock().await.targets();
            let mut out = Vec::new();
            for pool in view.pools.values() {
                for t in &pool.active {
                    for m in t.metadata.iter() {
                        out.push((
                            m.metric.clone(),
                            Metadata {
                                metric_type: metric_type_from_name(&m.metric_type),
                                unit: m.unit.clone(),
                                help: m.help.clone(),
                            },
                        ));
                    }
                }
            }
            out
        })
    })
}

impl RemoteWriteQueues {
    /// No queues yet; [`RemoteWriteQueues::apply`] starts them.
    pub fn new(db: Arc<Db>) -> Self {
        RemoteWriteQueues {
            db,
            queues: AsyncMutex::new(Vec::new()),
            views: RwLock::new(Vec::new()),
            metadata: OnceLock::new(),
        }
    }

    /// Sets where queues started from now on read scrape metadata.
    pub fn set_metadata_source(&self, source: MetadataSource) {
        let _ = self.metadata.set(source);
    }

    /// Makes the running queues match `cfgs`: unchanged entries keep running, changed or
    /// removed ones are stopped (after a bounded flush), new ones start. Errors name the
    /// entries that could not start; the others run regardless.
    pub async fn apply(
        &self,
        cfgs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let mut queues = self.queues.lock().await;
        let mut keep = Vec::new();
        for q in std::mem::take(&mut *queues) {
            if cfgs.iter().any(|c| q.runs(c, external_labels)) {
                keep.push(q);
            } else {
                q.stop(RELOAD_FLUSH).await;
            }
        }
        let mut errors = Vec::new();
        let mut next = Vec::with_capacity(cfgs.len());
        for c in cfgs {
            if let Some(i) = keep.iter().position(|q| q.runs(c, external_labels)) {
                next.push(keep.swap_remove(i));
                continue;
            }
            match QueueManager::start(
                c.clone(),
                external_labels,
                self.db.clone(),
                self.metadata.get().cloned(),
            ) {
                Ok(q) => next.push(q),
                Err(e) => errors.push(e.to_string()),
            }
        }
        *self.views.write().unwrap_or_else(|e| e.into_inner()) = next
            .iter()
            .map(|q| QueueView {
                name: q.config().name.clone(),
                url: q.config().url.clone(),
                metrics: q.metrics(),
                min_shards: q.config().queue_config.min_shards,
                max_shards: q.config().queue_config.max_shards,
            })
            .collect();
        *queues = next;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Stops every queue, giving each at most `flush` (`--storage.remote.flush-deadline`) to
    /// send what it holds; a queue whose receiver stops taking samples gives up sooner, and
    /// what is unsent is resent after a restart from the recorded WAL position. The queues stop
    /// concurrently, so shutdown takes about `flush` at most however many there are.
    pub async fn stop_all(&self, flush: Duration) {
        let queues = std::mem::take(&mut *self.queues.lock().await);
        let stops: Vec<_> = queues
            .into_iter()
            .map(|q| tokio::spawn(q.stop(flush)))
            .collect();
        for s in stops {
            if let Err(e) = s.await {
                tracing::error!(error = %e, "stopping a remote write queue failed");
            }
        }
    }

    /// Appends the `prometheus_remote_storage_*` families in Prometheus's names and labels.
    pub fn write_metrics(&self, out: &mut String) {
        let views = self.views.read().unwrap_or_else(|e| e.into_inner()).clone();
        if views.is_empty() {
            return;
        }
        let highest = views
            .iter()
            .map(|v| v.metrics.highest_read_ms.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
            .max(0);
        let _ = writeln!(out, "# HELP prometheus_remote_storage_highest_timestamp_in_seconds Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch.");
        let _ = writeln!(
            out,
            "# TYPE prometheus_remote_storage_highest_timestamp_in_seconds gauge"
        );
        let _ = writeln!(
            out,
            "prometheus_remote_storage_highest_timestamp_in_seconds {}",
            highest / 1000
        );
        type Read = fn(&QueueMetrics) -> f64;
        let families: [(&str, &str, &str, Read); 12] = [
            ("prometheus_remote_storage_samples_total", "counter", "Total number of samples sent to remote storage.", |m| m.samples_total.load(Ordering::Relaxed) as f64),
            ("prometheus_remote_storage_samples_failed_total", "counter", "Total number of samples which failed on send to remote storage, non-recoverable errors.", |m| m.samples_failed_total.load(Ordering::Relaxed) as f64),
            ("prometheus_remote_storage_samples_retried_total", "counter", "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.", |m| m.samples_retried_total.load(Ordering::Relaxed) as f64),
            ("prometheus_remote_storage_samples_dropped_total", "counter", "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.", |m| m.samples_dropped_total.load(Ordering::Relaxed) as f64),
            ("prometheus_remote_storage_samples_pending", "gauge", "The number of samples pending in the queues shards to be sent to the remote storage.", |m| m.samples_pending.load(Ordering::Relaxed).max(0) as f64),
            ("prometheus_remote_storage_shards", "gauge", "The number of shards used for parallel sending to the remote storage.", |m| m.shards.load(Ordering::Relaxed) as f64),
            ("prometheus_remote_storage_shards_desired", "gauge", "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.", |m| m.shards_desired.load(Ordering::Relaxed) as f64),
            ("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", "gauge", "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.", |m| (m.highest_sent_ms.load(Ordering::Relaxed).max(0) / 1000) as f64),
            ("prometheus_remote_storage_exemplars_total", "counter", "Total number of exemplars sent to remote storage.", |m| m.exemplars_total.load(Ordering::Relaxed) as f64),
            ("prometheus_remote_storage_bytes_total", "counter", "The total number of bytes of data (not metadata) sent by the queue after compression.", |m| m.bytes_total.load(Ordering::Relaxed) as f64),
            ("prometheus_remote_storage_metadata_total", "counter", "Total number of metadata entries sent to remote storage.", |m| m.metadata_total.load(Ordering::Relaxed) as f64),
            ("prometheus_remote_storage_metadata_failed_total", "counter", "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.", |m| m.metadata_failed_total.load(Ordering::Relaxed) as f64),
        ];
        type Bound = fn(&QueueView) -> usize;
        let bounds: [(&str, &str, Bound); 2] = [
            (
                "prometheus_remote_storage_shards_min",
                "The minimum number of shards that the queue is allowed to run.",
                |v| v.min_shards,
            ),
            (
                "prometheus_remote_storage_shards_max",
                "The maximum number of shards that the queue is allowed to run.",
                |v| v.max_shards,
            ),
        ];
        for (name, help, read) in bounds {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for v in &views {
                let _ = writeln!(
                    out,
                    "{name}{{remote_name=\"{}\",url=\"{}\"}} {}",
                    escape_label_value(&v.name),
                    escape_label_value(&v.url),
                    read(v)
                );
            }
        }
        for (name, kind, help, read) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for v in &views {
                let _ = writeln!(
                    out,
                    "{name}{{remote_name=\"{}\",url=\"{}\"}} {}",
                    escape_label_value(&v.name),
                    escape_label_value(&v.url),
                    read(&v.metrics)
                );
            }
        }
    }
}
