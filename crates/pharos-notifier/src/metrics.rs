//! The notifier's own metrics, under the names and help texts Prometheus uses so that existing
//! dashboards and alerts on `prometheus_notifications_*` keep working.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pharos_model::labels::escape_label_value;

/// How many recent latencies each Alertmanager keeps for its quantiles. Prometheus uses a
/// ten-minute sliding summary; a fixed window of the latest requests is close to it at the
/// rate notifications are sent and keeps memory bounded.
const LATENCY_WINDOW: usize = 1024;
/// The quantiles reported, as in Prometheus.
const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

#[derive(Default)]
struct PerAlertmanager {
    sent: u64,
    errors: u64,
    latency_sum: f64,
    latency_count: u64,
    recent: VecDeque<f64>,
}

/// Counters kept while sending.
#[derive(Default)]
pub struct NotifierMetrics {
    dropped: AtomicU64,
    per_alertmanager: Mutex<BTreeMap<String, PerAlertmanager>>,
}

/// Figures the notifier reads at render time rather than counting.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    /// Alerts waiting.
    pub queue_length: usize,
    /// Queue capacity.
    pub queue_capacity: usize,
    /// Active Alertmanagers, all entries together (their URLs, so each gets its series).
    pub active: Vec<String>,
}

impl NotifierMetrics {
    /// Counts alerts that were dropped (queue overflow, or no Alertmanager accepted them).
    pub fn add_dropped(&self, n: usize) {
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// How many alerts were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records one request of `count` alerts to `url`.
    pub fn observe(&self, url: &str, count: usize, ok: bool, latency: Duration) {
        let mut m = self
            .per_alertmanager
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let e = m.entry(url.to_string()).or_default();
        e.sent += count as u64;
        if !ok {
            e.errors += count as u64;
        }
        let secs = latency.as_secs_f64();
        e.latency_sum += secs;
        e.latency_count += 1;
        if e.recent.len() == LATENCY_WINDOW {
            e.recent.pop_front();
        }
        e.recent.push_back(secs);
    }

    /// `(sent, errors)` for `url`, for tests and diagnostics.
    pub fn counts(&self, url: &str) -> (u64, u64) {
        let m = self
            .per_alertmanager
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        m.get(url).map_or((0, 0), |e| (e.sent, e.errors))
    }

    /// Appends the text exposition of every notifier metric to `out`.
    pub fn write(&self, gauges: &Gauges, out: &mut String) {
        let m = self
            .per_alertmanager
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let empty = PerAlertmanager::default();
        // Every Alertmanager ever sent to, plus the active ones, which start at zero.
        let mut urls: Vec<&str> = m.keys().map(String::as_str).collect();
        for u in &gauges.active {
            if !m.contains_key(u) {
                urls.push(u);
            }
        }
        urls.sort_unstable();
        urls.dedup();
        let get = |u: &str| m.get(u).unwrap_or(&empty);

        family(
            out,
            "prometheus_notifications_alertmanagers_discovered",
            "gauge",
            "The number of alertmanagers discovered and active.",
        );
        let _ = writeln!(
            out,
            "prometheus_notifications_alertmanagers_discovered {}",
            gauges.active.len()
        );
        family(
            out,
            "prometheus_notifications_dropped_total",
            "counter",
            "Total number of alerts dropped due to errors when sending to Alertmanager.",
        );
        let _ = writeln!(
            out,
            "prometheus_notifications_dropped_total {}",
            self.dropped()
        );
        family(
            out,
            "prometheus_notifications_errors_total",
            "counter",
            "Total number of sent alerts affected by errors.",
        );
        for u in &urls {
            let _ = writeln!(
                out,
                "prometheus_notifications_errors_total{{alertmanager=\"{}\"}} {}",
                escape_label_value(u),
                get(u).errors
            );
        }
        family(
            out,
            "prometheus_notifications_latency_seconds",
            "summary",
            "Latency quantiles for sending alert notifications.",
        );
        for u in &urls {
            let e = get(u);
            let am = escape_label_value(u);
            let mut sorted: Vec<f64> = e.recent.iter().copied().collect();
            sorted.sort_by(f64::total_cmp);
            for q in QUANTILES {
                let _ = writeln!(
                    out,
                    "prometheus_notifications_latency_seconds{{alertmanager=\"{am}\",quantile=\"{q}\"}} {}",
                    format_float(quantile(&sorted, q))
                );
            }
            let _ = writeln!(
                out,
                "prometheus_notifications_latency_seconds_sum{{alertmanager=\"{am}\"}} {}",
                format_float(e.latency_sum)
            );
            let _ = writeln!(
                out,
                "prometheus_notifications_latency_seconds_count{{alertmanager=\"{am}\"}} {}",
                e.latency_count
            );
        }
        family(
            out,
            "prometheus_notifications_queue_capacity",
            "gauge",
            "The capacity of the alert notifications queue.",
        );
        let _ = writeln!(
            out,
            "prometheus_notifications_queue_capacity {}",
            gauges.queue_capacity
        );
        family(
            out,
            "prometheus_notifications_queue_length",
            "gauge",
            "The number of alert notifications in the queue.",
        );
        let _ = writeln!(
            out,
            "prometheus_notifications_queue_length {}",
            gauges.queue_length
        );
        family(
            out,
            "prometheus_notifications_sent_total",
            "counter",
            "Total number of alerts sent.",
        );
        for u in &urls {
            let _ = writeln!(
                out,
                "prometheus_notifications_sent_total{{alertmanager=\"{}\"}} {}",
                escape_label_value(u),
                get(u).sent
            );
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The `q` quantile of sorted values (nearest rank); NaN when there are none, as an empty
/// Go summary reports.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let i = rank.saturating_sub(1).min(sorted.len() - 1);
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_per_alertmanager_series() {
        let m = NotifierMetrics::default();
        m.observe("http://a/api/v2/alerts", 3, true, Duration::from_millis(10));
        m.observe(
            "http://a/api/v2/alerts",
            2,
            false,
            Duration::from_millis(30),
        );
        m.add_dropped(2);
        let mut out = String::new();
        m.write(
            &Gauges {
                queue_length: 4,
                queue_capacity: 10,
                active: vec!["http://a/api/v2/alerts".into(), "http://b/x".into()],
            },
            &mut out,
        );
        for line in [
            "prometheus_notifications_alertmanagers_discovered 2",
            "prometheus_notifications_dropped_total 2",
            "prometheus_notifications_errors_total{alertmanager=\"http://a/api/v2/alerts\"} 2",
            "prometheus_notifications_errors_total{alertmanager=\"http://b/x\"} 0",
            "prometheus_notifications_sent_total{alertmanager=\"http://a/api/v2/alerts\"} 5",
            "prometheus_notifications_latency_seconds{alertmanager=\"http://a/api/v2/alerts\",quantile=\"0.5\"} 0.01",
            "prometheus_notifications_latency_seconds{alertmanager=\"http://a/api/v2/alerts\",quantile=\"0.99\"} 0.03",
            "prometheus_notifications_latency_seconds_count{alertmanager=\"http://a/api/v2/alerts\"} 2",
            "prometheus_notifications_latency_seconds{alertmanager=\"http://b/x\",quantile=\"0.9\"} NaN",
            "prometheus_notifications_queue_capacity 10",
            "prometheus_notifications_queue_length 4",
            "# TYPE prometheus_notifications_latency_seconds summary",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
    }
}
