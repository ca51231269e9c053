//! dbt (formats.md §6): `run_results.json` (schemas v1–v6), the JSON log and the text
//! `dbt.log`. One row per executed node: `session_name` is the node name, `run_id` the
//! invocation id, `workflow_name` the dbt command.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::mapping::Run;
use super::text::{Document, TimeReader};
use super::{AuditRow, RunStatus};

/// The header of one invocation in `dbt.log`: `===== [date ]time | invocation_id =====`.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^={5,} (?:(\d{4}-\d\d-\d\d) )?[\d:.]+ \| ([0-9A-Za-z-]+) ={5,}")
        .expect("static regex")
});
/// `HH:MM:SS.ffffff [level] [thread]: message` (dbt ≥ 1.0).
static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d\d:\d\d:\d\d(?:\.\d+)?) \[[a-z ]+\] \[[^\]]*\]: ?(.*)$").expect("static regex")
});
/// `YYYY-MM-DD HH:MM:SS.ffffff (thread): message` (dbt 0.x).
static LEGACY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) \([^)]*\): ?(.*)$")
        .expect("static regex")
});
/// `N of M VERB description ..... [result]`, optionally after a console `HH:MM:SS | `.
static RESULT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\d\d:\d\d:\d\d \| )?\d+ of \d+ (START|OK created|OK loaded|OK snapshotted|ERROR creating|ERROR loading|ERROR snapshotting|SKIP|PASS|FAIL \d+|WARN \d+|ERROR) (.*?)[ .]*\[([^\]]*)\]\s*$",
    )
    .expect("static regex")
});
/// The heading of a node's error block.
static ERROR_HEAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:Database|Compilation|Runtime|Dependency) Error in \w+ (\S+) \(|^Failure in \w+ (\S+) \(")
        .expect("static regex")
});
static COMMAND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"'which': '(\w+)'|'invocation_command': 'dbt (\w+)|Command `dbt (\w+)`|\x22command_name\x22: \x22(\w+)\x22")
        .expect("static regex")
});

