//! Targets: turning discovered label sets into scrape targets (Prometheus's `PopulateLabels`),
//! their scrape URL, and the stable offset that spreads scrapes over the interval.

use std::time::Duration;

use pharos_http::PromDuration;
use pharos_model::Labels;

use crate::config::ScrapeConfig;
use crate::discovery::{TargetGroup, ADDRESS_LABEL};
use crate::relabel;

/// The label holding the URL scheme.
pub const SCHEME_LABEL: &str = "__scheme__";
/// The label holding the metrics path.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// The label holding the scrape interval.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// The label holding the scrape timeout.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// The prefix of labels that become URL parameters.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// The prefix of discovery metadata labels, removed after relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";
/// The `job` label.
pub const JOB_LABEL: &str = "job";
/// The `instance` label.
pub const INSTANCE_LABEL: &str = "instance";

/// A target ready to scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Labels before relabeling (what discovery produced plus the config defaults).
    pub discovered_labels: Labels,
    /// Labels after relabeling, internal `__*` labels included.
    pub labels: Labels,
    /// The URL scraped.
    pub url: String,
    /// How often to scrape this target (from `__scrape_interval__`).
    pub interval: Duration,
    /// How long a scrape may take (from `__scrape_timeout__`).
    pub timeout: Duration,
}

impl Target {
    /// The labels attached to every scraped series: all labels not starting with `__`.
    pub fn series_labels(&self) -> Labels {
        Labels::from_sorted(
            self.labels
                .iter()
                .filter(|l| !l.name.starts_with("__"))
                .cloned()
                .collect(),
        )
    }

    /// A stable identity for the target: the same labels and URL always give the same value,
    /// across restarts, so scrape offsets do not move.
    pub fn hash(&self) -> u64 {
        let mut h = self.labels.stable_hash();
        for b in self.url.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    /// How long to wait before the first scrape so that the target's scrapes land at a fixed
    /// point within each interval, like Prometheus: targets of a pool spread out instead of
    /// all firing together, and a restart keeps each target's phase.
    pub fn offset(&self, now_unix_nanos: u128, seed: u64) -> Duration {
        let interval = self.interval.as_nanos().max(1);
        let base = interval - now_unix_nanos % interval;
        let offset = u128::from(self.hash() ^ seed) % interval;
        let mut next = base + offset;
        if next > interval {
            next -= interval;
        }
        Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
    }
}

/// Why a discovered target cannot be scraped (shown for dropped targets in the UI).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// No `__address__` after relabeling.
    #[error("no address")]
    NoAddress,
    /// The address is not `host:port`.
    #[error("{0:?} is not a valid hostname")]
    InvalidAddress(String),
    /// `__scrape_interval__` or `__scrape_timeout__` is unusable.
    #[error("{0}")]
    InvalidInterval(String),
}

/// The outcome of populating one discovered label set.
#[derive(Clone, Debug, PartialEq)]
pub enum Populated {
    /// A target to scrape.
    Active(Target),
    /// Dropped by relabeling; the discovered labels are kept for the UI.
    Dropped(Labels),
    /// Unusable; the discovered labels and the reason.
    Failed(Labels, TargetError),
}

