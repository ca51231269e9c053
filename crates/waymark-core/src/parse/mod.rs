//! Declarative parsers: one record (a line, a message) of a known system becomes an [`Event`]
//! or a failure [`Detail`]; anything else is a [`Reject`] with its reason.
//!
//! Each `[[system]]` of the configuration compiles into a [`SystemParser`]. A JSON record is
//! parsed once into a [`FlatJson`] view that all JSON systems read (a hand-written scanner,
//! `serde_json` for what it is not sure of); a text record is tried against each text system's
//! `match`, then its event and detail patterns ([`Pattern`]: a small backtracker for patterns
//! anchored at the start, `regex` for the rest).

mod json;
mod pattern;
mod reject;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;

pub use json::{Entry, FlatJson, Scalar};
#[doc(hidden)]
pub use pattern::{GroupSpans, Pattern};
pub use reject::{Reject, RejectKind};

use crate::config::{Collector, DetailRaw, RawConfig, SystemRaw};
use crate::event::{Detail, Event, Status};
use crate::normalize::{parse_zone, StatusMap, TimeParser, TsFormat};

/// The schema fields a mapping can name.
const EVENT_FIELDS: [&str; 5] =
    ["checkpoint_id", "timestamp", "status", "correlation_id", "failure_reason"];

/// What one record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Event(Event),
    Detail(Detail),
}

/// All configured systems, compiled.
#[derive(Debug, Default)]
pub struct Parsers {
    systems: Vec<SystemParser>,
}

#[derive(Debug)]
enum Format {
    Json,
    Regex,
    Csv { delimiter: u8, columns: Vec<String> },
}

#[derive(Debug)]
enum Matcher {
    FieldEquals { field: String, value: String },
    Prefix(String),
    Regex(Pattern),
}

/// How one system's records are recognised and read.
#[derive(Debug)]
pub struct SystemParser {
    name: Arc<str>,
    format: Format,
    matcher: Matcher,
    event: Shape,
    details: Vec<Shape>,
    times: TimeParser,
    statuses: StatusMap,
}

/// One record shape: a pattern (text) or a presence test (JSON, CSV), plus field mappings.
#[derive(Debug)]
struct Shape {
    pattern: Option<Pattern>,
    lacks: Vec<String>,
    has: Vec<String>,
    /// Per schema field (in [`EVENT_FIELDS`] order): its JSON path, capture name or CSV column.
    keys: [String; 5],
    /// Per schema field: its capture group index in `pattern`, resolved once.
    groups: [Option<usize>; 5],
}

impl Shape {
    fn new(
        pattern: Option<Pattern>,
        lacks: Vec<String>,
        has: Vec<String>,
        fields: HashMap<&'static str, String>,
    ) -> Shape {
        let keys = EVENT_FIELDS.map(|f| fields.get(f).cloned().unwrap_or_else(|| f.to_owned()));
        let groups = std::array::from_fn(|i| {
            let re = pattern.as_ref()?.regex();
            re.capture_names().position(|n| n == Some(keys[i].as_str()))
        });
        Shape { pattern, lacks, has, keys, groups }
    }
}

/// A schema field, as an index into [`EVENT_FIELDS`].
#[derive(Debug, Clone, Copy)]
enum Field {
    CheckpointId = 0,
    Timestamp = 1,
    Status = 2,
    CorrelationId = 3,
    FailureReason = 4,
}

impl Field {
    fn name(self) -> &'static str {
        EVENT_FIELDS[self as usize]
    }
}

/// Reads a field's raw text from a record, given the shape that recognised it.
type Getter<'g, 'r> = &'g dyn Fn(&Shape, Field) -> Option<Cow<'r, str>>;

/// The fields of one record of one shape; blank values count as missing.
struct Fields<'a, 'g, 'r> {
    system: &'a str,
    /// `record` or `detail`, for messages.
    what: &'static str,
    shape: &'a Shape,
    get: Getter<'g, 'r>,
}

impl<'r> Fields<'_, '_, 'r> {
    fn optional(&self, f: Field) -> Option<Cow<'r, str>> {
        (self.get)(self.shape, f).filter(|v| !is_blank(v))
    }

    fn required(&self, f: Field) -> Result<Cow<'r, str>, Reject> {
        self.optional(f).ok_or_else(|| {
            let msg = format!("{} {} has no {}", self.system, self.what, f.name());
            Reject::new(RejectKind::MissingField, msg)
        })
    }
}

