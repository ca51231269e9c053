//! Scan rules and system classification for ETL log files (see issue 3).
//!
//! Pure: the scanner's source reads the bytes, this module says which lines matter.
//!
//! - [`Matcher`]: every rule compiled into one matcher. One regex (the alternation of all
//!   rules) runs over a whole block of lines; only on the lines it hits are the rules tried one
//!   by one. Lines without a match cost only the regex engine's scan (a literal prefilter
//!   where the rules allow one).
//! - [`Classifier`]: the system type of a file from signatures in its head, found the same
//!   way: one regex for candidate lines, the signatures tried on those lines only.
//! - [`LineTimes`]: the timestamp a line carries itself (ISO, log4j, asctime, `M/D/YYYY`).
//! - [`CsvLayout`]: header-aware CSV and TSV logs, so that a rule can target a column.
//! - [`clean_line`]: the bounded, escape-free text stored for a matched line.

mod classify;
mod csv;
mod line;
mod matcher;
mod prefilter;
mod record;

pub use classify::{Classification, Classifier, Signature};
pub use csv::{split_fields, CsvLayout};
pub use line::{clean_line, strip_ansi, LineTimes};
pub use matcher::{Hit, Matcher, Rule, RuleBuilder, View};
pub use record::{ScanCommit, ScanResult, ScannedFile, StoredScanResult};

/// The system types waymark knows without configuration (besides user-defined ones).
pub const BUILTIN_TYPES: [&str; 10] = [
    "INFA_SESSION",
    "INFA_WORKFLOW",
    "CDGC",
    "DBT",
    "MASS_INGESTION",
    "JENKINS",
    "GITHUB_ACTIONS",
    "AIRFLOW",
    "IICS",
    UNKNOWN,
];

/// The type of a file no signature matches.
pub const UNKNOWN: &str = "UNKNOWN";

/// How much of a file's beginning the classifier reads.
pub const HEAD_BYTES: usize = 64 * 1024;

/// The longest `line` stored for a match; longer lines are cut at a character boundary.
pub const MAX_STORED_LINE: usize = 4096;

/// How important a matched line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    /// `ERROR`, `WARNING` (or `WARN`) and `INFO`, in any case.
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_uppercase().as_str() {
            "ERROR" => Some(Severity::Error),
            "WARNING" | "WARN" => Some(Severity::Warning),
            "INFO" => Some(Severity::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
            Severity::Info => "INFO",
        }
    }
}

/// The compiled `[scan]` configuration.
#[derive(Debug, Clone, Default)]
pub struct ScanConfig {
    /// Paths scanned when the command line gives none.
    pub paths: Vec<String>,
    pub matcher: Matcher,
    pub classifier: Classifier,
    pub times: LineTimes,
}

impl ScanConfig {
    /// The same configuration with the rules replaced by one regex per line of `text` (as
    /// `grep -f`), each named `rules_file:<line>`. Blank lines are skipped (in `grep -f` they
    /// would match every line). Every bad line is reported.
    pub fn with_rules_file(
        &self,
        text: &str,
        severity: Severity,
    ) -> Result<ScanConfig, Vec<String>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (i, pattern) in text.lines().enumerate() {
            if pattern.trim().is_empty() {
                continue;
            }
            let name = format!("rules_file:{}", i + 1);
            match RuleBuilder::new(&name, severity).regex(pattern) {
                Ok(rule) => rules.push(rule),
                Err(e) => errors.push(format!("line {}: {e}", i + 1)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let matcher = Matcher::new(rules).map_err(|e| vec![e])?;
        Ok(ScanConfig { matcher, ..self.clone() })
    }
}

/// Compiles a signature pattern (multi-line mode, so `^` is a line start).
pub fn compile_signature(pattern: &str) -> Result<regex::bytes::Regex, crate::Error> {
    Ok(regex::bytes::RegexBuilder::new(pattern)
        .multi_line(true)
        .crlf(true)
        .size_limit(1 << 22)
        .build()?)
}

#[cfg(test)]
mod tests;
