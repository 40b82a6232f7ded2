//! The scrape loop: one task per target that scrapes at a fixed phase of every interval,
//! ingests the body, writes report series and staleness markers, and keeps the target's
//! health for the API.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pharos_http::HttpClient;
use pharos_model::{ExpositionFormat, Labels, METRIC_NAME, STALE_NAN};
use tokio::sync::oneshot;

use crate::config::{accept_header, ScrapeConfig, ScrapeProtocol};
use crate::ingest::{ingest, IngestCounts, IngestSettings};
use crate::scrape_cache::ScrapeCache;
use crate::scrape_error::ScrapeError;
use crate::scraper::{fetch, ScrapeRequest};
use crate::sink::{ScrapeSink, SinkSample, SinkValue};
use crate::target::Target;
use crate::target_status::{Health, ScrapeHealth};

/// The report series written after every scrape, in the order they are written.
pub const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// The outcome of one scrape, as recorded in the report series.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeReport {
    /// When the scrape started.
    pub start: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// Counts from the body (zero when the scrape failed before parsing).
    pub counts: IngestCounts,
    /// Why it failed, if it did.
    pub error: Option<ScrapeError>,
}

/// Scrapes one target.
pub struct ScrapeLoop {
    cfg: Arc<ScrapeConfig>,
    target: Target,
    series_labels: Labels,
    report_labels: Vec<Labels>,
    client: HttpClient,
    sink: Arc<dyn ScrapeSink>,
    health: Arc<Mutex<ScrapeHealth>>,
    request: ScrapeRequest,
    fallback_format: ExpositionFormat,
    cache: ScrapeCache,
    /// Reused between scrapes so that steady-state scrapes do not reallocate them.
    body: Vec<u8>,
    batch: Vec<SinkSample>,
    stale: Vec<Labels>,
    /// Whether report series have been written (so they need staleness markers at the end).
    reported: bool,
}

