//! Receiver cost per request: decoding alone, and decode plus storing into a TSDB.
//! The request shape is one Prometheus shard's batch: 2,000 series with one sample each
//! (the default `max_samples_per_send`), ten labels per series.

use std::cell::Cell;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pharos_model::protobuf::wire::{put_bytes, put_double, put_message, put_uint};
use pharos_remote::write_v1::decode_v1;
use pharos_remote::{handle_write, receiver::decompress};
use pharos_tsdb::{Db, Options};

const SERIES: usize = 2_000;

fn request(t: i64) -> Vec<u8> {
    let mut raw = Vec::new();
    for i in 0..SERIES {
        put_message(&mut raw, 1, |ts| {
            let name = format!("metric_{}", i % 50);
            let instance = format!("host-{}:9100", i / 50);
            let labels = [
                ("__name__", name.as_str()),
                ("instance", instance.as_str()),
                ("job", "node"),
                ("cluster", "eu-west-1"),
                ("env", "production"),
                ("team", "platform"),
                ("region", "eu"),
                ("zone", "eu-west-1a"),
                ("service", "api"),
                ("version", "1.2.3"),
            ];
            for (n, v) in labels {
                put_message(ts, 1, |l| {
                    put_bytes(l, 1, n.as_bytes());
                    put_bytes(l, 2, v.as_bytes());
                });
            }
            put_message(ts, 2, |s| {
                put_double(s, 1, i as f64 * 1.5);
                put_uint(s, 2, t as u64);
            });
        });
    }
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let body = request(1_700_000_000_000);
    let mut g = c.benchmark_group("remote_write_v1");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.bench_function("decompress_and_decode_2000_series", |b| {
        b.iter(|| {
            let raw = decompress(&body).unwrap_or_default();
            decode_v1(&raw).map(|batch| batch.series.len()).unwrap_or(0)
        })
    });
    let Ok(dir) = tempfile::tempdir() else { return };
    let Ok((db, _)) = Db::open(dir.path(), Options::default()) else {
        return;
    };
    let t = Cell::new(1_700_000_000_000i64);
    g.bench_function("handle_write_2000_series", |b| {
        b.iter_batched(
            || {
                // Every request carries newer samples, as a live sender's would.
                t.set(t.get() + 1_000);
                request(t.get())
            },
            |body| handle_write(&db, None, Some("snappy"), &body).status,
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
