//! Questions to the store: trace, failures, orphans, dead letters, status, SQL.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use waymark_core::answer::FlowTrace;
use waymark_store::{DeadLetterQuery, FailureQuery, OrphanQuery, PageRequest, QueryStore};

use crate::cli::Global;
use crate::context::open_store_for_query;
use crate::output::{clean, print_counts, thousands, Table};

#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// The correlation id of the flow.
    pub(crate) correlation_id: String,
    /// Print the trace as JSON: its events with the schema's field names, and the verdict.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where a list starts and how long it is.
#[derive(Debug, Args)]
pub(crate) struct PageArgs {
    /// At most this many rows (0 = all).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Continue after the previous page (the cursor printed on stderr when rows remain).
    #[arg(long)]
    pub(crate) cursor: Option<String>,
    /// Print JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

impl PageArgs {
    pub(crate) fn request(&self) -> PageRequest {
        PageRequest { cursor: self.cursor.clone(), limit: self.limit }
    }
}

#[derive(Debug, Args)]
pub(crate) struct FailuresArgs {
    /// Only this system.
    #[arg(long)]
    pub(crate) system: Option<String>,
    /// Only this checkpoint.
    #[arg(long)]
    pub(crate) checkpoint: Option<String>,
    /// Only failures whose reason is not (yet) known.
    #[arg(long)]
    pub(crate) without_reason: bool,
    /// From this time on (RFC 3339, or a date; zoneless times are UTC).
    #[arg(long, value_parser = parse_time)]
    pub(crate) since: Option<i64>,
    /// Before this time.
    #[arg(long, value_parser = parse_time)]
    pub(crate) until: Option<i64>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Debug, Args)]
