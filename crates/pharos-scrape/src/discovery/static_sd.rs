//! `static_configs`: targets written directly in the configuration file.

use super::{TargetGroup, TargetGroupSpec};

/// One `static_configs` entry: the same syntax as a file SD group.
pub type StaticConfig = TargetGroupSpec;

/// The groups of a scrape config's static configs; sources are the entry indexes, as in
/// Prometheus.
pub fn groups(configs: &[StaticConfig]) -> Vec<TargetGroup> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| c.to_group(i.to_string(), &[]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_carry_labels_and_addresses() {
        let cfgs: Vec<StaticConfig> = match serde_saphyr::from_str(
            "- targets: ['a:1', 'b:2']\n  labels: {env: prod}\n- targets: ['c:3']\n",
        ) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let g = groups(&cfgs);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].source, "0");
        assert_eq!(g[0].targets.len(), 2);
        assert_eq!(g[0].targets[1].get("__address__"), Some("b:2"));
        assert_eq!(g[0].labels.get("env"), Some("prod"));
        assert_eq!(g[1].source, "1");
    }

    #[test]
    fn invalid_label_name_is_rejected() {
        let err = serde_saphyr::from_str::<Vec<StaticConfig>>(
            "- targets: ['a:1']\n  labels: {'bad-name': x}\n",
        )
        .err()
        .map(|e| e.to_string());
        assert!(err
            .unwrap_or_default()
            .contains("\"bad-name\" is not a valid label name"));
    }
}
