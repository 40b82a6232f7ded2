//! The exporter proper: the set of enabled collectors and one scrape over all of them.
//!
//! A scrape hands the enabled collectors to a couple of blocking workers that take them one at a
//! time from a shared queue, then adds the per-collector `node_scrape_collector_*` families, the
//! exporter's own metrics, and puts everything in the canonical order.
//!
//! Most collectors read a few small procfs files in microseconds, so a thread per collector
//! would cost more in thread wake-ups and context switches than the collecting itself. Two
//! workers still let a slow collector (a large sysfs tree) overlap with the rest; the one
//! collector that can block for long, `filesystem`, bounds its own statfs calls with a timeout.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::collectors::{Registration, ALL};
use crate::options::CollectorOptions;
use crate::{build_info, merge, process};

/// Which collectors run: node_exporter's defaults, optionally all switched off by
/// `--collector.disable-defaults`, then the explicit `--collector.<name>` /
/// `--no-collector.<name>` flags in command-line order.
#[derive(Clone, Debug, Default)]
pub struct CollectorSelection {
    /// `--collector.disable-defaults`.
    pub disable_defaults: bool,
    /// Explicit switches as (collector name, enabled), later entries winning.
    pub overrides: Vec<(String, bool)>,
}

/// A collector name in the selection that no collector has.
#[derive(Debug, thiserror::Error)]
#[error("unknown collector {0:?} (known collectors: {known})", known = known_names())]
pub struct UnknownCollector(pub String);

fn known_names() -> String {
    ALL.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
}

impl CollectorSelection {
    /// The registrations this selection enables, in name order.
    pub fn resolve(&self) -> Result<Vec<&'static Registration>, UnknownCollector> {
        let mut enabled: Vec<bool> = ALL
            .iter()
            .map(|r| r.default_enabled && !self.disable_defaults)
            .collect();
        for (name, on) in &self.overrides {
            let at = ALL
                .iter()
                .position(|r| r.name == name)
                .ok_or_else(|| UnknownCollector(name.clone()))?;
            if let Some(slot) = enabled.get_mut(at) {
                *slot = *on;
            }
        }
        Ok(ALL
            .iter()
            .zip(enabled)
            .filter(|(_, on)| *on)
            .map(|(r, _)| r)
            .collect())
    }
}

/// One collector plus what is needed to log its failures once rather than on every scrape.
struct Slot {
    collector: Box<dyn Collector>,
    last_error: Mutex<Option<String>>,
}

/// The outcome of running one collector once.
struct Run {
    name: &'static str,
    seconds: f64,
    success: bool,
    families: Vec<MetricFamily>,
}

/// A configured node exporter. Cheap to share: scrapes take `&self` and may run concurrently.
pub struct Exporter {
    slots: Vec<Arc<Slot>>,
    paths: Arc<HostPaths>,
    exporter_metrics: bool,
}

impl Exporter {
    /// Builds the selected collectors.
    pub fn new(
        registrations: &[&'static Registration],
        options: &CollectorOptions,
        paths: HostPaths,
        exporter_metrics: bool,
    ) -> Self {
        Self::from_collectors(
            registrations.iter().map(|r| (r.build)(options)).collect(),
            paths,
            exporter_metrics,
        )
    }

    /// An exporter over already-built collectors; lets tests inject collectors of their own.
    pub fn from_collectors(
        collectors: Vec<Box<dyn Collector>>,
        paths: HostPaths,
        exporter_metrics: bool,
    ) -> Self {
        Exporter {
            slots: collectors
                .into_iter()
                .map(|collector| {
                    Arc::new(Slot {
                        collector,
                        last_error: Mutex::new(None),
                    })
                })
                .collect(),
            paths: Arc::new(paths),
            exporter_metrics,
        }
    }

    /// Names of the enabled collectors, in the order they were given.
    pub fn collector_names(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.collector.name()).collect()
    }

