//! The metrics the pipeline reports, through the `metrics` facade: names and labels in one
//! place. Nothing is recorded unless the process installed a recorder (`waymark serve` does,
//! and renders them at `/metrics`); the one-shot commands pay only a no-op call.
//!
//! Labels stay low-cardinality: a source's configured name, a reject reason, a Kafka topic and
//! partition — never a correlation id, run id or file name.

use std::time::Duration;

use waymark_core::parse::RejectKind;
use waymark_core::pipeline::Counts;

/// A batch of `records` committed to the store in `took` (the commit itself, without waits).
pub fn batch_committed(records: u64, took: Duration) {
    metrics::histogram!("waymark_batch_commit_seconds").record(took.as_secs_f64());
    metrics::histogram!("waymark_batch_records").record(records as f64);
}

/// Records read by the source `name` and what became of them; `waiting` is its join state.
pub fn count_records(name: &str, c: &Counts, waiting: usize) {
    let source = name.to_owned();
    metrics::counter!("waymark_records_received_total", "source" => source.clone())
        .increment(c.records);
    metrics::counter!("waymark_events_stored_total", "source" => source.clone())
        .increment(c.events);
    metrics::counter!("waymark_orphans_total", "source" => source.clone()).increment(c.orphaned);
    for (kind, n) in RejectKind::ALL.iter().zip(c.rejected_by_kind) {
        if n > 0 {
            metrics::counter!("waymark_dead_letters_total", "source" => source.clone(), "reason" => kind.as_str())
                .increment(n);
        }
    }
    metrics::gauge!("waymark_join_waiting", "source" => source.clone()).set(waiting as f64);
    succeeded(name);
}

/// The source `name` finished a unit of work (a poll, a scan, a batch).
pub fn succeeded(name: &str) {
    metrics::gauge!("waymark_last_success_timestamp_seconds", "source" => name.to_owned())
        .set(jiff::Timestamp::now().as_second() as f64);
}

/// Messages of `topic`/`partition` not yet in the store, as of the broker's last statistics.
pub fn kafka_lag(name: &str, topic: &str, partition: i32, lag: i64) {
    metrics::gauge!("waymark_kafka_lag_messages", "source" => name.to_owned(), "topic" => topic.to_owned(), "partition" => partition.to_string())
        .set(lag as f64);
}

/// A scan of the source `name` read `bytes` and matched `matches` lines.
pub fn scanned(name: &str, bytes: u64, matches: u64) {
    let source = name.to_owned();
    metrics::counter!("waymark_scan_bytes_total", "source" => source.clone()).increment(bytes);
    metrics::counter!("waymark_scan_matches_total", "source" => source).increment(matches);
}
