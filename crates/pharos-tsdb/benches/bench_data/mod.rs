//! The benchmark data set shared by the storage benchmarks: realistic counters, gauges and
//! classic histogram buckets at a regular 15s scrape interval.

use pharos_model::Labels;

/// First sample time: a multiple of two hours so blocks line up with the data.
pub const START_MS: i64 = 1_700_006_400_000;
/// Scrape interval.
pub const STEP_MS: i64 = 15_000;

/// A `usize` from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic pseudo-random numbers (no dependency needed for a benchmark's data).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// One third counters, one third gauges, one third classic histogram buckets.
pub fn generate(series: usize, samples: usize) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut rng = Lcg(42);
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    (0..series)
        .map(|i| {
            let kind = i % 3;
            let inst = format!("host-{}:9100", i / 30);
            let labels = match kind {
                0 => Labels::from_pairs([
                    ("__name__", "http_requests_total".to_string()),
                    ("instance", inst),
                    ("path", format!("/api/{}", i % 17)),
                    ("code", ["200", "404", "500"][i % 3].to_string()),
                ]),
                1 => Labels::from_pairs([
                    ("__name__", "node_memory_free_bytes".to_string()),
                    ("instance", inst),
                    ("slot", (i % 97).to_string()),
                ]),
                _ => Labels::from_pairs([
                    ("__name__", "request_duration_seconds_bucket".to_string()),
                    ("instance", inst),
                    ("le", les[i % les.len()].to_string()),
                    ("handler", (i % 13).to_string()),
                ]),
            };
            let mut v: f64 = match kind {
                1 => 8e9 + (rng.next() % 1_000_000) as f64,
                _ => (rng.next() % 1000) as f64,
            };
            let pts = (0..samples)
                .map(|j| {
                    match kind {
                        0 => v += (rng.next() % 50) as f64,
                        1 => v += ((rng.next() % 8192) as f64 - 4096.0) * 4096.0,
                        _ => v += (rng.next() % (1 + (i % 10) as u64 * 3)) as f64,
                    }
                    (START_MS + j as i64 * STEP_MS, v)
                })
                .collect();
            (labels, pts)
        })
        .collect()
}
