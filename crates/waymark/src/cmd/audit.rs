//! `waymark audit` and `waymark runs`: one audit row per ETL run in `etl_log_audit`.
//!
//! `audit` reads again the file versions `waymark scan` recorded (up to the position scanned,
//! since whole documents are needed), runs the extractor of their system type and upserts
//! the rows; its bookkeeping makes a rerun do no work. `audit --file` does the same for one
//! file directly. `runs` lists the rows with filters and reconciliation flags.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use waymark_core::audit::{
    self, AuditContext, AuditUpsert, RunFilter, RunStatus, StoredRun, UpsertSummary,
};
use waymark_core::config::Config;
use waymark_core::normalize::{format_utc, parse_zone, TimeParser, TsFormat};
use waymark_store::{AuditStore, SqliteStore};

use crate::cli::Global;
use crate::context::{load_config, open_store, open_store_for_query};
use crate::output::{clean, Table};

/// Largest document read for an audit; a longer log is skipped with a warning.
const MAX_DOCUMENT_BYTES: u64 = 512 << 20;

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
    /// Print JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What one audit pass did.
#[derive(Debug, Default)]
pub(crate) struct AuditSummary {
    /// Documents read and audited.
    pub(crate) documents: usize,
    pub(crate) runs: UpsertSummary,
    /// Documents left for a later pass, with the reason.
    pub(crate) skipped: Vec<(String, String)>,
}

pub(crate) fn run(g: &Global, args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let mut store = open_store(g)?;
    let summary = match &args.file {
        Some(path) => {
            audit_file(&config, &mut store, path, args.system_type.as_deref(), args.json)?
        }
        None => audit_pending(&config, &mut store)?,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &summary.to_json())?;
        writeln!(out)?;
    } else {
        summary.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

impl AuditSummary {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let skipped: Vec<_> =
            self.skipped.iter().map(|(p, r)| serde_json::json!({"file": p, "reason": r})).collect();
        serde_json::json!({
            "documents": self.documents,
            "inserted": self.runs.inserted,
            "updated": self.runs.updated,
            "unchanged": self.runs.unchanged,
            "skipped": skipped,
        })
    }

    pub(crate) fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let r = &self.runs;
        writeln!(
            out,
            "audited {} document(s): {} run(s) inserted, {} updated, {} unchanged",
            self.documents, r.inserted, r.updated, r.unchanged
        )?;
        for (path, reason) in &self.skipped {
            writeln!(out, "skipped {}: {}", clean(path), reason)?;
        }
        Ok(())
    }
}

/// Audits every scanned file version whose scan went further than its last audit
/// (`waymark audit`, and `waymark scan --audit` after its scan).
pub(crate) fn audit_pending(
    config: &Config,
    store: &mut SqliteStore,
) -> anyhow::Result<AuditSummary> {
    let ctx = context(config)?;
    let mut summary = AuditSummary::default();
    for p in store.pending_audits()? {
        let bytes = match read_document(Path::new(&p.file_path), Some(p.position)) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(file = %p.file_path, error = %format!("{e:#}"), "not audited");
                summary.skipped.push((p.file_path.clone(), format!("{e:#}")));
                continue;
            }
        };
        let ctx = AuditContext { path: Some(p.file_path.clone()), ..ctx.clone() };
        let rows = audit::extract(&config.audit, &p.system_type, &bytes, &ctx);
        let origin = format!("scan:{}", p.logscan_id);
        let upserts = upserts(rows, &origin, Some(p.logscan_id), &p.file_path);
        let done = store.upsert_runs(&upserts, Some((p.logscan_id, p.position)))?;
        summary.runs.add(done);
        summary.documents += 1;
    }
    Ok(summary)
}

fn audit_file(
    config: &Config,
    store: &mut SqliteStore,
    path: &Path,
    system_type: Option<&str>,
    json: bool,
) -> anyhow::Result<AuditSummary> {
    let bytes = read_document(path, None)?;
    // A stopgap content check until the scanner's classifier (waymark_core::scan) is wired
    // in here; see `audit::detect_system_type`.
    let system_type = match system_type {
        Some(t) => t.to_owned(),
        None => audit::detect_system_type(&bytes)
            .with_context(|| {
                format!("cannot tell the system type of {} (pass --system-type)", path.display())
            })?
            .to_owned(),
    };
    let ctx = AuditContext { path: Some(path.display().to_string()), ..context(config)? };
    let rows = audit::extract(&config.audit, &system_type, &bytes, &ctx);
    if rows.is_empty() {
        tracing::info!(file = %path.display(), system_type, "no runs found");
    }
    let name = path.display().to_string();
    let upserts = upserts(rows, &format!("file:{name}"), None, &name);
    let runs = store.upsert_runs(&upserts, None)?;
    if json {
        let mut err = std::io::stderr().lock();
        for u in &upserts {
            serde_json::to_writer(&mut err, &u.row.to_json())?;
            writeln!(err)?;
        }
    }
    Ok(AuditSummary { documents: 1, runs, skipped: Vec::new() })
}

