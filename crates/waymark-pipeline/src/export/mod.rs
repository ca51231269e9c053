//! `waymark export`: a table of the store to CSV, JSON lines or Parquet, to a file or stdout,
//! and named exports (`--since-last NAME`) that give each row exactly once across runs.
//!
//! Exactly once: an export reads the rows of its table's change sequence in `(since, upto]`,
//! where `since` is the name's watermark and `upto` the top of the sequence when it starts. A
//! file is written under a temporary name beside its destination, synced and renamed into
//! place; only then does the store record the finished export and advance the watermark, in
//! one transaction. A kill before that leaves the watermark where it was, so a rerun exports
//! the same rows again (and whatever came since) — to stdout, or over the same file. A kill in
//! the instant between the rename and the commit leaves the file in place and the watermark
//! behind: a rerun to the same path rewrites it, a rerun to another path repeats its rows.

#[cfg(feature = "parquet")]
pub mod parquet;
pub mod snowflake;
mod text;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use waymark_store::{Column, ExportFilter, ExportRow, ExportStore, ExportTable, FinishedExport};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "csv" => Some(Format::Csv),
            "jsonl" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// Writes pages of rows in one format.
pub trait RowWriter {
    fn write(&mut self, rows: &[ExportRow]) -> anyhow::Result<()>;
    /// Completes the output (a Parquet footer) and flushes it.
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// A writer of `format` for a table of `columns` into `out`.
pub fn writer<'a>(
    format: Format,
    columns: &[Column],
    out: Box<dyn Write + Send + 'a>,
) -> anyhow::Result<Box<dyn RowWriter + 'a>> {
    Ok(match format {
        Format::Csv => Box::new(text::CsvWriter::new(out, columns)?),
        Format::Jsonl => Box::new(text::JsonlWriter::new(out, columns)),
        #[cfg(feature = "parquet")]
        Format::Parquet => Box::new(parquet::ParquetWriter::new(out, columns)?),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => bail!("this waymark was built without the `parquet` feature"),
    })
}

/// What to export and where.
#[derive(Debug, Clone)]
pub struct ExportJob {
    pub table: ExportTable,
    pub format: Format,
    pub filter: ExportFilter,
    /// The name of a watermark: export only what is new since the last export of that name.
    pub since_last: Option<String>,
    /// A file (written whole, then renamed into place); `None`: the given stream (stdout).
    pub output: Option<PathBuf>,
    /// Rows read per page (and per Parquet row group).
    pub page_rows: usize,
}

/// What an export did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub rows: u64,
    /// The sequence range exported, `(since, upto]`.
    pub since: i64,
    pub upto: i64,
    pub target: String,
}

/// Runs an export; `stdout` receives it when the job names no file.
pub fn export<S: ExportStore>(
    store: &mut S,
    job: &ExportJob,
    stdout: &mut (dyn Write + Send),
) -> anyhow::Result<ExportSummary> {
    let table = job.table;
    if job.filter.system.is_some() && table.system_column().is_none() {
        bail!("{} have no system to filter by", table.name());
    }
    let filter_text = job.filter.describe();
    let since = match &job.since_last {
        Some(name) => match store.export_watermark(name, table)? {
            Some(wm) if wm.filter != filter_text => bail!(
                "export `{name}` of {} was taken with the filter {}; another filter under the \
                 same name would skip rows for good: use another name",
                table.name(),
                wm.filter
            ),
            Some(wm) => wm.upto,
            None => 0,
        },
        None => 0,
    };
    let upto = store.export_high(table)?;
    let (rows, target) = match &job.output {
        Some(path) => (write_file(store, job, (since, upto), path)?, path.display().to_string()),
        None => (write_rows(store, job, (since, upto), stdout)?, "stdout".to_owned()),
    };
    store.finish_export(&FinishedExport {
        name: job.since_last.clone(),
        table,
        filter: filter_text,
        since,
        upto,
        rows,
        target: target.clone(),
    })?;
    Ok(ExportSummary { rows, since, upto, target })
}

/// Writes the rows to a temporary file beside `path`, syncs it and renames it into place.
fn write_file<S: ExportStore>(
    store: &S,
    job: &ExportJob,
    range: (i64, i64),
    path: &Path,
) -> anyhow::Result<u64> {
    let name = path.file_name().with_context(|| format!("{}: not a file name", path.display()))?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(name);
    partial_name.push(".partial");
    let partial = path.with_file_name(partial_name);
    let file = File::create(&partial).with_context(|| format!("{}", partial.display()))?;
    let rows = {
        let mut out = BufWriter::new(&file);
        let rows = write_rows(store, job, range, &mut out)?;
        out.flush()?;
        rows
    };
    file.sync_all().with_context(|| format!("{}", partial.display()))?;
    drop(file);
    std::fs::rename(&partial, path)
        .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
    // The rename is durable once the directory is synced (best effort: not every platform
    // opens a directory).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(rows)
}

/// Reads the table page by page into a writer of the job's format.
fn write_rows<S: ExportStore>(
    store: &S,
    job: &ExportJob,
    range: (i64, i64),
    out: &mut (dyn Write + Send),
) -> anyhow::Result<u64> {
    let mut writer = writer(job.format, job.table.columns(), Box::new(out))?;
    let mut rows = 0u64;
    let mut after = None;
    loop {
        let page = store.export_page(job.table, &job.filter, range, after, job.page_rows)?;
        writer.write(&page.rows)?;
        rows += page.rows.len() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    writer.finish()?;
    Ok(rows)
}
