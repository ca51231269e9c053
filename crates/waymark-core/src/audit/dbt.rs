//! dbt (formats.md §6): `run_results.json` (schemas v1–v6 and the 0.x shape), the JSON log and
//! the text `dbt.log`. One row per **invocation** (issue 14): `run_id` is the invocation id,
//! `workflow_name` the dbt command; the executed nodes are the run's steps (keyed by their
//! `unique_id`), so a `run_results.json` and the invocation's block of `dbt.log` update the same
//! row and the same steps. Debug noise (catalog queries, SQL text, adapter chatter) never
//! becomes a run or a step: steps come only from result lines and node events.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::mapping::Run;
use super::text::{Block, Document, TimeReader};
use super::{AuditRow, RunStatus, Step};

/// The header of one invocation in `dbt.log`: `===== [date ]time | invocation_id =====`.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^={5,} (?:(\d{4}-\d\d-\d\d) )?(\d\d:\d\d:\d\d(?:\.\d+)?) \| ([0-9A-Za-z-]+) ={5,}")
        .expect("static regex")
});
/// `HH:MM:SS.ffffff [level] [thread]: message` (dbt ≥ 1.0).
static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d\d:\d\d:\d\d(?:\.\d+)?) \[([a-z ]+)\] \[[^\]]*\]: ?(.*)$")
        .expect("static regex")
});
/// `YYYY-MM-DD HH:MM:SS.ffffff (thread): message` (dbt 0.x).
static LEGACY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) \([^)]*\): ?(.*)$")
        .expect("static regex")
});
/// `N of M VERB description ..... [result]`, optionally after a console `HH:MM:SS | `.
static RESULT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\d\d:\d\d:\d\d \| )?\d+ of \d+ (START|OK created|OK loaded|OK snapshotted|ERROR creating|ERROR loading|ERROR snapshotting|SKIP|PASS|FAIL \d+|WARN \d+|ERROR|NO-OP) (.*?)[ .]*\[([^\]]*)\]\s*$",
    )
    .expect("static regex")
});
/// The heading of a node's error block.
static ERROR_HEAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:Database|Compilation|Runtime|Dependency) Error in \w+ (\S+) \(|^Failure in \w+ (\S+) \(",
    )
    .expect("static regex")
});
static COMMAND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"'which': '(\w+)'|which='(\w+)'|'invocation_command': 'dbt (\w+)|Command `dbt (\w+)`|\x22command_name\x22: \x22(\w+)\x22|dbt\.task\.(\w+)\.\w+Task",
    )
    .expect("static regex")
});
/// `Command `dbt run` succeeded at 07:07:19.955612 after 1.29 seconds` (dbt ≥ 1.5).
static COMMAND_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Command `dbt (\w+)[^`]*` (succeeded|failed) at (\d\d:\d\d:\d\d(?:\.\d+)?)")
        .expect("static regex")
});
/// An invocation id as the tracking events name it: `'label': '<uuid>'`.
static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"'label': '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'")
        .expect("static regex")
});

/// Reads whichever of the three forms the document is.
pub(crate) fn extract(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let head = doc.text.trim_start();
    if head.starts_with('{') {
        if let Ok(v) = serde_json::from_slice::<Value>(doc.bytes) {
            if v.get("results").is_some_and(Value::is_array) {
                return vec![run_results(&v, times)];
            }
        }
        return json_log(doc, times);
    }
    text_log(doc, times)
}

/// `model.project.name` → `name`; a test's hash suffix (4th segment) is dropped.
fn node_name(unique_id: &str) -> &str {
    unique_id.split('.').nth(2).unwrap_or(unique_id)
}

fn node_kind(unique_id: &str) -> Option<&str> {
    unique_id.split_once('.').map(|(k, _)| k)
}

fn is_test(unique_id: &str) -> bool {
    unique_id.starts_with("test.") || unique_id.starts_with("unit_test.")
}

fn status_of(word: &str) -> RunStatus {
    match word.trim().to_ascii_lowercase().as_str() {
        "success" | "pass" | "warn" | "no-op" => RunStatus::Success,
        "error" | "fail" | "runtime error" => RunStatus::Failure,
        "skipped" | "skip" => RunStatus::Unknown,
        "started" => RunStatus::Running,
        other => RunStatus::from_word(other).unwrap_or(RunStatus::Unknown),
    }
}

/// `"db"."schema"."name"` → `schema.name`.
fn relation(name: &str) -> Option<String> {
    let cleaned: String = name.chars().filter(|c| !matches!(c, '"' | '`')).collect();
    let parts: Vec<&str> = cleaned.split('.').filter(|p| !p.is_empty()).collect();
    match parts.len() {
        0 => None,
        1 => Some(parts[0].to_owned()),
        n => Some(format!("{}.{}", parts[n - 2], parts[n - 1])),
    }
}

