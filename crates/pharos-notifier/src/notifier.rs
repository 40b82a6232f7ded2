//! The notifier: takes alerts from rule evaluation, queues them, and sends them in batches to
//! every Alertmanager of every configured entry, like Prometheus's notifier manager.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use pharos_model::Labels;
use pharos_scrape::{relabel, RelabelConfig};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::alert::{encode_v2, Alert};
use crate::alertmanager_set::{AlertmanagerSet, DiscoveredAlertmanagers};
use crate::config::{NotifierConfig, NotifierOptions};
use crate::error::NotifierError;
use crate::metrics::{Gauges, NotifierMetrics};
use crate::queue::AlertQueue;

/// Adds `external` labels the alert lacks, then applies `cfgs`; alerts that relabeling drops
/// are left out. Used with the external labels and the global `alert_relabel_configs` when
/// alerts are queued, and with no external labels and an entry's own rules before sending.
pub fn relabel_alerts(cfgs: &[RelabelConfig], external: &Labels, alerts: Vec<Alert>) -> Vec<Alert> {
    if cfgs.is_empty() && external.is_empty() {
        return alerts;
    }
    alerts
        .into_iter()
        .filter_map(|mut a| {
            let mut b = a.labels.builder();
            for l in external {
                if a.labels.get(&l.name).is_none() {
                    b.set(l.name.clone(), l.value.clone());
                }
            }
            if !relabel::process_builder(&mut b, cfgs) {
                return None;
            }
            a.labels = b.build();
            Some(a)
        })
        .collect()
}

/// The labels and rules applied to every alert when it is queued.
#[derive(Default)]
struct QueueRelabeling {
    external_labels: Labels,
    alert_relabel_configs: Vec<RelabelConfig>,
}

struct Inner {
    opts: NotifierOptions,
    queue: Mutex<AlertQueue>,
    more: Notify,
    stop: Notify,
    stopping: AtomicBool,
    relabeling: RwLock<Arc<QueueRelabeling>>,
    sets: RwLock<Arc<Vec<Arc<AlertmanagerSet>>>>,
    metrics: NotifierMetrics,
}

/// Sends alerts to Alertmanagers. Create it inside a Tokio runtime; configure it with
/// [`Notifier::apply_config`]; stop it with [`Notifier::stop`].
pub struct Notifier {
    inner: Arc<Inner>,
    runner: Mutex<Option<JoinHandle<()>>>,
}

impl Notifier {
    /// Starts a notifier with no Alertmanagers; must be called inside a Tokio runtime.
    pub fn new(opts: NotifierOptions) -> Notifier {
        let inner = Arc::new(Inner {
            queue: Mutex::new(AlertQueue::new(opts.queue_capacity)),
            opts,
            more: Notify::new(),
            stop: Notify::new(),
            stopping: AtomicBool::new(false),
            relabeling: RwLock::new(Arc::new(QueueRelabeling::default())),
            sets: RwLock::new(Arc::new(Vec::new())),
            metrics: NotifierMetrics::default(),
        });
        let runner = tokio::spawn(run(inner.clone()));
        Notifier {
            inner,
            runner: Mutex::new(Some(runner)),
        }
    }

    /// Replaces the configuration. Entries whose settings did not change keep running (and
    /// keep what they discovered); on error nothing changes.
    pub fn apply_config(&self, cfg: &NotifierConfig) -> Result<(), NotifierError> {
        let old = self
            .inner
            .sets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut unused: Vec<Option<&Arc<AlertmanagerSet>>> = old.iter().map(Some).collect();
        let mut sets = Vec::with_capacity(cfg.alertmanagers.len());
        for set_cfg in &cfg.alertmanagers {
            let reused = unused
                .iter_mut()
                .find(|s| s.is_some_and(|s| s.config() == set_cfg))
                .and_then(Option::take);
            match reused {
                Some(s) => sets.push(s.clone()),
                None => sets.push(Arc::new(AlertmanagerSet::start(
                    set_cfg.clone(),
                    self.inner.opts.default_timeout,
                    &self.inner.opts.user_agent,
                )?)),
            }
        }
        *self
            .inner
            .relabeling
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(QueueRelabeling {
            external_labels: cfg.external_labels.clone(),
            alert_relabel_configs: cfg.alert_relabel_configs.clone(),
        });
        *self.inner.sets.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(sets);
        Ok(())
    }

    /// Queues alerts for sending, after adding external labels and applying the global
    /// `alert_relabel_configs`. Never blocks on the network.
    pub fn send(&self, alerts: Vec<Alert>) {
        let relabeling = self
            .inner
            .relabeling
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let alerts = relabel_alerts(
            &relabeling.alert_relabel_configs,
            &relabeling.external_labels,
            alerts,
        );
        if alerts.is_empty() {
            return;
        }
        let dropped = self
            .inner
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(alerts);
        if dropped > 0 {
            tracing::warn!(
                num_dropped = dropped,
                "alert notification queue full, dropping alerts"
            );
            self.inner.metrics.add_dropped(dropped);
        }
        self.inner.more.notify_one();
    }

