//! Time of one `collect` call per procfs/sysfs collector: on the fixture host
//! (`tests/fixtures/proc-host`, deterministic) and on this machine's live `/proc` and `/sys`.
//! node_exporter's own per-collector times for the same host are in its
//! `node_scrape_collector_duration_seconds`.

#[path = "../tests/harness/mod.rs"]
mod harness;

use criterion::{criterion_group, criterion_main, Criterion};
use harness::{fake_host_paths, proc_host_fixture, PROC_COLLECTORS as COLLECTORS};
use pharos_node_exporter::collector::HostPaths;
use pharos_node_exporter::collectors::ALL;
use pharos_node_exporter::options::CollectorOptions;

fn bench_host(c: &mut Criterion, group: &str, paths: &HostPaths, opts: &CollectorOptions) {
    let mut group = c.benchmark_group(group);
    for registration in ALL.iter().filter(|r| COLLECTORS.contains(&r.name)) {
        let collector = (registration.build)(opts);
        let mut out = Vec::new();
        // Sources this host lacks are skipped rather than timed as instant failures.
        if collector.collect(paths, &mut out).is_err() {
            continue;
        }
        group.bench_function(registration.name, |b| {
            b.iter(|| {
                out.clear();
                let _ = collector.collect(paths, &mut out);
            })
        });
    }
    group.finish();
}

fn collectors(c: &mut Criterion) {
    let fixture = proc_host_fixture();
    let fixture_paths = fake_host_paths(&fixture);
    let fixture_opts = CollectorOptions {
        textfile_directory: Some(fixture.join("textfile")),
        cpu_info: true,
        ..Default::default()
    };
    bench_host(c, "fixture", &fixture_paths, &fixture_opts);
    bench_host(
        c,
        "live",
        &HostPaths::default(),
        &CollectorOptions::default(),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(1)).warm_up_time(std::time::Duration::from_millis(300));
    targets = collectors
}
criterion_main!(benches);