/// The command: `args.which`, else the subcommand of `invocation_command`.
fn command_of(args: Option<&Value>) -> Option<String> {
    let args = args?;
    if let Some(w) = args.get("which").and_then(Value::as_str) {
        return Some(w.to_owned());
    }
    let cmd = args.get("invocation_command").and_then(Value::as_str)?;
    cmd.split_whitespace().nth(1).map(str::to_owned)
}

/// Rows a node affected; adapters that do not know say -1.
fn rows_affected(result: &Value) -> Option<i64> {
    result.pointer("/adapter_response/rows_affected").and_then(Value::as_i64).filter(|n| *n >= 0)
}

/// The status of one result: the `status` word, or the 0.x fields (`error`, `fail`, `skip`).
fn result_status(r: &Value) -> RunStatus {
    let word = match r.get("status") {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    if let Some(s) = word.map(status_of).filter(|s| *s != RunStatus::Unknown) {
        return s;
    }
    if word.is_some_and(|w| matches!(w.to_ascii_lowercase().as_str(), "skipped" | "skip")) {
        return RunStatus::Unknown;
    }
    if r.get("error").is_some_and(|e| !e.is_null()) || r.get("fail") == Some(&Value::Bool(true)) {
        return RunStatus::Failure;
    }
    if r.get("skip") == Some(&Value::Bool(true)) {
        return RunStatus::Unknown;
    }
    RunStatus::Success
}

fn run_results(v: &Value, times: &TimeReader) -> Run {
    let mut run = Run::new("DBT");
    let at = |p: &str| v.pointer(p).and_then(Value::as_str).and_then(|s| times.parse(s));
    let row = &mut run.row;
    row.run_id = v.pointer("/metadata/invocation_id").and_then(Value::as_str).map(str::to_owned);
    row.workflow_name = command_of(v.get("args"));
    row.end_time = at("/metadata/generated_at").or_else(|| at("/generated_at"));
    let results = v.get("results").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut earliest: Option<i64> = None;
    for r in results {
        let unique_id = r
            .get("unique_id")
            .or_else(|| r.pointer("/node/unique_id"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if unique_id.is_empty() {
            continue;
        }
        let mut step = Step::new(unique_id, node_kind(unique_id));
        step.exact = true;
        step.status = result_status(r);
        let timing = r.get("timing").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        for t in timing {
            let at = |k: &str| t.get(k).and_then(Value::as_str).and_then(|s| times.parse(s));
            if let Some(s) = at("started_at") {
                earliest = Some(earliest.map_or(s, |e| e.min(s)));
            }
            if t.get("name").and_then(Value::as_str) == Some("execute") {
                step.start_time = at("started_at");
                step.end_time = at("completed_at");
            }
        }
        step.rows = rows_affected(r);
        if step.failed() {
            let message = r.get("message").and_then(Value::as_str).filter(|m| !m.is_empty());
            let message = message.or_else(|| r.get("error").and_then(Value::as_str));
            step.message = message.map(super::text::clean_message);
        }
        if !is_test(unique_id) {
            add_target(row, r.get("relation_name").and_then(Value::as_str), step.rows);
        }
        row.steps.push(step);
        run.records.push(r.clone());
    }
    row.start_time = at("/metadata/invocation_started_at").or(earliest);
    // The artefact is written when the invocation ends: the run is over.
    row.status = RunStatus::Success;
    run
}

/// A node's relation and rows count toward the invocation's targets.
fn add_target(row: &mut AuditRow, relation_name: Option<&str>, rows: Option<i64>) {
    if let Some(rel) = relation_name.and_then(relation) {
        AuditRow::push_name(&mut row.target_name, &rel);
    }
    if let Some(n) = rows {
        row.target_rows = Some(row.target_rows.unwrap_or(0).saturating_add(n));
    }
}

/// Finds or adds a step by name.
fn step_mut<'s>(steps: &'s mut Vec<Step>, name: &str, kind: Option<&str>) -> &'s mut Step {
    let pos = match steps.iter().position(|s| s.name == name) {
        Some(p) => p,
        None => {
            steps.push(Step::new(name, kind));
            steps.len() - 1
        }
    };
    &mut steps[pos]
}

fn json_log(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for line in doc.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let info = v.get("info").unwrap_or(&v);
        let data = v.get("data").unwrap_or(&Value::Null);
        let inv = info.get("invocation_id").and_then(Value::as_str).unwrap_or("").to_owned();
        let i = *index.entry(inv.clone()).or_insert_with(|| {
            let mut run = Run::new("DBT");
            run.row.run_id = Some(inv.clone()).filter(|s| !s.is_empty());
            run.row.status = RunStatus::Running;
            runs.push(run);
            runs.len() - 1
        });
        let run = &mut runs[i];
        let ts = info.get("ts").and_then(Value::as_str).and_then(|s| times.parse(s));
        let row = &mut run.row;
        if row.start_time.is_none() {
            row.start_time = ts;
        }
        if row.workflow_name.is_none() {
            row.workflow_name = command_of(data.get("args")).or_else(|| {
                let c = data.get("command").and_then(Value::as_str)?;
                c.split_whitespace().nth(1).map(str::to_owned)
            });
        }
        let name = info.get("name").and_then(Value::as_str).unwrap_or("");
        if name == "CommandCompleted" {
            row.end_time = data
                .get("completed_at")
                .and_then(Value::as_str)
                .and_then(|s| times.parse(s))
                .or(ts);
            row.status = match data.get("success").and_then(Value::as_bool) {
                Some(true) => RunStatus::Success,
                Some(false) => RunStatus::Failure,
                None => row.status,
            };
        }
        if name == "MainEncounteredError" {
            let msg = info.get("msg").and_then(Value::as_str).unwrap_or("");
            row.first_error(&super::text::clean_message(msg));
        }
        let node = data.get("node_info").or_else(|| v.get("node_info"));
        let Some(node) = node else { continue };
        let unique_id = node.get("unique_id").and_then(Value::as_str).unwrap_or("");
        if unique_id.is_empty() {
            continue;
        }
        run.records.push(v.clone());
        let step = step_mut(&mut row.steps, unique_id, node_kind(unique_id));
        let at = |k: &str| node.get(k).and_then(Value::as_str).and_then(|s| times.parse(s));
        step.start_time = at("node_started_at").or(step.start_time);
        step.end_time = at("node_finished_at").or(step.end_time);
        if let Some(s) = node.get("node_status").and_then(Value::as_str) {
            let s = status_of(s);
            if s != RunStatus::Unknown || step.status != RunStatus::Running {
                step.status = s;
            }
        }
        let rel = node.pointer("/node_relation/relation_name").and_then(Value::as_str);
        if let Some(result) = data.get("run_result") {
            step.rows = rows_affected(result).or(step.rows);
            let status = result.get("status").and_then(Value::as_str).map(status_of);
            if let Some(s) = status {
                step.status = s;
            }
            if step.failed() {
                if let Some(m) = result.get("message").and_then(Value::as_str) {
                    step.message = Some(super::text::clean_message(m));
                }
            }
            let rows = step.rows;
            if !is_test(unique_id) {
                add_target(row, rel, rows);
            }
        } else if !is_test(unique_id) {
            add_target(row, rel, None);
        }
    }
    runs
}