    /// Alerts waiting to be sent.
    pub fn queue_len(&self) -> usize {
        self.inner
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Every entry's Alertmanagers together, for `/api/v1/alertmanagers`.
    pub fn alertmanagers(&self) -> DiscoveredAlertmanagers {
        let sets = self
            .inner
            .sets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut all = DiscoveredAlertmanagers::default();
        for s in sets.iter() {
            let d = s.alertmanagers();
            all.active.extend(d.active);
            all.dropped.extend(d.dropped);
        }
        all
    }

    /// The counters, for tests and diagnostics.
    pub fn metrics(&self) -> &NotifierMetrics {
        &self.inner.metrics
    }

    /// Appends the `prometheus_notifications_*` metrics in the text format to `out`.
    pub fn write_metrics(&self, out: &mut String) {
        let (queue_length, queue_capacity) = {
            let q = self.inner.queue.lock().unwrap_or_else(|e| e.into_inner());
            (q.len(), q.capacity())
        };
        let gauges = Gauges {
            queue_length,
            queue_capacity,
            active: self.alertmanagers().active,
        };
        self.inner.metrics.write(&gauges, out);
    }

    /// Stops sending: what is queued is still sent for at most the options' drain timeout,
    /// then the rest is dropped (and counted). Calling it again does nothing.
    pub async fn stop(&self) {
        if self.inner.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner.stop.notify_one();
        let deadline = tokio::time::Instant::now() + self.inner.opts.drain_timeout;
        let runner = self.runner.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut runner) = runner {
            if tokio::time::timeout_at(deadline, &mut runner)
                .await
                .is_err()
            {
                runner.abort();
            }
        }
        let inner = self.inner.clone();
        if tokio::time::timeout_at(deadline, inner.send_queued())
            .await
            .is_err()
        {
            let left = {
                let mut q = self.inner.queue.lock().unwrap_or_else(|e| e.into_inner());
                q.take_batch(usize::MAX).len()
            };
            if left > 0 {
                tracing::warn!(
                    num_dropped = left,
                    "alerts still queued at shutdown were not sent in time"
                );
                self.inner.metrics.add_dropped(left);
            }
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(r) = self.runner.lock().unwrap_or_else(|e| e.into_inner()).take() {
            r.abort();
        }
    }
}

/// Sends whatever is queued each time alerts arrive, until stopped.
async fn run(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            _ = inner.more.notified() => {}
            _ = inner.stop.notified() => return,
        }
        if inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        inner.clone().send_queued().await;
    }
}

impl Inner {
    /// Sends batches until the queue is empty.
    async fn send_queued(self: Arc<Self>) {
        loop {
            let batch = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take_batch(self.opts.max_batch_size);
            if batch.is_empty() {
                return;
            }
            let n = batch.len();
            if !self.clone().send_all(batch).await {
                self.metrics.add_dropped(n);
            }
        }
    }

    /// Sends one batch to every Alertmanager of every entry at once; true when at least one
    /// accepted it, which is when Prometheus considers the batch delivered.
    async fn send_all(self: Arc<Self>, alerts: Vec<Alert>) -> bool {
        let sets = self.sets.read().unwrap_or_else(|e| e.into_inner()).clone();
        let begin = Instant::now();
        let mut requests = JoinSet::new();
        let shared_body = encode_v2(&alerts);
        for set in sets.iter() {
            let active = set.alertmanagers().active;
            if active.is_empty() {
                continue;
            }
            let relabel_cfgs = &set.config().alert_relabel_configs;
            let (body, count) = if relabel_cfgs.is_empty() {
                (Cow::Borrowed(&shared_body), alerts.len())
            } else {
                let own = relabel_alerts(relabel_cfgs, &Labels::empty(), alerts.clone());
                if own.is_empty() {
                    continue;
                }
                (Cow::Owned(encode_v2(&own)), own.len())
            };
            for url in active {
                let set = set.clone();
                let body = body.clone().into_owned();
                let inner = self.clone();
                requests.spawn(async move {
                    let result = set.post(&url, body).await;
                    if let Err(e) = &result {
                        tracing::error!(alertmanager = %url, count, error = %e, "error sending alerts");
                    }
                    inner
                        .metrics
                        .observe(&url, count, result.is_ok(), begin.elapsed());
                    result.is_ok()
                });
            }
        }
        let mut delivered = false;
        while let Some(r) = requests.join_next().await {
            delivered |= r.unwrap_or(false);
        }
        delivered
    }
}