fn millis(t: SystemTime) -> i64 {
    i64::try_from(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(i64::MAX)
}

fn format_for(p: ScrapeProtocol) -> ExpositionFormat {
    match p {
        ScrapeProtocol::PrometheusProto => ExpositionFormat::ProtobufDelimited,
        ScrapeProtocol::PrometheusText0_0_4 | ScrapeProtocol::PrometheusText1_0_0 => {
            ExpositionFormat::PrometheusText
        }
        ScrapeProtocol::OpenMetricsText0_0_1 => ExpositionFormat::OpenMetrics0_0_1,
        ScrapeProtocol::OpenMetricsText1_0_0 => ExpositionFormat::OpenMetrics1_0_0,
    }
}

impl ScrapeLoop {
    /// A loop for `target` of the pool configured by `cfg` (after `apply_global`).
    pub fn new(
        cfg: Arc<ScrapeConfig>,
        target: Target,
        client: HttpClient,
        sink: Arc<dyn ScrapeSink>,
    ) -> Self {
        let series_labels = target.series_labels();
        let report_labels = REPORT_SERIES
            .iter()
            .map(|name| {
                let mut b = series_labels.builder();
                b.set(METRIC_NAME, *name);
                b.build()
            })
            .collect();
        let request = ScrapeRequest {
            url: target.url.clone(),
            accept: accept_header(&cfg.scrape_protocols),
            compression: cfg.enable_compression,
            timeout: target.timeout,
            body_size_limit: cfg.body_size_limit.0,
        };
        let fallback_format = cfg
            .fallback_scrape_protocol
            .map_or(ExpositionFormat::PrometheusText, format_for);
        ScrapeLoop {
            cfg,
            target,
            series_labels,
            report_labels,
            client,
            sink,
            health: Arc::new(Mutex::new(ScrapeHealth::default())),
            request,
            fallback_format,
            cache: ScrapeCache::new(),
            body: Vec::new(),
            batch: Vec::new(),
            stale: Vec::new(),
            reported: false,
        }
    }

    /// The target's health, updated after every scrape; share it with the API.
    pub fn health(&self) -> Arc<Mutex<ScrapeHealth>> {
        self.health.clone()
    }

    /// The target being scraped.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Scrapes once, now, and writes the samples, staleness markers and report series.
    pub async fn scrape_once(&mut self) -> ScrapeReport {
        let start = SystemTime::now();
        let started = Instant::now();
        let t = millis(start);
        self.cache.begin_iteration();
        self.batch.clear();
        let result = match fetch(&self.client, &self.request, &mut self.body).await {
            Ok(content_type) => {
                let format = ExpositionFormat::from_content_type(&content_type)
                    .unwrap_or(self.fallback_format);
                let settings = IngestSettings {
                    target_labels: &self.series_labels,
                    honor_labels: self.cfg.honor_labels,
                    honor_timestamps: self.cfg.honor_timestamps,
                    metric_relabel_configs: &self.cfg.metric_relabel_configs,
                    sample_limit: self.cfg.sample_limit,
                    label_limit: self.cfg.label_limit,
                    label_name_length_limit: self.cfg.label_name_length_limit,
                    label_value_length_limit: self.cfg.label_value_length_limit,
                    always_scrape_classic_histograms: self.cfg.always_scrape_classic_histograms,
                };
                ingest(
                    &self.body,
                    format,
                    t,
                    &settings,
                    &mut self.cache,
                    &mut self.batch,
                )
            }
            Err(e) => Err(e),
        };
        let (counts, error) = match result {
            Ok(c) => (c, None),
            Err(e) => {
                // A failed scrape stores nothing from the body, so every series of the previous
                // scrape ends here, as in Prometheus.
                self.batch.clear();
                self.cache.discard_batch_refs();
                self.cache.undo_iteration();
                (IngestCounts::default(), Some(e))
            }
        };
        self.stale.clear();
        self.cache
            .disappeared(self.cfg.track_timestamps_staleness, &mut self.stale);
        for labels in self.stale.drain(..) {
            self.batch.push(SinkSample {
                labels,
                t,
                value: SinkValue::Float(STALE_NAN),
            });
        }
        let duration = started.elapsed();
        let up = if error.is_none() { 1.0 } else { 0.0 };
        let values = [
            up,
            duration.as_secs_f64(),
            counts.scraped as f64,
            counts.post_relabel as f64,
            counts.series_added as f64,
        ];
        for (labels, v) in self.report_labels.iter().zip(values) {
            self.batch.push(SinkSample {
                labels: labels.clone(),
                t,
                value: SinkValue::Float(v),
            });
        }
        self.reported = true;
        let exemplars = if error.is_none() {
            self.cache.take_exemplars()
        } else {
            Vec::new()
        };
        let mut refs = self.cache.take_batch_refs(self.batch.len());
        let stored = self
            .sink
            .append_scrape_with_refs(&self.batch, &exemplars, &mut refs);
        self.cache.store_batch_refs(refs);
        let error = match stored {
            Ok(()) => error,
            Err(e) => error.or(Some(ScrapeError::Storage(e.0))),
        };
        if let Ok(mut h) = self.health.lock() {
            h.health = if error.is_none() {
                Health::Up
            } else {
                Health::Down
            };
            h.last_error = error.as_ref().map(ToString::to_string).unwrap_or_default();
            h.last_scrape = Some(start);
            h.last_scrape_duration = duration;
            if let Some(md) = self.cache.take_metadata_update() {
                h.metadata = std::sync::Arc::new(md);
            }
        }
        ScrapeReport {
            start,
            duration,
            counts,
            error,
        }
    }

    /// Writes staleness markers for every series of the last scrape and the report series,
    /// because the target is going away.
    pub fn end_of_run(&mut self) {
        if !self.reported {
            return;
        }
        let t = millis(SystemTime::now());
        self.batch.clear();
        self.stale.clear();
        self.cache
            .seen_in_last_iteration(self.cfg.track_timestamps_staleness, &mut self.stale);
        for labels in self
            .stale
            .drain(..)
            .chain(self.report_labels.iter().cloned())
        {
            self.batch.push(SinkSample {
                labels,
                t,
                value: SinkValue::Float(STALE_NAN),
            });
        }
        if let Err(e) = self.sink.append_batch(&self.batch) {
            tracing::warn!(target_url = %self.target.url, error = %e, "writing end-of-run staleness markers failed");
        }
        self.reported = false;
    }

    /// Scrapes after `offset`, then every interval, until `stop` fires (or its sender is
    /// dropped); then writes end-of-run staleness markers. A scrape in progress is allowed to
    /// finish (it is bounded by the scrape timeout) so the cache stays consistent.
    pub async fn run(mut self, offset: Duration, mut stop: oneshot::Receiver<()>) {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = tokio::time::sleep(offset) => {}
        }
        let mut ticker = tokio::time::interval(self.target.interval);
        // A scrape that overruns skips the missed slots instead of bursting to catch up.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = ticker.tick() => {
                    let report = self.scrape_once().await;
                    if let Some(e) = &report.error {
                        tracing::debug!(target_url = %self.target.url, error = %e, "scrape failed");
                    }
                }
            }
        }
        self.end_of_run();
    }
}
