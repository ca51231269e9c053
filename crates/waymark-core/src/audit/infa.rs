//! Informatica PowerCenter: session logs (classic text, Workflow Monitor tab export, colon
//! export) and workflow logs (formats.md §1, §2).
//!
//! Every physical line is first reduced to its message (`CODE text`), whatever the variant's
//! prefix, so one set of rules reads all three session variants. Header fields (folder,
//! workflow, run id, session, start and end) come from the built-in mappings in
//! `builtin_audit.toml`; the rules here split runs and read status, counts, names and errors.

use std::sync::LazyLock;

use regex::Regex;

use super::mapping::Run;
use super::text::{bracket_after, count_after, number_after, Block, Document, TimeReader};
use super::{AuditRow, RunStatus};

/// ` : INFO : (pid | THREAD) : (IS | svc) : node : CODE : message`.
static COLON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)? : ([A-Z]+) : \([^)]*\) : \([^)]*\) : [^ ]* : [^ ]* : (.*)$",
    )
    .expect("static regex")
});
/// The optional trailing ` : (yyyy.mm.dd hh:mm:ss);` of the colon export.
static COLON_TAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r" : \(\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d\);?$").expect("static regex")
});
/// `THREAD> message` of the classic text.
static CLASSIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z][A-Za-z0-9_*]*> ?(.*)$").expect("static regex"));
/// A message that states an error when the variant has no severity.
static ERROR_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:WRT_8229|RR_4035|TM_6085|WRT_8333|BLKR_16004|CMN_1021|CMN_1022|TE_7002|TM_6102|ORA-\d{5})\b|\bERROR\b|Database errors occurred|SQL Error \[|due to fatal session error|Session run completed with failure",
    )
    .expect("static regex")
});
/// `SEVERITY : CODE [asctime] : (pid|tid) message` of a workflow log.
static WORKFLOW_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Z]+) : ([A-Z]+_\d+) \[([^\]]+)\] : \([^)]*\) (.*)$").expect("static regex")
});

/// One line reduced to its message.
#[derive(Debug)]
struct Msg {
    text: String,
    /// The variant's severity said ERROR (or FATAL).
    error_severity: bool,
    /// The variant has a severity column at all.
    has_severity: bool,
    /// A line without the variant's prefix: it continues the message above it (the
    /// database's message after `WRT_8229`, the lines of an `RR_4035 SQL Error [` block).
    continuation: bool,
}

fn message(line: &str) -> Option<Msg> {
    let fields: Vec<&str> = line.splitn(6, '\t').collect();
    if fields.len() == 6 && matches!(fields[0], "INFO" | "WARNING" | "ERROR" | "FATAL" | "DEBUG") {
        let text = format!("{} {}", fields[4].trim(), fields[5]).trim().to_owned();
        let error_severity = matches!(fields[0], "ERROR" | "FATAL");
        return Some(Msg { text, error_severity, has_severity: true, continuation: false });
    }
    if fields.len() == 6 && fields[0] == "Severity" {
        return None;
    }
    if let Some(c) = COLON.captures(line) {
        let body = COLON_TAIL.replace(&c[2], "").trim().to_owned();
        let error_severity = matches!(&c[1], "ERROR" | "FATAL");
        return Some(Msg { text: body, error_severity, has_severity: true, continuation: false });
    }
    let (text, continuation) = match CLASSIC.captures(line) {
        Some(c) => (c[1].trim().to_owned(), false),
        None => (line.to_owned(), true),
    };
    Some(Msg { text, error_severity: false, has_severity: false, continuation })
}

fn is_error(m: &Msg) -> bool {
    if m.has_severity && m.error_severity {
        return true;
    }
    // Continuations of an exported line carry no severity of their own; read their text.
    (m.error_severity || !m.has_severity) && ERROR_TEXT.is_match(&m.text)
}

/// The runs of a session log: split at each `TM_6014 Initializing session`.
pub(crate) fn session(doc: &Document<'_>, _times: &TimeReader) -> Vec<Run> {
    let msgs: Vec<Msg> = doc.lines().into_iter().filter_map(message).collect();
    let mut groups: Vec<Vec<Msg>> = vec![Vec::new()];
    for m in msgs {
        let starts = m.text.contains("Initializing session [");
        let current_has_start = groups
            .last()
            .is_some_and(|g| g.iter().any(|x| x.text.contains("Initializing session [")));
        if starts && current_has_start {
            groups.push(Vec::new());
        }
        if let Some(g) = groups.last_mut() {
            g.push(m);
        }
    }
    groups.into_iter().filter(|g| !g.is_empty()).map(|g| session_run(&g)).collect()
}

/// Counts of a SESSION LOAD SUMMARY block.
#[derive(Debug, Default)]
struct Summary {
    seen: bool,
    source_output: Option<i64>,
    target_applied: Option<i64>,
    target_rejected: Option<i64>,
    source_tables: Vec<String>,
    target_tables: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Source,
    Target,
}

fn add(acc: &mut Option<i64>, n: Option<i64>) {
    if let Some(n) = n {
        *acc = Some(acc.unwrap_or(0).saturating_add(n));
    }
}

