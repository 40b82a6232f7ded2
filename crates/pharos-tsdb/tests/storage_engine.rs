//! The storage engine's newer paths end to end: streaming selects with seeks across chunk,
//! block and head boundaries; packed and compact-histogram block chunks; head chunks moved
//! to `chunks_head`; read-only opens of a directory another handle owns; background
//! compaction.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pharos_model::{FloatHistogram, Labels, Matcher, Span};
use pharos_tsdb::chunk::Encoding;
use pharos_tsdb::{Compactor, Db, DbError, Options, Queryable, ValueKind};

const HOUR: i64 = 3600 * 1000;

fn options() -> Options {
    Options {
        wal_fsync_interval: None,
        retention_time: 0,
        ..Default::default()
    }
}

fn lbl(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
}

fn hist(i: i64) -> FloatHistogram {
    FloatHistogram {
        schema: 1,
        count: (i * 3) as f64,
        sum: i as f64 * 0.5,
        positive_spans: vec![Span {
            offset: 0,
            length: 3,
        }],
        positive_buckets: vec![i as f64, i as f64, i as f64],
        ..Default::default()
    }
}

/// Float samples `(t, v)` of every series matching `name`, via next().
fn read_all(db: &dyn Queryable, name: &str, mint: i64, maxt: i64) -> Vec<Vec<(i64, f64)>> {
    let q = db.querier(mint, maxt).unwrap();
    let set = q.select(None, &[Matcher::equal("__name__", name)]).unwrap();
    set.iter()
        .map(|s| {
            let mut it = s.iter();
            let mut out = Vec::new();
            loop {
                match it.next() {
                    ValueKind::None => break,
                    ValueKind::Float => out.push(it.at()),
                    ValueKind::Histogram => out.push((it.at_t(), f64::NAN)),
                }
            }
            assert!(it.error().is_none());
            out
        })
        .collect()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Appends `n` samples per series at a 15s step from `start`, one commit per timestamp.
fn fill(db: &Db, name: &str, series: usize, start: i64, n: i64) {
    let mut refs = vec![0u64; series];
    for j in 0..n {
        let mut app = db.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            let t = start + j * 15_000;
            *r = app
                .append(*r, &lbl(name, i), t, (j * 10 + i as i64) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
}

#[test]
fn streaming_select_and_seek_across_blocks_and_head() {
    let d = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(d.path(), options()).unwrap();
    fill(&db, "m", 3, 0, 1000);
    db.flush_head().unwrap();
    fill(&db, "m", 3, 1000 * 15_000, 500);
    // A deletion in the block and another in the head.
    db.delete(&[Matcher::equal("i", "1")], 100 * 15_000, 199 * 15_000)
        .unwrap();
    db.delete(&[Matcher::equal("i", "1")], 1200 * 15_000, 1209 * 15_000)
        .unwrap();
    let all = read_all(&db, "m", i64::MIN, i64::MAX);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].len(), 1500);
    assert_eq!(all[1].len(), 1500 - 100 - 10);
    for s in &all {
        assert!(s.windows(2).all(|w| w[0].0 < w[1].0), "time ordered");
    }
    // A narrow range in the middle of a chunk still finds exactly its samples.
    let narrow = read_all(&db, "m", 700 * 15_000 + 1, 703 * 15_000);
    assert_eq!(
        narrow[0].iter().map(|s| s.0 / 15_000).collect::<Vec<_>>(),
        [701, 702, 703]
    );
    // Seeks: forward across chunk and block/head boundaries, never backwards.
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let set = q.select(None, &[Matcher::equal("i", "0")]).unwrap();
    let mut it = set[0].iter();
    assert_eq!(it.seek(5 * 15_000 + 1), ValueKind::Float);
    assert_eq!(it.at().0, 6 * 15_000);
    assert_eq!(it.seek(0), ValueKind::Float, "seek never moves back");
    assert_eq!(it.at().0, 6 * 15_000);
    assert_eq!(it.seek(999 * 15_000 + 7), ValueKind::Float);
    // The second fill restarted its values at 0.
    assert_eq!(it.at(), (1000 * 15_000, 0.0));
    assert_eq!(it.next(), ValueKind::Float);
    assert_eq!(it.at().0, 1001 * 15_000);
    assert_eq!(it.seek(1499 * 15_000), ValueKind::Float);
    assert_eq!(it.next(), ValueKind::None);
    assert_eq!(it.seek(i64::MAX), ValueKind::None);
    // Series 1 has a deleted stretch: seeking into it lands after it.
    let set = q.select(None, &[Matcher::equal("i", "1")]).unwrap();
    let mut it = set[0].iter();
    assert_eq!(it.seek(150 * 15_000), ValueKind::Float);
    assert_eq!(it.at().0, 200 * 15_000);
    // A range holding no samples of a series leaves the series out.
    let none = read_all(&db, "m", 1_000_000_000_000, 1_000_000_000_001);
    assert!(none.is_empty());
}

#[test]
fn blocks_use_packed_and_compact_histogram_chunks() {
    let d = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(d.path(), options()).unwrap();
    fill(&db, "counter", 2, 0, 480);
    let mut app = db.appender();
    let h = Labels::from_pairs([("__name__", "h")]);
    let mut r = 0;
    for j in 0..300 {
        r = app.append_histogram(r, &h, j * 15_000, hist(j)).unwrap();
    }
    // A series with values that are not decimals stays XOR.
    let odd = Labels::from_pairs([("__name__", "odd")]);
    let mut r2 = 0;
    for j in 0..200 {
        r2 = app
            .append(r2, &odd, j * 15_000, (j as f64 / 3.0).sqrt())
            .unwrap();
    }
    app.commit().unwrap();
    db.flush_head().unwrap();
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1);
    let b = &blocks[0];
    let mut encodings = Vec::new();
    for id in 0..b.num_series() as u32 {
        for c in &b.series(id).unwrap().chunks {
            b.verify_chunk(c).unwrap();
            encodings.push(c.encoding);
        }
    }
    assert!(encodings.contains(&Encoding::Packed));
    assert!(encodings.contains(&Encoding::CompactHistogram));
    assert!(encodings.contains(&Encoding::Xor));
    let got = read_all(&db, "counter", i64::MIN, i64::MAX);
    assert_eq!(got[1].len(), 480);
    assert!(got[1]
        .iter()
        .enumerate()
        .all(|(j, s)| s.1 == (j * 10 + 1) as f64));
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let set = q.select(None, &[Matcher::equal("__name__", "h")]).unwrap();
    let mut it = set[0].iter();
    let mut j = 0;
    while it.next() == ValueKind::Histogram {
        assert_eq!(it.at_histogram(), (j * 15_000, hist(j)));
        j += 1;
    }
    assert_eq!(j, 300);
    let odd_back = read_all(&db, "odd", i64::MIN, i64::MAX);
    assert!(odd_back[0]
        .iter()
        .enumerate()
        .all(|(j, s)| s.1.to_bits() == (j as f64 / 3.0).sqrt().to_bits()));
}

