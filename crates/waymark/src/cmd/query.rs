//! Questions to the store: trace, failures, orphans, dead letters, status, SQL.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use waymark_core::normalize::{TimeParser, TsFormat};
use waymark_core::Status;
use waymark_store::{EventRow, EventStore, FailureFilter};

use crate::cli::Global;
use crate::context::open_store_for_query;
use crate::output::{clean, print_counts, thousands, Table};

#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// The correlation id of the flow.
    pub(crate) correlation_id: String,
    /// Print the events as a JSON array with the schema's field names.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FailuresArgs {
    /// Only this system.
    #[arg(long)]
    pub(crate) system: Option<String>,
    /// From this time on (RFC 3339, or a date; zoneless times are UTC).
    #[arg(long, value_parser = parse_time)]
    pub(crate) since: Option<i64>,
    /// Before this time.
    #[arg(long, value_parser = parse_time)]
    pub(crate) until: Option<i64>,
    /// At most this many rows (0 = all).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Print JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// At most this many rows (0 = all).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Print JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// One read-only statement, e.g. "SELECT * FROM events LIMIT 5". Anything that is not a
    /// read (ATTACH, writes, schema changes, most pragmas) is refused.
    pub(crate) query: String,
    /// Stop the statement after this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) timeout: f64,
    /// Print at most this many rows (a note says when there were more).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_rows: usize,
}

/// A time argument: RFC 3339, or a date; zoneless times are UTC.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    let formats = vec![TsFormat::Iso8601, TsFormat::Strftime("%Y-%m-%d".into())];
    let p = TimeParser::new(formats, jiff::tz::TimeZone::UTC);
    p.parse(s).or_else(|| p.parse(&format!("{s}T00:00:00"))).ok_or_else(|| {
        format!("`{s}` is not a time (expected RFC 3339 like 2025-05-04T10:30:00Z, or a date)")
    })
}

fn event_json(r: &EventRow) -> serde_json::Value {
    let e = &r.event;
    serde_json::json!({
        "system_id": &*e.system_id,
        "checkpoint_id": e.checkpoint_id,
        "timestamp": e.timestamp(),
        "status": e.status.as_str(),
        "correlation_id": e.correlation_id,
        "failure_reason": e.failure_reason,
        "source": r.source,
        "position": r.position,
    })
}

