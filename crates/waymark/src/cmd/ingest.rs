//! `waymark ingest`: files and stdin into the store, with a summary.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use waymark_core::parse::RejectKind;
use waymark_core::pipeline::Counts;

use crate::cli::Global;
use crate::context::{load_config, open_store};
use crate::output::{clean, print_counts, thousands};
use waymark_pipeline::ingest::{ingest, IngestReport, Input};

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Files to read, one record per line; none or `-` reads stdin. A file is read from where
    /// the last run stopped.
    pub(crate) files: Vec<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(g: &Global, args: &IngestArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let mut store = open_store(g)?;
    let inputs: Vec<Input> = if args.files.is_empty() {
        vec![Input::Stdin]
    } else {
        args.files
            .iter()
            .map(|f| if f.as_os_str() == "-" { Input::Stdin } else { Input::File(f.clone()) })
            .collect()
    };
    let report = ingest(&config, &mut store, &inputs)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary_json(&report))?;
        writeln!(out)?;
    } else {
        print_summary(&mut out, &report)?;
    }
    let failed = report.inputs.iter().any(|i| i.error.is_some());
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Dead letters per reason kind, the kinds that occurred only.
pub(crate) fn rejections_json(c: &Counts) -> serde_json::Value {
    let by_kind: serde_json::Map<String, serde_json::Value> = RejectKind::ALL
        .iter()
        .zip(c.rejected_by_kind)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.as_str().to_owned(), n.into()))
        .collect();
    by_kind.into()
}

/// Dead letters per reason kind, under the summary's dead-letter count.
pub(crate) fn print_rejections(out: &mut impl Write, c: &Counts) -> std::io::Result<()> {
    for (kind, n) in RejectKind::ALL.iter().zip(c.rejected_by_kind).filter(|(_, n)| *n > 0) {
        writeln!(out, "    {:<22}{:>12}", kind.as_str(), thousands(n))?;
    }
    Ok(())
}

pub(crate) fn summary_json(r: &IngestReport) -> serde_json::Value {
    let c = &r.counts;
    let by_kind = rejections_json(c);
    serde_json::json!({
        "records": c.records,
        "blank": c.blank,
        "events": c.events,
        "details": c.details,
        "reasons_joined": c.joined,
        "orphaned": c.orphaned,
        "waiting": r.waiting,
        "dead_letters": c.rejected,
        "dead_letters_by_kind": by_kind,
        "elapsed_secs": r.elapsed.as_secs_f64(),
        "inputs": r.inputs,
    })
}

pub(crate) fn print_summary(out: &mut impl Write, r: &IngestReport) -> std::io::Result<()> {
    let c = &r.counts;
    let secs = r.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { (c.records as f64 / secs) as u64 } else { 0 };
    writeln!(
        out,
        "read {} records from {} input{} in {secs:.2}s ({} records/s)",
        thousands(c.records),
        r.inputs.len(),
        if r.inputs.len() == 1 { "" } else { "s" },
        thousands(rate)
    )?;
    let rows = [
        ("events stored", c.events),
        ("failure details", c.details),
        ("reasons joined", c.joined),
        ("orphans (ttl expired)", c.orphaned),
        ("waiting for a partner", r.waiting as u64),
        ("dead letters", c.rejected),
        ("blank lines skipped", c.blank),
    ];
    print_counts(out, &rows)?;
    print_rejections(out, c)?;
    for i in &r.inputs {
        if let Some(e) = &i.error {
            writeln!(out, "  error: {}: {e}", i.name)?;
        }
        if let Some(from) = &i.moved_from {
            writeln!(
                out,
                "  note: {} is {} read before under another path (renamed, rotated or compressed); continued at byte {}",
                clean(&i.name),
                clean(from),
                thousands(i.from)
            )?;
        }
        if let Some(of) = &i.copy_of {
            writeln!(
                out,
                "  note: {} holds the same bytes as {} (a copy being made, or kept beside it); not read, so nothing is stored twice",
                clean(&i.name),
                clean(of)
            )?;
        }
        if let Some(why) = i.new_version {
            writeln!(
                out,
                "  note: {} was {why} since the last run; read as a new version",
                i.name
            )?;
        }
        if i.unterminated_bytes > 0 {
            writeln!(
                out,
                "  note: {} ends with {} bytes without a newline; they are read once the line is complete",
                i.name, i.unterminated_bytes
            )?;
        }
    }
    Ok(())
}
