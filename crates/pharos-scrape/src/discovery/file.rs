//! `file_sd_configs`: target groups read from JSON or YAML files matched by patterns, re-read
//! when the files change and at every `refresh_interval`.
//!
//! Changes are noticed by checking each file's modification time and size once per second
//! (or per `refresh_interval` if shorter): a handful of `stat` calls, with no platform-specific
//! watcher to maintain and nothing missed on network file systems where inotify is silent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use pharos_http::PromDuration;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{DiscoveryUpdate, TargetGroup, TargetGroupSpec};

/// The label that names the file a target came from.
pub const META_FILEPATH: &str = "__meta_filepath";

/// Why a target file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileSdError {
    /// The file could not be read.
    #[error("unable to read target file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's content is not a list of target groups.
    #[error("invalid target file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the position when known.
        message: String,
    },
}

fn default_refresh() -> PromDuration {
    PromDuration::from_secs(300)
}

/// One `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawFileSdConfig")]
pub struct FileSdConfig {
    /// Files or patterns (`*` allowed in the last path component only), ending in `.json`,
    /// `.yml` or `.yaml`.
    pub files: Vec<String>,
    /// How often every file is re-read even without a visible change; 5m by default.
    pub refresh_interval: PromDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSdConfig {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default = "default_refresh")]
    refresh_interval: PromDuration,
}

/// Whether `name` is an acceptable pattern, like Prometheus's
/// `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`.
fn valid_pattern(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    if !matches!(ext, "json" | "yml" | "yaml" | "JSON" | "YML" | "YAML") {
        return false;
    }
    match stem.find('*') {
        None => true,
        Some(i) => !stem[i + 1..].contains(['*', '/']),
    }
}

impl TryFrom<RawFileSdConfig> for FileSdConfig {
    type Error = String;
    fn try_from(raw: RawFileSdConfig) -> Result<Self, String> {
        if raw.files.is_empty() {
            return Err("file service discovery config must contain at least one path name".into());
        }
        if let Some(bad) = raw.files.iter().find(|f| !valid_pattern(f)) {
            return Err(format!("path name {bad:?} is not valid for file discovery"));
        }
        Ok(FileSdConfig {
            files: raw.files,
            refresh_interval: raw.refresh_interval,
        })
    }
}

impl FileSdConfig {
    /// Makes relative patterns relative to `dir`, the configuration file's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        for f in &mut self.files {
            if Path::new(f.as_str()).is_relative() {
                *f = dir.join(f.as_str()).to_string_lossy().into_owned();
            }
        }
    }
}