fn context(config: &Config) -> anyhow::Result<AuditContext> {
    let zone = parse_zone(&config.ingest.timezone).map_err(anyhow::Error::msg)?;
    Ok(AuditContext { zone, path: None })
}

fn upserts(
    rows: Vec<audit::AuditRow>,
    origin: &str,
    logscan_id: Option<i64>,
    file: &str,
) -> Vec<AuditUpsert> {
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| AuditUpsert {
            run_key: row.run_key(origin, i),
            row,
            logscan_id,
            log_file: Some(file.to_owned()),
        })
        .collect()
}

/// The document: the whole file, or its first `position` bytes (what the scan covered).
fn read_document(path: &Path, position: Option<u64>) -> anyhow::Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        // The scan's position of a .gz counts decompressed bytes.
        let mut bytes = Vec::new();
        let limit = position.unwrap_or(MAX_DOCUMENT_BYTES).min(MAX_DOCUMENT_BYTES);
        flate2::read::MultiGzDecoder::new(file).take(limit).read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let len = file.metadata()?.len();
    let want = position.unwrap_or(len);
    if want > len {
        anyhow::bail!("the file is shorter than the position scanned (replaced or truncated)");
    }
    if want > MAX_DOCUMENT_BYTES {
        anyhow::bail!("the document is larger than {MAX_DOCUMENT_BYTES} bytes");
    }
    let mut bytes = Vec::with_capacity(want as usize);
    file.take(want).read_to_end(&mut bytes)?;
    Ok(bytes)
}

pub(crate) fn runs(g: &Global, args: &RunsArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let store = open_store_for_query(g)?;
    let filter = RunFilter {
        status: args.status,
        system_type: args.system.clone(),
        since: args.since,
        until: args.until,
        // Flags are judged after the query, so the limit applies to the flagged runs.
        limit: if args.flagged { 0 } else { args.limit },
    };
    let now = jiff::Timestamp::now().as_microsecond();
    let timeout = config.audit.running_timeout_secs;
    let mut listed: Vec<(StoredRun, Vec<&'static str>)> = store
        .runs(&filter)?
        .into_iter()
        .map(|r| {
            let last_seen = TimeParser::new(vec![TsFormat::Iso8601], jiff::tz::TimeZone::UTC)
                .parse(&r.updated_at);
            let flags = audit::flags(&r.row, now, timeout, last_seen);
            (r, flags.into_iter().map(audit::Flag::as_str).collect::<Vec<_>>())
        })
        .filter(|(_, flags)| !args.flagged || !flags.is_empty())
        .collect();
    if args.flagged && args.limit > 0 && listed.len() > args.limit {
        listed.drain(..listed.len() - args.limit);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        for (r, flags) in &listed {
            let mut v = r.row.to_json();
            v["run_key"] = r.run_key.clone().into();
            v["logscan_id"] = r.logscan_id.into();
            v["log_file"] = r.log_file.clone().into();
            v["updated_at"] = r.updated_at.clone().into();
            v["flags"] = flags.clone().into();
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
        }
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
    for (r, flags) in &listed {
        let row = &r.row;
        let error = row.error_message.as_deref().map_or_else(String::new, |e| {
            let first = e.lines().next().unwrap_or("");
            clean(&first.chars().take(60).collect::<String>())
        });
        table.row(vec![
            row.start_time.map_or_else(|| "-".to_owned(), format_utc),
            clean(&row.system_type),
            opt(&row.workflow_name),
            opt(&row.session_name),
            opt(&row.run_id),
            row.status.as_str().to_owned(),
            row.duration_seconds().map_or_else(|| "-".to_owned(), |d| format!("{d:.1}")),
            num(row.source_rows),
            num(row.target_rows),
            num(row.rejected_rows),
            flags.join(","),
            error,
        ]);
    }
    table.print(&mut out)?;
    writeln!(out, "{} run(s)", listed.len())?;
    Ok(ExitCode::SUCCESS)
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