/// One invocation while a text log is read.
#[derive(Debug, Default)]
struct Invocation {
    run: Run,
    /// Start of the day the times of day fall on, microseconds, and where it came from.
    day: Option<(i64, &'static str)>,
    last_time_of_day: i64,
    saw_running_with: bool,
    saw_start_event: bool,
    /// Unique ids whose `Began running node` was seen and not yet finished.
    began: Vec<String>,
    /// A `Command ... succeeded|failed` line closed it.
    ended: bool,
    /// The tracking `invocation end` event was seen.
    end_event: bool,
    completed_ok: bool,
    /// The `Encountered an error:` block read but not yet given to a run.
    pending_error: Option<String>,
    last_time: Option<i64>,
    /// The first time of day seen, for a log whose date is unknown.
    first_time_of_day: Option<String>,
}

impl Invocation {
    fn new(id: Option<String>) -> Invocation {
        let mut run = Run::new("DBT");
        run.row.run_id = id;
        Invocation { run, ..Invocation::default() }
    }

    /// A time of day on the invocation's date, moving to the next day when the clock wraps.
    /// `None` when no date is known: a date is never invented.
    fn time_of_day(&mut self, text: &str) -> Option<i64> {
        let tod = seconds_of_day(text)?;
        if self.first_time_of_day.is_none() {
            self.first_time_of_day = Some(text.to_owned());
        }
        let (day, source) = self.day?;
        let day = if tod < self.last_time_of_day { day + 86_400_000_000 } else { day };
        self.day = Some((day, source));
        self.last_time_of_day = tod;
        Some(day + tod)
    }
}

fn seconds_of_day(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0.0..61.0).contains(&s) {
        return None;
    }
    Some((h * 3600 + m * 60) * 1_000_000 + (s * 1e6).round() as i64)
}