/// The files currently matching `patterns`, sorted and without duplicates.
pub fn expand_patterns(patterns: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for pat in patterns {
        let path = Path::new(pat);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.contains(['*', '?', '[']) {
            if path.is_file() {
                out.push(path.to_path_buf());
            }
            continue;
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            if super::glob::matches(&name, &fname) && e.path().is_file() {
                out.push(dir.join(fname));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Reads one target file; group sources are `path:index` and every group carries
/// `__meta_filepath`.
pub fn read_file(path: &Path) -> Result<Vec<TargetGroup>, FileSdError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileSdError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parse_err = |message: String| FileSdError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let specs: Vec<TargetGroupSpec> = if is_json {
        serde_json::from_str(&text).map_err(|e| parse_err(e.to_string()))?
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_saphyr::from_str(&text).map_err(|e| parse_err(e.to_string()))?
    };
    let file = path.to_string_lossy();
    Ok(specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.to_group(format!("{file}:{i}"), &[(META_FILEPATH, &file)]))
        .collect())
}

/// What a file looked like at the last check: if this changes, the file is re-read.
type Signature = Vec<(PathBuf, Option<SystemTime>, u64)>;

fn signature(paths: &[PathBuf]) -> Signature {
    paths
        .iter()
        .map(|p| {
            let md = std::fs::metadata(p).ok();
            (
                p.clone(),
                md.as_ref().and_then(|m| m.modified().ok()),
                md.map_or(0, |m| m.len()),
            )
        })
        .collect()
}

/// Reads the files and reports changes until the receiver goes away.
pub async fn run(cfg: FileSdConfig, provider: String, tx: mpsc::Sender<DiscoveryUpdate>) {
    let refresh = cfg
        .refresh_interval
        .as_duration()
        .max(Duration::from_millis(100));
    let check_every = refresh.min(Duration::from_secs(1));
    let mut last_counts: BTreeMap<PathBuf, usize> = BTreeMap::new();
    let mut last_sig: Option<Signature> = None;
    let mut last_read = Instant::now();
    loop {
        let paths = expand_patterns(&cfg.files);
        let sig = signature(&paths);
        if last_sig.as_ref() != Some(&sig) || last_read.elapsed() >= refresh {
            last_read = Instant::now();
            last_sig = Some(sig);
            let mut groups = Vec::new();
            let mut counts = BTreeMap::new();
            for p in &paths {
                match read_file(p) {
                    Ok(gs) => {
                        counts.insert(p.clone(), gs.len());
                        groups.extend(gs);
                    }
                    Err(e) => {
                        // Keep serving what the file held last time: a half-written file
                        // must not make every target it lists vanish.
                        tracing::error!(provider = %provider, error = %e, "file service discovery");
                        if let Some(n) = last_counts.get(p) {
                            counts.insert(p.clone(), *n);
                        }
                    }
                }
            }
            // Sources that no longer exist are cleared with empty groups.
            for (p, n) in &last_counts {
                let now = counts.get(p).copied().unwrap_or(0);
                for i in now..*n {
                    groups.push(TargetGroup {
                        source: format!("{}:{i}", p.to_string_lossy()),
                        ..TargetGroup::default()
                    });
                }
            }
            last_counts = counts;
            if tx
                .send(DiscoveryUpdate {
                    provider: provider.clone(),
                    groups,
                })
                .await
                .is_err()
            {
                return;
            }
        }
        tokio::time::sleep(check_every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> tempfile::TempDir {
        match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("temp dir: {e}"),
        }
    }

    #[test]
    fn config_validation() {
        let err = serde_saphyr::from_str::<FileSdConfig>("files: []\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("file service discovery config must contain at least one path name"),
            "{err}"
        );
        let err = serde_saphyr::from_str::<FileSdConfig>("files: ['a/*/b.json']\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("path name \"a/*/b.json\" is not valid for file discovery"),
            "{err}"
        );
        let err = serde_saphyr::from_str::<FileSdConfig>("files: ['targets.txt']\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("is not valid for file discovery"), "{err}");
        let ok = serde_saphyr::from_str::<FileSdConfig>("files: ['dir/*.json', 'x.yml']\n").ok();
        assert_eq!(
            ok.map(|c| c.refresh_interval),
            Some(PromDuration::from_secs(300))
        );
    }

    #[test]
    fn reads_json_and_yaml_with_meta_filepath() {
        let dir = temp_dir();
        let json = dir.path().join("a.json");
        let yaml = dir.path().join("b.yml");
        let _ = std::fs::write(
            &json,
            r#"[{"targets": ["h1:9100", "h2:9100"], "labels": {"env": "prod"}}]"#,
        );
        let _ = std::fs::write(
            &yaml,
            "- targets: ['h3:9100']\n- targets: ['h4:9100']\n  labels:\n    env: dev\n",
        );
        let pattern = format!("{}/*", dir.path().to_string_lossy());
        let paths = expand_patterns(&[pattern.clone() + ".json", pattern + ".yml"]);
        assert_eq!(paths, vec![json.clone(), yaml.clone()]);
        let g = read_file(&json).unwrap_or_default();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].source, format!("{}:0", json.to_string_lossy()));
        assert_eq!(
            g[0].labels.get(META_FILEPATH),
            Some(&*json.to_string_lossy())
        );
        assert_eq!(g[0].labels.get("env"), Some("prod"));
        let g = read_file(&yaml).unwrap_or_default();
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].targets[0].get("__address__"), Some("h4:9100"));
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        let dir = temp_dir();
        let p = dir.path().join("bad.yml");
        let _ = std::fs::write(&p, "- targets: ['a:1']\n  lables: {}\n");
        let err = read_file(&p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("bad.yml") && err.contains("lables") && err.contains("line 2"),
            "{err}"
        );
        let p = dir.path().join("bad.json");
        let _ = std::fs::write(&p, "[{\"targets\": 5}]");
        let err = read_file(&p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("bad.json") && err.contains("line 1"), "{err}");
    }

    async fn recv(rx: &mut mpsc::Receiver<DiscoveryUpdate>) -> Option<DiscoveryUpdate> {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn notices_changes_and_removals() {
        let dir = temp_dir();
        let p = dir.path().join("t.json");
        let _ = std::fs::write(&p, r#"[{"targets": ["a:1"]}, {"targets": ["b:1"]}]"#);
        let cfg = FileSdConfig {
            files: vec![format!("{}/*.json", dir.path().to_string_lossy())],
            refresh_interval: PromDuration::from_secs(300),
        };
        let (tx, mut rx) = mpsc::channel(4);
        let task = tokio::spawn(run(cfg, "file/0".into(), tx));
        let first = recv(&mut rx).await;
        assert_eq!(
            first.map(|u| u.groups.iter().filter(|g| !g.targets.is_empty()).count()),
            Some(2)
        );
        // Rewrite with one group (a different size, so the change is seen even within the same
        // mtime tick); the second source must be cleared.
        let _ = std::fs::write(&p, r#"[{"targets": ["c:1", "d:1"]}]"#);
        let second = recv(&mut rx).await.map(|u| u.groups).unwrap_or_default();
        assert_eq!(second.len(), 2);
        assert_eq!(second[0].targets.len(), 2);
        assert!(second[1].targets.is_empty() && second[1].source.ends_with(":1"));
        let _ = std::fs::remove_file(&p);
        let third = recv(&mut rx).await.map(|u| u.groups).unwrap_or_default();
        assert_eq!(third.len(), 1);
        assert!(third[0].targets.is_empty() && third[0].source.ends_with(":0"));
        task.abort();
    }
}
