//! The audit driver: documents (whole log files) through the extractors into `etl_log_audit`.
//!
//! [`audit_pending`] reads again the file versions the scanner recorded, up to the position
//! scanned (an extractor needs whole documents), and upserts their runs; the store's
//! bookkeeping makes a second pass do no work. [`audit_file`] does the same for one file given
//! directly, classified by the scanner's own [`Classifier`](waymark_core::scan::Classifier)
//! when its type is not given.

use std::io::Read;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use waymark_core::audit::{self, AuditContext, AuditRow, AuditUpsert, UpsertSummary};
use waymark_core::config::Config;
use waymark_core::normalize::parse_zone;
use waymark_core::scan::{HEAD_BYTES, UNKNOWN};
use waymark_store::AuditStore;

use crate::file::open_maybe_gz;

/// Largest document read for an audit; a longer log is skipped with a warning.
pub const MAX_DOCUMENT_BYTES: u64 = 512 << 20;

/// What one audit pass did.
#[derive(Debug, Default, Serialize)]
pub struct AuditSummary {
    /// Documents read and audited.
    pub documents: usize,
    #[serde(flatten)]
    pub runs: UpsertSummary,
    /// Documents left for a later pass, with the reason.
    pub skipped: Vec<Skipped>,
}

/// A document not audited, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// Audits every scanned file version whose scan went further than its last audit
/// (`waymark audit`, `waymark scan --audit`, and the scan sources of `waymark serve`).
pub fn audit_pending(
    config: &Config,
    store: &mut (impl AuditStore + ?Sized),
) -> anyhow::Result<AuditSummary> {
    let ctx = context(config)?;
    let mut summary = AuditSummary::default();
    for p in store.pending_audits()? {
        let bytes = match read_document(Path::new(&p.file_path), Some(p.position)) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(file = %p.file_path, error = %format!("{e:#}"), "not audited");
                summary
                    .skipped
                    .push(Skipped { file: p.file_path.clone(), reason: format!("{e:#}") });
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

/// Audits one file directly (`waymark audit --file`); returns the summary and the upserted
/// rows. Its type is `system_type` when given, else the scanner's classification of its head.
pub fn audit_file(
    config: &Config,
    store: &mut (impl AuditStore + ?Sized),
    path: &Path,
    system_type: Option<&str>,
) -> anyhow::Result<(AuditSummary, Vec<AuditUpsert>)> {
    let bytes = read_document(path, None)?;
    let system_type = match system_type {
        Some(t) => t.to_owned(),
        None => {
            let head = &bytes[..bytes.len().min(HEAD_BYTES)];
            let class = config.scan.classifier.classify(head);
            if class.system_type == UNKNOWN {
                anyhow::bail!(
                    "cannot tell the system type of {} (pass --system-type)",
                    path.display()
                );
            }
            class.system_type
        }
    };
    let ctx = AuditContext { path: Some(path.display().to_string()), ..context(config)? };
    let rows = audit::extract(&config.audit, &system_type, &bytes, &ctx);
    if rows.is_empty() {
        tracing::info!(file = %path.display(), system_type, "no runs found");
    }
    let name = path.display().to_string();
    let upserts = upserts(rows, &format!("file:{name}"), None, &name);
    let runs = store.upsert_runs(&upserts, None)?;
    Ok((AuditSummary { documents: 1, runs, skipped: Vec::new() }, upserts))
}

fn context(config: &Config) -> anyhow::Result<AuditContext> {
    let zone = parse_zone(&config.ingest.timezone).map_err(anyhow::Error::msg)?;
    Ok(AuditContext { zone, path: None })
}

fn upserts(
    rows: Vec<AuditRow>,
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

/// The document: the whole file, or its first `position` bytes (what the scan covered; for
/// a gzip file, decompressed bytes).
fn read_document(path: &Path, position: Option<u64>) -> anyhow::Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len();
    let (reader, gz) = open_maybe_gz(file)?;
    if gz {
        let mut bytes = Vec::new();
        let limit = position.unwrap_or(MAX_DOCUMENT_BYTES).min(MAX_DOCUMENT_BYTES);
        reader.take(limit).read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let want = position.unwrap_or(len);
    if want > len {
        anyhow::bail!("the file is shorter than the position scanned (replaced or truncated)");
    }
    if want > MAX_DOCUMENT_BYTES {
        anyhow::bail!("the document is larger than {MAX_DOCUMENT_BYTES} bytes");
    }
    let mut bytes = Vec::with_capacity(want as usize);
    reader.take(want).read_to_end(&mut bytes)?;
    Ok(bytes)
}