fn session_run(msgs: &[Msg]) -> Run {
    let mut run = Run::new("INFA_SESSION");
    let row = &mut run.row;
    let mut summary = Summary::default();
    let mut section = Section::None;
    let (mut blkr_read, mut wrt_applied, mut wrt_rejected) = (None, None, None);
    let (mut blkr_tables, mut wrt_tables) = (Vec::new(), Vec::new());
    let (mut started, mut completed, mut errors) = (false, false, false);
    // The first error and its continuation lines, while they are being read.
    let mut first: Option<Block> = None;
    let mut first_open = false;
    for m in msgs {
        let t = m.text.as_str();
        if first_open {
            if m.continuation {
                if !t.trim().is_empty() {
                    first.get_or_insert_with(Block::default).push(t.trim_end());
                }
                continue;
            }
            first_open = false;
        }
        if t.contains("Initializing session [") {
            started = true;
        }
        if t.contains("SESSION LOAD SUMMARY") {
            summary.seen = true;
        } else if t.contains("Source Load Summary") {
            section = Section::Source;
        } else if t.contains("Target Load Summary") {
            section = Section::Target;
        } else if summary.seen && section != Section::None && t.contains("Table: [") {
            if let Some(name) = bracket_after(t, "Table:") {
                let list = match section {
                    Section::Source => &mut summary.source_tables,
                    _ => &mut summary.target_tables,
                };
                AuditRow::push_name(list, name);
            }
        } else if summary.seen && t.contains("Output Rows [") {
            match section {
                Section::Source => add(&mut summary.source_output, count_after(t, "Output Rows")),
                Section::Target => {
                    add(&mut summary.target_applied, count_after(t, "Applied Rows"));
                    add(&mut summary.target_rejected, count_after(t, "Rejected Rows"));
                }
                Section::None => {}
            }
        }
        if t.contains("BLKR_16019") || t.starts_with("Read [") {
            add(&mut blkr_read, count_after(t, "Read"));
            if let Some(name) = bracket_after(t, "source table") {
                AuditRow::push_name(&mut blkr_tables, name);
            }
        }
        if let Some(name) = bracket_after(t, "Start loading table") {
            AuditRow::push_name(&mut wrt_tables, name);
        }
        if t.contains(" rows - Requested:") {
            add(&mut wrt_applied, number_after(t, "Applied:"));
            add(&mut wrt_rejected, number_after(t, "Rejected:"));
        }
        if t.contains("Session run completed successfully") {
            row.status = RunStatus::Success;
        } else if t.contains("Session run completed with failure") {
            row.status = RunStatus::Failure;
        }
        if t.contains("Session [") && t.contains("] completed at [") {
            completed = true;
        }
        if is_error(m) {
            errors = true;
            if first.is_none() && !m.continuation {
                let mut b = Block::default();
                b.push(t.trim());
                first = Some(b);
                first_open = true;
            } else if first.is_none() {
                row.first_error(t);
            }
        }
    }
    if let Some(text) = first.and_then(|b| b.text()) {
        row.first_error(&text);
    }
    if !row.status.is_final() {
        row.status = match (started, completed, errors) {
            (_, true, true) => RunStatus::Failure,
            (true, false, _) => RunStatus::Running,
            _ => RunStatus::Unknown,
        };
    }
    if summary.source_output.is_some() {
        row.source_rows = summary.source_output;
    } else {
        row.source_rows = blkr_read;
    }
    if summary.target_applied.is_some() || summary.target_rejected.is_some() {
        row.target_rows = summary.target_applied;
        row.rejected_rows = summary.target_rejected;
    } else {
        row.target_rows = wrt_applied;
        row.rejected_rows = wrt_rejected;
    }
    row.source_name = if blkr_tables.is_empty() { summary.source_tables } else { blkr_tables };
    row.target_name = if wrt_tables.is_empty() { summary.target_tables } else { wrt_tables };
    run.lines = msgs.iter().map(|m| m.text.clone()).collect();
    run
}

/// The runs of a workflow log: split at each `Starting execution of workflow`.
pub(crate) fn workflow(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    // The first error of the current run and its continuation lines, while being read.
    let mut first: Option<Block> = None;
    for line in doc.lines() {
        let parsed = WORKFLOW_LINE.captures(line);
        if let Some(b) = &mut first {
            if parsed.is_none() && !line.contains("Starting execution of workflow [") {
                if !line.trim().is_empty() {
                    b.push(line.trim_end());
                }
                continue;
            }
            if let (Some(run), Some(text)) = (runs.last_mut(), b.text()) {
                run.row.first_error(&text);
            }
            first = None;
        }
        let text = parsed.as_ref().map_or(line, |c| c.get(4).map_or("", |m| m.as_str()));
        if text.contains("Starting execution of workflow [") || runs.is_empty() {
            let mut run = Run::new("INFA_WORKFLOW");
            run.row.status = RunStatus::Running;
            runs.push(run);
        }
        let Some(run) = runs.last_mut() else { continue };
        run.lines.push(text.to_owned());
        let Some(c) = parsed else { continue };
        let ts = times.parse(&c[3]);
        let row = &mut run.row;
        if row.start_time.is_none() {
            row.start_time = ts;
        }
        if text.starts_with("Workflow [") && text.contains("]: Execution ") {
            row.end_time = ts;
            if text.contains("Execution succeeded") {
                row.status = RunStatus::Success;
            } else if text.contains("Execution failed") {
                row.status = RunStatus::Failure;
            }
        }
        if matches!(&c[1], "ERROR" | "FATAL") && row.error_message.is_none() {
            let mut b = Block::default();
            b.push(text.trim());
            first = Some(b);
        }
    }
    if let (Some(run), Some(text)) = (runs.last_mut(), first.and_then(|b| b.text())) {
        run.row.first_error(&text);
    }
    runs
}
