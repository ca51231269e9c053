//! Record checks and accounting: every record ends somewhere and is counted.

use super::*;
use crate::config::ConfigSource;

fn config(max_line_bytes: usize) -> Config {
    let text = format!("[ingest]\nmax_line_bytes = {max_line_bytes}\n");
    Config::load(Some(&ConfigSource { name: "t.toml", text: &text })).unwrap()
}

fn run(records: &[&[u8]]) -> Batch {
    let c = config(200);
    let mut p = Processor::new(&c);
    let mut batch = Batch::default();
    for (i, r) in records.iter().enumerate() {
        p.record(Origin { source: 1, position: i as u64 }, r, &mut batch);
    }
    batch
}

#[test]
fn every_record_is_accounted_for() {
    let long = vec![b'x'; 300];
    let b = run(&[
        b"2025-05-04T10:32:00 CMF: CMF_CHECKPOINT_2 - FAILURE (ID: def-456)\r",
        b"",
        b"   \t",
        b"2025-05-04T10:32:01 CMF CMF_ERROR: (ID: def-456) - R",
        &long,
        b"2025-05-04T10:30:00 BCIS: A - SUCCESS (ID: a\0b)",
        b"2025-05-04T10:30:00 BCIS: A - SUCCESS (ID: \xff)",
        b"{\"system\": \"fedebom\"",
    ]);
    let c = &b.counts;
    assert_eq!((c.records, c.blank, c.events, c.details, c.joined, c.rejected), (8, 2, 1, 1, 1, 4));
    assert_eq!(c.records, c.blank + c.events + c.details + c.rejected);
    let kinds: Vec<RejectKind> = b.dead_letters.iter().map(|d| d.reason.kind).collect();
    assert_eq!(
        kinds,
        [RejectKind::TooLong, RejectKind::NulByte, RejectKind::InvalidUtf8, RejectKind::BadJson]
    );
    assert_eq!(b.dead_letters[0].origin.position, 4);
    assert_eq!(b.dead_letters[0].raw_len, 300);
    assert_eq!(b.dead_letters[2].raw, b"2025-05-04T10:30:00 BCIS: A - SUCCESS (ID: \xff)");
}

#[test]
fn oversized_records_keep_their_head_and_length() {
    let c = config(10);
    let mut p = Processor::new(&c);
    let mut b = Batch::default();
    p.oversized(Origin { source: 2, position: 7 }, b"0123456789", 5_000_000, &mut b);
    assert_eq!(b.counts.rejected_by_kind[0], 1);
    assert_eq!((b.dead_letters[0].raw_len, b.dead_letters[0].raw.len()), (5_000_000, 10));
}
