//! `node_exporter_build_info`: the constant metric dashboards use to show which exporter version
//! runs where. Label names match node_exporter's so the same queries work.

use pharos_model::{MetricFamily, MetricType};

/// The Pharos version this exporter was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `node_exporter_build_info` family.
pub fn family() -> MetricFamily {
    let mut f = MetricFamily::new(
        "node_exporter_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which \
         node_exporter was built, and the goos and goarch for the build.",
        MetricType::Gauge,
    );
    f.push(
        [
            (
                "branch",
                option_env!("PHAROS_BUILD_BRANCH").unwrap_or("unknown"),
            ),
            ("goarch", go_arch()),
            ("goos", std::env::consts::OS),
            // There is no Go toolchain; saying so is more honest than an empty label.
            ("goversion", "none (pharos, rust)"),
            (
                "revision",
                option_env!("PHAROS_BUILD_REVISION").unwrap_or("unknown"),
            ),
            ("version", VERSION),
        ],
        1.0,
    );
    f
}

/// The architecture spelled the way Go's `GOARCH` spells it, which is what dashboards filter on.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}