/// Reads whichever of the three forms the document is.
pub(crate) fn extract(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let head = doc.text.trim_start();
    if head.starts_with('{') {
        if let Ok(v) = serde_json::from_slice::<Value>(doc.bytes) {
            if v.get("results").is_some_and(Value::is_array) {
                return run_results(&v, times);
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

fn is_test(unique_id: &str) -> bool {
    unique_id.starts_with("test.") || unique_id.starts_with("unit_test.")
}

fn status_of(word: &str) -> RunStatus {
    match word.trim().to_ascii_lowercase().as_str() {
        "success" | "pass" | "warn" => RunStatus::Success,
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

fn failed_message(status: RunStatus, message: Option<&Value>) -> Option<String> {
    (status == RunStatus::Failure).then(|| message.and_then(Value::as_str).map(str::to_owned))?
}

fn run_results(v: &Value, times: &TimeReader) -> Vec<Run> {
    let invocation = v.pointer("/metadata/invocation_id").and_then(Value::as_str);
    let command = command_of(v.get("args"));
    let results = v.get("results").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    results
        .iter()
        .map(|r| {
            let mut run = Run::new("DBT");
            let row = &mut run.row;
            let unique_id = r.get("unique_id").and_then(Value::as_str).unwrap_or("");
            row.session_name = Some(node_name(unique_id).to_owned());
            row.run_id = invocation.map(str::to_owned);
            row.workflow_name = command.clone();
            row.status = status_of(r.get("status").and_then(Value::as_str).unwrap_or(""));
            let timing = r.get("timing").and_then(Value::as_array);
            let execute = timing
                .into_iter()
                .flatten()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("execute"));
            if let Some(t) = execute {
                let at = |k: &str| t.get(k).and_then(Value::as_str).and_then(|s| times.parse(s));
                row.start_time = at("started_at");
                row.end_time = at("completed_at");
            }
            row.target_rows = r.pointer("/adapter_response/rows_affected").and_then(Value::as_i64);
            if !is_test(unique_id) {
                if let Some(rel) = r.get("relation_name").and_then(Value::as_str).and_then(relation)
                {
                    AuditRow::push_name(&mut row.target_name, &rel);
                }
            }
            row.error_message = failed_message(row.status, r.get("message"));
            run.records.push(r.clone());
            run
        })
        .collect()
}

/// Finds or adds the run of a node, in order of first appearance.
fn node_run<'r>(runs: &'r mut Vec<Run>, first: usize, key: &str) -> &'r mut Run {
    let pos = runs[first..]
        .iter()
        .position(|r| r.row.session_name.as_deref() == Some(key))
        .map(|p| p + first);
    match pos {
        Some(p) => &mut runs[p],
        None => {
            let mut run = Run::new("DBT");
            run.row.session_name = Some(key.to_owned());
            runs.push(run);
            let last = runs.len() - 1;
            &mut runs[last]
        }
    }
}

fn json_log(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    // Runs of the current invocation start at this index.
    let mut first = 0;
    let mut invocation: Option<String> = None;
    let mut command: Option<String> = None;
    for line in doc.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let info = v.get("info").unwrap_or(&v);
        let data = v.get("data").unwrap_or(&Value::Null);
        let inv = info.get("invocation_id").and_then(Value::as_str).map(str::to_owned);
        if inv.is_some() && inv != invocation {
            invocation = inv;
            first = runs.len();
            command = None;
        }
        if let Some(c) = command_of(data.get("args")) {
            command = Some(c);
        }
        if command.is_none() {
            if let Some(c) = data.get("command").and_then(Value::as_str) {
                command = c.split_whitespace().nth(1).map(str::to_owned);
            }
        }
        let node = data.get("node_info").or_else(|| v.get("node_info"));
        let Some(node) = node else { continue };
        let unique_id = node.get("unique_id").and_then(Value::as_str).unwrap_or("");
        if unique_id.is_empty() {
            continue;
        }
        let run = node_run(&mut runs, first, node_name(unique_id));
        run.records.push(v.clone());
        let row = &mut run.row;
        let at = |k: &str| node.get(k).and_then(Value::as_str).and_then(|s| times.parse(s));
        row.start_time = at("node_started_at").or(row.start_time);
        row.end_time = at("node_finished_at").or(row.end_time);
        if let Some(s) = node.get("node_status").and_then(Value::as_str) {
            let s = status_of(s);
            if s != RunStatus::Unknown || row.status != RunStatus::Running {
                row.status = s;
            }
        }
        if !is_test(unique_id) {
            let rel = node
                .pointer("/node_relation/relation_name")
                .and_then(Value::as_str)
                .and_then(relation);
            if let Some(rel) = rel {
                AuditRow::push_name(&mut row.target_name, &rel);
            }
        }
        if let Some(result) = data.get("run_result") {
            if let Some(n) =
                result.pointer("/adapter_response/rows_affected").and_then(Value::as_i64)
            {
                row.target_rows = Some(n);
            }
            let status = result.get("status").and_then(Value::as_str).map(status_of);
            if let Some(m) = failed_message(status.unwrap_or(row.status), result.get("message")) {
                row.first_error(&m);
            }
        }
    }
    for run in &mut runs {
        fill_invocation(run, &invocation_of(&run.records), &command);
    }
    runs
}

fn invocation_of(records: &[Value]) -> Option<String> {
    records.iter().find_map(|v| {
        v.pointer("/info/invocation_id")
            .or_else(|| v.get("invocation_id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}

fn fill_invocation(run: &mut Run, invocation: &Option<String>, command: &Option<String>) {
    if run.row.run_id.is_none() {
        run.row.run_id = invocation.clone();
    }
    if run.row.workflow_name.is_none() {
        run.row.workflow_name = command.clone();
    }
}

/// State of one invocation while reading a text log.
#[derive(Debug, Default)]
struct Invocation {
    first: usize,
    id: Option<String>,
    command: Option<String>,
    /// Start of the day of the header, microseconds; `None` when the header has no date.
    day: Option<i64>,
    last_time_of_day: i64,
}

fn text_log(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut inv = Invocation::default();
    let mut invocations: Vec<(usize, Option<String>, Option<String>)> = Vec::new();
    // The node whose error block is being read, for continuation lines.
    for raw in doc.clean_lines() {
        if let Some(h) = HEADER.captures(&raw) {
            invocations.push((inv.first, inv.id.take(), inv.command.take()));
            inv = Invocation {
                first: runs.len(),
                id: Some(h[2].to_owned()),
                day: h.get(1).and_then(|d| times.parse(&format!("{}T00:00:00", d.as_str()))),
                ..Invocation::default()
            };
            continue;
        }
        let (time, message) = if let Some(c) = LINE.captures(&raw) {
            (time_of_day(&mut inv, &c[1]), c[2].to_owned())
        } else if let Some(c) = LEGACY.captures(&raw) {
            if c[2].contains("'label': 'start'") {
                invocations.push((inv.first, inv.id.take(), inv.command.take()));
                inv = Invocation { first: runs.len(), ..Invocation::default() };
            }
            (times.parse(&c[1]), c[2].to_owned())
        } else {
            continue;
        };
        if inv.command.is_none() {
            if let Some(c) = COMMAND.captures(&message) {
                inv.command = c.iter().skip(1).flatten().next().map(|m| m.as_str().to_owned());
            }
        }
        read_node_line(&mut runs, inv.first, time, message.trim());
    }
    invocations.push((inv.first, inv.id, inv.command));
    for (i, (first, id, command)) in invocations.iter().enumerate() {
        let end = invocations.get(i + 1).map_or(runs.len(), |n| n.0);
        for run in runs.iter_mut().take(end).skip(*first) {
            fill_invocation(run, id, command);
        }
    }
    runs
}

/// A time of day on the header's date, moving to the next day when the clock wraps.
fn time_of_day(inv: &mut Invocation, text: &str) -> Option<i64> {
    let day = inv.day?;
    let mut parts = text.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    let tod = (h * 3600 + m * 60) * 1_000_000 + (s * 1e6).round() as i64;
    if tod < inv.last_time_of_day {
        inv.day = Some(day + 86_400_000_000);
    }
    inv.last_time_of_day = tod;
    Some(inv.day? + tod)
}

fn read_node_line(runs: &mut Vec<Run>, first: usize, time: Option<i64>, message: &str) {
    if let Some(c) = RESULT.captures(message) {
        let (verb, description, result) = (&c[1], &c[2], &c[3]);
        let token = description.split_whitespace().last().unwrap_or("");
        let name = token.rsplit('.').next().unwrap_or(token);
        let test = description.starts_with("test ")
            || verb.starts_with("PASS")
            || verb.starts_with("FAIL")
            || verb.starts_with("WARN");
        let run = node_run(runs, first, name);
        run.lines.push(message.to_owned());
        let row = &mut run.row;
        if !test && token.contains('.') {
            AuditRow::push_name(&mut row.target_name, token);
        }
        match verb {
            "START" => {
                row.start_time = time;
                row.status = RunStatus::Running;
            }
            "SKIP" => row.status = RunStatus::Unknown,
            v => {
                row.end_time = time;
                let failed = v.starts_with("ERROR") || v.starts_with("FAIL");
                row.status = if failed { RunStatus::Failure } else { RunStatus::Success };
                if !failed {
                    row.target_rows = rows_in(result).or(row.target_rows);
                }
            }
        }
        return;
    }
    if let Some(c) = ERROR_HEAD.captures(message) {
        let name = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
        let run = node_run(runs, first, name);
        run.lines.push(message.to_owned());
        run.row.first_error(message);
        return;
    }
    for (marker, is_start) in [("Began running node ", true), ("Finished running node ", false)] {
        if let Some(rest) = message.strip_prefix(marker) {
            let run = node_run(runs, first, node_name(rest.trim()));
            let row = &mut run.row;
            if is_start && row.start_time.is_none() {
                row.start_time = time;
            } else if !is_start && row.end_time.is_none() {
                row.end_time = time;
            }
        }
    }
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
