//! Target health as the `/api/v1/targets` endpoint shows it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pharos_http::PromDuration;
use pharos_model::Labels;
use serde::Serialize;

use crate::target::Target;

/// Whether the last scrape worked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

/// HELP, TYPE and UNIT of one metric family as a target exposes it, for the metadata APIs.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FamilyMetadata {
    /// The family name.
    pub metric: String,
    /// The type as Prometheus spells it (`counter`, `gauge`, ... `unknown`).
    pub metric_type: String,
    /// The help text.
    pub help: String,
    /// The unit (OpenMetrics), often empty.
    pub unit: String,
}

/// What the scrape loop reports about its target after every scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScrapeHealth {
    /// Up, down or unknown.
    pub health: Health,
    /// Why the last scrape failed; empty when it worked.
    pub last_error: String,
    /// When the last scrape started.
    pub last_scrape: Option<SystemTime>,
    /// How long the last scrape took.
    pub last_scrape_duration: Duration,
    /// Metric metadata from the target's latest successful scrapes, sorted by family.
    pub metadata: Arc<Vec<FamilyMetadata>>,
}

/// One active target in the `/api/v1/targets` shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    /// Labels before relabeling.
    pub discovered_labels: BTreeMap<String, String>,
    /// Labels after relabeling, without internal `__*` labels.
    pub labels: BTreeMap<String, String>,
    /// The job name.
    pub scrape_pool: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// The URL with a loopback host replaced by this machine's name, for links from elsewhere.
    pub global_url: String,
    /// Why the last scrape failed, or empty.
    pub last_error: String,
    /// When the last scrape started, RFC 3339.
    pub last_scrape: String,
    /// How long it took, in seconds.
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: Health,
    /// The scrape interval, e.g. `15s`.
    pub scrape_interval: String,
    /// The scrape timeout, e.g. `10s`.
    pub scrape_timeout: String,
    /// Metric metadata the target exposes (served by the metadata APIs, not `/targets`).
    #[serde(skip)]
    pub metadata: Arc<Vec<FamilyMetadata>>,
}

/// One dropped target in the `/api/v1/targets` shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    /// Labels before relabeling.
    pub discovered_labels: BTreeMap<String, String>,
    /// The job name (Prometheus 3 adds this field).
    pub scrape_pool: String,
}

fn label_map(labels: &Labels, include_internal: bool) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|l| include_internal || !l.name.starts_with("__"))
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

/// Formats a time like Go's `time.Time` JSON encoding in UTC (RFC 3339 with nanoseconds,
/// trailing zeros trimmed); `None` is Go's zero time, which Prometheus shows for targets that
/// were never scraped.
pub fn rfc3339(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return "0001-01-01T00:00:00Z".into();
    };
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for every date after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// This machine's host name, for `globalUrl`.
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The scrape URL with `localhost`, `127.0.0.1` or `[::1]` replaced by the host name, as
/// Prometheus does for `globalUrl`.
pub fn global_url(url: &str) -> String {
    let Some(host) = hostname() else {
        return url.to_string();
    };
    for loopback in [
        "://localhost:",
        "://127.0.0.1:",
        "://[::1]:",
        "://localhost/",
        "://127.0.0.1/",
    ] {
        if let Some(pos) = url.find(loopback) {
            let sep = &loopback[loopback.len() - 1..];
            return format!(
                "{}://{host}{sep}{}",
                &url[..pos],
                &url[pos + loopback.len()..]
            );
        }
    }
    url.to_string()
}

impl ActiveTarget {
    /// The API view of a target and its latest health.
    pub fn new(pool: &str, target: &Target, health: &ScrapeHealth) -> Self {
        ActiveTarget {
            discovered_labels: label_map(&target.discovered_labels, true),
            labels: label_map(&target.labels, false),
            scrape_pool: pool.to_string(),
            scrape_url: target.url.clone(),
            global_url: global_url(&target.url),
            last_error: health.last_error.clone(),
            last_scrape: rfc3339(health.last_scrape),
            last_scrape_duration: health.last_scrape_duration.as_secs_f64(),
            health: health.health,
            scrape_interval: PromDuration::new(target.interval).to_string(),
            scrape_timeout: PromDuration::new(target.timeout).to_string(),
            metadata: health.metadata.clone(),
        }
    }
}

impl DroppedTarget {
    /// The API view of a dropped target.
    pub fn new(pool: &str, discovered: &Labels) -> Self {
        DroppedTarget {
            discovered_labels: label_map(discovered, true),
            scrape_pool: pool.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_like_go() {
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(UNIX_EPOCH)), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_709_251_199, 120_000_000);
        assert_eq!(rfc3339(Some(t)), "2024-02-29T23:59:59.12Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(Some(t)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn json_shape() {
        let target = Target {
            discovered_labels: Labels::from_pairs([("__address__", "h:1"), ("__meta_x", "y")]),
            labels: Labels::from_pairs([("__address__", "h:1"), ("instance", "h:1"), ("job", "j")]),
            url: "http://h:1/metrics".into(),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
        };
        let v = serde_json::to_value(ActiveTarget::new("j", &target, &ScrapeHealth::default()))
            .unwrap_or_default();
        for key in [
            "discoveredLabels",
            "labels",
            "scrapePool",
            "scrapeUrl",
            "globalUrl",
            "lastError",
            "lastScrape",
            "lastScrapeDuration",
            "health",
            "scrapeInterval",
            "scrapeTimeout",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
        assert_eq!(v["health"], "unknown");
        assert_eq!(v["scrapeInterval"], "15s");
        assert!(v["labels"].get("__address__").is_none());
        assert_eq!(v["discoveredLabels"]["__meta_x"], "y");
    }
}
