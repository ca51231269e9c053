//! The typed configuration: the merged raw config, validated and compiled.

use super::{Collector, ConfigErrors, ConfigSource, RawConfig};
use crate::normalize::parse_zone;
use crate::parse::Parsers;

/// Name under which errors of the built-in configuration are reported.
pub const BUILTIN_NAME: &str = "<built-in>";

/// `[ingest]` with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    pub max_line_bytes: usize,
    pub batch_records: usize,
    pub timezone: String,
    pub join_ttl_secs: u64,
}

/// The effective configuration, ready to run.
#[derive(Debug)]
pub struct Config {
    /// The merged configuration as data (what `config show` prints).
    pub raw: RawConfig,
    pub ingest: IngestConfig,
    pub parsers: Parsers,
    /// `[scan]`: the scan rules in one matcher, the classifier and line timestamps.
    pub scan: crate::scan::ScanConfig,
    /// `[audit]`: field mappings per system type and the running timeout.
    pub audit: crate::audit::AuditConfig,
    /// `[expect]` and `[alert]`: expectations, alert rules and sinks.
    pub alert: crate::alert::AlertConfig,
}

impl Config {
    /// The built-in configuration merged with an optional user file, validated. Every error
    /// of the user file is reported at once.
    pub fn load(user: Option<&ConfigSource<'_>>) -> Result<Config, ConfigErrors> {
        let builtin = RawConfig::builtin()?;
        let (raw, mut c) = match user {
            Some(src) => {
                let mut user_raw = RawConfig::parse(src)?;
                user_raw.mark_from_user();
                (builtin.merge(user_raw), Collector::new(src.name, src.text))
            }
            None => (builtin, Collector::new(BUILTIN_NAME, super::BUILTIN_TOML)),
        };
        let config = Config::build(raw, &mut c);
        c.finish(config)
    }

    fn build(raw: RawConfig, c: &mut Collector<'_>) -> Config {
        let ingest = ingest_config(&raw, c);
        let parsers = Parsers::build(&raw, &ingest.timezone, c);
        let scan = super::scan::build(&raw.scan, &ingest.timezone, c);
        let audit = crate::audit::AuditConfig::build(&raw.audit, c);
        super::source::validate(&raw.sources, c);
        super::source::validate_sinks(&raw.sinks, c);
        let alert = crate::alert::AlertConfig::build(&raw.expect, &raw.alert, c);
        Config { raw, ingest, parsers, scan, audit, alert }
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.raw).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

fn ingest_config(raw: &RawConfig, c: &mut Collector<'_>) -> IngestConfig {
    let i = &raw.ingest;
    let mut timezone = i.timezone.as_ref().map_or("UTC", |z| z.get_ref().as_str()).to_owned();
    if let Err(e) = parse_zone(&timezone) {
        c.push("ingest.timezone", i.timezone.as_ref().map(|z| z.span()), e);
        timezone = "UTC".to_owned();
    }
    let max_line_bytes = i.max_line_bytes.unwrap_or(1 << 20);
    if max_line_bytes == 0 {
        c.push("ingest.max_line_bytes", None, "must be at least 1");
    }
    let batch_records = i.batch_records.unwrap_or(100_000);
    if batch_records == 0 {
        c.push("ingest.batch_records", None, "must be at least 1");
    }
    IngestConfig {
        max_line_bytes,
        batch_records,
        timezone,
        join_ttl_secs: i.join_ttl_secs.unwrap_or(3600),
    }
}