impl Parsers {
    /// Compiles the systems of a (merged) configuration, collecting every error.
    pub(crate) fn build(raw: &RawConfig, default_zone: &str, c: &mut Collector<'_>) -> Parsers {
        let mut systems = Vec::new();
        for (i, sys) in raw.systems.iter().enumerate().filter(|(_, s)| s.enabled) {
            let path = format!("system[{}]", sys.user_index.unwrap_or(i));
            if let Some(p) = SystemParser::build(sys, &path, default_zone, c) {
                systems.push(p);
            }
        }
        Parsers { systems }
    }

    /// Names of the systems whose failures may get their reason from a separate record.
    pub fn joinable_systems(&self) -> Vec<String> {
        self.systems.iter().filter(|s| !s.details.is_empty()).map(|s| s.name.to_string()).collect()
    }

    pub fn system_names(&self) -> Vec<&str> {
        self.systems.iter().map(|s| &*s.name).collect()
    }

    /// Parses one record, already checked for length and NUL bytes by the pipeline.
    ///
    /// A JSON record is parsed straight from its bytes: a successful parse has validated its
    /// UTF-8 already, so only the other records pay for a separate check.
    pub fn parse_bytes(&self, record: &[u8]) -> Result<Parsed, Reject> {
        let first = record.iter().find(|b| !b.is_ascii_whitespace());
        let json_error = if first == Some(&b'{') {
            let mut flat = FlatJson::default();
            match flat.fill(record) {
                Ok(()) => return self.parse_json(record, &flat),
                Err(e) => Some(e),
            }
        } else {
            None
        };
        let text = std::str::from_utf8(record).map_err(|e| {
            Reject::new(
                RejectKind::InvalidUtf8,
                format!("invalid UTF-8 at offset {}", e.valid_up_to()),
            )
        })?;
        self.parse_text(text, json_error)
    }

    /// Parses one record of text.
    pub fn parse(&self, record: &str) -> Result<Parsed, Reject> {
        self.parse_bytes(record.as_bytes())
    }

    fn parse_text(
        &self,
        record: &str,
        json_error: Option<serde_json::Error>,
    ) -> Result<Parsed, Reject> {
        for sys in self.systems.iter().filter(|s| !matches!(s.format, Format::Json)) {
            if sys.matches_line(record) {
                return sys.parse_text(record);
            }
        }
        Err(match json_error {
            Some(e) => Reject::new(RejectKind::BadJson, e.to_string()),
            None => Reject::new(RejectKind::UnknownSystem, "no system matches this record"),
        })
    }

    fn parse_json(&self, record: &[u8], flat: &FlatJson<'_>) -> Result<Parsed, Reject> {
        for sys in self.systems.iter().filter(|s| matches!(s.format, Format::Json)) {
            if sys.matches_json(record, flat) {
                let get = |shape: &Shape, f: Field| {
                    flat.get(&shape.keys[f as usize]).and_then(Scalar::to_text)
                };
                return sys.parse_fields(&get, &|key| flat.has(key));
            }
        }
        let what = match flat.get("system").and_then(Scalar::to_text) {
            Some(name) => format!("no system matches this JSON record (system `{}`)", clip(&name)),
            None => "no system matches this JSON record".to_owned(),
        };
        Err(Reject::new(RejectKind::UnknownSystem, what))
    }
}

impl SystemParser {
    fn build(
        raw: &SystemRaw,
        path: &str,
        default_zone: &str,
        c: &mut Collector<'_>,
    ) -> Option<SystemParser> {
        let before = c.errors.len();
        let Some(format_raw) = &raw.format else {
            c.push(format!("{path}.format"), None, "missing `format` (json, regex or csv)");
            return None;
        };
        let format = match format_raw.get_ref().as_str() {
            "json" => Format::Json,
            "regex" => Format::Regex,
            "csv" => {
                Format::Csv { delimiter: csv_delimiter(raw, path, c), columns: raw.columns.clone() }
            }
            other => {
                c.push(
                    format!("{path}.format"),
                    Some(format_raw.span()),
                    format!("unknown format `{other}` (expected json, regex or csv)"),
                );
                Format::Regex
            }
        };
        if matches!(format, Format::Csv { ref columns, .. } if columns.is_empty()) {
            c.push(format!("{path}.columns"), None, "a csv system needs `columns`");
        }
        let matcher = build_matcher(raw, &format, path, c);
        let event = build_event_shape(raw, &format, path, c);
        let details = raw
            .details
            .iter()
            .enumerate()
            .filter_map(|(i, d)| build_detail_shape(d, &format, &format!("{path}.detail[{i}]"), c))
            .collect();
        let times = build_times(raw, path, default_zone, c);
        let statuses = build_statuses(raw, path, c);
        let (matcher, event, times) = (matcher?, event?, times?);
        (c.errors.len() == before).then(|| SystemParser {
            name: raw.name.as_str().into(),
            format,
            matcher,
            event,
            details,
            times,
            statuses,
        })
    }

