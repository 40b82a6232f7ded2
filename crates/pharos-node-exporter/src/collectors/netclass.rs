//! The `netclass` collector: per-interface properties from `/sys/class/net/<iface>/`.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::Read as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use pharos_model::{MetricFamily, MetricType};
use regex::Regex;

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// node_exporter's default for `--collector.netclass.ignored-devices`.
const DEFAULT_IGNORED_DEVICES: &str = "^$";

/// Numeric interface attributes: sysfs file, metric suffix, type.
const NUMERIC_ATTRIBUTES: &[(&str, &str, MetricType)] = &[
    ("addr_assign_type", "address_assign_type", MetricType::Gauge),
    ("carrier", "carrier", MetricType::Gauge),
    (
        "carrier_changes",
        "carrier_changes_total",
        MetricType::Counter,
    ),
    (
        "carrier_up_count",
        "carrier_up_changes_total",
        MetricType::Counter,
    ),
    (
        "carrier_down_count",
        "carrier_down_changes_total",
        MetricType::Counter,
    ),
    ("dev_id", "device_id", MetricType::Gauge),
    ("dormant", "dormant", MetricType::Gauge),
    ("flags", "flags", MetricType::Gauge),
    ("ifindex", "iface_id", MetricType::Gauge),
    ("iflink", "iface_link", MetricType::Gauge),
    ("link_mode", "iface_link_mode", MetricType::Gauge),
    ("mtu", "mtu_bytes", MetricType::Gauge),
    ("name_assign_type", "name_assign_type", MetricType::Gauge),
    ("netdev_group", "net_dev_group", MetricType::Gauge),
    ("tx_queue_len", "transmit_queue_length", MetricType::Gauge),
    ("type", "protocol_type", MetricType::Gauge),
];

struct NetClassCollector {
    ignored_devices: Result<Regex, String>,
}

/// One interface's readable attributes; unreadable ones (e.g. `speed` on a down link, which
/// the kernel answers with EINVAL) are simply missing, as in node_exporter.
struct Interface {
    name: String,
    attrs: BTreeMap<String, String>,
}

/// The non-numeric attributes the collector reports.
const TEXT_ATTRIBUTES: &[&str] = &[
    "address",
    "broadcast",
    "duplex",
    "ifalias",
    "operstate",
    "speed",
];

impl Interface {
    /// Reads the attributes the collector reports. Each is opened relative to the interface
    /// directory, so `/sys/class/net/<iface>` (a symlink into `/sys/devices`) is resolved once
    /// per interface instead of once per file: sysfs path walks cost more than the reads.
    fn read(dir: &Path, name: String) -> Interface {
        let mut attrs = BTreeMap::new();
        if let Ok(dir_fd) = open_dir(dir) {
            let mut buf = [0u8; ATTRIBUTE_MAX];
            let wanted = NUMERIC_ATTRIBUTES
                .iter()
                .map(|(attr, _, _)| *attr)
                .chain(TEXT_ATTRIBUTES.iter().copied());
            for attr in wanted {
                if let Some(value) = read_attribute(&dir_fd, attr, &mut buf) {
                    attrs.insert(attr.to_string(), value.trim().to_string());
                }
            }
        }
        Interface { name, attrs }
    }

    fn text(&self, attr: &str) -> &str {
        self.attrs.get(attr).map(String::as_str).unwrap_or("")
    }

    /// Parses an integer attribute the way Go's `strconv.ParseInt(v, 0, 64)` does, so hex
    /// values such as `flags` (`0x1003`) are understood.
    fn int(&self, attr: &str, dir: &Path) -> Result<Option<i64>, CollectError> {
        let Some(raw) = self.attrs.get(attr) else {
            return Ok(None);
        };
        parse_go_int(raw)
            .map(Some)
            .ok_or_else(|| CollectError::Parse {
                path: dir.join(attr),
                reason: format!("invalid integer {raw:?}"),
            })
    }
}

/// A sysfs attribute is at most one page.
const ATTRIBUTE_MAX: usize = 4096;

