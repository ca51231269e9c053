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
    assert_eq!(b.counts.rejected_by_kind[1], 1, "too_long");
    assert_eq!((b.dead_letters[0].raw_len, b.dead_letters[0].raw.len()), (5_000_000, 10));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// JSON-ish records: objects with the seed's keys, random values, sometimes cut short.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        let key = prop::sample::select(vec![
            "system",
            "checkpoint",
            "status",
            "timestamp",
            "correlation_id",
            "failure_reason",
            "x",
        ]);
        let value = prop_oneof![
            prop::sample::select(vec![
                "fedebom",
                "reporting",
                "SUCCESS",
                "FAILURE",
                "2025-05-04T10:30:00"
            ])
            .prop_map(|s| format!("\"{s}\"")),
            "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("null".to_owned()),
            Just("{\"a\": [1, {\"b\": 2}]}".to_owned()),
        ];
        (prop::collection::vec((key, value), 0..8), any::<usize>()).prop_map(|(kv, cut)| {
            let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            let s = format!("{{{}}}", body.join(", ")).into_bytes();
            if cut % 4 == 0 {
                s[..cut % (s.len() + 1)].to_vec()
            } else {
                s
            }
        })
    }

    fn texty() -> impl Strategy<Value = Vec<u8>> {
        let ts = prop::sample::select(vec!["2025-05-04T10:30:00", "2025-02-30T10:30:00", "x", ""]);
        let sys = prop::sample::select(vec![" BCIS: ", " CMF: ", " CMF CMF_ERROR: ", " "]);
        (ts, sys, "\\PC{0,30}").prop_map(|(t, s, rest)| format!("{t}{s}{rest}").into_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_input_panics_and_every_record_is_accounted_for(
            records in prop::collection::vec(
                prop_oneof![prop::collection::vec(any::<u8>(), 0..300), jsonish(), texty()],
                0..40,
            )
        ) {
            let c = config(256);
            let mut p = Processor::new(&c);
            let mut batch = Batch::default();
            for (i, r) in records.iter().enumerate() {
                p.record(Origin { source: 1, position: i as u64 }, r, &mut batch);
            }
            let k = &batch.counts;
            prop_assert_eq!(k.records, records.len() as u64);
            prop_assert_eq!(k.records, k.blank + k.events + k.details + k.rejected);
            prop_assert_eq!(batch.dead_letters.len() as u64, k.rejected);
            prop_assert_eq!(k.rejected_by_kind.iter().sum::<u64>(), k.rejected);
        }
    }
}