fn day_start(times: &TimeReader, date: &str) -> Option<i64> {
    times.parse(&format!("{date}T00:00:00"))
}

/// One physical line of a text log, parsed.
enum Parsed {
    Header {
        date: Option<String>,
        time: String,
        id: String,
    },
    /// A prefixed line: its time of day (dbt 1.x) or full timestamp (dbt 0.x), and message.
    Line {
        time: Option<String>,
        dated: Option<String>,
        message: String,
    },
    Continuation(String),
}

fn parse_line(raw: &str) -> Parsed {
    if let Some(h) = HEADER.captures(raw) {
        return Parsed::Header {
            date: h.get(1).map(|m| m.as_str().to_owned()),
            time: h[2].to_owned(),
            id: h[3].to_owned(),
        };
    }
    if let Some(c) = LINE.captures(raw) {
        return Parsed::Line { time: Some(c[1].to_owned()), dated: None, message: c[3].to_owned() };
    }
    if let Some(c) = LEGACY.captures(raw) {
        return Parsed::Line { time: None, dated: Some(c[1].to_owned()), message: c[2].to_owned() };
    }
    Parsed::Continuation(raw.to_owned())
}

/// What a message block (a line and its continuation lines) is collected for.
#[derive(Debug, Clone)]
enum Pending {
    /// `Encountered an error:`: the invocation's error, on the lines that follow.
    InvocationError(usize),
    /// A node's error block: the step named by the heading.
    NodeError(usize, String),
}

/// The text log's state while its lines are read in order.
#[derive(Default)]
struct TextLog {
    invs: Vec<Invocation>,
    /// Invocations not ended yet, in order of start.
    open: Vec<usize>,
    current: Option<usize>,
    /// The last date a line stated (start of its day), for lines with a time of day only.
    last_date: Option<i64>,
    block: Option<(Pending, Block)>,
    /// The last line on which each invocation id is named.
    last_named: HashMap<String, usize>,
}

