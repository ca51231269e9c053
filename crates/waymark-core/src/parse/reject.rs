//! Why a record was rejected: a kind for counting and a message for people.

use std::fmt;

/// The kinds of rejection, counted separately in a run's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectKind {
    /// A message without payload (a file's blank line is skipped instead).
    Empty,
    /// Longer than `[ingest] max_line_bytes`.
    TooLong,
    /// Holds a NUL byte.
    NulByte,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// Starts like JSON but is not a JSON object.
    BadJson,
    /// No configured system recognises it.
    UnknownSystem,
    /// A system recognised it but none of its patterns matched.
    NoPattern,
    /// A required field is missing or empty.
    MissingField,
    /// The status is neither value.
    BadStatus,
    /// The timestamp matches no configured format.
    BadTimestamp,
}

impl RejectKind {
    pub const ALL: [RejectKind; 10] = [
        RejectKind::Empty,
        RejectKind::TooLong,
        RejectKind::NulByte,
        RejectKind::InvalidUtf8,
        RejectKind::BadJson,
        RejectKind::UnknownSystem,
        RejectKind::NoPattern,
        RejectKind::MissingField,
        RejectKind::BadStatus,
        RejectKind::BadTimestamp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Empty => "empty",
            RejectKind::TooLong => "too_long",
            RejectKind::NulByte => "nul_byte",
            RejectKind::InvalidUtf8 => "invalid_utf8",
            RejectKind::BadJson => "bad_json",
            RejectKind::UnknownSystem => "unknown_system",
            RejectKind::NoPattern => "no_pattern",
            RejectKind::MissingField => "missing_field",
            RejectKind::BadStatus => "bad_status",
            RejectKind::BadTimestamp => "bad_timestamp",
        }
    }
}

/// A rejected record's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub kind: RejectKind,
    pub message: String,
}

impl Reject {
    pub fn new(kind: RejectKind, message: impl Into<String>) -> Reject {
        Reject { kind, message: message.into() }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}