    /// `record` parsed as JSON, so it is valid UTF-8.
    fn matches_json(&self, record: &[u8], flat: &FlatJson<'_>) -> bool {
        let text = || std::str::from_utf8(record).unwrap_or_default();
        match &self.matcher {
            Matcher::FieldEquals { field, value } => {
                flat.get(field).and_then(Scalar::to_text).is_some_and(|v| v == value.as_str())
            }
            Matcher::Prefix(p) => record.starts_with(p.as_bytes()),
            Matcher::Regex(re) => re.is_match(text()),
        }
    }

    fn matches_line(&self, record: &str) -> bool {
        match &self.matcher {
            Matcher::Prefix(p) => record.starts_with(p.as_str()),
            Matcher::Regex(re) => re.is_match(record),
            Matcher::FieldEquals { field, value } => self
                .csv_fields(record)
                .is_some_and(|row| self.csv_get(&row, field).is_some_and(|v| v == value.as_str())),
        }
    }

    fn parse_text(&self, record: &str) -> Result<Parsed, Reject> {
        if let Format::Csv { .. } = self.format {
            let Some(row) = self.csv_fields(record) else {
                return Err(Reject::new(
                    RejectKind::NoPattern,
                    format!("{}: not a CSV row", self.name),
                ));
            };
            let get = |shape: &Shape, f: Field| {
                self.csv_get(&row, &shape.keys[f as usize]).map(Cow::Borrowed)
            };
            return self.parse_fields(&get, &|k| self.csv_get(&row, k).is_some());
        }
        if let Some(caps) = self.event.pattern.as_ref().and_then(|re| re.captures(record)) {
            let get = |shape: &Shape, f: Field| {
                shape.groups[f as usize].and_then(|g| caps.get(record, g)).map(Cow::Borrowed)
            };
            return self.event(&get);
        }
        for detail in &self.details {
            if let Some(caps) = detail.pattern.as_ref().and_then(|re| re.captures(record)) {
                let get = |shape: &Shape, f: Field| {
                    shape.groups[f as usize].and_then(|g| caps.get(record, g)).map(Cow::Borrowed)
                };
                return self.detail(detail, &get);
            }
        }
        Err(Reject::new(
            RejectKind::NoPattern,
            format!("{} record matches neither its event nor its detail patterns", self.name),
        ))
    }

    /// JSON and CSV: a record lacking the detail's `lacks` fields and having its `has` fields is
    /// a detail, anything else is an event.
    fn parse_fields<'r>(
        &self,
        get: Getter<'_, 'r>,
        has: &dyn Fn(&str) -> bool,
    ) -> Result<Parsed, Reject> {
        for detail in &self.details {
            let is_detail =
                detail.lacks.iter().all(|k| !has(k)) && detail.has.iter().all(|k| has(k));
            if is_detail {
                return self.detail(detail, get);
            }
        }
        self.event(get)
    }

    fn event<'r>(&self, get: Getter<'_, 'r>) -> Result<Parsed, Reject> {
        let fields = Fields { system: &self.name, what: "record", shape: &self.event, get };
        let field = |f: Field| fields.optional(f);
        let required = |f: Field| fields.required(f);
        let checkpoint_id = required(Field::CheckpointId)?;
        let correlation_id = required(Field::CorrelationId)?;
        let raw_status = required(Field::Status)?;
        let status = self.statuses.get(raw_status.trim()).ok_or_else(|| {
            Reject::new(
                RejectKind::BadStatus,
                format!(
                    "{}: status `{}` is neither SUCCESS nor FAILURE",
                    self.name,
                    clip(&raw_status)
                ),
            )
        })?;
        let raw_ts = required(Field::Timestamp)?;
        let ts_micros = self.parse_time(&raw_ts)?;
        let failure_reason = match status {
            Status::Failure => field(Field::FailureReason).map(Cow::into_owned),
            Status::Success => None,
        };
        Ok(Parsed::Event(Event {
            system_id: self.name.clone(),
            checkpoint_id: checkpoint_id.into_owned(),
            ts_micros,
            status,
            correlation_id: correlation_id.into_owned(),
            failure_reason,
        }))
    }

    fn detail<'r>(&self, shape: &Shape, get: Getter<'_, 'r>) -> Result<Parsed, Reject> {
        let fields = Fields { system: &self.name, what: "detail", shape, get };
        let field = |f: Field| fields.optional(f);
        let required = |f: Field| fields.required(f);
        let correlation_id = required(Field::CorrelationId)?;
        let reason = required(Field::FailureReason)?;
        let ts_micros = field(Field::Timestamp).map(|t| self.parse_time(&t)).transpose()?;
        Ok(Parsed::Detail(Detail {
            system_id: self.name.clone(),
            correlation_id: correlation_id.into_owned(),
            failure_reason: reason.into_owned(),
            ts_micros,
        }))
    }

    fn parse_time(&self, raw: &str) -> Result<i64, Reject> {
        self.times.parse(raw).ok_or_else(|| {
            Reject::new(
                RejectKind::BadTimestamp,
                format!("{}: timestamp `{}` matches no configured format", self.name, clip(raw)),
            )
        })
    }

    fn csv_fields(&self, record: &str) -> Option<csv::StringRecord> {
        let Format::Csv { delimiter, .. } = self.format else { return None };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(record.as_bytes());
        reader.records().next()?.ok()
    }

    fn csv_get<'r>(&self, row: &'r csv::StringRecord, column: &str) -> Option<&'r str> {
        let Format::Csv { columns, .. } = &self.format else { return None };
        let index = columns.iter().position(|c| c == column)?;
        row.get(index)
    }
}

