//! The `uname` collector: `node_uname_info` from the uname(2) system call.

use std::ffi::CStr;

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

struct UnameCollector;

impl Collector for UnameCollector {
    fn name(&self) -> &'static str {
        "uname"
    }

    fn collect(&self, _paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        // SAFETY: utsname is plain old data; uname fills it with NUL-terminated strings.
        let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: `uts` is a valid, writable utsname.
        if unsafe { libc::uname(&mut uts) } != 0 {
            return Err(CollectError::Io {
                path: "uname(2)".into(),
                source: std::io::Error::last_os_error(),
            });
        }
        let field = |raw: &[libc::c_char]| -> String {
            // SAFETY: c_char and u8 have the same size; the slice stays within the array.
            let bytes = unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<u8>(), raw.len()) };
            CStr::from_bytes_until_nul(bytes)
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
        };
        let mut family = MetricFamily::new(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            MetricType::Gauge,
        );
        family.push(
            [
                ("domainname", field(&uts.domainname)),
                ("machine", field(&uts.machine)),
                ("nodename", field(&uts.nodename)),
                ("release", field(&uts.release)),
                ("sysname", field(&uts.sysname)),
                ("version", field(&uts.version)),
            ],
            1.0,
        );
        out.push(family);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(UnameCollector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_this_host() {
        let mut out = Vec::new();
        UnameCollector
            .collect(&HostPaths::default(), &mut out)
            .unwrap();
        let labels = &out[0].metrics[0].labels;
        assert_eq!(labels.len(), 6);
        assert!(labels.iter().any(|(n, v)| n == "sysname" && v == "Linux"));
    }
}