#[test]
fn head_chunks_live_in_files_and_survive_restart() {
    let d = tempfile::tempdir().unwrap();
    {
        let (db, _) = Db::open(d.path(), options()).unwrap();
        fill(&db, "m", 20, 0, 700);
        let st = db.head_stats();
        assert!(st.chunk_bytes_mapped > 0);
        assert!(
            st.chunk_bytes_mapped * 2 > st.chunk_bytes,
            "most chunk bytes are mapped"
        );
        assert!(!file_names(&d.path().join("chunks_head")).is_empty());
    }
    let (db, _) = Db::open(d.path(), options()).unwrap();
    let all = read_all(&db, "m", i64::MIN, i64::MAX);
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|s| s.len() == 700));
    // Sorted by labels: i="0" first.
    assert_eq!(all[0][699], (699 * 15_000, 6990.0));
}

#[test]
fn read_only_open_of_a_directory_in_use() {
    let d = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(d.path(), options()).unwrap();
    fill(&db, "m", 4, 0, 300);
    db.flush_head().unwrap();
    fill(&db, "m", 4, 300 * 15_000, 100);
    db.sync().unwrap();
    // The owner keeps the lock, so a normal open must fail...
    assert!(Db::open(d.path(), options()).is_err());
    let wal_before = file_names(&d.path().join("wal"));
    let top_before = file_names(d.path());
    // ...but a read-only open sees blocks and the head, and writes nothing.
    let (ro, report) = Db::open_read_only(d.path()).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(report.blocks, 1);
    let all = read_all(&ro, "m", i64::MIN, i64::MAX);
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|s| s.len() == 400));
    assert!(matches!(ro.compact(), Err(DbError::ReadOnly(_))));
    assert!(matches!(ro.flush_head(), Err(DbError::ReadOnly(_))));
    assert!(matches!(
        ro.delete(&[Matcher::equal("i", "0")], 0, 1),
        Err(DbError::ReadOnly(_))
    ));
    let mut app = ro.appender();
    app.append(0, &lbl("m", 0), 1 << 40, 1.0).unwrap();
    assert!(app.commit().is_err());
    drop(ro);
    assert_eq!(file_names(&d.path().join("wal")), wal_before);
    assert_eq!(file_names(d.path()), top_before);
    // The owner is unaffected.
    fill(&db, "m", 4, 400 * 15_000, 10);
    assert_eq!(read_all(&db, "m", i64::MIN, i64::MAX)[0].len(), 410);
    assert!(Db::open_read_only(&d.path().join("missing")).is_err());
}

#[test]
fn background_compactor_persists_old_head_data() {
    let d = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(
        d.path(),
        Options {
            block_range: HOUR,
            ..options()
        },
    )
    .unwrap();
    let db = Arc::new(db);
    // Four hours of data: the compactor cuts the oldest hours into blocks.
    fill(&db, "m", 5, 0, 4 * 240);
    let compactor = Compactor::spawn(&db, Duration::from_millis(20)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.blocks().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    compactor.stop();
    assert!(!db.blocks().is_empty(), "no block within 20s");
    let all = read_all(&*db, "m", i64::MIN, i64::MAX);
    assert!(all.iter().all(|s| s.len() == 960));
    // Dropping the database first ends a running compactor too.
    let c = Compactor::spawn(&db, Duration::from_millis(5)).unwrap();
    drop(db);
    drop(c);
}