/// Merges one target of a group with the group labels and the config defaults, applies
/// `relabel_configs`, and checks the result, following Prometheus's `PopulateLabels`.
pub fn populate(cfg: &ScrapeConfig, target: &Labels, group_labels: &Labels) -> Populated {
    let mut b = group_labels.builder();
    for l in target.iter() {
        b.set(l.name.clone(), l.value.clone());
    }
    let interval = cfg.scrape_interval.to_string();
    let timeout = cfg.scrape_timeout.to_string();
    let defaults: [(&str, &str); 5] = [
        (JOB_LABEL, &cfg.job_name),
        (SCRAPE_INTERVAL_LABEL, &interval),
        (SCRAPE_TIMEOUT_LABEL, &timeout),
        (METRICS_PATH_LABEL, &cfg.metrics_path),
        (SCHEME_LABEL, &cfg.scheme),
    ];
    for (name, value) in defaults {
        if b.get(name).is_none() {
            b.set(name, value);
        }
    }
    for (name, values) in &cfg.params {
        let label = format!("{PARAM_LABEL_PREFIX}{name}");
        if let Some(first) = values.first() {
            if b.get(&label).is_none() {
                b.set(label, first.as_str());
            }
        }
    }
    let discovered = b.clone().build();
    if !relabel::process_builder(&mut b, &cfg.relabel_configs) {
        return Populated::Dropped(discovered);
    }
    let fail = |e: TargetError| Populated::Failed(discovered.clone(), e);
    let Some(addr) = b.get(ADDRESS_LABEL).map(str::to_string) else {
        return fail(TargetError::NoAddress);
    };
    if addr.contains('/') {
        return fail(TargetError::InvalidAddress(addr));
    }
    let parse = |name: &str, what: &str| -> Result<Duration, TargetError> {
        let v = b.get(name).unwrap_or("");
        v.parse::<PromDuration>()
            .map(PromDuration::as_duration)
            .map_err(|e| TargetError::InvalidInterval(format!("error parsing {what}: {e}")))
    };
    let interval = match parse(SCRAPE_INTERVAL_LABEL, "scrape interval") {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let timeout = match parse(SCRAPE_TIMEOUT_LABEL, "scrape timeout") {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if interval.is_zero() {
        return fail(TargetError::InvalidInterval(
            "scrape interval cannot be 0".into(),
        ));
    }
    if timeout.is_zero() {
        return fail(TargetError::InvalidInterval(
            "scrape timeout cannot be 0".into(),
        ));
    }
    if timeout > interval {
        return fail(TargetError::InvalidInterval(format!(
            "scrape timeout cannot be greater than scrape interval ({:?} > {:?})",
            PromDuration::new(timeout).to_string(),
            PromDuration::new(interval).to_string()
        )));
    }
    b.retain(|l| !l.name.starts_with(META_LABEL_PREFIX));
    if b.get(INSTANCE_LABEL).is_none() {
        b.set(INSTANCE_LABEL, addr.as_str());
    }
    let labels = b.build();
    let url = target_url(&labels, cfg);
    Populated::Active(Target {
        discovered_labels: discovered,
        labels,
        url,
        interval,
        timeout,
    })
}

/// Every target of a set of groups, in group order.
pub fn populate_groups<'a>(
    cfg: &ScrapeConfig,
    groups: impl IntoIterator<Item = &'a TargetGroup>,
) -> Vec<Populated> {
    let mut out = Vec::new();
    for g in groups {
        for t in &g.targets {
            out.push(populate(cfg, t, &g.labels));
        }
    }
    out
}

/// Percent-encodes a query component like Go's `url.QueryEscape`.
fn query_escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// The scrape URL: `__scheme__://__address____metrics_path__?params`, where `__param_<name>`
/// labels replace the first value of the configured parameter `<name>`, and parameters are
/// sorted by name as Go's `url.Values.Encode` does.
pub fn target_url(labels: &Labels, cfg: &ScrapeConfig) -> String {
    let mut params = cfg.params.clone();
    for l in labels.iter() {
        if let Some(name) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
            let entry = params.entry(name.to_string()).or_default();
            match entry.first_mut() {
                Some(first) => *first = l.value.to_string(),
                None => entry.push(l.value.to_string()),
            }
        }
    }
    let scheme = labels.get(SCHEME_LABEL).unwrap_or("http");
    let addr = labels.get(ADDRESS_LABEL).unwrap_or("");
    let path = labels.get(METRICS_PATH_LABEL).unwrap_or("/metrics");
    let mut url = format!("{scheme}://{addr}{path}");
    let mut first = !path.contains('?');
    for (k, vs) in &params {
        for v in vs {
            url.push(if first { '?' } else { '&' });
            first = false;
            query_escape(k, &mut url);
            url.push('=');
            query_escape(v, &mut url);
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GlobalScrapeDefaults;

    fn cfg(yaml: &str) -> ScrapeConfig {
        let mut c: ScrapeConfig = match serde_saphyr::from_str(yaml) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        if let Err(e) = c.apply_global(&GlobalScrapeDefaults::default()) {
            panic!("{e}");
        }
        c
    }

    fn active(p: Populated) -> Target {
        match p {
            Populated::Active(t) => t,
            other => panic!("not active: {other:?}"),
        }
    }

    #[test]
    fn defaults_instance_and_url() {
        let c = cfg("job_name: node\nscrape_interval: 15s\nparams: {module: [a, b]}\n");
        let t = active(populate(
            &c,
            &Labels::from_pairs([("__address__", "h:9100")]),
            &Labels::from_pairs([("__meta_x", "1"), ("env", "p")]),
        ));
        assert_eq!(t.labels.get("instance"), Some("h:9100"));
        assert_eq!(t.labels.get("job"), Some("node"));
        assert_eq!(t.labels.get("__meta_x"), None);
        assert_eq!(t.discovered_labels.get("__meta_x"), Some("1"));
        assert_eq!(t.discovered_labels.get("__scrape_interval__"), Some("15s"));
        assert_eq!(t.url, "http://h:9100/metrics?module=a&module=b");
        assert_eq!(t.interval, Duration::from_secs(15));
        assert_eq!(t.timeout, Duration::from_secs(10));
        let series = t.series_labels();
        let names: Vec<&str> = series.iter().map(|l| &*l.name).collect();
        assert_eq!(names, ["env", "instance", "job"]);
    }

    #[test]
    fn relabeling_shapes_the_target() {
        let c = cfg(concat!(
            "job_name: blackbox\nmetrics_path: /probe\nparams: {module: [http_2xx]}\n",
            "relabel_configs:\n",
            "  - source_labels: [__address__]\n    target_label: __param_target\n",
            "  - source_labels: [__param_target]\n    target_label: instance\n",
            "  - target_label: __address__\n    replacement: 127.0.0.1:9115\n",
            "  - source_labels: [__meta_drop]\n    regex: yes\n    action: drop\n",
        ));
        let t = active(populate(
            &c,
            &Labels::from_pairs([("__address__", "https://example.org/a b")]),
            &Labels::empty(),
        ));
        assert_eq!(
            t.url,
            "http://127.0.0.1:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.org%2Fa+b"
        );
        assert_eq!(t.labels.get("instance"), Some("https://example.org/a b"));
        let dropped = populate(
            &c,
            &Labels::from_pairs([("__address__", "x:1"), ("__meta_drop", "yes")]),
            &Labels::empty(),
        );
        assert!(
            matches!(dropped, Populated::Dropped(ref l) if l.get("__meta_drop") == Some("yes"))
        );
    }

    #[test]
    fn unusable_targets_say_why() {
        let c = cfg(
            "job_name: j\nrelabel_configs:\n  - target_label: __address__\n    replacement: ''\n",
        );
        assert!(matches!(
            populate(
                &c,
                &Labels::from_pairs([("__address__", "a:1")]),
                &Labels::empty()
            ),
            Populated::Failed(_, TargetError::NoAddress)
        ));
        let c = cfg("job_name: j\n");
        let p = populate(
            &c,
            &Labels::from_pairs([("__address__", "a:1"), ("__scrape_timeout__", "2m")]),
            &Labels::empty(),
        );
        match p {
            Populated::Failed(_, e) => assert_eq!(
                e.to_string(),
                "scrape timeout cannot be greater than scrape interval (\"2m\" > \"1m\")"
            ),
            other => panic!("{other:?}"),
        }
        let p = populate(
            &c,
            &Labels::from_pairs([("__address__", "a/b:1")]),
            &Labels::empty(),
        );
        assert!(matches!(
            p,
            Populated::Failed(_, TargetError::InvalidAddress(_))
        ));
    }

    #[test]
    fn offsets_are_stable_and_within_the_interval() {
        let c = cfg("job_name: j\nscrape_interval: 10s\n");
        let t = active(populate(
            &c,
            &Labels::from_pairs([("__address__", "a:1")]),
            &Labels::empty(),
        ));
        let now = 1_700_000_000_123_456_789u128;
        let o1 = t.offset(now, 0);
        assert!(o1 <= Duration::from_secs(10));
        // A later call one interval on lands on the same phase.
        assert_eq!(t.offset(now + 10_000_000_000, 0), o1);
        let u = active(populate(
            &c,
            &Labels::from_pairs([("__address__", "b:1")]),
            &Labels::empty(),
        ));
        assert_ne!(u.offset(now, 0), o1);
    }
}
