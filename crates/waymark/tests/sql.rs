//! `waymark sql` is read-only by construction: refused statements, a time limit, a row cap,
//! and a store file that no call changes.

mod util;

use util::Dir;

fn digest(path: &std::path::Path) -> (usize, u64) {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).unwrap();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    (bytes.len(), h.finish())
}

#[test]
fn sql_refuses_every_write_stops_runaway_queries_and_never_changes_the_store() {
    let dir = Dir::new();
    dir.write("a.log", b"2025-05-04T10:32:00 CMF: CMF_CHECKPOINT_2 - SUCCESS (ID: abc-1)\n");
    dir.run(&["ingest", "a.log"]);
    // Checkpoint the WAL so the database file holds everything before the checks.
    util::rows(&dir.db(), "PRAGMA wal_checkpoint(TRUNCATE)");
    let before = digest(&dir.db());
    let attached = dir.path("x.db");
    let refused = [
        format!("ATTACH DATABASE '{}' AS x", attached.display()),
        "INSERT INTO sources (kind, name) VALUES ('a', 'b')".to_owned(),
        "DELETE FROM events".to_owned(),
        "PRAGMA writable_schema = ON".to_owned(),
        "DROP TABLE events".to_owned(),
    ];
    for sql in &refused {
        let out = dir.cmd().args(["sql", sql]).output().unwrap();
        assert!(!out.status.success(), "{sql} was not refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("refused") || err.contains("read"), "{sql}: {err}");
    }
    assert!(!attached.exists(), "ATTACH created {}", attached.display());
    let forever =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";
    let started = std::time::Instant::now();
    let out = dir.cmd().args(["sql", "--timeout", "0.3", forever]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("time limit"));
    assert!(started.elapsed().as_secs() < 60, "the time limit did not stop it");
    let many =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 100) SELECT i FROM n";
    let out = dir.cmd().args(["sql", "--max-rows", "7", many]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 8, "header + 7 rows");
    assert!(String::from_utf8_lossy(&out.stderr).contains("first 7 rows"));
    let out = dir.run(&["sql", "SELECT correlation_id FROM events"]);
    assert!(out.contains("abc-1"));
    assert_eq!(digest(&dir.db()), before, "a sql call changed the store file");
}