fn csv_delimiter(raw: &SystemRaw, path: &str, c: &mut Collector<'_>) -> u8 {
    match raw.delimiter.as_deref().map(str::as_bytes) {
        None => b',',
        Some([b]) => *b,
        Some(_) => {
            c.push(format!("{path}.delimiter"), None, "the delimiter must be one byte");
            b','
        }
    }
}

fn build_matcher(
    raw: &SystemRaw,
    format: &Format,
    path: &str,
    c: &mut Collector<'_>,
) -> Option<Matcher> {
    let m = &raw.matcher;
    let path = format!("{path}.match");
    match (&m.field, &m.equals, &m.prefix, &m.regex) {
        (Some(field), Some(value), None, None) => {
            if matches!(format, Format::Regex) {
                c.push(path, None, "a regex system is matched by `prefix` or `regex`, not `field`");
                return None;
            }
            Some(Matcher::FieldEquals { field: field.clone(), value: value.clone() })
        }
        (None, None, Some(prefix), None) => Some(Matcher::Prefix(prefix.clone())),
        (None, None, None, Some(re)) => {
            compile(re, &format!("{path}.regex"), c).map(|re| Matcher::Regex(Pattern::new(re)))
        }
        _ => {
            c.push(path, None, "give exactly one of `field` + `equals`, `prefix` or `regex`");
            None
        }
    }
}

fn build_event_shape(
    raw: &SystemRaw,
    format: &Format,
    path: &str,
    c: &mut Collector<'_>,
) -> Option<Shape> {
    let fields = mapped_fields(&raw.fields, &format!("{path}.fields"), c);
    let pattern = match (format, &raw.pattern) {
        (Format::Regex, Some(p)) => Some(Pattern::new(compile(p, &format!("{path}.pattern"), c)?)),
        (Format::Regex, None) => {
            c.push(format!("{path}.pattern"), None, "a regex system needs a `pattern`");
            return None;
        }
        (_, Some(p)) => {
            c.push(format!("{path}.pattern"), Some(p.span()), "`pattern` is for regex systems");
            None
        }
        (_, None) => None,
    };
    if let Some(re) = &pattern {
        let required = ["checkpoint_id", "timestamp", "status", "correlation_id"];
        require_captures(
            re.regex(),
            &fields,
            &required,
            &format!("{path}.pattern"),
            raw.pattern.as_ref(),
            c,
        );
    }
    Some(Shape::new(pattern, Vec::new(), Vec::new(), fields))
}