pub(crate) fn trace(g: &Global, args: &TraceArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let rows = store.trace(&args.correlation_id)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let all: Vec<_> = rows.iter().map(event_json).collect();
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
    } else if rows.is_empty() {
        writeln!(out, "no events for correlation id {}", clean(&args.correlation_id))?;
    } else {
        print_trace(&mut out, &args.correlation_id, &rows)?;
    }
    Ok(if rows.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Where a flow stopped: the last event of every system, and the failures among them.
pub(crate) fn verdict(rows: &[EventRow]) -> String {
    let mut last: Vec<&EventRow> = Vec::new();
    for r in rows {
        match last.iter_mut().find(|l| l.event.system_id == r.event.system_id) {
            Some(slot) => *slot = r,
            None => last.push(r),
        }
    }
    let failed: Vec<String> = last
        .iter()
        .filter(|r| r.event.status == Status::Failure)
        .map(|r| {
            let why = r
                .event
                .failure_reason
                .as_deref()
                .map_or("reason not (yet) known".to_owned(), clean);
            format!("{} {} ({why})", r.event.system_id, clean(&r.event.checkpoint_id))
        })
        .collect();
    let Some(end) = rows.last() else { return "no events".to_owned() };
    if failed.is_empty() {
        format!(
            "last step {} {} {} at {}",
            end.event.system_id,
            clean(&end.event.checkpoint_id),
            end.event.status,
            end.event.timestamp()
        )
    } else {
        format!("stopped with FAILURE at {}", failed.join("; "))
    }
}

/// Prints a trace to stdout.
pub(crate) fn print_trace_rows(cid: &str, rows: &[EventRow]) -> std::io::Result<()> {
    print_trace(&mut std::io::stdout().lock(), cid, rows)
}

fn print_trace(out: &mut impl Write, cid: &str, rows: &[EventRow]) -> std::io::Result<()> {
    let mut systems: Vec<&str> = Vec::new();
    for r in rows {
        if !systems.contains(&&*r.event.system_id) {
            systems.push(&r.event.system_id);
        }
    }
    writeln!(out, "flow {}: {} events across {}", clean(cid), rows.len(), systems.join(", "))?;
    writeln!(out, "{}", verdict(rows))?;
    writeln!(out)?;
    let mut t = Table::new(&["TIME", "SYSTEM", "CHECKPOINT", "STATUS", "+PREV", "REASON"]);
    let mut prev: Option<i64> = None;
    for r in rows {
        let e = &r.event;
        let delta = prev.map_or(String::new(), |p| format_delta(e.ts_micros - p));
        prev = Some(e.ts_micros);
        t.row(vec![
            e.timestamp(),
            clean(&e.system_id),
            clean(&e.checkpoint_id),
            e.status.to_string(),
            delta,
            e.failure_reason.as_deref().map(clean).unwrap_or_default(),
        ]);
    }
    t.print(out)
}

fn format_delta(us: i64) -> String {
    let s = us as f64 / 1e6;
    if s.abs() < 60.0 {
        format!("+{s:.1}s")
    } else if s.abs() < 3600.0 {
        format!("+{:.0}m{:02.0}s", (s / 60.0).trunc(), s % 60.0)
    } else {
        format!("+{:.1}h", s / 3600.0)
    }
}

pub(crate) fn failures(g: &Global, args: &FailuresArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let filter = FailureFilter {
        system: args.system.clone(),
        since: args.since,
        until: args.until,
        limit: args.limit,
    };
    let rows = store.failures(&filter)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for r in &rows {
            serde_json::to_writer(&mut out, &event_json(r))?;
            writeln!(out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["TIME", "SYSTEM", "CHECKPOINT", "CORRELATION_ID", "REASON"]);
    for r in &rows {
        let e = &r.event;
        t.row(vec![
            e.timestamp(),
            clean(&e.system_id),
            clean(&e.checkpoint_id),
            clean(&e.correlation_id),
            e.failure_reason.as_deref().map_or("(no reason yet)".to_owned(), clean),
        ]);
    }
    t.print(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn orphans(g: &Global, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let rows = store.orphans(args.limit)?;
    let mut out = std::io::stdout().lock();
    let mut t =
        Table::new(&["KIND", "SYSTEM", "CORRELATION_ID", "TIME", "REASON", "SOURCE", "POSITION"]);
    for r in &rows {
        if args.json {
            let v = serde_json::json!({
                "kind": r.kind.as_str(), "system_id": r.system_id, "correlation_id": r.correlation_id,
                "timestamp": r.timestamp, "failure_reason": r.reason, "source": r.source, "position": r.position,
            });
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
            continue;
        }
        t.row(vec![
            r.kind.as_str().to_owned(),
            clean(&r.system_id),
            clean(&r.correlation_id),
            r.timestamp.clone(),
            r.reason.as_deref().map(clean).unwrap_or_default(),
            clean(&r.source),
            r.position.to_string(),
        ]);
    }
    if !args.json {
        t.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn dead_letters(g: &Global, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let rows = store.dead_letters(args.limit)?;
    let mut out = std::io::stdout().lock();
    let mut t = Table::new(&["SOURCE", "POSITION", "KIND", "REASON", "RECORD"]);
    for r in &rows {
        let raw = String::from_utf8_lossy(&r.raw);
        if args.json {
            let v = serde_json::json!({
                "source": r.source, "position": r.position, "kind": r.kind, "reason": r.reason,
                "raw": raw, "raw_len": r.raw_len,
            });
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
            continue;
        }
        let mut shown: String = clean(&raw).chars().take(60).collect();
        if r.raw_len > 60 {
            shown.push('…');
        }
        t.row(vec![
            clean(&r.source),
            r.position.to_string(),
            r.kind.clone(),
            clean(&r.reason),
            shown,
        ]);
    }
    if !args.json {
        t.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn status(g: &Global, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let s = store.stats()?;
    let sources = store.sources()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "events": s.events, "failures": s.failures, "failures_without_reason": s.failures_without_reason,
            "waiting": s.waiting, "orphans": s.orphans, "dead_letters": s.dead_letters,
            "sources": sources.iter().map(|r| serde_json::json!({
                "kind": r.kind, "name": r.name, "position": r.position })).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "store {}", g.db.display())?;
    let rows = [
        ("events", s.events),
        ("failures", s.failures),
        ("  without a reason yet", s.failures_without_reason),
        ("halves waiting", s.waiting),
        ("orphans", s.orphans),
        ("dead letters", s.dead_letters),
    ];
    print_counts(&mut out, &rows)?;
    if !sources.is_empty() {
        writeln!(out)?;
        let mut t = Table::new(&["KIND", "SOURCE", "POSITION"]);
        for r in &sources {
            t.row(vec![r.kind.clone(), clean(&r.name), thousands(r.position)]);
        }
        t.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn sql(g: &Global, args: &SqlArgs) -> anyhow::Result<ExitCode> {
    if !g.db.is_file() {
        anyhow::bail!("no store at {}", g.db.display());
    }
    // Read-only, never migrated: `sql` cannot change the store, whatever it is given.
    let store = waymark_store::SqliteStore::open_read_only(&g.db)
        .with_context(|| format!("cannot open the store {}", g.db.display()))?;
    let timeout = std::time::Duration::try_from_secs_f64(args.timeout)
        .map_err(|_| anyhow::anyhow!("--timeout {} is not a duration in seconds", args.timeout))?;
    let limits = waymark_store::SqlLimits { timeout, max_rows: args.max_rows };
    let answer = store.query_guarded(&args.query, limits)?;
    let names: Vec<&str> = answer.columns.iter().map(String::as_str).collect();
    let mut t = Table::new(&names);
    for r in answer.rows {
        t.row(r.iter().map(|c| clean(c)).collect());
    }
    t.print(&mut std::io::stdout().lock())?;
    if answer.capped {
        eprintln!("note: only the first {} rows are shown (--max-rows)", args.max_rows);
    }
    Ok(ExitCode::SUCCESS)
}
