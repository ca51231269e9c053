//! The configured field mappings (`[[audit.system.field]]`), compiled and applied.
//!
//! A mapping takes its value from a regex capture over the run's lines or from a JSON pointer
//! into the run's JSON records, converts it to its type and combines several matches. A value
//! found overrides what the built-in extractor set; nothing found leaves the field alone, so a
//! mapping never blanks a value.

use std::collections::HashMap;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::text::{self, Document, TimeReader};
use super::{AuditRow, RunStatus};
use crate::config::{AuditFieldRaw, AuditSection, Collector};

/// Default for `[audit] running_timeout_secs`.
pub const DEFAULT_RUNNING_TIMEOUT_SECS: u64 = 86_400;

/// One run as an extractor delimited it: its row so far, plus the lines and JSON records the
/// mappings read.
#[derive(Debug, Default)]
pub(crate) struct Run {
    pub(crate) row: AuditRow,
    pub(crate) lines: Vec<String>,
    pub(crate) records: Vec<Value>,
}

impl Run {
    pub(crate) fn new(system_type: &str) -> Run {
        Run { row: AuditRow::new(system_type), ..Run::default() }
    }
}

/// The audit part of the configuration, compiled.
#[derive(Debug)]
pub struct AuditConfig {
    systems: HashMap<String, Vec<FieldMapping>>,
    /// See `[audit] running_timeout_secs`.
    pub running_timeout_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> AuditConfig {
        AuditConfig { systems: HashMap::new(), running_timeout_secs: DEFAULT_RUNNING_TIMEOUT_SECS }
    }
}

#[derive(Debug)]
struct FieldMapping {
    target: Target,
    source: Source,
    kind: Kind,
    combine: Combine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Folder,
    Workflow,
    Session,
    RunId,
    Start,
    End,
    Status,
    SourceRows,
    TargetRows,
    RejectedRows,
    SourceName,
    TargetName,
    Error,
}

#[derive(Debug)]
enum Target {
    Column(Column),
    Extra(String),
}

#[derive(Debug)]
enum Source {
    Regex(Regex),
    Pointer(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Timestamp,
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    First,
    Last,
    Sum,
    List,
}

/// A mapped value.
#[derive(Debug, Clone, PartialEq)]
enum Mapped {
    Text(String),
    Integer(i64),
    Time(i64),
    List(Vec<String>),
}

fn column(name: &str) -> Option<(Column, Kind)> {
    Some(match name {
        "folder_name" => (Column::Folder, Kind::Text),
        "workflow_name" => (Column::Workflow, Kind::Text),
        "session_name" => (Column::Session, Kind::Text),
        "run_id" => (Column::RunId, Kind::Text),
        "start_time" => (Column::Start, Kind::Timestamp),
        "end_time" => (Column::End, Kind::Timestamp),
        "status" => (Column::Status, Kind::Text),
        "source_rows" => (Column::SourceRows, Kind::Integer),
        "target_rows" => (Column::TargetRows, Kind::Integer),
        "rejected_rows" => (Column::RejectedRows, Kind::Integer),
        "source_name" => (Column::SourceName, Kind::List),
        "target_name" => (Column::TargetName, Kind::List),
        "error_message" => (Column::Error, Kind::Text),
        _ => return None,
    })
}

/// Columns that are derived or bookkeeping, never mapped.
const UNMAPPABLE: [&str; 6] =
    ["system_type", "duration_seconds", "log_file", "logscan_id", "updated_at", "run_key"];

impl AuditConfig {
    /// Compiles `[audit]`, collecting every error with its path and line.
    pub(crate) fn build(raw: &AuditSection, c: &mut Collector<'_>) -> AuditConfig {
        let mut systems: HashMap<String, Vec<FieldMapping>> = HashMap::new();
        for (i, sys) in raw.systems.iter().enumerate() {
            let path = format!("audit.system[{i}]");
            if sys.system_type.trim().is_empty() {
                c.push(format!("{path}.system_type"), None, "must not be empty");
            }
            let fields = sys
                .fields
                .iter()
                .enumerate()
                .filter_map(|(j, f)| build_field(f, &format!("{path}.field[{j}]"), c))
                .collect::<Vec<_>>();
            systems.entry(sys.system_type.clone()).or_default().extend(fields);
        }
        let running_timeout_secs = raw.running_timeout_secs.unwrap_or(DEFAULT_RUNNING_TIMEOUT_SECS);
        if running_timeout_secs == 0 {
            c.push("audit.running_timeout_secs", None, "must be at least 1");
        }
        AuditConfig { systems, running_timeout_secs }
    }

