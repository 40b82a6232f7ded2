//! The `os` collector: `node_os_info` and `node_os_version` from os-release(5).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// os-release keys exported as `node_os_info` labels, in label-name order.
const INFO_KEYS: &[(&str, &str)] = &[
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

/// The families built from one version of the file, reused while its mtime is unchanged.
struct Cached {
    path: PathBuf,
    mtime: SystemTime,
    families: Vec<MetricFamily>,
}

struct OsCollector {
    cache: Mutex<Option<Cached>>,
}

impl Collector for OsCollector {
    fn name(&self) -> &'static str {
        "os"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let candidates = [
            paths.rootfs.join("etc/os-release"),
            paths.rootfs.join("usr/lib/os-release"),
        ];
        let mut last_err = None;
        for path in candidates {
            let mtime = match std::fs::metadata(&path).and_then(|m| m.modified()) {
                Ok(mtime) => mtime,
                Err(source) => {
                    last_err = Some(CollectError::Io { path, source });
                    continue;
                }
            };
            let mut cache = self
                .cache
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(cached) = cache
                .as_ref()
                .filter(|c| c.path == path && c.mtime == mtime)
            {
                out.extend(cached.families.iter().cloned());
                return Ok(());
            }
            let text = std::fs::read_to_string(&path).map_err(|source| CollectError::Io {
                path: path.clone(),
                source,
            })?;
            let families = families_from(&text);
            out.extend(families.iter().cloned());
            *cache = Some(Cached {
                path,
                mtime,
                families,
            });
            return Ok(());
        }
        Err(last_err.unwrap_or_else(|| CollectError::NotPresent("os-release".into())))
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(OsCollector {
        cache: Mutex::new(None),
    })
}

fn families_from(text: &str) -> Vec<MetricFamily> {
    let vars = parse_os_release(text);
    let get = |key: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut info = MetricFamily::new(
        "node_os_info",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        MetricType::Gauge,
    );
    info.push(INFO_KEYS.iter().map(|(label, key)| (*label, get(key))), 1.0);
    let mut version = MetricFamily::new(
        "node_os_version",
        "Metric containing the major.minor part of the OS version.",
        MetricType::Gauge,
    );
    version.push(
        [
            ("id", get("ID")),
            ("id_like", get("ID_LIKE")),
            ("name", get("NAME")),
        ],
        major_minor(get("VERSION_ID")),
    );
    vec![info, version]
}

/// The leading `major[.minor]` of a VERSION_ID as a number, 0 when it has none.
fn major_minor(version_id: &str) -> f64 {
    let bytes = version_id.as_bytes();
    let major = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if major == 0 {
        return 0.0;
    }
    let end = match bytes.get(major) {
        Some(b'.') => {
            major
                + 1
                + bytes
                    .iter()
                    .skip(major + 1)
                    .take_while(|b| b.is_ascii_digit())
                    .count()
        }
        _ => major,
    };
    // Only ASCII digits and one dot precede `end`, so it is a character boundary.
    version_id
        .get(..end)
        .unwrap_or("")
        .trim_end_matches('.')
        .parse()
        .unwrap_or(0.0)
}

/// Parses shell-style `KEY=value` assignments, with single or double quotes and backslash
/// escapes inside double quotes. Malformed lines are skipped, as os-release(5) asks.
fn parse_os_release(text: &str) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        vars.push((key.to_string(), unquote(raw)));
    }
    vars
}

fn unquote(raw: &str) -> String {
    let mut value = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(next) = chars.next() {
                    value.push(next);
                }
            }
            (_, c) => value.push(c),
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;

    #[test]
    fn parses_debian() {
        let fams = families_from(DEBIAN);
        let labels = &fams[0].metrics[0].labels;
        assert_eq!(labels[1], ("id".to_string(), "debian".to_string()));
        assert_eq!(
            labels[6],
            (
                "pretty_name".to_string(),
                "Debian GNU/Linux 12 (bookworm)".to_string()
            )
        );
        assert_eq!(
            fams[1].metrics[0].value,
            pharos_model::MetricValue::Simple(12.0)
        );
    }

    #[test]
    fn version_numbers() {
        assert_eq!(major_minor("22.04"), 22.04);
        assert_eq!(major_minor("8.6.2"), 8.6);
        assert_eq!(major_minor("rolling"), 0.0);
        assert_eq!(major_minor("3."), 3.0);
        assert_eq!(major_minor(""), 0.0);
    }

    #[test]
    fn quoting() {
        assert_eq!(unquote(r#""a \"b\" c""#), r#"a "b" c"#);
        assert_eq!(unquote("'x y'"), "x y");
        assert_eq!(unquote("\"unterminated"), "unterminated");
    }

    #[test]
    fn caches_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let file = dir.path().join("etc/os-release");
        std::fs::write(&file, DEBIAN).unwrap();
        let paths = HostPaths {
            rootfs: dir.path().into(),
            ..HostPaths::default()
        };
        let c = build(&CollectorOptions::default());
        let mut out = Vec::new();
        c.collect(&paths, &mut out).unwrap();
        c.collect(&paths, &mut out).unwrap();
        assert_eq!(out[0], out[2]);
        std::fs::write(&file, "ID=alpine\nVERSION_ID=3.18.2\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let mut fresh = Vec::new();
        c.collect(&paths, &mut fresh).unwrap();
        assert_eq!(
            fresh[1].metrics[0].value,
            pharos_model::MetricValue::Simple(3.18)
        );
    }

    #[test]
    fn missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            rootfs: dir.path().into(),
            ..HostPaths::default()
        };
        assert!(build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .is_err());
    }
}