fn text_log(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let lines: Vec<Parsed> = doc.clean_lines().iter().map(|l| parse_line(l)).collect();
    let mut log = TextLog::default();
    // An invocation named again later has not ended yet: two concurrent invocations interleave
    // their lines in one file, and this tells which of them a `Command ... failed` line ends.
    for (i, p) in lines.iter().enumerate() {
        let id = match p {
            Parsed::Header { id, .. } => Some(id.clone()),
            Parsed::Line { message, .. } => LABEL.captures(message).map(|c| c[1].to_owned()),
            Parsed::Continuation(_) => None,
        };
        if let Some(id) = id {
            log.last_named.insert(id, i);
        }
    }
    for (i, p) in lines.iter().enumerate() {
        match p {
            Parsed::Continuation(text) => {
                if let Some((_, b)) = &mut log.block {
                    b.push(text);
                }
            }
            Parsed::Header { date, time, id } => {
                log.flush_block();
                log.header(times, date.as_deref(), time, id);
            }
            Parsed::Line { time, dated, message } => {
                // dbt 0.x writes the error after `Encountered an error:` on its next line.
                if let Some((Pending::InvocationError(_), b)) = &mut log.block {
                    if b.is_empty() {
                        b.push(message.trim());
                        continue;
                    }
                }
                // dbt 1.8+ prefixes each line of a node's error summary (`Failure in test x`,
                // then `  Got 1 result, ...` indented on its own line).
                if let Some((Pending::NodeError(..), b)) = &mut log.block {
                    if message.starts_with("  ") && !message.trim().is_empty() {
                        b.push(message.trim_end());
                        continue;
                    }
                }
                log.flush_block();
                log.line(times, i, time.as_deref(), dated.as_deref(), message.trim_end());
            }
        }
    }
    log.flush_block();
    let count = log.invs.len();
    log.invs.into_iter().enumerate().map(|(i, inv)| finish(inv, i + 1 == count)).collect()
}

impl TextLog {
    fn header(&mut self, times: &TimeReader, date: Option<&str>, time: &str, id: &str) {
        let mut inv = Invocation::new(Some(id.to_owned()));
        inv.day = match date.and_then(|d| day_start(times, d)) {
            Some(d) => Some((d, "header")),
            None => self.last_date.map(|d| (d, "previous dated line")),
        };
        inv.run.row.start_time = inv.time_of_day(time);
        self.invs.push(inv);
        self.open.push(self.invs.len() - 1);
        self.current = Some(self.invs.len() - 1);
    }

    fn flush_block(&mut self) {
        let Some((pending, b)) = self.block.take() else { return };
        match pending {
            Pending::InvocationError(k) => {
                if let Some(text) = b.text() {
                    self.invs[k].pending_error.get_or_insert(text);
                }
            }
            Pending::NodeError(k, name) => {
                // `Failure in test x (path)` heads a test's failure; its message (as
                // run_results.json states it) is the line below.
                let failure = b.first().is_some_and(|l| l.starts_with("Failure in "));
                let text = if failure { b.first_continuation() } else { b.text() };
                let Some(text) = text else { return };
                let inv = &mut self.invs[k];
                let key = resolve(&inv.began, &inv.run.row.steps, &name);
                let step = step_mut(&mut inv.run.row.steps, &key, kind_of_key(&key));
                if step.message.is_none() {
                    step.message = Some(text);
                }
                if step.status != RunStatus::Success {
                    step.status = RunStatus::Failure;
                }
            }
        }
    }

