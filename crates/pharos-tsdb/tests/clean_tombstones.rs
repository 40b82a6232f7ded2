//! `Db::clean_tombstones`: blocks with deletions are rewritten without the deleted data, and
//! a block left empty disappears.

use pharos_model::{Labels, Matcher};
use pharos_tsdb::{Db, Options, Queryable, ValueKind};

fn count(db: &Db, name: &str) -> usize {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let mut n = 0;
    for s in q
        .select(None, &[Matcher::equal("__name__", name)])
        .expect("select")
    {
        let mut it = s.iter();
        while it.next() != ValueKind::None {
            n += 1;
        }
    }
    n
}

#[test]
fn deleted_data_leaves_the_blocks() {
    let d = tempfile::tempdir().expect("temp dir");
    let (db, _) = Db::open(d.path(), Options::default()).expect("open");
    let mut app = db.appender();
    let (a, b) = (
        Labels::from_pairs([("__name__", "a")]),
        Labels::from_pairs([("__name__", "b")]),
    );
    let (mut ra, mut rb) = (0, 0);
    for j in 0..100 {
        ra = app.append(ra, &a, j * 1000, j as f64).expect("append a");
        rb = app.append(rb, &b, j * 1000, j as f64).expect("append b");
    }
    app.commit().expect("commit");
    db.flush_head().expect("flush");
    assert_eq!(db.blocks().len(), 1);
    let before = db.blocks()[0].dir().to_path_buf();

    db.delete(&[Matcher::equal("__name__", "a")], 0, 49_000)
        .expect("delete");
    assert!(!db.blocks()[0].tombstones().is_empty());
    db.clean_tombstones().expect("clean");
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1);
    assert!(blocks[0].tombstones().is_empty());
    assert_ne!(blocks[0].dir(), before.as_path(), "the block was rewritten");
    assert!(!before.exists(), "the old block is gone");
    assert_eq!(count(&db, "a"), 50);
    assert_eq!(count(&db, "b"), 100);

    // Deleting everything and cleaning removes the block altogether.
    db.delete(&[Matcher::equal("__name__", "a")], i64::MIN, i64::MAX)
        .expect("delete a");
    db.delete(&[Matcher::equal("__name__", "b")], i64::MIN, i64::MAX)
        .expect("delete b");
    db.clean_tombstones().expect("clean again");
    assert!(db.blocks().is_empty());
    // Nothing to clean is a no-op.
    db.clean_tombstones().expect("clean nothing");
}
