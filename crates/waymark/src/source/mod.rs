//! Sources: where records come from and how far they were read.
//!
//! [`lines`] frames a byte stream; [`file`] knows file identity; [`ingest`] drives files and
//! stdin through the core into a store; `kafka` (feature `kafka`) does the same for topics.

pub(crate) mod file;
pub(crate) mod ingest;
#[cfg(feature = "kafka")]
pub(crate) mod kafka;
pub(crate) mod lines;
pub(crate) mod scan;