    fn line(
        &mut self,
        times: &TimeReader,
        i: usize,
        time: Option<&str>,
        dated: Option<&str>,
        message: &str,
    ) {
        let trimmed = message.trim();
        let dated_ts = dated.and_then(|d| times.parse(d));
        if let Some(t) = dated_ts {
            self.last_date = Some(t - t.rem_euclid(86_400_000_000));
        }
        // dbt 0.x has no header: an invocation starts at `Running with dbt=`, or at its
        // tracking `invocation start` event (dbt run from Python prints no version line).
        let start_event =
            dated.is_some() && trimmed.contains("'action': 'invocation', 'label': 'start'");
        let starts = if start_event {
            self.current.is_none_or(|c| {
                let inv = &self.invs[c];
                inv.saw_start_event || inv.end_event || inv.ended
            })
        } else {
            trimmed.starts_with("Running with dbt=")
                && self.current.is_none_or(|c| {
                    let inv = &self.invs[c];
                    inv.saw_running_with || inv.ended || inv.end_event
                })
        };
        if starts {
            let mut inv = Invocation::new(None);
            inv.day = self.last_date.map(|d| (d, "previous dated line"));
            inv.run.row.start_time = dated_ts.or_else(|| time.and_then(|t| inv.time_of_day(t)));
            self.invs.push(inv);
            self.open.push(self.invs.len() - 1);
            self.current = Some(self.invs.len() - 1);
        }
        if let Some(c) = LABEL.captures(trimmed) {
            let id = &c[1];
            let named = self
                .open
                .iter()
                .copied()
                .find(|&k| self.invs[k].run.row.run_id.as_deref() == Some(id));
            if let Some(k) = named {
                self.current = Some(k);
            } else if let Some(k) = self.current.filter(|&k| self.invs[k].run.row.run_id.is_none())
            {
                // dbt 0.x states the invocation id only in its tracking events.
                self.invs[k].run.row.run_id = Some(id.to_owned());
            }
        }
        let Some(k) = self.current else { return };
        if start_event {
            self.invs[k].saw_start_event = true;
        }
        if let Some(e) = COMMAND_END.captures(trimmed) {
            self.command_end(i, k, &e[1], &e[2] == "succeeded", &e[3]);
            return;
        }
        let inv = &mut self.invs[k];
        let ts = dated_ts.or_else(|| time.and_then(|t| inv.time_of_day(t)));
        if ts.is_some() {
            inv.last_time = ts;
        }
        if trimmed.starts_with("Running with dbt=") {
            inv.saw_running_with = true;
        }
        if inv.run.row.workflow_name.is_none()
            && (trimmed.starts_with("running dbt with arguments")
                || trimmed.starts_with("Resource report"))
        {
            if let Some(c) = COMMAND.captures(trimmed) {
                inv.run.row.workflow_name =
                    c.iter().skip(1).flatten().next().map(|m| m.as_str().to_owned());
            }
        }
        if trimmed.contains("'action': 'invocation', 'label': 'end'") {
            inv.end_event = true;
        }
        if trimmed == "Completed successfully" {
            inv.completed_ok = true;
        }
        // `dbt debug`: `2 checks failed:`, the first failed check on the line below.
        let checks_failed = trimmed.strip_suffix(" failed:").is_some_and(|n| {
            n.strip_suffix(" checks")
                .or_else(|| n.strip_suffix(" check"))
                .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
        });
        if trimmed.starts_with("Encountered an error") || checks_failed {
            inv.run.row.status = RunStatus::Failure;
            self.block = Some((Pending::InvocationError(k), Block::default()));
            return;
        }
        if let Some(c) = ERROR_HEAD.captures(trimmed) {
            let name = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str()).to_owned();
            let mut b = Block::default();
            b.push(trimmed);
            self.block = Some((Pending::NodeError(k, name), b));
            return;
        }
        node_line(inv, ts, trimmed);
    }

    /// `Command `dbt X` succeeded|failed at T`: the end of one open invocation.
    fn command_end(&mut self, i: usize, current: usize, command: &str, ok: bool, at: &str) {
        // Among the open invocations, the one ending here is one never named again.
        let mut k = current;
        if self.open.len() > 1 {
            let ending = self.open.iter().copied().find(|&o| {
                let id = self.invs[o].run.row.run_id.clone().unwrap_or_default();
                self.last_named.get(&id).is_none_or(|&n| n < i)
            });
            k = ending.unwrap_or(current);
        }
        // The error block read just before belongs to the invocation that failed.
        let error = if ok {
            None
        } else {
            let own = self.invs[k].pending_error.take();
            own.or_else(|| self.invs[current].pending_error.take())
        };
        let inv = &mut self.invs[k];
        if let Some(e) = error {
            inv.run.row.first_error(&e);
        }
        let end = inv.time_of_day(at);
        inv.run.row.end_time = end.or(inv.run.row.end_time);
        inv.run.row.workflow_name.get_or_insert_with(|| command.to_owned());
        inv.run.row.status = if ok { RunStatus::Success } else { RunStatus::Failure };
        inv.ended = true;
        self.open.retain(|&o| o != k);
        if self.current == Some(k) {
            self.current = self.open.last().copied();
        }
    }
}

/// The step a log line names: the unique id of a running node with that name, else the name.
fn resolve(began: &[String], steps: &[Step], name: &str) -> String {
    let by_name = |uid: &&String| node_name(uid) == name || uid.rsplit('.').next() == Some(name);
    if let Some(uid) = began.iter().rev().find(by_name) {
        return uid.clone();
    }
    if let Some(s) = steps.iter().rev().find(|s| by_name(&&s.name)) {
        return s.name.clone();
    }
    name.to_owned()
}

fn kind_of_key(key: &str) -> Option<&str> {
    key.contains('.').then(|| node_kind(key)).flatten()
}