fn open_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    let c_path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c_path` is a valid NUL-terminated string; the returned descriptor is owned by
    // the `OwnedFd` below and nowhere else.
    let fd = unsafe {
        libc::open(
            c_path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is not owned by anything else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One attribute file as text, or `None` when it is missing, unreadable (the kernel answers
/// `speed` on a down link with EINVAL) or not a regular file, which node_exporter also skips.
fn read_attribute(dir: &OwnedFd, attr: &str, buf: &mut [u8]) -> Option<String> {
    let c_attr = CString::new(attr).ok()?;
    // SAFETY: `dir` is an open directory descriptor and `c_attr` a valid NUL-terminated name;
    // the returned descriptor is owned by the `File` below and nowhere else.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c_attr.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just opened and is not owned by anything else.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut len = 0;
    // sysfs hands out the whole attribute in the first read; the loop covers other files
    // (tests, bind-mounted fixtures) that may come in pieces.
    while let Some(rest) = buf.get_mut(len..).filter(|rest| !rest.is_empty()) {
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    let bytes = buf.get(..len)?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// Integer literal with an optional sign and `0x`/`0o`/`0b`/leading-`0` base prefix.
fn parse_go_int(raw: &str) -> Option<i64> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(hex) = lower.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = lower.strip_prefix("0o") {
        (8, oct)
    } else if let Some(bin) = lower.strip_prefix("0b") {
        (2, bin)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let body = body.replace('_', "");
    let value = i64::from_str_radix(&body, radix).ok()?;
    Some(if negative { -value } else { value })
}

impl Collector for NetClassCollector {
    fn name(&self) -> &'static str {
        "netclass"
    }

    fn collect(&self, paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let ignored = self
            .ignored_devices
            .as_ref()
            .map_err(|reason| CollectError::Parse {
                path: "--collector.netclass.ignored-devices".into(),
                reason: reason.clone(),
            })?;
        let class_dir = paths.sys("class/net");
        let entries = match fs::read_dir(&class_dir) {
            Ok(entries) => entries,
            Err(_) => return Err(CollectError::NotPresent(class_dir.display().to_string())),
        };
        let mut names: Vec<String> = entries
            .flatten()
            // `bonding_masters` is a regular file next to the interface links.
            .filter(|e| !e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !ignored.is_match(name))
            .collect();
        names.sort();

        let mut up = MetricFamily::new(
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
            MetricType::Gauge,
        );
        let mut info = MetricFamily::new(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
            MetricType::Gauge,
        );
        let mut numeric: Vec<MetricFamily> = NUMERIC_ATTRIBUTES
            .iter()
            .map(|(_, suffix, ty)| {
                MetricFamily::new(
                    format!("node_network_{suffix}"),
                    format!("Network device property: {suffix}"),
                    *ty,
                )
            })
            .collect();
        let mut speed = MetricFamily::new(
            "node_network_speed_bytes",
            "Network device property: speed_bytes",
            MetricType::Gauge,
        );

        for name in names {
            let dir = class_dir.join(&name);
            let iface = Interface::read(&dir, name);
            let device = iface.name.as_str();
            let operstate = iface.text("operstate");
            up.push(
                [("device", device)],
                if operstate == "up" { 1.0 } else { 0.0 },
            );
            info.push(
                [
                    ("address", iface.text("address")),
                    ("broadcast", iface.text("broadcast")),
                    ("device", device),
                    ("duplex", iface.text("duplex")),
                    ("ifalias", iface.text("ifalias")),
                    ("operstate", operstate),
                ],
                1.0,
            );
            for ((attr, _, _), family) in NUMERIC_ATTRIBUTES.iter().zip(numeric.iter_mut()) {
                if let Some(v) = iface.int(attr, &dir)? {
                    family.push([("device", device)], v as f64);
                }
            }
            // Mbit/s to bytes/s; an unknown speed (-1) is reported as-is, like node_exporter 1.5.
            if let Some(mbits) = iface.int("speed", &dir)? {
                speed.push([("device", device)], (mbits * 1000 * 1000 / 8) as f64);
            }
        }

        numeric.push(info);
        numeric.push(up);
        numeric.push(speed);
        for family in &mut numeric {
            family.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        numeric.sort_by(|a, b| a.name.cmp(&b.name));
        out.append(&mut numeric);
        Ok(())
    }
}

/// Builds the collector, compiling `--collector.netclass.ignored-devices` once; an invalid
/// pattern makes every scrape fail with an error naming the flag.
pub fn build(opts: &CollectorOptions) -> Box<dyn Collector> {
    let pattern = opts
        .netclass_ignored_devices
        .as_deref()
        .unwrap_or(DEFAULT_IGNORED_DEVICES);
    Box::new(NetClassCollector {
        ignored_devices: Regex::new(pattern).map_err(|e| e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fake_host::{collected_text, sysfs_host, write};

    fn render(c: &dyn Collector, root: &Path) -> String {
        collected_text(c, &sysfs_host(root)).unwrap()
    }

    #[test]
    fn exposes_interface_properties_like_node_exporter() {
        let tmp = tempfile::tempdir().unwrap();
        let net = tmp.path().join("class/net");
        let eth = net.join("eth0");
        for (f, v) in [
            ("address", "02:fc:00:00:00:01\n"),
            ("broadcast", "ff:ff:ff:ff:ff:ff\n"),
            ("operstate", "up\n"),
            ("duplex", "full\n"),
            ("ifalias", "\n"),
            ("flags", "0x1003\n"),
            ("mtu", "1500\n"),
            ("speed", "1000\n"),
            ("carrier", "1\n"),
            ("carrier_changes", "2\n"),
        ] {
            write(&eth, f, v);
        }
        write(&net.join("lo"), "operstate", "unknown\n");
        write(&net.join("lo"), "speed", "-1\n");
        write(&net, "bonding_masters", "\n");
        let c = build(&CollectorOptions::default());
        let text = render(c.as_ref(), tmp.path());
        let expected = "\
# HELP node_network_carrier Network device property: carrier
# TYPE node_network_carrier gauge
node_network_carrier{device=\"eth0\"} 1
# HELP node_network_carrier_changes_total Network device property: carrier_changes_total
# TYPE node_network_carrier_changes_total counter
node_network_carrier_changes_total{device=\"eth0\"} 2
# HELP node_network_flags Network device property: flags
# TYPE node_network_flags gauge
node_network_flags{device=\"eth0\"} 4099
# HELP node_network_info Non-numeric data from /sys/class/net/<iface>, value is always 1.
# TYPE node_network_info gauge
node_network_info{address=\"\",broadcast=\"\",device=\"lo\",duplex=\"\",ifalias=\"\",operstate=\"unknown\"} 1
node_network_info{address=\"02:fc:00:00:00:01\",broadcast=\"ff:ff:ff:ff:ff:ff\",device=\"eth0\",duplex=\"full\",ifalias=\"\",operstate=\"up\"} 1
# HELP node_network_mtu_bytes Network device property: mtu_bytes
# TYPE node_network_mtu_bytes gauge
node_network_mtu_bytes{device=\"eth0\"} 1500
# HELP node_network_speed_bytes Network device property: speed_bytes
# TYPE node_network_speed_bytes gauge
node_network_speed_bytes{device=\"eth0\"} 1.25e+08
node_network_speed_bytes{device=\"lo\"} -125000
# HELP node_network_up Value is 1 if operstate is 'up', 0 otherwise.
# TYPE node_network_up gauge
node_network_up{device=\"eth0\"} 1
node_network_up{device=\"lo\"} 0
";
        assert_eq!(text, expected);
    }

    #[test]
    fn ignored_devices_and_bad_values() {
        let tmp = tempfile::tempdir().unwrap();
        let net = tmp.path().join("class/net");
        write(&net.join("lo"), "mtu", "65536\n");
        write(&net.join("veth1"), "mtu", "garbage\n");
        let opts = CollectorOptions {
            netclass_ignored_devices: Some("^veth".into()),
            ..Default::default()
        };
        assert!(render(build(&opts).as_ref(), tmp.path())
            .contains("node_network_mtu_bytes{device=\"lo\"} 65536"));
        let paths = sysfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("veth1/mtu"), "{err}");
    }

    #[test]
    fn absent_class_dir_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = sysfs_host(tmp.path());
        let err = build(&CollectorOptions::default())
            .collect(&paths, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::NotPresent(_)));
    }

    #[test]
    fn go_integer_literals() {
        assert_eq!(parse_go_int("0x1003"), Some(4099));
        assert_eq!(parse_go_int("-1"), Some(-1));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("x"), None);
    }
}
