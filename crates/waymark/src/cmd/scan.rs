//! `waymark scan`: ETL log files through the scan rules into `logscan_results`.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use waymark_core::scan::Severity;

use crate::cli::Global;
use crate::context::{load_config, open_store};
use crate::output::{clean, thousands, Table};
use waymark_pipeline::scan::{expand, scan, ScanReport};

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Files, folders (recursive) or globs; default: `[scan] paths` of the config.
    pub(crate) paths: Vec<PathBuf>,
    /// One regex per line (as `grep -f`): replaces the configured rules for this run.
    #[arg(long, value_name = "FILE")]
    pub(crate) rules_file: Option<PathBuf>,
    /// Severity of the `--rules-file` rules.
    #[arg(long, value_enum, default_value = "info", requires = "rules_file")]
    pub(crate) rules_severity: SeverityArg,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Then build or update the audit rows of what was scanned (as `waymark audit`).
    #[arg(long)]
    pub(crate) audit: bool,
    /// A last line without a newline is scanned once the file has not changed for this many
    /// seconds (a complete JSON document at once).
    #[arg(long, value_name = "SECS", default_value_t = waymark_pipeline::scan::DEFAULT_QUIET_SECS)]
    pub(crate) quiet_secs: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SeverityArg {
    Error,
    Warning,
    Info,
}

impl SeverityArg {
    fn severity(self) -> Severity {
        match self {
            SeverityArg::Error => Severity::Error,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Info => Severity::Info,
        }
    }
}

/// Exit code when some input could not be read (the rest was scanned).
const SOME_UNREADABLE: u8 = 1;

pub(crate) fn run(g: &Global, args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let mut scan_config = config.scan.clone();
    if let Some(path) = &args.rules_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the rules file {}", path.display()))?;
        scan_config = scan_config.with_rules_file(&text, args.rules_severity.severity()).map_err(
            |errors| {
                anyhow::anyhow!("bad rules file {}:\n  {}", path.display(), errors.join("\n  "))
            },
        )?;
    }
    let inputs: Vec<String> = if args.paths.is_empty() {
        scan_config.paths.clone()
    } else {
        args.paths.iter().map(|p| p.to_string_lossy().into_owned()).collect()
    };
    anyhow::ensure!(!inputs.is_empty(), "nothing to scan: give paths or set `[scan] paths`");
    let mut store = open_store(g)?;
    let mut walked = expand(&inputs);
    // Never scan the store itself (a scan of `.` would see it change on every run).
    let db = std::path::absolute(&g.db).unwrap_or_else(|_| g.db.clone());
    walked.files.retain(|f| !f.to_string_lossy().starts_with(&*db.to_string_lossy()));
    let progress = progress_bar(g.quiet || args.json);
    let quiet = Duration::from_secs(args.quiet_secs);
    let mut report = scan(&scan_config, &mut store, &walked.files, &progress, quiet)?;
    progress.finish_and_clear();
    let walk_errors = walked
        .errors
        .into_iter()
        .map(|(path, error)| waymark_pipeline::scan::FileError { path, error });
    report.errors.splice(0..0, walk_errors);
    let audit = if args.audit {
        Some(waymark_pipeline::audit::audit_pending(&config, &mut store)?)
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        if let (Some(a), Some(obj)) = (&audit, v.as_object_mut()) {
            obj.insert("audit".to_owned(), serde_json::to_value(a)?);
        }
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        print_summary(&report, &mut out)?;
        if let Some(a) = &audit {
            writeln!(out)?;
            crate::cmd::audit::print_summary(a, &mut out)?;
        }
    }
    for e in &report.errors {
        tracing::warn!(path = %clean(&e.path), error = %e.error, "skipped");
    }
    Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(SOME_UNREADABLE) })
}

/// A bar on a terminal only: files, bytes, matches and rate.
fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} \
         {binary_bytes_per_sec} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn print_summary(r: &ScanReport, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut table = Table::new(&["system_type", "ERROR", "WARNING", "INFO"]);
    for (system, c) in &r.by_type {
        table.row(vec![
            system.clone(),
            thousands(c.error),
            thousands(c.warning),
            thousands(c.info),
        ]);
    }
    if !r.by_type.is_empty() {
        table.print(out)?;
        writeln!(out)?;
    }
    let mib = r.bytes as f64 / (1024.0 * 1024.0);
    let rate = if r.elapsed_secs > 0.0 { mib / r.elapsed_secs } else { 0.0 };
    writeln!(
        out,
        "{} files: {} new versions, {} appended, {} moved, {} unchanged, {} unreadable",
        thousands(r.files),
        thousands(r.new_versions),
        thousands(r.appended),
        thousands(r.moved),
        thousands(r.unchanged),
        thousands(r.errors.len() as u64),
    )?;
    writeln!(
        out,
        "{} lines, {:.1} MiB, {} matches in {:.2}s ({rate:.0} MiB/s)",
        thousands(r.lines),
        mib,
        thousands(r.matches),
        r.elapsed_secs,
    )?;
    for e in &r.errors {
        writeln!(out, "unreadable: {}: {}", clean(&e.path), clean(&e.error))?;
    }
    Ok(())
}
