//! One `alertmanagers` entry at run time: its HTTP client, the discovery tasks that keep its
//! list of Alertmanagers current, and the relabeling that turns discovered label sets into
//! URLs (`__scheme__`, `__address__` and `__alerts_path__`, as in Prometheus).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pharos_http::{ClientOptions, HttpClient};
use pharos_model::Labels;
use pharos_scrape::discovery::{self, DiscoveryUpdate, TargetGroup, ADDRESS_LABEL};
use pharos_scrape::relabel;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::AlertmanagerSetConfig;
use crate::error::NotifierError;

/// The label holding the URL scheme of an Alertmanager.
pub const SCHEME_LABEL: &str = "__scheme__";
/// The label holding the path alerts are posted to.
pub const ALERTS_PATH_LABEL: &str = "__alerts_path__";

/// The path alerts are posted to under `path_prefix` (API v2, the only one Alertmanager
/// still serves), joined like Go's `path.Join`.
pub fn alerts_path(path_prefix: &str) -> String {
    let prefix = path_prefix.trim_matches('/');
    if prefix.is_empty() {
        "/api/v2/alerts".into()
    } else {
        format!("/{prefix}/api/v2/alerts")
    }
}

/// The Alertmanagers of one entry, as `/api/v1/alertmanagers` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveredAlertmanagers {
    /// URLs alerts are posted to, without duplicates.
    pub active: Vec<String>,
    /// URLs of discovered Alertmanagers that relabeling dropped or that are unusable.
    pub dropped: Vec<String>,
}

fn url_of(labels: &Labels) -> String {
    format!(
        "{}://{}{}",
        labels.get(SCHEME_LABEL).unwrap_or("http"),
        labels.get(ADDRESS_LABEL).unwrap_or(""),
        labels.get(ALERTS_PATH_LABEL).unwrap_or("")
    )
}

/// Whether `addr` lacks a port (so the scheme's default port is added, as Prometheus 2 does).
fn lacks_port(addr: &str) -> bool {
    if let Some(rest) = addr.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        return !rest.contains("]:");
    }
    match addr.rsplit_once(':') {
        None => true,
        // More than one colon without brackets is a bare IPv6 address.
        Some((host, _)) => host.contains(':'),
    }
}

/// Turns discovered groups into Alertmanager URLs, following Prometheus's
/// `AlertmanagerFromGroup`: each target's labels plus the group's, with `__scheme__` and
/// `__alerts_path__` defaulted from the entry, then `relabel_configs`.
pub fn resolve<'a>(
    cfg: &AlertmanagerSetConfig,
    groups: impl IntoIterator<Item = &'a TargetGroup>,
) -> DiscoveredAlertmanagers {
    let path = alerts_path(&cfg.path_prefix);
    let mut out = DiscoveredAlertmanagers::default();
    for group in groups {
        for target in &group.targets {
            let mut b = group.labels.builder();
            b.set(SCHEME_LABEL, cfg.scheme.as_str());
            b.set(ALERTS_PATH_LABEL, path.as_str());
            for l in target {
                b.set(l.name.clone(), l.value.clone());
            }
            let discovered = b.clone().build();
            if !relabel::process_builder(&mut b, &cfg.relabel_configs) {
                out.dropped.push(url_of(&discovered));
                continue;
            }
            let Some(addr) = b.get(ADDRESS_LABEL).map(str::to_string) else {
                tracing::warn!("discovered Alertmanager has no address after relabeling");
                out.dropped.push(url_of(&discovered));
                continue;
            };
            if addr.is_empty() || addr.contains('/') {
                tracing::warn!(address = %addr, "discovered Alertmanager has an invalid address");
                out.dropped.push(url_of(&discovered));
                continue;
            }
            if lacks_port(&addr) {
                let port = match b.get(SCHEME_LABEL) {
                    Some("https") => Some("443"),
                    Some("http") => Some("80"),
                    _ => None,
                };
                if let Some(port) = port {
                    b.set(ADDRESS_LABEL, format!("{addr}:{port}"));
                }
            }
            let url = url_of(&b.build());
            if !out.active.contains(&url) {
                out.active.push(url);
            }
        }
    }
    out
}

/// Discovered groups by (provider, source), and what they resolve to.
#[derive(Default)]
struct DiscoveryState {
    groups: BTreeMap<(String, String), TargetGroup>,
    resolved: DiscoveredAlertmanagers,
}