fn build_detail_shape(
    d: &DetailRaw,
    format: &Format,
    path: &str,
    c: &mut Collector<'_>,
) -> Option<Shape> {
    let fields = mapped_fields(&d.fields, &format!("{path}.fields"), c);
    let pattern = match (format, &d.pattern) {
        (Format::Regex, Some(p)) => {
            let re = compile(p, &format!("{path}.pattern"), c)?;
            let required = ["correlation_id", "failure_reason"];
            require_captures(&re, &fields, &required, &format!("{path}.pattern"), Some(p), c);
            Some(Pattern::new(re))
        }
        (Format::Regex, None) => {
            c.push(format!("{path}.pattern"), None, "a detail of a regex system needs a `pattern`");
            return None;
        }
        (_, Some(p)) => {
            c.push(format!("{path}.pattern"), Some(p.span()), "`pattern` is for regex systems");
            return None;
        }
        (_, None) => {
            if d.lacks.is_empty() && d.has.is_empty() {
                c.push(
                    path.to_owned(),
                    None,
                    "a detail needs `lacks` or `has` to tell it from an event",
                );
                return None;
            }
            None
        }
    };
    Some(Shape::new(pattern, d.lacks.clone(), d.has.clone(), fields))
}

fn mapped_fields(
    raw: &std::collections::BTreeMap<String, String>,
    path: &str,
    c: &mut Collector<'_>,
) -> HashMap<&'static str, String> {
    let mut out = HashMap::new();
    for (k, v) in raw {
        match EVENT_FIELDS.iter().find(|f| **f == k.as_str()) {
            Some(f) => {
                out.insert(*f, v.clone());
            }
            None => c.push(
                format!("{path}.{k}"),
                None,
                format!("unknown schema field `{k}` (expected one of {})", EVENT_FIELDS.join(", ")),
            ),
        }
    }
    out
}

fn require_captures(
    re: &Regex,
    fields: &HashMap<&'static str, String>,
    required: &[&str],
    path: &str,
    raw: Option<&toml::Spanned<String>>,
    c: &mut Collector<'_>,
) {
    let names: Vec<&str> = re.capture_names().flatten().collect();
    for f in required {
        let capture = fields.get(f).map_or(*f, String::as_str);
        if !names.contains(&capture) {
            c.push(
                path.to_owned(),
                raw.map(|r| r.span()),
                format!("no named capture `{capture}` for {f}"),
            );
        }
    }
}

fn compile(raw: &toml::Spanned<String>, path: &str, c: &mut Collector<'_>) -> Option<Regex> {
    match regex::RegexBuilder::new(raw.get_ref()).size_limit(1 << 22).build() {
        Ok(re) => Some(re),
        Err(e) => {
            c.push(path.to_owned(), Some(raw.span()), format!("invalid regex: {e}"));
            None
        }
    }
}

fn build_times(
    raw: &SystemRaw,
    path: &str,
    default_zone: &str,
    c: &mut Collector<'_>,
) -> Option<TimeParser> {
    let mut formats = Vec::new();
    for (i, f) in raw.timestamp_formats.iter().enumerate() {
        match TsFormat::parse(f.get_ref()) {
            Ok(tf) => formats.push(tf),
            Err(e) => c.push(format!("{path}.timestamp_formats[{i}]"), Some(f.span()), e),
        }
    }
    if raw.timestamp_formats.is_empty() {
        c.push(format!("{path}.timestamp_formats"), None, "give at least one timestamp format");
    }
    let zone_text = raw.timezone.as_ref().map_or(default_zone, |z| z.get_ref().as_str());
    let zone = match parse_zone(zone_text) {
        Ok(z) => z,
        Err(e) => {
            c.push(format!("{path}.timezone"), raw.timezone.as_ref().map(|z| z.span()), e);
            return None;
        }
    };
    Some(TimeParser::new(formats, zone))
}

fn build_statuses(raw: &SystemRaw, path: &str, c: &mut Collector<'_>) -> StatusMap {
    let mut map = HashMap::new();
    for (canonical, values) in &raw.status_map {
        let Some(status) = Status::from_canonical(canonical) else {
            c.push(format!("{path}.status_map.{canonical}"), None, "keys are SUCCESS and FAILURE");
            continue;
        };
        for v in values {
            map.insert(v.clone(), status);
        }
    }
    StatusMap::new(map)
}

/// Whether a field value is empty or only whitespace (ASCII checked first: the usual case).
fn is_blank(v: &str) -> bool {
    match v.as_bytes().first() {
        None => true,
        Some(b) if !b.is_ascii_whitespace() && b.is_ascii() => false,
        Some(_) => v.trim().is_empty(),
    }
}

/// Log content quoted in a message is cut short: a reason must stay readable.
pub(crate) fn clip(s: &str) -> Cow<'_, str> {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return Cow::Borrowed(s);
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

#[cfg(test)]
mod tests;
