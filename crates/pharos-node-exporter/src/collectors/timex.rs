//! The `timex` collector: kernel clock discipline state from adjtimex(2).

use pharos_model::{MetricFamily, MetricType};

use crate::collector::{CollectError, Collector, HostPaths};
use crate::options::CollectorOptions;

/// adjtimex's return value when the clock is not synchronised.
const TIME_ERROR: libc::c_int = 5;
/// The status bit saying `offset` and `jitter` are in nanoseconds rather than microseconds.
const STA_NANO: libc::c_int = 0x2000;
/// Frequencies are in parts per million with a 16-bit fractional part; see adjtimex(2) NOTES.
const PPM16: f64 = 1_000_000.0 * 65536.0;

struct TimexCollector;

impl Collector for TimexCollector {
    fn name(&self) -> &'static str {
        "timex"
    }

    fn collect(&self, _paths: &HostPaths, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        // SAFETY: timex is plain old data; modes = 0 makes adjtimex a read-only query.
        let mut tx: libc::timex = unsafe { std::mem::zeroed() };
        // SAFETY: `tx` is a valid, writable timex.
        let state = unsafe { libc::adjtimex(&mut tx) };
        if state < 0 {
            return Err(CollectError::Io {
                path: "adjtimex(2)".into(),
                source: std::io::Error::last_os_error(),
            });
        }
        let divisor = if tx.status & STA_NANO != 0 { 1e9 } else { 1e6 };
        let gauge = |name: &str, help: &str, value: f64| {
            MetricFamily::single(name, help, MetricType::Gauge, value)
        };
        let counter = |name: &str, help: &str, value: f64| {
            MetricFamily::single(name, help, MetricType::Counter, value)
        };
        out.extend([
            gauge(
                "node_timex_sync_status",
                "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
                if state == TIME_ERROR { 0.0 } else { 1.0 },
            ),
            gauge(
                "node_timex_offset_seconds",
                "Time offset in between local system and reference clock.",
                tx.offset as f64 / divisor,
            ),
            gauge(
                "node_timex_frequency_adjustment_ratio",
                "Local clock frequency adjustment.",
                1.0 + tx.freq as f64 / PPM16,
            ),
            gauge(
                "node_timex_maxerror_seconds",
                "Maximum error in seconds.",
                tx.maxerror as f64 / 1e6,
            ),
            gauge(
                "node_timex_estimated_error_seconds",
                "Estimated error in seconds.",
                tx.esterror as f64 / 1e6,
            ),
            gauge(
                "node_timex_status",
                "Value of the status array bits.",
                f64::from(tx.status),
            ),
            gauge(
                "node_timex_loop_time_constant",
                "Phase-locked loop time constant.",
                tx.constant as f64,
            ),
            gauge(
                "node_timex_tick_seconds",
                "Seconds between clock ticks.",
                tx.tick as f64 / 1e6,
            ),
            gauge(
                "node_timex_pps_frequency_hertz",
                "Pulse per second frequency.",
                tx.ppsfreq as f64 / PPM16,
            ),
            gauge(
                "node_timex_pps_jitter_seconds",
                "Pulse per second jitter.",
                tx.jitter as f64 / divisor,
            ),
            gauge(
                "node_timex_pps_shift_seconds",
                "Pulse per second interval duration.",
                f64::from(tx.shift),
            ),
            gauge(
                "node_timex_pps_stability_hertz",
                "Pulse per second stability, average of recent frequency changes.",
                tx.stabil as f64 / PPM16,
            ),
            counter(
                "node_timex_pps_jitter_total",
                "Pulse per second count of jitter limit exceeded events.",
                tx.jitcnt as f64,
            ),
            counter(
                "node_timex_pps_calibration_total",
                "Pulse per second count of calibration intervals.",
                tx.calcnt as f64,
            ),
            counter(
                "node_timex_pps_error_total",
                "Pulse per second count of calibration errors.",
                tx.errcnt as f64,
            ),
            counter(
                "node_timex_pps_stability_exceeded_total",
                "Pulse per second count of stability limit exceeded events.",
                tx.stbcnt as f64,
            ),
            gauge(
                "node_timex_tai_offset_seconds",
                "International Atomic Time (TAI) offset.",
                f64::from(tx.tai),
            ),
        ]);
        Ok(())
    }
}

/// Builds the collector.
pub fn build(_opts: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(TimexCollector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kernel_clock_state() {
        let mut out = Vec::new();
        TimexCollector
            .collect(&HostPaths::default(), &mut out)
            .unwrap();
        assert_eq!(out.len(), 17);
        let tick = out
            .iter()
            .find(|f| f.name == "node_timex_tick_seconds")
            .unwrap();
        let pharos_model::MetricValue::Simple(v) = tick.metrics[0].value else {
            panic!("not simple")
        };
        assert!(v > 0.0 && v < 1.0, "tick {v}");
    }
}