/// One running `alertmanagers` entry. Dropping it stops its discovery.
pub struct AlertmanagerSet {
    cfg: AlertmanagerSetConfig,
    client: HttpClient,
    timeout: Duration,
    state: Arc<RwLock<DiscoveryState>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for AlertmanagerSet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl AlertmanagerSet {
    /// Builds the client and starts discovery; must run inside a Tokio runtime.
    pub fn start(
        cfg: AlertmanagerSetConfig,
        default_timeout: Duration,
        user_agent: &str,
    ) -> Result<Self, NotifierError> {
        let opts = ClientOptions {
            user_agent: user_agent.to_string(),
            ..ClientOptions::default()
        };
        let client = HttpClient::new(&cfg.http_client, &opts)?;
        let timeout = cfg.timeout.unwrap_or(default_timeout);
        let state = Arc::new(RwLock::new(DiscoveryState::default()));
        let (tx, mut rx) = mpsc::channel::<DiscoveryUpdate>(16);
        let mut tasks = Vec::new();
        // Static addresses are known now; resolving them at once lets alerts queued before
        // the first discovery round go out without waiting.
        if !cfg.static_configs.is_empty() {
            let update = DiscoveryUpdate {
                provider: "static_configs".into(),
                groups: discovery::static_sd::groups(&cfg.static_configs),
            };
            apply_update(&cfg, &state, update);
        }
        for (i, sd) in cfg.file_sd_configs.iter().enumerate() {
            tasks.push(tokio::spawn(discovery::file::run(
                sd.clone(),
                format!("file_sd_configs/{i}"),
                tx.clone(),
            )));
        }
        for (i, sd) in cfg.http_sd_configs.iter().enumerate() {
            tasks.push(tokio::spawn(discovery::http::run(
                sd.clone(),
                format!("http_sd_configs/{i}"),
                tx.clone(),
            )));
        }
        for (i, sd) in cfg.dns_sd_configs.iter().enumerate() {
            tasks.push(tokio::spawn(discovery::dns::run(
                sd.clone(),
                format!("dns_sd_configs/{i}"),
                discovery::dns::Resolver::from_system(),
                tx.clone(),
            )));
        }
        drop(tx);
        if !tasks.is_empty() {
            let cfg = cfg.clone();
            let state = state.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(update) = rx.recv().await {
                    apply_update(&cfg, &state, update);
                }
            }));
        }
        Ok(AlertmanagerSet {
            cfg,
            client,
            timeout,
            state,
            tasks,
        })
    }

    /// The entry this set runs.
    pub fn config(&self) -> &AlertmanagerSetConfig {
        &self.cfg
    }

    /// The Alertmanagers currently known.
    pub fn alertmanagers(&self) -> DiscoveredAlertmanagers {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .resolved
            .clone()
    }

    /// Posts one JSON payload to `url` within this entry's timeout.
    pub async fn post(&self, url: &str, body: String) -> Result<(), NotifierError> {
        let send = async {
            let req = self
                .client
                .request(pharos_http::reqwest::Method::POST, url)
                .await?
                .header("Content-Type", "application/json")
                .body(body);
            let resp = req.send().await?;
            let status = resp.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(NotifierError::Status(status.to_string()))
            }
        };
        match tokio::time::timeout(self.timeout, send).await {
            Ok(r) => r,
            Err(_) => Err(NotifierError::Timeout(self.timeout)),
        }
    }
}

fn apply_update(
    cfg: &AlertmanagerSetConfig,
    state: &RwLock<DiscoveryState>,
    update: DiscoveryUpdate,
) {
    let mut st = state.write().unwrap_or_else(|e| e.into_inner());
    for g in update.groups {
        let key = (update.provider.clone(), g.source.clone());
        if g.targets.is_empty() {
            st.groups.remove(&key);
        } else {
            st.groups.insert(key, g);
        }
    }
    let resolved = resolve(cfg, st.groups.values());
    if resolved != st.resolved {
        tracing::debug!(alertmanagers = ?resolved.active, "Alertmanagers discovered");
    }
    st.resolved = resolved;
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_scrape::RelabelConfig;

    fn set(yaml_relabel: &str) -> AlertmanagerSetConfig {
        let relabel_configs: Vec<RelabelConfig> = if yaml_relabel.is_empty() {
            Vec::new()
        } else {
            match serde_saphyr::from_str(yaml_relabel) {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            }
        };
        AlertmanagerSetConfig {
            relabel_configs,
            ..AlertmanagerSetConfig::default()
        }
    }

    fn group(targets: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            source: "0".into(),
            targets: targets
                .iter()
                .map(|t| Labels::from_pairs([(ADDRESS_LABEL, *t)]))
                .collect(),
            labels: Labels::from_pairs(labels.iter().copied()),
        }
    }

    #[test]
    fn paths_join_like_go() {
        assert_eq!(alerts_path("/"), "/api/v2/alerts");
        assert_eq!(alerts_path(""), "/api/v2/alerts");
        assert_eq!(alerts_path("/am/"), "/am/api/v2/alerts");
        assert_eq!(alerts_path("am"), "/am/api/v2/alerts");
    }

    #[test]
    fn urls_from_scheme_address_and_path() {
        let mut cfg = set("");
        cfg.path_prefix = "/prefix".into();
        let r = resolve(&cfg, &[group(&["a:9093", "b", "a:9093"], &[])]);
        assert_eq!(
            r.active,
            [
                "http://a:9093/prefix/api/v2/alerts",
                "http://b:80/prefix/api/v2/alerts"
            ]
        );
        assert!(r.dropped.is_empty());
    }

    #[test]
    fn relabeling_rewrites_and_drops_alertmanagers() {
        let cfg = set(concat!(
            "- source_labels: [env]\n  regex: dev\n  action: drop\n",
            "- target_label: __scheme__\n  replacement: https\n",
            "- target_label: __alerts_path__\n  replacement: /custom/alerts\n",
        ));
        let r = resolve(
            &cfg,
            &[
                group(&["prod-am:9093", "[::1]"], &[("env", "prod")]),
                group(&["dev-am:9093"], &[("env", "dev")]),
            ],
        );
        assert_eq!(
            r.active,
            [
                "https://prod-am:9093/custom/alerts",
                "https://[::1]:443/custom/alerts"
            ]
        );
        assert_eq!(r.dropped, ["http://dev-am:9093/api/v2/alerts"]);
    }

    #[test]
    fn address_with_a_path_is_unusable() {
        let cfg = set("- target_label: __address__\n  replacement: host/path\n");
        let r = resolve(&cfg, &[group(&["a:1"], &[])]);
        assert!(r.active.is_empty());
        assert_eq!(r.dropped.len(), 1);
    }
}
