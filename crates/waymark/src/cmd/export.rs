//! `waymark export`: a table of the store to CSV, JSON lines or Parquet, to a file or stdout;
//! `--since-last NAME` exports only what is new since the last export of that name (see
//! `waymark_pipeline::export` for how a kill and a rerun still give each row exactly once);
//! `--to snowflake://…` loads the warehouse tables into Snowflake, exactly once
//! (`waymark_pipeline::export::snowflake`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use waymark_pipeline::export::snowflake::{self, SnowflakeConfig};
use waymark_pipeline::export::{export, ExportJob, Format};
use waymark_store::{ExportFilter, ExportTable};

use crate::cli::Global;
use crate::context::open_store_for_query;

/// A table to export.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TableArg {
    /// Normalized events.
    Events,
    /// `etl_log_audit`: one row per ETL run (a run updated since is exported again).
    Runs,
    /// `logscan_results`: the lines the scan rules matched.
    ScanResults,
    /// Rejected records with their reason.
    DeadLetters,
    /// Halves of split failures that found no partner.
    Orphans,
}

/// An output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    /// Comma-separated values with a header; times RFC 3339, lists as JSON arrays.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet with typed columns (times as timestamps, lists as lists).
    Parquet,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The table (with `--to snowflake://`: only this one of events, runs, scan-results;
    /// all three when left out).
    #[arg(value_enum)]
    pub(crate) table: Option<TableArg>,
    /// The format (files and stdout).
    #[arg(long, value_enum, required_unless_present = "to")]
    pub(crate) format: Option<FormatArg>,
    /// Load into a warehouse instead:
    /// `snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=W&role=R` (the password from
    /// WAYMARK_SNOWFLAKE_PASSWORD or `password_file=PATH`). Each row is loaded once: what was
    /// loaded is tracked in the store.
    #[arg(long, value_name = "URL", conflicts_with_all = ["format", "output", "since_last", "system", "status", "since", "until"])]
    pub(crate) to: Option<String>,
    /// Write to this file (whole, then renamed into place) instead of stdout.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
    /// Export only the rows new (or, for runs, changed) since the last export of this name,
    /// and advance its watermark once the output is complete.
    #[arg(long, value_name = "NAME")]
    pub(crate) since_last: Option<String>,
    /// Only this system (events, orphans: system id; runs, scan results: system type).
    #[arg(long)]
    pub(crate) system: Option<String>,
    /// Only this status (events, runs), severity (scan results) or kind (dead letters,
    /// orphans).
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// Rows at or after this time (RFC 3339, or a date; zoneless times are UTC): event time,
    /// a run's start, a matched line's time, a dead letter's arrival.
    #[arg(long, value_parser = crate::cmd::query::parse_time)]
    pub(crate) since: Option<i64>,
    /// Rows before this time.
    #[arg(long, value_parser = crate::cmd::query::parse_time)]
    pub(crate) until: Option<i64>,
}

fn table_of(arg: TableArg) -> ExportTable {
    match arg {
        TableArg::Events => ExportTable::Events,
        TableArg::Runs => ExportTable::Runs,
        TableArg::ScanResults => ExportTable::ScanResults,
        TableArg::DeadLetters => ExportTable::DeadLetters,
        TableArg::Orphans => ExportTable::Orphans,
    }
}

pub(crate) fn run(g: &Global, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.to {
        return to_warehouse(g, args, url);
    }
    let mut store = open_store_for_query(g)?;
    let Some(table) = args.table.map(table_of) else {
        anyhow::bail!("name the table to export (events, runs, scan-results, ...)");
    };
    let format = match args.format {
        Some(FormatArg::Csv) => Format::Csv,
        Some(FormatArg::Jsonl) => Format::Jsonl,
        Some(FormatArg::Parquet) => Format::Parquet,
        None => anyhow::bail!("--format is needed"),
    };
    if matches!(format, Format::Parquet) && args.output.is_none() {
        anyhow::bail!("--format parquet needs --output FILE (a Parquet file is not a stream)");
    }
    let job = ExportJob {
        table,
        format,
        filter: ExportFilter {
            system: args.system.clone(),
            status: args.status.clone(),
            since: args.since,
            until: args.until,
        },
        since_last: args.since_last.clone(),
        output: args.output.clone(),
        page_rows: 10_000,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout);
    let summary = export(&mut store, &job, &mut out)?;
    out.flush()?;
    if !g.quiet {
        let range = if summary.upto > summary.since {
            format!("sequence {}..={}", summary.since + 1, summary.upto)
        } else {
            "nothing new since the last export".to_owned()
        };
        eprintln!(
            "exported {} rows of {} to {} ({range})",
            summary.rows,
            table.name(),
            crate::output::clean(&summary.target),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--to snowflake://…`: the warehouse tables loaded into Snowflake.
fn to_warehouse(g: &Global, args: &ExportArgs, url: &str) -> anyhow::Result<ExitCode> {
    let cfg = SnowflakeConfig::from_url(url, &|name| std::env::var(name).ok())?;
    let mut store = open_store_for_query(g)?;
    let tables: Vec<ExportTable> = args.table.map(table_of).into_iter().collect();
    let loads = snowflake::load(&mut store, &cfg, &tables)?;
    if !g.quiet {
        for l in &loads {
            let range = if l.upto > l.since {
                format!("sequence {}..={}", l.since + 1, l.upto)
            } else {
                "nothing new since the last load".to_owned()
            };
            eprintln!(
                "loaded {} rows into {} ({} inserted, {} updated; {range})",
                l.rows, l.table, l.inserted, l.updated
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
