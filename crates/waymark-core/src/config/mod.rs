//! Configuration as data: the TOML model, the built-in defaults, merging and validation.
//!
//! The raw structs mirror the TOML one to one (`deny_unknown_fields`, so a typo is an error);
//! [`Config::from_toml`] merges a user file over the built-in one and
//! [`validate`](RawConfig::validate) turns the result into typed, compiled parts, reporting
//! every error at once with its path and line. Nothing here touches the file system.

mod audit;
mod build;
mod error;
mod scan;
mod source;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use audit::{AuditFieldRaw, AuditSection, AuditSystemRaw};
pub use build::{Config, IngestConfig, BUILTIN_NAME};
pub(crate) use error::Collector;
pub use error::{ConfigError, ConfigErrors};
pub use scan::{ScanRuleRaw, ScanSection, SystemSignatureRaw};
pub use source::{SinkRaw, SourceRaw};

/// The built-in configuration: the four seed systems, scan rule packs and audit mappings.
/// It is one document kept in three files, one per concern.
pub const BUILTIN_TOML: &str = concat!(
    include_str!("builtin.toml"),
    "\n",
    include_str!("builtin_scan.toml"),
    "\n",
    include_str!("builtin_audit.toml"),
);

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Format version of the file; only 1 exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// How records are read and joined.
    #[serde(default)]
    pub ingest: IngestRaw,
    /// The systems whose records `ingest` and `consume` understand.
    #[serde(default, rename = "system", skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<SystemRaw>,
    /// What `scan` looks for and where.
    #[serde(default)]
    pub scan: ScanSection,
    /// How `audit` builds one row per ETL run.
    #[serde(default)]
    pub audit: AuditSection,
    /// What `serve` reads continuously (none: `serve` only answers).
    #[serde(default, rename = "source", skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceRaw>,
    /// Where `serve` loads the store continuously (Snowflake).
    #[serde(default, rename = "sink", skip_serializing_if = "Vec::is_empty")]
    pub sinks: Vec<SinkRaw>,
    /// What should happen and by when: flow shapes and run schedules.
    #[serde(default)]
    pub expect: crate::alert::config::ExpectSection,
    /// Alert rules and where notifications go.
    #[serde(default)]
    pub alert: crate::alert::config::AlertSection,
}

/// `[ingest]`: limits and the join of split failures.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestRaw {
    /// A record longer than this is a dead letter (default 1 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_line_bytes: Option<usize>,
    /// Records per store transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_records: Option<usize>,
    /// Zone of timestamps that carry none: `UTC`, a fixed offset like `+02:00`, or an IANA name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Spanned<String>>,
    /// After this many seconds of event time, a failure or a reason still waiting for its
    /// partner is reported as an orphan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_ttl_secs: Option<u64>,
}

/// `[[system]]`: how to recognise and read the records of one system.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SystemRaw {
    /// The `system_id` of its events; a user system with a built-in's name replaces it.
    pub name: String,
    /// `false` switches the system off.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// `json`, `regex` or `csv` (required unless the system is switched off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Spanned<String>>,
    /// How a record is recognised as this system's.
    #[serde(default, rename = "match")]
    pub matcher: MatchRaw,
    /// Regex with named captures (format `regex`) for the event record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Spanned<String>>,
    /// Schema field -> JSON path (dotted), CSV column, or capture name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// CSV column names when the records carry no header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// CSV delimiter, one byte (default `,`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Timestamp formats tried in order: `iso8601`, `epoch_secs`, `epoch_millis`, or a
    /// strftime pattern such as `%d/%m/%Y %H:%M:%S`.
    #[serde(default = "default_ts_formats")]
    pub timestamp_formats: Vec<Spanned<String>>,
    /// Zone for zoneless timestamps of this system; defaults to `[ingest] timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Spanned<String>>,
    /// Raw status values per canonical status, e.g. `{ FAILURE = ["FAILED", "ERROR"] }`.
    /// Without it only `SUCCESS` and `FAILURE` are accepted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_map: BTreeMap<String, Vec<String>>,
    /// Records that carry the reason of a failure separately.
    #[serde(default, rename = "detail", skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<DetailRaw>,
    /// For a system declared in the user's file: its index there, so that an error names
    /// the user's own entry (`system[0]` of their file), not its place after merging.
    #[serde(skip)]
    pub user_index: Option<usize>,
}

/// `match`: one of a field value (JSON, CSV), a line prefix or a regex.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRaw {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<Spanned<String>>,
}

/// `[[system.detail]]`: a failure-detail record of the system.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetailRaw {
    /// Regex with named captures `correlation_id`, `failure_reason` and optionally `timestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Spanned<String>>,
    /// JSON/CSV: the record is a detail when it has none of these fields...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lacks: Vec<String>,
    /// ...and all of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has: Vec<String>,
    /// Schema field -> JSON path, CSV column or capture name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn default_ts_formats() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "iso8601".to_owned())]
}

/// Where a config came from, for error messages.
#[derive(Debug, Clone)]
pub struct ConfigSource<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl RawConfig {
    /// Parses one TOML document; a structural error (syntax, unknown or mistyped field) is
    /// reported with its line and column.
    pub fn parse(source: &ConfigSource<'_>) -> Result<RawConfig, ConfigErrors> {
        toml::from_str(source.text).map_err(|e| {
            let line = e.span().map(|s| line_of(source.text, s.start));
            // Some syntax errors (a control character in a comment) come without a message.
            let message = match e.message().trim() {
                "" => "invalid TOML syntax".to_owned(),
                m => m.to_owned(),
            };
            ConfigErrors::one(ConfigError {
                file: source.name.to_owned(),
                path: String::new(),
                line,
                message,
            })
        })
    }

    /// Marks the entries of a user file, so that `config show` can tell them from built-ins.
    fn mark_from_user(&mut self) {
        for (i, s) in self.systems.iter_mut().enumerate() {
            s.user_index = Some(i);
        }
    }

    /// The built-in configuration. It is part of the binary and a test loads it: an error
    /// here is a bug, reported as one, never an empty configuration.
    pub fn builtin() -> Result<RawConfig, ConfigErrors> {
        RawConfig::parse(&ConfigSource { name: BUILTIN_NAME, text: BUILTIN_TOML })
    }

    /// `self` with `user` merged on top: named entries are replaced whole, scalars override.
    pub fn merge(mut self, user: RawConfig) -> RawConfig {
        let ingest = user.ingest;
        self.ingest = IngestRaw {
            max_line_bytes: ingest.max_line_bytes.or(self.ingest.max_line_bytes),
            batch_records: ingest.batch_records.or(self.ingest.batch_records),
            timezone: ingest.timezone.or(self.ingest.timezone),
            join_ttl_secs: ingest.join_ttl_secs.or(self.ingest.join_ttl_secs),
        };
        merge_named(&mut self.systems, user.systems, |s| s.name.clone());
        self.scan = self.scan.merge(user.scan);
        self.audit = self.audit.merge(user.audit);
        self.expect = self.expect.merge(user.expect);
        self.alert = self.alert.merge(user.alert);
        self.version = user.version.or(self.version);
        // Sources are the user's alone: there are no built-in ones.
        self.sources = user.sources;
        self.sinks = user.sinks;
        self
    }
}

/// Replaces entries of `base` by the `user` entries of the same name, appends the others.
pub(crate) fn merge_named<T>(base: &mut Vec<T>, user: Vec<T>, name: impl Fn(&T) -> String) {
    for item in user {
        let key = name(&item);
        match base.iter_mut().find(|b| name(b) == key) {
            Some(slot) => *slot = item,
            None => base.push(item),
        }
    }
}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests;