    /// The first of `names` that is not an enabled collector, if any.
    pub fn unknown_collector<'a>(&self, names: &'a [String]) -> Option<&'a str> {
        names
            .iter()
            .find(|n| !self.slots.iter().any(|s| s.collector.name() == n.as_str()))
            .map(String::as_str)
    }

    /// Whether `process_*` and the other exporter self-metrics are included.
    pub fn exporter_metrics(&self) -> bool {
        self.exporter_metrics
    }

    /// Runs every collector concurrently and returns the scrape's families in canonical order.
    /// `extra` families (e.g. the HTTP handler's own counters) are merged in. A collector that
    /// fails or panics only costs its own metrics and shows as `node_scrape_collector_success 0`.
    pub async fn gather(&self, extra: Vec<MetricFamily>) -> Vec<MetricFamily> {
        self.gather_only(None, extra).await
    }

    /// Like [`Exporter::gather`], limited to the named collectors when `only` is given (the
    /// `collect[]` URL parameter). Check names first with [`Exporter::unknown_collector`].
    pub async fn gather_only(
        &self,
        only: Option<&[String]>,
        extra: Vec<MetricFamily>,
    ) -> Vec<MetricFamily> {
        let selected: Vec<Arc<Slot>> = self
            .slots
            .iter()
            .filter(|s| only.is_none_or(|names| names.iter().any(|n| n == s.collector.name())))
            .cloned()
            .collect();
        let count = selected.len();
        let queue = Arc::new(WorkQueue {
            slots: selected,
            next: AtomicUsize::new(0),
            paths: Arc::clone(&self.paths),
        });
        let workers = SCRAPE_WORKERS.min(count);
        let mut tasks = Vec::with_capacity(workers);
        for _ in 0..workers {
            let queue = Arc::clone(&queue);
            tasks.push(tokio::task::spawn_blocking(move || queue.drain()));
        }
        let mut finished: Vec<Option<Run>> = std::iter::repeat_with(|| None).take(count).collect();
        for task in tasks {
            match task.await {
                Ok(runs) => {
                    for (at, run) in runs {
                        if let Some(place) = finished.get_mut(at) {
                            *place = Some(run);
                        }
                    }
                }
                // Panics are caught per collector, so this is a worker that could not run at
                // all; the collectors it would have run are reported as failed below.
                Err(e) => tracing::error!(error = %e, "scrape worker failed"),
            }
        }
        let runs = finished
            .into_iter()
            .zip(&queue.slots)
            .map(|(run, slot)| run.unwrap_or_else(|| Run::crashed(slot.collector.name())))
            .collect();
        self.assemble(runs, extra)
    }

    fn assemble(&self, runs: Vec<Run>, extra: Vec<MetricFamily>) -> Vec<MetricFamily> {
        let mut duration = MetricFamily::new(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
            MetricType::Gauge,
        );
        let mut success = MetricFamily::new(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
            MetricType::Gauge,
        );
        let mut families =
            Vec::with_capacity(runs.iter().map(|r| r.families.len()).sum::<usize>() + 16);
        for run in runs {
            duration.push([("collector", run.name)], run.seconds);
            success.push(
                [("collector", run.name)],
                if run.success { 1.0 } else { 0.0 },
            );
            families.extend(run.families);
        }
        families.push(duration);
        families.push(success);
        families.push(build_info::family());
        if self.exporter_metrics {
            families.extend(process::families());
        }
        families.extend(extra);
        merge::normalize(families)
    }
}

/// How many blocking threads one scrape uses. Enough to overlap one slow collector with the
/// rest; more would mostly add context switches (and a malloc arena per thread).
const SCRAPE_WORKERS: usize = 2;

/// The collectors of one scrape, handed out one at a time to whichever worker is free.
struct WorkQueue {
    slots: Vec<Arc<Slot>>,
    next: AtomicUsize,
    paths: Arc<HostPaths>,
}

impl WorkQueue {
    /// Runs collectors until none is left; returns each run with its position in the queue.
    fn drain(&self) -> Vec<(usize, Run)> {
        let mut done = Vec::new();
        loop {
            let at = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = self.slots.get(at) else {
                return done;
            };
            // A panicking collector is a bug in that collector: it costs its own metrics, not
            // the rest of the scrape. Its state is behind its own locks, which recover from
            // poisoning, so carrying on after the unwind is sound.
            let run = std::panic::catch_unwind(AssertUnwindSafe(|| run_one(slot, &self.paths)))
                .unwrap_or_else(|_| {
                    tracing::error!(collector = slot.collector.name(), "collector crashed");
                    Run::crashed(slot.collector.name())
                });
            done.push((at, run));
        }
    }
}

impl Run {
    /// The outcome of a collector that panicked.
    fn crashed(name: &'static str) -> Self {
        Run {
            name,
            seconds: 0.0,
            success: false,
            families: Vec::new(),
        }
    }
}