    /// The system types that have mappings.
    pub fn system_types(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.systems.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Applies the mappings of `system_type` to one run.
    pub(crate) fn apply(
        &self,
        system_type: &str,
        lines: &[String],
        records: &[Value],
        times: &TimeReader,
        row: &mut AuditRow,
    ) {
        for m in self.systems.get(system_type).into_iter().flatten() {
            if let Some(value) = m.evaluate(lines, records, times) {
                m.assign(value, row);
            }
        }
    }
}

fn build_field(f: &AuditFieldRaw, path: &str, c: &mut Collector<'_>) -> Option<FieldMapping> {
    let before = c.errors.len();
    let name = f.name.trim();
    let col = column(name);
    if name.is_empty() {
        c.push(format!("{path}.name"), None, "must not be empty");
    } else if UNMAPPABLE.contains(&name) {
        c.push(format!("{path}.name"), None, format!("`{name}` is derived and cannot be mapped"));
    }
    let source = match (&f.regex, &f.pointer) {
        (Some(re), None) => match RegexBuilder::new(re.get_ref()).size_limit(1 << 20).build() {
            Ok(r) => Some(Source::Regex(r)),
            Err(e) => {
                c.push(format!("{path}.regex"), Some(re.span()), format!("invalid regex: {e}"));
                None
            }
        },
        (None, Some(p)) => {
            let text = p.get_ref();
            if !text.is_empty() && !text.starts_with('/') {
                c.push(
                    format!("{path}.pointer"),
                    Some(p.span()),
                    "a JSON pointer is empty or starts with `/`",
                );
            }
            Some(Source::Pointer(text.clone()))
        }
        (Some(re), Some(_)) => {
            c.push(path.to_owned(), Some(re.span()), "give either `regex` or `pointer`, not both");
            None
        }
        (None, None) => {
            c.push(path.to_owned(), None, "needs a `regex` or a `pointer`");
            None
        }
    };
    let kind = match &f.kind {
        None => Some(col.map_or(Kind::Text, |(_, k)| k)),
        Some(k) => match k.get_ref().as_str() {
            "text" => Some(Kind::Text),
            "integer" => Some(Kind::Integer),
            "timestamp" => Some(Kind::Timestamp),
            "list" => Some(Kind::List),
            other => {
                c.push(
                    format!("{path}.type"),
                    Some(k.span()),
                    format!("unknown type `{other}` (expected text, integer, timestamp or list)"),
                );
                None
            }
        },
    };
    if let (Some((_, want)), Some(got), Some(k)) = (col, kind, &f.kind) {
        if want != got {
            c.push(
                format!("{path}.type"),
                Some(k.span()),
                format!("`{name}` is a {} column", kind_name(want)),
            );
        }
    }
    let default_combine = if kind == Some(Kind::List) { Combine::List } else { Combine::First };
    let combine = match &f.combine {
        None => Some(default_combine),
        Some(cb) => {
            let parsed = match cb.get_ref().as_str() {
                "first" => Some(Combine::First),
                "last" => Some(Combine::Last),
                "sum" => Some(Combine::Sum),
                "list" => Some(Combine::List),
                _ => None,
            };
            let fits = match (parsed, kind) {
                (Some(Combine::Sum), Some(k)) => k == Kind::Integer,
                (Some(Combine::List), Some(k)) => k == Kind::List,
                (Some(_), Some(k)) => k != Kind::List,
                _ => true,
            };
            if parsed.is_none() {
                c.push(
                    format!("{path}.combine"),
                    Some(cb.span()),
                    format!(
                        "unknown combine `{}` (expected first, last, sum or list)",
                        cb.get_ref()
                    ),
                );
            } else if !fits {
                c.push(
                    format!("{path}.combine"),
                    Some(cb.span()),
                    "`sum` needs type integer, `list` needs type list, and a list combines by `list`",
                );
            }
            parsed
        }
    };
    let target = match col {
        Some((col, _)) => Target::Column(col),
        None => Target::Extra(name.to_owned()),
    };
    let (source, kind, combine) = (source?, kind?, combine?);
    (c.errors.len() == before).then_some(FieldMapping { target, source, kind, combine })
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Text => "text",
        Kind::Integer => "integer",
        Kind::Timestamp => "timestamp",
        Kind::List => "list",
    }
}

impl FieldMapping {
    /// Every raw match, in document order.
    fn raw_values(&self, lines: &[String], records: &[Value]) -> Vec<String> {
        let mut out = Vec::new();
        match &self.source {
            Source::Regex(re) => {
                for line in lines {
                    for caps in re.captures_iter(line) {
                        let m = caps.name("value").or_else(|| caps.get(1)).or_else(|| caps.get(0));
                        if let Some(m) = m {
                            out.push(m.as_str().to_owned());
                        }
                    }
                }
            }
            Source::Pointer(p) => {
                for rec in records {
                    match rec.pointer(p) {
                        Some(Value::Array(items)) => out.extend(items.iter().filter_map(scalar)),
                        Some(v) => out.extend(scalar(v)),
                        None => {}
                    }
                }
            }
        }
        out
    }

