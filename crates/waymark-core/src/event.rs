//! The normalized event model shared by every stage.

use std::fmt;
use std::sync::Arc;

/// The outcome of a checkpoint. The seed schema knows exactly two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Success,
    Failure,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
        }
    }

    pub fn from_canonical(s: &str) -> Option<Status> {
        match s {
            "SUCCESS" => Some(Status::Success),
            "FAILURE" => Some(Status::Failure),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a record came from: a source (file, stdin, topic-partition) and a position in it.
///
/// Sources are numbered by the store; the pair is the record's identity, so a record read twice
/// maps to the same key and can be stored at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub source: u32,
    /// Byte offset of the record's first byte in a file (decompressed, for gzip), or the
    /// Kafka offset. Stores keep it as a signed 64-bit integer: positions up to 2^63 - 1.
    pub position: u64,
}

/// One normalized event: the seed's six columns plus time as a number for ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Shared with the parser that recognised the event: one allocation fewer per event.
    pub system_id: Arc<str>,
    pub checkpoint_id: String,
    /// The event's time in microseconds since the Unix epoch; see [`Event::timestamp`].
    pub ts_micros: i64,
    pub status: Status,
    pub correlation_id: String,
    pub failure_reason: Option<String>,
}

impl Event {
    /// The event's time as RFC 3339 in UTC, e.g. `2025-05-04T10:30:00Z` (the `timestamp`
    /// column). Derived, not stored: formatting happens where the row is written.
    pub fn timestamp(&self) -> String {
        crate::normalize::format_utc(self.ts_micros)
    }
}

/// A separate record carrying the reason of a failure of `system_id` for `correlation_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub system_id: Arc<str>,
    pub correlation_id: String,
    pub failure_reason: String,
    /// Some detail formats carry no time (fedebom's); then the correlator dates it.
    pub ts_micros: Option<i64>,
}

/// A stable 64-bit hash of a correlation id. Stores index this integer instead of the text:
/// an index on a TEXT column costs about half the insert rate, an INTEGER one much less.
pub fn correlation_hash(correlation_id: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(correlation_id.as_bytes()) as i64
}
