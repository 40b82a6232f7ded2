//! The server's own `/metrics`: storage, scrape, reload and process figures under the names
//! Prometheus uses, so existing dashboards for a Prometheus server work against Pharos.

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use pharos_model::labels::escape_label_value;
use pharos_scrape::Health;

use crate::server::AppState;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn secs(t: std::time::SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Process figures from `/proc/self` (Linux); missing files leave the metrics out.
fn process_metrics(out: &mut String, start: std::time::SystemTime) {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may contain spaces.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(u), Some(s)) = (num(11), num(12)) {
            if ticks > 0 {
                family(
                    out,
                    "process_cpu_seconds_total",
                    "counter",
                    "Total user and system CPU time spent in seconds.",
                );
                let _ = writeln!(out, "process_cpu_seconds_total {}", (u + s) / ticks as f64);
            }
        }
        if let (Some(vsz), Some(rss)) = (num(20), num(21)) {
            family(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
            );
            let _ = writeln!(out, "process_virtual_memory_bytes {vsz}");
            family(
                out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            let _ = writeln!(
                out,
                "process_resident_memory_bytes {}",
                rss * page.max(0) as f64
            );
        }
    }
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        family(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        let _ = writeln!(out, "process_open_fds {}", rd.count());
    }
    family(
        out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    let _ = writeln!(out, "process_start_time_seconds {}", secs(start));
}

/// Rule group figures under Prometheus's names, labelled `rule_group="file;name"`.
fn rule_metrics(out: &mut String, st: &AppState) {
    let groups = st.rules.groups();
    /// A group's escaped key, figures and definition.
    type Row<'a> = (String, pharos_rules::GroupStatus, &'a pharos_rules::Group);
    /// Name, type, help and how to read the value from a row.
    type Family = (&'static str, &'static str, &'static str, fn(&Row) -> f64);
    let rows: Vec<Row> = groups
        .iter()
        .map(|g| (escape_label_value(&g.key()).into_owned(), g.status(), &**g))
        .collect();
    let metrics: [Family; 9] = [
        (
            "prometheus_rule_evaluations_total",
            "counter",
            "The total number of rule evaluations.",
            |r| r.1.rule_evaluations as f64,
        ),
        (
            "prometheus_rule_evaluation_failures_total",
            "counter",
            "The total number of rule evaluation failures.",
            |r| r.1.rule_failures as f64,
        ),
        (
            "prometheus_rule_group_iterations_total",
            "counter",
            "The total number of scheduled rule group evaluations, whether executed or missed.",
            |r| (r.1.iterations + r.1.iterations_missed) as f64,
        ),
        (
            "prometheus_rule_group_iterations_missed_total",
            "counter",
            "The total number of rule group evaluations missed due to slow rule group evaluation.",
            |r| r.1.iterations_missed as f64,
        ),
        (
            "prometheus_rule_group_interval_seconds",
            "gauge",
            "The interval of a rule group.",
            |r| r.2.interval_ms as f64 / 1000.0,
        ),
        (
            "prometheus_rule_group_last_duration_seconds",
            "gauge",
            "The duration of the last rule group evaluation.",
            |r| r.1.evaluation_seconds,
        ),
        (
            "prometheus_rule_group_last_evaluation_samples",
            "gauge",
            "The number of samples returned during the last rule group evaluation.",
            |r| r.1.last_samples as f64,
        ),
        (
            "prometheus_rule_group_last_evaluation_timestamp_seconds",
            "gauge",
            "The timestamp of the last rule group evaluation in seconds.",
            |r| {
                r.1.last_eval_timestamp_ms
                    .map_or(0.0, |t| t as f64 / 1000.0)
            },
        ),
        (
            "prometheus_rule_group_rules",
            "gauge",
            "The number of rules.",
            |r| r.2.rules.len() as f64,
        ),
    ];
    for (name, kind, help, value) in metrics {
        family(out, name, kind, help);
        for row in &rows {
            let _ = writeln!(out, "{name}{{rule_group=\"{}\"}} {}", row.0, value(row));
        }
    }
    // Summaries without quantiles: sum and count are what rate-based dashboards read.
    let summaries: [(&str, &str, f64, u64); 2] = [
        (
            "prometheus_rule_evaluation_duration_seconds",
            "The duration for a rule to execute.",
            rows.iter().map(|r| r.1.rule_seconds_total).sum(),
            rows.iter().map(|r| r.1.rule_evaluations).sum(),
        ),
        (
            "prometheus_rule_group_duration_seconds",
            "The duration of rule group evaluations.",
            rows.iter().map(|r| r.1.group_seconds_total).sum(),
            rows.iter().map(|r| r.1.group_evaluations).sum(),
        ),
    ];
    for (name, help, sum, count) in summaries {
        family(out, name, "summary", help);
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Renders the text exposition of the server's metrics.
pub async fn render(st: &AppState) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "prometheus_build_info",
        "gauge",
        "A metric with a constant '1' value labeled by version from which pharos was built.",
    );
    let _ = writeln!(
        out,
        "prometheus_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );

    let head = st.db.head_stats();
    family(
        &mut out,
        "prometheus_tsdb_head_series",
        "gauge",
        "Total number of series in the head block.",
    );
    let _ = writeln!(out, "prometheus_tsdb_head_series {}", head.num_series);
    family(
        &mut out,
        "prometheus_tsdb_head_chunks",
        "gauge",
        "Total number of chunks in the head block.",
    );
    let _ = writeln!(out, "prometheus_tsdb_head_chunks {}", head.num_chunks);
    family(
        &mut out,
        "prometheus_tsdb_blocks_loaded",
        "gauge",
        "Number of currently loaded data blocks.",
    );
    let _ = writeln!(
        out,
        "prometheus_tsdb_blocks_loaded {}",
        st.db.blocks().len()
    );
    family(
        &mut out,
        "prometheus_tsdb_head_samples_appended_total",
        "counter",
        "Total number of appended samples.",
    );
    let _ = writeln!(
        out,
        "prometheus_tsdb_head_samples_appended_total {}",
        st.sink.appended()
    );
    family(&mut out, "prometheus_target_scrapes_sample_rejected_total", "counter", "Total number of scraped samples rejected by storage (out of order, duplicate or out of bounds).");
    let _ = writeln!(
        out,
        "prometheus_target_scrapes_sample_rejected_total {}",
        st.sink.rejected()
    );

    let (view, pool_attempts) = {
        let manager = st.scrape.lock().await;
        (manager.targets(), manager.pool_creation_attempts())
    };
    // A counter in Prometheus (promtool rejects `_total` on a gauge), so it counts attempts.
    family(
        &mut out,
        "prometheus_target_scrape_pools_total",
        "counter",
        "Total number of scrape pool creation attempts.",
    );
    let _ = writeln!(out, "prometheus_target_scrape_pools_total {pool_attempts}");
    family(
        &mut out,
        "prometheus_target_scrape_pool_targets",
        "gauge",
        "Current number of targets in this scrape pool.",
    );
    for (name, pool) in &view.pools {
        let _ = writeln!(
            out,
            "prometheus_target_scrape_pool_targets{{scrape_job=\"{}\"}} {}",
            escape_label_value(name),
            pool.active.len()
        );
    }
    family(
        &mut out,
        "prometheus_target_scrape_pool_targets_up",
        "gauge",
        "Targets of this scrape pool whose last scrape succeeded.",
    );
    for (name, pool) in &view.pools {
        let up = pool
            .active
            .iter()
            .filter(|t| t.health == Health::Up)
            .count();
        let _ = writeln!(
            out,
            "prometheus_target_scrape_pool_targets_up{{scrape_job=\"{}\"}} {up}",
            escape_label_value(name)
        );
    }

    let (ok, when) = {
        let r = st.reload_status.read().unwrap_or_else(|e| e.into_inner());
        (r.last_success, r.last_success_time)
    };
    family(
        &mut out,
        "prometheus_config_last_reload_successful",
        "gauge",
        "Whether the last configuration reload attempt was successful.",
    );
    let _ = writeln!(
        out,
        "prometheus_config_last_reload_successful {}",
        u8::from(ok)
    );
    family(
        &mut out,
        "prometheus_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Timestamp of the last successful configuration reload.",
    );
    let _ = writeln!(
        out,
        "prometheus_config_last_reload_success_timestamp_seconds {}",
        secs(when).floor()
    );
    family(&mut out, "prometheus_ready", "gauge", "Whether Prometheus startup was fully completed and the server is ready for normal operation.");
    let _ = writeln!(out, "prometheus_ready 1");
    st.notifier.write_metrics(&mut out);
    st.remote_write.write_metrics(&mut out);
    rule_metrics(&mut out, st);
    process_metrics(&mut out, st.start_time);
    out
}
