//! `[[source]]`: what `waymark serve` reads continuously, one table per source, tagged by
//! `type` (`file`, `kafka`, `scan`, `openlineage`). Parsed and validated here; run by the
//! pipeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::Collector;

/// One `[[source]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceRaw {
    /// Files followed as they grow, rotated and appear.
    File {
        /// A name for status and metrics (default: `file-<n>`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Paths and globs, e.g. `/var/log/flows/*.log`.
        paths: Vec<String>,
    },
    /// A consumer-group member, as `waymark consume`.
    Kafka {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Bootstrap servers, `host:port,…`.
        brokers: String,
        topics: Vec<String>,
        /// Consumer group (default `waymark`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        /// librdkafka settings, as `consume -X key=value`.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        settings: BTreeMap<String, String>,
    },
    /// Paths scanned every `interval_secs`, each scan followed by the audit of what changed.
    Scan {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        paths: Vec<String>,
        /// Seconds between scans (default 60).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval_secs: Option<u64>,
    },
    /// The OpenLineage receiver at `POST /api/v1/lineage` on the server's listener.
    Openlineage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

impl SourceRaw {
    /// The `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceRaw::File { .. } => "file",
            SourceRaw::Kafka { .. } => "kafka",
            SourceRaw::Scan { .. } => "scan",
            SourceRaw::Openlineage { .. } => "openlineage",
        }
    }

    /// The source's name: the one given, else `<type>-<index>`.
    pub fn name(&self, index: usize) -> String {
        let given = match self {
            SourceRaw::File { name, .. }
            | SourceRaw::Kafka { name, .. }
            | SourceRaw::Scan { name, .. }
            | SourceRaw::Openlineage { name } => name.clone(),
        };
        given.unwrap_or_else(|| format!("{}-{index}", self.kind()))
    }
}

/// Reports every name (of a `what`: source or sink) used by an earlier one, at `what[i].name`.
fn unique_names(names: impl Iterator<Item = String>, what: &str, c: &mut Collector<'_>) {
    let mut seen: Vec<String> = Vec::new();
    for (i, name) in names.enumerate() {
        if seen.contains(&name) {
            let message = format!("the name `{name}` is used by another {what}");
            c.push(format!("{what}[{i}].name"), None, message);
        }
        seen.push(name);
    }
}

/// Checks the sources: required lists not empty, names unique, intervals positive.
pub(crate) fn validate(sources: &[SourceRaw], c: &mut Collector<'_>) {
    unique_names(sources.iter().enumerate().map(|(i, s)| s.name(i)), "source", c);
    for (i, s) in sources.iter().enumerate() {
        let at = |field: &str| format!("source[{i}].{field}");
        match s {
            SourceRaw::File { paths, .. } | SourceRaw::Scan { paths, .. } if paths.is_empty() => {
                c.push(at("paths"), None, "must name at least one path");
            }
            SourceRaw::Kafka { brokers, topics, .. } => {
                if brokers.trim().is_empty() {
                    c.push(at("brokers"), None, "must name at least one broker");
                }
                if topics.is_empty() {
                    c.push(at("topics"), None, "must name at least one topic");
                }
            }
            _ => {}
        }
        if let SourceRaw::Scan { interval_secs: Some(0), .. } = s {
            c.push(at("interval_secs"), None, "must be at least 1");
        }
    }
    if sources.iter().filter(|s| matches!(s, SourceRaw::Openlineage { .. })).count() > 1 {
        c.push("source", None, "at most one source of type `openlineage` (one receiver path)");
    }
}

/// One `[[sink]]` table: where `waymark serve` loads the store continuously.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkRaw {
    /// Snowflake, as `waymark export --to URL` (each round loads what is new since the last).
    Snowflake {
        /// A name for logs and metrics (default: `snowflake-<n>`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// `snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=…` (no password in it).
        url: String,
        /// Seconds between loads (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval_secs: Option<u64>,
    },
}

impl SinkRaw {
    /// The sink's name: the one given, else `snowflake-<index>`.
    pub fn name(&self, index: usize) -> String {
        let SinkRaw::Snowflake { name, .. } = self;
        name.clone().unwrap_or_else(|| format!("snowflake-{index}"))
    }
}

/// Checks the sinks: a `snowflake://` URL, positive intervals, unique names.
pub(crate) fn validate_sinks(sinks: &[SinkRaw], c: &mut Collector<'_>) {
    unique_names(sinks.iter().enumerate().map(|(i, s)| s.name(i)), "sink", c);
    for (i, s) in sinks.iter().enumerate() {
        let at = |field: &str| format!("sink[{i}].{field}");
        let SinkRaw::Snowflake { url, interval_secs, .. } = s;
        if !url.starts_with("snowflake://") {
            c.push(at("url"), None, "must be a snowflake:// URL");
        }
        if *interval_secs == Some(0) {
            c.push(at("interval_secs"), None, "must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSource};

    #[test]
    fn sinks_are_validated_with_their_paths() {
        let text = "[[sink]]\ntype = \"snowflake\"\nurl = \"https://x\"\ninterval_secs = 0\n\
                    [[sink]]\ntype = \"snowflake\"\nname = \"snowflake-0\"\nurl = \"snowflake://u@a/d/s\"\n";
        let err =
            Config::load(Some(&ConfigSource { name: "t.toml", text })).unwrap_err().to_string();
        for want in ["sink[0].url", "sink[0].interval_secs", "sink[1].name"] {
            assert!(err.contains(want), "{want} not in {err}");
        }
        let ok = "[[sink]]\ntype = \"snowflake\"\nurl = \"snowflake://u@a/d/s?warehouse=w\"\n";
        let c = Config::load(Some(&ConfigSource { name: "t.toml", text: ok })).unwrap();
        assert_eq!(c.raw.sinks.len(), 1);
        assert_eq!(c.raw.sinks[0].name(0), "snowflake-0");
    }
}
