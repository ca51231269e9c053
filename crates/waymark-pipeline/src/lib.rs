//! waymark's pipeline: where records and documents come from, and the loops that carry them
//! through the pure core into a store.
//!
//! - [`file`]: file identity (content, not path or inode) and gzip by magic bytes.
//! - [`lines`]: the one line framer (large blocks, `memchr`, oversized lines skipped).
//! - [`ingest`]: files and stdin → core → store, rotation recognised by content.
//! - [`follow`]: files followed as they grow (`waymark serve`), one ingest cycle per poll.
//! - `kafka` (feature `kafka`): the consumer-group member and the producer.
//! - [`scan`]: the walker and the incremental scanner into `logscan_results`.
//! - [`audit`]: the audit driver into `etl_log_audit`.
//! - [`writer`]: the one write path of record batches (busy store retried, bounded).
//! - [`alert`]: the alert evaluator and the deliverer (outbox → Alertmanager, Slack,
//!   PagerDuty, signed webhooks); [`alert::tick`] is one round of both.
//! - [`export`]: tables to CSV, JSON lines and Parquet, with named watermarks.
//! - [`simulate`]: the seed's flows, with the truth a correct pipeline ends with.
//! - [`telemetry`]: the metrics the pipeline reports (names and labels in one place).
//!
//! Everything here takes store traits (`waymark_store::EventStore`, `ScanStore`,
//! `AuditStore`, `AlertStore`), never a concrete backend.

pub mod alert;
pub mod audit;
pub mod export;
pub mod file;
pub mod follow;
pub mod ingest;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod lines;
pub mod scan;
pub mod simulate;
pub mod telemetry;
pub mod writer;
