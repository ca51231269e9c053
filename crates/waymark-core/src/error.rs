//! The core's error type: what a value given to the core (a pattern, a time format, a zone,
//! a name) can be wrong with. Configuration loading gathers these, with paths and lines, into
//! [`ConfigErrors`](crate::config::ConfigErrors).

/// Something the core was given that it cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A regular expression that does not compile (or compiles too big).
    #[error("{0}")]
    Regex(String),
    /// A timestamp format that is none of the known names nor a strftime pattern.
    #[error(
        "unknown timestamp format `{0}` (expected iso8601, epoch_secs, epoch_millis or a strftime pattern)"
    )]
    TimeFormat(String),
    /// A time zone that is neither UTC, a fixed offset nor a known IANA name.
    #[error("unknown time zone `{name}`: {reason}")]
    Zone { name: String, reason: String },
    /// A value that breaks a rule of its own (a system type name, an empty keyword…).
    #[error("{0}")]
    Invalid(String),
}

impl From<regex::Error> for Error {
    fn from(e: regex::Error) -> Error {
        Error::Regex(e.to_string())
    }
}

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}
