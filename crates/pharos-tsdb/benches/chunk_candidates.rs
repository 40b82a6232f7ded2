//! Bytes per sample of each chunk encoding candidate on the shared benchmark data, chunk bytes
//! plus the 4-byte checksum each chunk carries in a block (index entries excluded).
//!
//! Run: `cargo bench -p pharos-tsdb --bench chunk_candidates` (env `BENCH_SERIES`,
//! `BENCH_SAMPLES`).

use std::time::Instant;

use pharos_tsdb::chunk::{decode, encode_samples, encode_sealed, Encoding, Value};

/// (encoding, min t, max t, bytes) as the encoders return them.
type EncodedChunk = (Encoding, i64, i64, Vec<u8>);

/// A candidate encoder of one series' samples.
type Encoder = dyn Fn(&[(i64, Value)]) -> Vec<EncodedChunk>;

mod bench_data;
use bench_data::{env_usize, generate};

fn main() {
    let series = env_usize("BENCH_SERIES", 2000);
    let samples = env_usize("BENCH_SAMPLES", 720);
    let data = generate(series, samples);
    let total = (series * samples) as f64;
    let as_values: Vec<Vec<(i64, Value)>> = data
        .iter()
        .map(|(_, pts)| pts.iter().map(|(t, v)| (*t, Value::Float(*v))).collect())
        .collect();
    println!("data: {series} series x {samples} samples");
    println!("| candidate | bytes/sample | chunks | encode s | decode s |");
    println!("| --- | --- | --- | --- | --- |");
    let run = |name: &str, enc: &Encoder| {
        let t0 = Instant::now();
        let chunks: Vec<_> = as_values.iter().flat_map(|s| enc(s)).collect();
        let enc_s = t0.elapsed().as_secs_f64();
        let bytes: usize = chunks.iter().map(|c| c.3.len() + 4).sum();
        let t1 = Instant::now();
        let mut n = 0usize;
        for (e, _, _, b) in &chunks {
            n += decode(*e, b).map_or(0, |v| v.len());
        }
        let dec_s = t1.elapsed().as_secs_f64();
        assert_eq!(n as f64, total, "{name} lost samples");
        println!(
            "| {name} | {:.3} | {} | {enc_s:.2} | {dec_s:.2} |",
            bytes as f64 / total,
            chunks.len()
        );
    };
    run("xor, 120/chunk (head format)", &|s| encode_samples(s));
    for n in [120, 240, 480, 720] {
        run(&format!("packed or xor, {n}/chunk"), &move |s| {
            encode_sealed(s, n)
        });
    }
}