fn run_one(slot: &Slot, paths: &HostPaths) -> Run {
    let name = slot.collector.name();
    let mut families = Vec::new();
    let start = Instant::now();
    let result = slot.collector.collect(paths, &mut families);
    let seconds = start.elapsed().as_secs_f64();
    let success = match result {
        Ok(()) => {
            if let Ok(mut last) = slot.last_error.lock() {
                *last = None;
            }
            true
        }
        Err(CollectError::NotPresent(what)) => {
            tracing::debug!(collector = name, "{what} not present; nothing to collect");
            true
        }
        Err(e) => {
            let message = e.to_string();
            let repeated = slot
                .last_error
                .lock()
                .map(|mut last| last.replace(message.clone()).as_deref() == Some(message.as_str()))
                .unwrap_or(false);
            // A broken source fails the same way on every scrape; say so once, not every 15s.
            if repeated {
                tracing::debug!(collector = name, error = %message, "collector failed");
            } else {
                tracing::warn!(collector = name, error = %message, "collector failed");
            }
            false
        }
    };
    Run {
        name,
        seconds,
        success,
        families,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    struct Fixed(&'static str, Result<f64, fn() -> CollectError>);

    impl Collector for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        fn collect(
            &self,
            _paths: &HostPaths,
            out: &mut Vec<MetricFamily>,
        ) -> Result<(), CollectError> {
            match &self.1 {
                Ok(v) => {
                    out.push(MetricFamily::single(
                        format!("node_{}_value", self.0),
                        "h",
                        MetricType::Gauge,
                        *v,
                    ));
                    Ok(())
                }
                Err(make) => {
                    // A partial result must still be served.
                    out.push(MetricFamily::single(
                        format!("node_{}_partial", self.0),
                        "h",
                        MetricType::Gauge,
                        1.0,
                    ));
                    Err(make())
                }
            }
        }
    }

    struct Panics;
    impl Collector for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        fn collect(
            &self,
            _paths: &HostPaths,
            _out: &mut Vec<MetricFamily>,
        ) -> Result<(), CollectError> {
            panic!("collector bug")
        }
    }

    fn value(fams: &[MetricFamily], name: &str, collector: &str) -> Option<f64> {
        let f = fams.iter().find(|f| f.name == name)?;
        f.metrics
            .iter()
            .find(|m| m.labels.iter().any(|(_, v)| v == collector))
            .and_then(|m| match m.value {
                pharos_model::MetricValue::Simple(v) => Some(v),
                _ => None,
            })
    }

    #[tokio::test]
    async fn success_and_failure_are_reported_per_collector() {
        let exporter = Exporter::from_collectors(
            vec![
                Box::new(Fixed("good", Ok(2.0))),
                Box::new(Fixed(
                    "absent",
                    Err(|| CollectError::NotPresent("zfs".into())),
                )),
                Box::new(Fixed(
                    "broken",
                    Err(|| CollectError::Parse {
                        path: PathBuf::from("/proc/x"),
                        reason: "bad".into(),
                    }),
                )),
                Box::new(Panics),
            ],
            HostPaths::default(),
            false,
        );
        let fams = exporter.gather(Vec::new()).await;
        assert_eq!(
            value(&fams, "node_scrape_collector_success", "good"),
            Some(1.0)
        );
        assert_eq!(
            value(&fams, "node_scrape_collector_success", "absent"),
            Some(1.0)
        );
        assert_eq!(
            value(&fams, "node_scrape_collector_success", "broken"),
            Some(0.0)
        );
        assert_eq!(
            value(&fams, "node_scrape_collector_success", "panics"),
            Some(0.0)
        );
        assert!(fams.iter().any(|f| f.name == "node_good_value"));
        assert!(fams.iter().any(|f| f.name == "node_broken_partial"));
        assert!(fams.iter().any(|f| f.name == "node_exporter_build_info"));
        assert!(!fams.iter().any(|f| f.name.starts_with("process_")));
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[tokio::test]
    async fn exporter_metrics_can_be_enabled() {
        let exporter = Exporter::from_collectors(vec![], HostPaths::default(), true);
        let fams = exporter.gather(Vec::new()).await;
        assert!(fams.iter().any(|f| f.name == "process_cpu_seconds_total"));
    }

    #[test]
    fn selection_follows_defaults_and_overrides() {
        let names = |s: &CollectorSelection| {
            s.resolve()
                .unwrap()
                .iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        };
        let default = names(&CollectorSelection::default());
        assert!(default.contains(&"cpu"));
        assert!(!default.contains(&"processes"));

        let only_cpu = CollectorSelection {
            disable_defaults: true,
            overrides: vec![("cpu".into(), true)],
        };
        assert_eq!(names(&only_cpu), ["cpu"]);

        let last_wins = CollectorSelection {
            disable_defaults: false,
            overrides: vec![
                ("cpu".into(), false),
                ("processes".into(), true),
                ("cpu".into(), true),
            ],
        };
        let n = names(&last_wins);
        assert!(n.contains(&"cpu") && n.contains(&"processes"));

        let bad = CollectorSelection {
            disable_defaults: false,
            overrides: vec![("nope".into(), true)],
        };
        match bad.resolve() {
            Err(e) => assert!(e.to_string().contains("unknown collector \"nope\""), "{e}"),
            Ok(_) => panic!("an unknown collector must be rejected"),
        }
    }
}