/// Node events of the text log: `Began/Finished running node`, and the result lines.
fn node_line(inv: &mut Invocation, time: Option<i64>, message: &str) {
    if let Some(uid) = message.strip_prefix("Began running node ") {
        inv.began.push(uid.trim().to_owned());
        return;
    }
    if let Some(uid) = message.strip_prefix("Finished running node ") {
        let uid = uid.trim();
        adopt(&mut inv.run.row.steps, uid);
        inv.began.retain(|b| b != uid);
        return;
    }
    for marker in ["Began compiling node ", "Began executing node "] {
        if let Some(uid) = message.strip_prefix(marker) {
            adopt(&mut inv.run.row.steps, uid.trim());
            return;
        }
    }
    let Some(c) = RESULT.captures(message) else { return };
    let (verb, description, result) = (&c[1], &c[2], &c[3]);
    let token = description.split_whitespace().last().unwrap_or("");
    let name = token.rsplit('.').next().unwrap_or(token);
    let test = description.starts_with("test ")
        || verb.starts_with("PASS")
        || verb.starts_with("FAIL")
        || verb.starts_with("WARN");
    let key = resolve(&inv.began, &inv.run.row.steps, name);
    let kind = kind_of_key(&key).or(if test { Some("test") } else { None });
    let row = &mut inv.run.row;
    let step = step_mut(&mut row.steps, &key, kind);
    match verb {
        "START" => {
            step.start_time = time.or(step.start_time);
            step.status = RunStatus::Running;
        }
        "SKIP" => step.status = RunStatus::Unknown,
        v => {
            step.end_time = time.or(step.end_time);
            let failed = v.starts_with("ERROR") || v.starts_with("FAIL");
            step.status = if failed { RunStatus::Failure } else { RunStatus::Success };
            if !failed {
                step.rows = rows_in(result).or(step.rows);
            }
        }
    }
    let rows = if step.status == RunStatus::Success { step.rows } else { None };
    if !test && token.contains('.') {
        AuditRow::push_name(&mut row.target_name, token);
    }
    if !test && verb != "START" {
        if let Some(n) = rows {
            row.target_rows = Some(row.target_rows.unwrap_or(0).saturating_add(n));
        }
    }
}

/// A step first named by its display name takes the unique id a node event states for it.
fn adopt(steps: &mut [Step], uid: &str) {
    if steps.iter().any(|s| s.name == uid) {
        return;
    }
    let name = node_name(uid);
    if let Some(s) = steps.iter_mut().rev().find(|s| s.name == name) {
        s.name = uid.to_owned();
        s.kind = node_kind(uid).map(str::to_owned);
    }
}

/// The row of an invocation once the whole document is read.
fn finish(mut inv: Invocation, last: bool) -> Run {
    if let Some(e) = inv.pending_error.take() {
        inv.run.row.first_error(&e);
    }
    let row = &mut inv.run.row;
    if !inv.ended {
        let failed = row.status == RunStatus::Failure;
        row.status = if failed {
            RunStatus::Failure
        } else if inv.completed_ok || inv.end_event {
            RunStatus::Success
        } else if last {
            RunStatus::Running
        } else {
            RunStatus::Unknown
        };
        if row.status.is_final() {
            row.end_time = row.end_time.or(inv.last_time);
        }
    }
    match inv.day {
        Some((_, source)) => {
            row.extra.insert("date_source".into(), source.into());
        }
        None if inv.first_time_of_day.is_some() => {
            // The lines state only the time of day and no date is known: the times stay
            // unknown rather than invented; the time of day is kept.
            row.extra.insert("date_source".into(), Value::Null);
            let first = inv.first_time_of_day.clone().unwrap_or_default();
            row.extra.insert("start_time_of_day".into(), first.into());
        }
        None => {}
    }
    inv.run
}

/// The row count in a result bracket: `SELECT 5120 in 1.02s` → 5120, `INSERT 0 845` → 845.
fn rows_in(result: &str) -> Option<i64> {
    let before = result.split(" in ").next()?;
    let mut words = before.split_whitespace();
    let verb = words.next()?;
    if !verb.chars().all(|c| c.is_ascii_uppercase()) {
        return None;
    }
    words.last()?.parse().ok()
}