    fn evaluate(&self, lines: &[String], records: &[Value], times: &TimeReader) -> Option<Mapped> {
        let raw = self.raw_values(lines, records);
        match self.kind {
            Kind::List => {
                let mut list = Vec::new();
                for v in &raw {
                    AuditRow::push_name(&mut list, v);
                }
                (!list.is_empty()).then_some(Mapped::List(list))
            }
            Kind::Integer => {
                let mut ints = raw.iter().filter_map(|v| parse_int(v));
                match self.combine {
                    Combine::Sum => ints
                        .fold(None, |acc: Option<i64>, n| Some(acc.unwrap_or(0).saturating_add(n))),
                    Combine::Last => ints.next_back(),
                    _ => ints.next(),
                }
                .map(Mapped::Integer)
            }
            Kind::Timestamp => {
                let mut ts = raw.iter().filter_map(|v| times.parse(v));
                if self.combine == Combine::Last { ts.next_back() } else { ts.next() }
                    .map(Mapped::Time)
            }
            Kind::Text => {
                let mut texts =
                    raw.into_iter().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
                if self.combine == Combine::Last { texts.next_back() } else { texts.next() }
                    .map(Mapped::Text)
            }
        }
    }

    fn assign(&self, value: Mapped, row: &mut AuditRow) {
        let col = match &self.target {
            Target::Extra(name) => {
                let json = match value {
                    Mapped::Text(t) => Value::from(t),
                    Mapped::Integer(n) => Value::from(n),
                    Mapped::Time(t) => Value::from(crate::normalize::format_utc(t)),
                    Mapped::List(l) => Value::from(l),
                };
                row.extra.insert(name.clone(), json);
                return;
            }
            Target::Column(col) => *col,
        };
        match (col, value) {
            (Column::Folder, Mapped::Text(t)) => row.folder_name = Some(t),
            (Column::Workflow, Mapped::Text(t)) => row.workflow_name = Some(t),
            (Column::Session, Mapped::Text(t)) => row.session_name = Some(t),
            (Column::RunId, Mapped::Text(t)) => row.run_id = Some(t),
            (Column::Error, Mapped::Text(t)) => row.error_message = Some(t),
            (Column::Status, Mapped::Text(t)) => {
                if let Some(s) = RunStatus::from_word(&t) {
                    row.status = s;
                }
            }
            (Column::Start, Mapped::Time(t)) => row.start_time = Some(t),
            (Column::End, Mapped::Time(t)) => row.end_time = Some(t),
            (Column::SourceRows, Mapped::Integer(n)) => row.source_rows = Some(n),
            (Column::TargetRows, Mapped::Integer(n)) => row.target_rows = Some(n),
            (Column::RejectedRows, Mapped::Integer(n)) => row.rejected_rows = Some(n),
            (Column::SourceName, Mapped::List(l)) => row.source_name = l,
            (Column::TargetName, Mapped::List(l)) => row.target_name = l,
            // Validation ties each column to its type; other pairs cannot occur.
            _ => {}
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => Some(text::clip(&other.to_string(), super::MAX_ERROR)),
    }
}

/// An integer as logs write it: `1204330`, `1,204,330`, `-3`.
fn parse_int(v: &str) -> Option<i64> {
    let cleaned: String = v.trim().chars().filter(|c| *c != ',' && *c != '_').collect();
    cleaned.parse().ok()
}

/// A system type without a built-in extractor: one run per document, read by its mappings
/// alone. JSON lines (or a JSON document) are the records.
pub(crate) fn generic(system_type: &str, doc: &Document<'_>, _config: &AuditConfig) -> Vec<Run> {
    let mut run = Run::new(system_type);
    run.lines = doc.clean_lines();
    if let Ok(v) = serde_json::from_slice::<Value>(doc.bytes) {
        run.records.push(v);
    } else {
        run.records = run
            .lines
            .iter()
            .filter(|l| l.trim_start().starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
    }
    vec![run]
}
