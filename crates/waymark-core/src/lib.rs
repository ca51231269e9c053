//! waymark's pure core.
//!
//! Everything here takes bytes plus context and returns values: it opens no file, socket or
//! database. Sources feed it, stores persist what it returns. The pipeline stages live in one
//! module each:
//!
//! - [`config`]: the TOML configuration, built-in systems, validation with paths and lines;
//! - [`parse`]: declarative per-system parsers turning one record into an event or a detail;
//! - [`normalize`]: timestamps and statuses into the one event schema;
//! - [`correlate`]: the join of split failures and the orphan time-to-live;
//! - [`scan`]: scan rules compiled into one matcher, and system classification;
//! - [`audit`]: extractors building one audit row per ETL run;
//! - [`lineage`]: OpenLineage RunEvents read as audit rows;
//! - [`answer`]: the answers to questions about the store (traces and verdicts, runs, pages).
//! - [`alert`]: expectations (flow shapes, run schedules) and alert rules, evaluated at a given time.

pub mod alert;
pub mod answer;
pub mod audit;
pub mod config;
pub mod correlate;
pub mod error;
pub mod event;
pub mod lineage;
pub mod normalize;
pub mod parse;
pub mod pipeline;
pub mod scan;

pub use error::Error;
pub use event::{correlation_hash, Detail, Event, Origin, Status};
