//! Property test: random appends, deletes, compactions and restarts against the in-memory
//! reference store must answer every select identically.

use pharos_model::{FloatHistogram, Labels, MatchOp, Matcher, STALE_NAN};
use pharos_tsdb::memstore::MemValue;
use pharos_tsdb::{Db, MemStorage, Options, Queryable, ValueKind};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Batch(Vec<(usize, i64, u8)>),
    Delete(usize, i64, i64),
    Compact,
    FlushHead,
    Restart,
}

fn value(code: u8) -> MemValue {
    match code {
        0 => MemValue::Float(f64::NAN),
        1 => MemValue::Float(STALE_NAN),
        2 => MemValue::Float(f64::INFINITY),
        3 => MemValue::Float(f64::NEG_INFINITY),
        4..=9 => MemValue::Histogram(FloatHistogram {
            count: f64::from(code),
            sum: 1.5,
            schema: 1,
            ..Default::default()
        }),
        c => MemValue::Float(f64::from(c) * 0.25),
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", format!("m{}", i % 3)), ("i", i.to_string())])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((0usize..6, 0i64..6000, any::<u8>()), 1..40).prop_map(Op::Batch),
        1 => (0usize..6, 0i64..6000, 0i64..1500).prop_map(|(s, a, len)| Op::Delete(s, a, a + len)),
        1 => Just(Op::Compact),
        1 => Just(Op::FlushHead),
        1 => Just(Op::Restart),
    ]
}

fn options(ooo: i64) -> Options {
    Options {
        block_range: 1000,
        max_block_duration: 9000,
        out_of_order_time_window: ooo,
        retention_time: 0,
        wal_segment_size: 4096,
        wal_fsync_interval: None,
        ..Default::default()
    }
}

fn dump(q: &dyn Queryable, mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, String)>)> {
    let q = q.querier(mint, maxt).unwrap();
    let m = Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap();
    let series = q.select(None, &[m]).unwrap();
    let out = series
        .iter()
        .map(|s| {
            let mut it = s.iter();
            let mut out = Vec::new();
            loop {
                match it.next() {
                    ValueKind::None => break,
                    ValueKind::Float => {
                        let (t, v) = it.at();
                        out.push((t, format!("f{:x}", v.to_bits())));
                    }
                    ValueKind::Histogram => {
                        let (t, h) = it.at_histogram();
                        out.push((t, format!("{h:?}")));
                    }
                }
            }
            (s.labels().clone(), out)
        })
        .collect();
    out
}

fn run(ops: Vec<Op>, ooo: i64) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let model = MemStorage::new();
    let mut db = Some(Db::open(dir.path(), options(ooo)).unwrap().0);
    for op in ops {
        let d = db.as_ref().unwrap();
        match op {
            Op::Batch(samples) => {
                let mut app = d.appender();
                let mut accepted = Vec::new();
                for (s, t, code) in samples {
                    let l = labels(s);
                    let v = value(code);
                    let res = match &v {
                        MemValue::Float(f) => app.append(0, &l, t, *f),
                        MemValue::Histogram(h) => app.append_histogram(0, &l, t, h.clone()),
                    };
                    if res.is_ok() {
                        accepted.push((l, t, v));
                    }
                }
                let stats = app.commit().unwrap();
                prop_assert_eq!(stats.dropped, 0);
                for (l, t, v) in accepted {
                    model.append_value(&l, t, v);
                }
            }
            Op::Delete(s, a, z) => {
                let ms = [Matcher::equal("i", s.to_string())];
                d.delete(&ms, a, z).unwrap();
                model.delete(&ms, a, z);
            }
            Op::Compact => d.compact().unwrap(),
            Op::FlushHead => d.flush_head().unwrap(),
            Op::Restart => {
                drop(db.take());
                db = Some(Db::open(dir.path(), options(ooo)).unwrap().0);
            }
        }
        let d = db.as_ref().unwrap();
        for (a, z) in [(i64::MIN, i64::MAX), (0, 999), (1500, 4200)] {
            prop_assert_eq!(dump(d, a, z), dump(&model, a, z), "range {}..{}", a, z);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn db_matches_model_in_order(ops in prop::collection::vec(op(), 1..25)) {
        run(ops, 0)?;
    }

    #[test]
    fn db_matches_model_out_of_order(ops in prop::collection::vec(op(), 1..25)) {
        run(ops, 2500)?;
    }
}
