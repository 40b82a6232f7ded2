//! The `--collector.<name>.device-include` / `-exclude` flags some collectors take, compiled
//! once when the collector is built.

use regex::Regex;

use crate::collector::CollectError;

/// Which devices a collector reports.
pub(super) enum DeviceFilter {
    /// Every device.
    All,
    /// Only devices matching the pattern.
    Include(Regex),
    /// Every device except those matching the pattern.
    Exclude(Regex),
}

impl DeviceFilter {
    /// The filter of `collector`'s two flags, which may not both be set. The error names
    /// the offending flag, for the scrape error [`rejected_flags`] builds.
    pub(super) fn from_exclusive_flags(
        collector: &str,
        include: Option<&str>,
        exclude: Option<&str>,
    ) -> Result<Self, String> {
        match (include, exclude) {
            (Some(_), Some(_)) => Err(format!(
                "--collector.{collector}.device-include and --collector.{collector}.device-exclude are mutually exclusive"
            )),
            (Some(pattern), None) => Self::include(collector, pattern),
            (None, Some(pattern)) => Self::exclude(collector, pattern),
            (None, None) => Ok(DeviceFilter::All),
        }
    }

    /// Only devices matching `pattern`, the value of `collector`'s include flag.
    pub(super) fn include(collector: &str, pattern: &str) -> Result<Self, String> {
        compile(&format!("--collector.{collector}.device-include"), pattern)
            .map(DeviceFilter::Include)
    }

    /// Devices not matching `pattern`, the value of `collector`'s exclude flag.
    pub(super) fn exclude(collector: &str, pattern: &str) -> Result<Self, String> {
        compile(&format!("--collector.{collector}.device-exclude"), pattern)
            .map(DeviceFilter::Exclude)
    }

    /// Whether `device` is reported.
    pub(super) fn wants(&self, device: &str) -> bool {
        match self {
            DeviceFilter::All => true,
            DeviceFilter::Include(re) => re.is_match(device),
            DeviceFilter::Exclude(re) => !re.is_match(device),
        }
    }
}

fn compile(flag: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("{flag}: invalid regex {pattern:?}: {e}"))
}

/// The error every scrape of `collector` reports while its device flags are unusable.
pub(super) fn rejected_flags(collector: &str, reason: &str) -> CollectError {
    CollectError::Parse {
        path: format!("--collector.{collector}.device-*").into(),
        reason: reason.to_string(),
    }
}
