//! `waymark audit` and `waymark runs`: one audit row per ETL run in `etl_log_audit`.
//!
//! `audit` reads again the file versions `waymark scan` recorded (up to the position scanned,
//! since whole documents are needed), runs the extractor of their system type and upserts
//! the rows; its bookkeeping makes a rerun do no work. `audit --file` does the same for one
//! file directly. `runs` lists the rows with filters and reconciliation flags.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use waymark_core::answer::{FlagClock, RunView};
use waymark_core::audit::RunStatus;
use waymark_pipeline::audit::{audit_file, audit_pending, AuditSummary};
use waymark_store::{PageRequest, QueryStore, RunQuery};

use crate::cli::Global;
use crate::context::{load_config, open_store, open_store_for_query};
use crate::output::{clean, Table};

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Audit this file directly instead of what `waymark scan` stored.
    #[arg(long)]
    pub(crate) file: Option<std::path::PathBuf>,
    /// System type of `--file` (INFA_SESSION, INFA_WORKFLOW, DBT, MASS_INGESTION, CDGC,
    /// JENKINS, GITHUB_ACTIONS or a configured one); detected from the content when absent.
    #[arg(long, requires = "file")]
    pub(crate) system_type: Option<String>,
    /// Print the summary (and with --file the rows) as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunsArgs {
    /// Only runs with this status (SUCCESS, FAILURE, RUNNING, UNKNOWN).
    #[arg(long, value_parser = parse_status)]
    pub(crate) status: Option<RunStatus>,
    /// Only this system type.
    #[arg(long)]
    pub(crate) system: Option<String>,
    /// Runs started at or after this time (RFC 3339, or a date; zoneless times are UTC).
    #[arg(long, value_parser = crate::cmd::query::parse_time)]
    pub(crate) since: Option<i64>,
    /// Runs started before this time.
    #[arg(long, value_parser = crate::cmd::query::parse_time)]
    pub(crate) until: Option<i64>,
    /// Only runs whose counts do not add up or that have been RUNNING too long.
    #[arg(long)]
    pub(crate) flagged: bool,
    /// At most this many runs, the latest by start (0 = all).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Continue after the previous page (the cursor printed on stderr when runs remain).
    #[arg(long)]
    pub(crate) cursor: Option<String>,
    /// Print JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(g: &Global, args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let mut store = open_store(g)?;
    let summary = match &args.file {
        Some(path) => {
            let (summary, upserts) =
                audit_file(&config, &mut store, path, args.system_type.as_deref())?;
            if args.json {
                let mut err = std::io::stderr().lock();
                for u in &upserts {
                    serde_json::to_writer(&mut err, &u.row.to_json())?;
                    writeln!(err)?;
                }
            }
            summary
        }
        None => audit_pending(&config, &mut store)?,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        print_summary(&summary, &mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_summary(summary: &AuditSummary, out: &mut impl Write) -> std::io::Result<()> {
    let r = &summary.runs;
    writeln!(
        out,
        "audited {} document(s): {} run(s) inserted, {} updated, {} unchanged",
        summary.documents, r.inserted, r.updated, r.unchanged
    )?;
    for s in &summary.skipped {
        writeln!(out, "skipped {}: {}", clean(&s.file), clean(&s.reason))?;
    }
    Ok(())
}

pub(crate) fn runs(g: &Global, args: &RunsArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let store = open_store_for_query(g)?;
    let clock = FlagClock {
        now_micros: jiff::Timestamp::now().as_microsecond(),
        running_timeout_secs: config.audit.running_timeout_secs,
    };
    let query = RunQuery {
        status: args.status,
        system_type: args.system.clone(),
        since: args.since,
        until: args.until,
        flagged: args.flagged,
        clock,
    };
    let page = store.run_page(&query, &args.page())?;
    // A page is the latest runs first; people read them oldest first.
    let listed: Vec<&RunView> = page.items.iter().rev().collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        crate::cmd::query::print_json_lines(&mut out, &listed)?;
        crate::cmd::query::note_next_page(page.next_cursor.as_deref());
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "start_time",
        "system",
        "workflow",
        "session",
        "run_id",
        "status",
        "secs",
        "read",
        "applied",
        "rejected",
        "flags",
        "error",
    ]);
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), clean);
    let num = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    for row in &listed {
        let error = row.error_message.as_deref().map_or_else(String::new, |e| {
            let first = e.lines().next().unwrap_or("");
            clean(&first.chars().take(60).collect::<String>())
        });
        table.row(vec![
            row.start_time.clone().unwrap_or_else(|| "-".to_owned()),
            clean(&row.system_type),
            opt(&row.workflow_name),
            opt(&row.session_name),
            opt(&row.run_id),
            row.status.clone(),
            row.duration_seconds
                .as_ref()
                .and_then(serde_json::Value::as_f64)
                .map_or_else(|| "-".to_owned(), |d| format!("{d:.1}")),
            num(row.source_rows),
            num(row.target_rows),
            num(row.rejected_rows),
            row.flags.join(","),
            error,
        ]);
    }
    table.print(&mut out)?;
    writeln!(out, "{} run(s)", listed.len())?;
    crate::cmd::query::note_next_page(page.next_cursor.as_deref());
    Ok(ExitCode::SUCCESS)
}

impl RunsArgs {
    fn page(&self) -> PageRequest {
        PageRequest { cursor: self.cursor.clone(), limit: self.limit }
    }
}

fn parse_status(s: &str) -> Result<RunStatus, String> {
    match s.to_ascii_uppercase().as_str() {
        "SUCCESS" => Ok(RunStatus::Success),
        "FAILURE" => Ok(RunStatus::Failure),
        "RUNNING" => Ok(RunStatus::Running),
        "UNKNOWN" => Ok(RunStatus::Unknown),
        _ => Err(format!("`{s}` is not a status (SUCCESS, FAILURE, RUNNING or UNKNOWN)")),
    }
}
