//! Service discovery: turning `static_configs`, `file_sd_configs`, `http_sd_configs` and
//! `dns_sd_configs` into target groups, and keeping them current.
//!
//! Every mechanism produces [`TargetGroup`]s identified by a `source` string. A later update
//! for the same source replaces the earlier one; an update with no targets removes it. This is
//! Prometheus's model, and it lets the target manager recompute a pool's targets from the
//! latest group of every source without knowing which mechanism produced it.

pub mod dns;
pub mod file;
pub mod glob;
pub mod http;
pub mod static_sd;

use std::collections::BTreeMap;

use pharos_model::{Labels, LabelsBuilder};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::ScrapeConfig;
use crate::label_name::is_valid_label_name;

/// Targets that share a set of labels, from one source of one discovery mechanism.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetGroup {
    /// Identifies the group within its provider, e.g. `path/to/file.json:0`.
    pub source: String,
    /// One label set per target, each with at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to every target of the group (including `__meta_*` labels).
    pub labels: Labels,
}

/// A batch of groups from one provider (one discovery config of one scrape config).
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoveryUpdate {
    /// Which discovery config produced the groups, e.g. `file_sd_configs/0`.
    pub provider: String,
    /// The groups; a group with no targets clears its source.
    pub groups: Vec<TargetGroup>,
}

/// The label name that carries a target's `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";

/// The `{targets: [...], labels: {...}}` group syntax shared by static configs, file SD files
/// and HTTP SD responses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupSpec {
    /// `host:port` addresses.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels for every target of the group.
    #[serde(default, deserialize_with = "deserialize_label_set")]
    pub labels: BTreeMap<String, String>,
}

/// Reads a label mapping, rejecting invalid names with Prometheus's message.
pub(crate) fn deserialize_label_set<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let m = Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default();
    if let Some(bad) = m.keys().find(|k| !is_valid_label_name(k)) {
        return Err(serde::de::Error::custom(format!(
            "{bad:?} is not a valid label name"
        )));
    }
    Ok(m)
}

impl TargetGroupSpec {
    /// Converts to a [`TargetGroup`] with `source`, adding `extra` labels to the group labels.
    pub fn to_group(&self, source: String, extra: &[(&str, &str)]) -> TargetGroup {
        let targets = self
            .targets
            .iter()
            .map(|t| Labels::from_pairs([(ADDRESS_LABEL, t.as_str())]))
            .collect();
        let mut b = LabelsBuilder::new();
        for (k, v) in &self.labels {
            b.set(k.as_str(), v.as_str());
        }
        for (k, v) in extra {
            b.set(*k, *v);
        }
        TargetGroup {
            source,
            targets,
            labels: b.build(),
        }
    }
}

/// Running discovery for one scrape config: one task per discovery config, all feeding one
/// channel. Dropping it stops the tasks.
pub struct DiscoveryTasks {
    handles: Vec<JoinHandle<()>>,
}

impl Drop for DiscoveryTasks {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Starts every discovery mechanism of `cfg`, sending updates to `tx`. Static configs are sent
/// once, immediately.
pub fn start(cfg: &ScrapeConfig, tx: mpsc::Sender<DiscoveryUpdate>) -> DiscoveryTasks {
    let mut handles = Vec::new();
    if !cfg.static_configs.is_empty() {
        let update = DiscoveryUpdate {
            provider: "static_configs".into(),
            groups: static_sd::groups(&cfg.static_configs),
        };
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let _ = tx.send(update).await;
        }));
    }
    for (i, sd) in cfg.file_sd_configs.iter().enumerate() {
        handles.push(tokio::spawn(file::run(
            sd.clone(),
            format!("file_sd_configs/{i}"),
            tx.clone(),
        )));
    }
    for (i, sd) in cfg.http_sd_configs.iter().enumerate() {
        handles.push(tokio::spawn(http::run(
            sd.clone(),
            format!("http_sd_configs/{i}"),
            tx.clone(),
        )));
    }
    for (i, sd) in cfg.dns_sd_configs.iter().enumerate() {
        handles.push(tokio::spawn(dns::run(
            sd.clone(),
            format!("dns_sd_configs/{i}"),
            dns::Resolver::from_system(),
            tx.clone(),
        )));
    }
    DiscoveryTasks { handles }
}
