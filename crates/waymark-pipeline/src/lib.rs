//! waymark's pipeline: where records and documents come from, and the loops that carry them
//! through the pure core into a store.
//!
//! - [`file`]: file identity (content, not path or inode) and gzip by magic bytes.
//! - [`lines`]: the one line framer (large blocks, `memchr`, oversized lines skipped).
//! - [`ingest`]: files and stdin → core → store, rotation recognised by content.
//! - `kafka` (feature `kafka`): the consumer-group member and the producer.
//! - [`scan`]: the walker and the incremental scanner into `logscan_results`.
//! - [`audit`]: the audit driver into `etl_log_audit`.
//! - [`export`]: tables to CSV, JSON lines and Parquet, with named watermarks.
//! - [`simulate`]: the seed's flows, with the truth a correct pipeline ends with.
//!
//! Everything here takes store traits (`waymark_store::EventStore`, `ScanStore`,
//! `AuditStore`), never a concrete backend.

pub mod audit;
pub mod export;
pub mod file;
pub mod ingest;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod lines;
pub mod scan;
pub mod simulate;