pub(crate) struct OrphansArgs {
    /// Only this system.
    #[arg(long)]
    pub(crate) system: Option<String>,
    /// Only this kind of half (failure or reason).
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// From this time on (RFC 3339, or a date; zoneless times are UTC).
    #[arg(long, value_parser = parse_time)]
    pub(crate) since: Option<i64>,
    /// Before this time.
    #[arg(long, value_parser = parse_time)]
    pub(crate) until: Option<i64>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DeadLettersArgs {
    /// Only this kind of rejection (bad_json, invalid_utf8, ...).
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// Only records of this source (its name, as `status` shows it).
    #[arg(long)]
    pub(crate) source: Option<String>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
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
    waymark_core::answer::parse_time_filter(s)
}

/// Prints items as JSON lines, and the next page's cursor on stderr when there is one.
pub(crate) fn print_json_lines<T: serde::Serialize>(
    out: &mut impl Write,
    items: &[T],
) -> anyhow::Result<()> {
    for item in items {
        serde_json::to_writer(&mut *out, item)?;
        writeln!(out)?;
    }
    Ok(())
}

/// Says on stderr how to get the next page, when there is one.
pub(crate) fn note_next_page(next: Option<&str>) {
    if let Some(cursor) = next {
        eprintln!("more rows: add --cursor {cursor}");
    }
}

pub(crate) fn trace(g: &Global, args: &TraceArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let flow = store.flow(&args.correlation_id)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &flow)?;
        writeln!(out)?;
    } else if flow.events.is_empty() {
        writeln!(out, "no events for correlation id {}", clean(&args.correlation_id))?;
    } else {
        print_trace(&mut out, &flow)?;
    }
    Ok(if flow.events.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Prints a trace to stdout.
pub(crate) fn print_flow(flow: &FlowTrace) -> std::io::Result<()> {
    print_trace(&mut std::io::stdout().lock(), flow)
}

fn print_trace(out: &mut impl Write, flow: &FlowTrace) -> std::io::Result<()> {
    let systems: Vec<String> = flow.systems.iter().map(|s| clean(s)).collect();
    writeln!(
        out,
        "flow {}: {} events across {}",
        clean(&flow.correlation_id),
        flow.events.len(),
        systems.join(", ")
    )?;
    writeln!(out, "{}", clean(&flow.verdict.text))?;
    writeln!(out)?;
    let mut t = Table::new(&["TIME", "SYSTEM", "CHECKPOINT", "STATUS", "+PREV", "REASON"]);
    let mut prev: Option<i64> = None;
    for e in &flow.events {
        let delta = prev.map_or(String::new(), |p| format_delta(e.ts_micros - p));
        prev = Some(e.ts_micros);
        t.row(vec![
            e.timestamp.clone(),
            clean(&e.system_id),
            clean(&e.checkpoint_id),
            e.status.clone(),
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
    let query = FailureQuery {
        system: args.system.clone(),
        checkpoint: args.checkpoint.clone(),
        since: args.since,
        until: args.until,
        without_reason: args.without_reason,
    };
    let page = store.failure_page(&query, &args.page.request())?;
    let mut out = std::io::stdout().lock();
    if args.page.json {
        print_json_lines(&mut out, &page.items)?;
    } else {
        let mut t = Table::new(&["TIME", "SYSTEM", "CHECKPOINT", "CORRELATION_ID", "REASON"]);
        for e in &page.items {
            t.row(vec![
                e.timestamp.clone(),
                clean(&e.system_id),
                clean(&e.checkpoint_id),
                clean(&e.correlation_id),
                e.failure_reason.as_deref().map_or("(no reason yet)".to_owned(), clean),
            ]);
        }
        t.print(&mut out)?;
    }
    note_next_page(page.next_cursor.as_deref());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn orphans(g: &Global, args: &OrphansArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let query = OrphanQuery {
        system: args.system.clone(),
        kind: args.kind.clone(),
        since: args.since,
        until: args.until,
    };
    let page = store.orphan_page(&query, &args.page.request())?;
    let mut out = std::io::stdout().lock();
    if args.page.json {
        print_json_lines(&mut out, &page.items)?;
    } else {
        let mut t = Table::new(&[
            "KIND",
            "SYSTEM",
            "CORRELATION_ID",
            "TIME",
            "REASON",
            "SOURCE",
            "POSITION",
        ]);
        for r in &page.items {
            t.row(vec![
                r.kind.clone(),
                clean(&r.system_id),
                clean(&r.correlation_id),
                r.timestamp.clone(),
                r.failure_reason.as_deref().map(clean).unwrap_or_default(),
                clean(&r.source),
                r.position.to_string(),
            ]);
        }
        t.print(&mut out)?;
    }
    note_next_page(page.next_cursor.as_deref());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn dead_letters(g: &Global, args: &DeadLettersArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let query = DeadLetterQuery { kind: args.kind.clone(), source: args.source.clone() };
    let page = store.dead_letter_page(&query, &args.page.request())?;
    let mut out = std::io::stdout().lock();
    if args.page.json {
        print_json_lines(&mut out, &page.items)?;
    } else {
        let mut t = Table::new(&["SOURCE", "POSITION", "KIND", "REASON", "RECORD"]);
        for r in &page.items {
            let mut shown: String = clean(&r.raw).chars().take(60).collect();
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
        t.print(&mut out)?;
    }
    note_next_page(page.next_cursor.as_deref());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn status(g: &Global, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let s = store.status()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &s)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "store {}", crate::context::shown_db(g))?;
    let rows = [
        ("events", s.events),
        ("failures", s.failures),
        ("  without a reason yet", s.failures_without_reason),
        ("halves waiting", s.waiting),
        ("orphans", s.orphans),
        ("dead letters", s.dead_letters),
    ];
    print_counts(&mut out, &rows)?;
    if !s.sources.is_empty() {
        writeln!(out)?;
        let mut t = Table::new(&["KIND", "SOURCE", "POSITION"]);
        for r in &s.sources {
            t.row(vec![r.kind.clone(), clean(&r.name), thousands(r.position)]);
        }
        t.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn sql(g: &Global, args: &SqlArgs) -> anyhow::Result<ExitCode> {
    if !crate::context::is_url(g) && !g.db.is_file() {
        anyhow::bail!("no store at {}", g.db.display());
    }
    // Read-only, never migrated: `sql` cannot change the store, whatever it is given.
    let store = waymark_store::AnyStore::open_read_only(&g.db)
        .with_context(|| format!("cannot open the store {}", crate::context::shown_db(g)))?;
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
