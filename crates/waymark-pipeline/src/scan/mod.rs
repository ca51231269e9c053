//! The incremental scanner: files through the scan rules into `logscan_results`, exactly once.
//!
//! A run has two phases. **Plan** (main thread): each file is matched to the version the
//! store follows for it. Same path and same bytes before the stored position (the
//! [`fingerprint`]) continue that version; otherwise the file is *unresolved*. An unresolved
//! file whose bytes match a version whose path is gone or now holds other content (rename,
//! rotation, copy-then-truncate) takes that version over; any other is a new version, and the
//! version it replaces at its path becomes `superseded`. An inode alone never identifies a
//! file (inodes are reused), nor does a header (write-once logs share theirs). **Scan**
//! (a second thread): each file is read from its position in 4 MiB blocks; only complete lines
//! are scanned, so a line still being written waits for its newline. Each block's results
//! and the position after it go to the store thread as one commit, one transaction.
//!
//! A last line without a newline is scanned too once the file is finished: when it has not
//! changed for the quiet period (`--quiet-secs`), or at once when the document is complete by
//! its own format (JSON that parses, such as dbt's one-line `run_results.json`). The version
//! then remembers where that line starts (`#tail=` in its identity); if the file grows, the
//! line is read again from its start and its results are replaced, never doubled.
//!
//! A `.gz` file is read whole (its identity is the fingerprint of the compressed bytes, and
//! its position counts decompressed bytes); a gz that changed in any way is a new version.

mod walk;

pub use walk::expand;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context as _;
use flate2::read::MultiGzDecoder;
use indicatif::ProgressBar;
use serde::Serialize;
use waymark_core::normalize::format_utc;
use waymark_core::scan::{
    clean_line, CsvLayout, ScanCommit, ScanConfig, ScanResult, ScannedFile, HEAD_BYTES,
    MAX_STORED_LINE, UNKNOWN,
};
use waymark_store::ScanStore;

use crate::file::{fingerprint, head_matches, is_gzip, resume, Resume};

/// Bytes read at once; a longer line grows the buffer up to [`MAX_LINE`].
const BLOCK: usize = 4 << 20;
const MAX_LINE: usize = 64 << 20;
/// Rows (results and file updates) gathered into one store transaction.
const COMMIT_ROWS: usize = 20_000;
/// Default quiet period after which a last line without a newline is taken as finished.
pub const DEFAULT_QUIET_SECS: u64 = 5;
/// Largest document parsed whole to tell whether it is complete JSON.
const MAX_JSON_CHECK: u64 = 64 << 20;
/// The identity suffix of a version whose last line had no newline when it was scanned.
const TAIL: &str = "#tail=";

/// What one run did.
#[derive(Debug, Default, Serialize)]
pub struct ScanReport {
    /// Files found in the inputs.
    pub files: u64,
    /// Files with nothing new since the last scan.
    pub unchanged: u64,
    /// Files whose known version got new lines.
    pub appended: u64,
    /// New file versions (new files, and replaced, truncated or rewritten ones).
    pub new_versions: u64,
    /// Versions found under a new path (rename, rotation, copy-then-truncate).
    pub moved: u64,
    /// Bytes scanned (decompressed, for `.gz`).
    pub bytes: u64,
    /// Complete lines scanned.
    pub lines: u64,
    /// Matched lines stored.
    pub matches: u64,
    /// Per system type: files and matches per severity.
    pub by_type: BTreeMap<String, TypeCounts>,
    /// Inputs, folders and files that could not be read; the scan went on without them.
    pub errors: Vec<FileError>,
    pub elapsed_secs: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct TypeCounts {
    pub files: u64,
    pub error: u64,
    pub warning: u64,
    pub info: u64,
}

#[derive(Debug, Serialize)]
pub struct FileError {
    pub path: String,
    pub error: String,
}

/// A file's metadata at planning time.
#[derive(Debug, Clone)]
struct Meta {
    dev: u64,
    inode: u64,
    size: u64,
    mtime: Option<String>,
}

/// One file to scan: the version it continues or starts, and where.
#[derive(Debug)]
struct Job {
    path: PathBuf,
    file: File,
    meta: Meta,
    gz: bool,
    /// The version as stored (`logscan_id` set) with this run's path and metadata.
    row: ScannedFile,
    /// Where to resume (decompressed bytes for a gz).
    start: u64,
    /// A new version: classify it.
    fresh: bool,
    /// The stored results from here on are replaced (a last line read early has grown).
    replace_from: Option<u64>,
}

/// What the scan of one file read.
#[derive(Debug, Default)]
struct Tally {
    bytes: u64,
    lines: u64,
    system_type: Option<String>,
}

/// Messages a worker gathers before it sends them, and the rows they hold at most (unless
/// one commit holds more).
const BATCH_MSGS: usize = 64;
const BATCH_ROWS: usize = 2_000;

/// What the scan thread tells the store thread.
enum Msg {
    Commit(ScanCommit),
    Done { path: PathBuf, outcome: Result<bool, String>, tally: Tally },
}

/// A worker's messages to the store thread, sent in batches: one channel operation (and
/// wake-up of the store thread) per batch instead of two per small file (20,000 futex calls
/// in a scan of 3,058 files). Each commit still carries its own position.
struct Outbox<'a> {
    tx: &'a mpsc::SyncSender<Vec<Msg>>,
    batch: Vec<Msg>,
    rows: usize,
}

impl Outbox<'_> {
    /// Queues `msg`; `false` when the store thread stopped.
    fn send(&mut self, msg: Msg) -> bool {
        self.rows += match &msg {
            Msg::Commit(c) => c.results.len() + 1,
            Msg::Done { .. } => 0,
        };
        self.batch.push(msg);
        self.batch.len() < BATCH_MSGS && self.rows < BATCH_ROWS || self.flush()
    }

    /// Sends what is queued; `false` when the store thread stopped.
    fn flush(&mut self) -> bool {
        self.rows = 0;
        self.batch.is_empty() || self.tx.send(std::mem::take(&mut self.batch)).is_ok()
    }
}

/// Scans the files into the store; unreadable ones are reported in the result.
pub fn scan(
    config: &ScanConfig,
    store: &mut dyn ScanStore,
    files: &[PathBuf],
    progress: &ProgressBar,
    quiet: std::time::Duration,
) -> anyhow::Result<ScanReport> {
    let started = Instant::now();
    let mut report = ScanReport { files: files.len() as u64, ..ScanReport::default() };
    let jobs = plan(store, files, &mut report)?;
    progress.set_length(jobs.iter().map(|j| j.meta.size.saturating_sub(j.start)).sum());
    let (tx, rx) = mpsc::sync_channel::<Vec<Msg>>(8);
    let new_or_moved: HashMap<PathBuf, bool> =
        jobs.iter().map(|j| (j.path.clone(), j.fresh)).collect();
    let queue = std::sync::Mutex::new(jobs.into_iter());
    std::thread::scope(|scope| -> anyhow::Result<()> {
        // Files are shared out to one worker per core; each commit carries its own file's
        // position, so the order in which files finish does not matter.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
        for _ in 0..workers {
            let (tx, queue) = (tx.clone(), &queue);
            scope.spawn(move || {
                // A copy of the rules per worker: a regex shared by threads hands its search
                // caches out under a lock, and only its first user gets the fast path.
                let config = &config.clone();
                // One buffer per worker: zeroing 4 MiB per small file would cost more than
                // scanning it.
                let mut buf = vec![0u8; BLOCK];
                let mut out = Outbox { tx: &tx, batch: Vec::new(), rows: 0 };
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    let Some(job) = next else {
                        out.flush();
                        return;
                    };
                    let path = job.path.clone();
                    let mut tally = Tally::default();
                    let outcome =
                        scan_job(config, job, &mut buf, &mut out, progress, &mut tally, quiet)
                            .map_err(|e| format!("{e:#}"));
                    if !out.send(Msg::Done { path, outcome, tally }) {
                        return;
                    }
                }
            });
        }
        drop(tx);
        // Small files' commits are gathered into one transaction: one per file would cost
        // more than scanning the file. Each commit still carries its own position.
        let mut pending: Vec<ScanCommit> = Vec::new();
        let mut pending_rows = 0usize;
        let mut flush = |pending: &mut Vec<ScanCommit>, rows: &mut usize| -> anyhow::Result<()> {
            if !pending.is_empty() {
                store.commit_scans(pending).context("cannot commit scan results to the store")?;
                pending.clear();
                *rows = 0;
            }
            Ok(())
        };
        for msg in rx.into_iter().flatten() {
            match msg {
                Msg::Commit(c) => {
                    count(&mut report, &c, progress);
                    pending_rows += c.results.len() + 1;
                    pending.push(c);
                    if pending_rows >= COMMIT_ROWS {
                        flush(&mut pending, &mut pending_rows)?;
                    }
                }
                Msg::Done { path, outcome, tally } => {
                    report.bytes += tally.bytes;
                    report.lines += tally.lines;
                    if let Some(t) = tally.system_type {
                        report.by_type.entry(t).or_default().files += 1;
                    }
                    match outcome {
                        Ok(true) if !new_or_moved.get(&path).copied().unwrap_or(false) => {
                            report.appended += 1;
                        }
                        Ok(false) => report.unchanged += 1,
                        Ok(true) => {}
                        Err(error) => {
                            let path = path.display().to_string();
                            report.errors.push(FileError { path, error });
                        }
                    }
                }
            }
        }
        flush(&mut pending, &mut pending_rows)?;
        Ok(())
    })?;
    report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

fn count(report: &mut ScanReport, c: &ScanCommit, progress: &ProgressBar) {
    report.matches += c.results.len() as u64;
    let t = report.by_type.entry(c.file.system_type.clone()).or_default();
    for r in &c.results {
        match r.severity {
            "ERROR" => t.error += 1,
            "WARNING" => t.warning += 1,
            _ => t.info += 1,
        }
    }
    progress.set_message(format!("{} matches", report.matches));
}

/// Matches each file to a stored version (see the module doc) and starts new versions.
fn plan(
    store: &mut dyn ScanStore,
    files: &[PathBuf],
    report: &mut ScanReport,
) -> anyhow::Result<Vec<Job>> {
    let active = store.active_scanned_files().context("cannot read scanned_files")?;
    let by_path: HashMap<&str, usize> =
        active.iter().enumerate().map(|(i, f)| (f.file_path.as_str(), i)).collect();
    let scanning: HashSet<&Path> = files.iter().map(PathBuf::as_path).collect();
    let mut jobs = Vec::new();
    // (path, file, meta, gz, head, version that was at this path)
    let mut unresolved = Vec::new();
    for path in files {
        let (file, meta, gz) = match open(path) {
            Ok(x) => x,
            Err(e) => {
                report.errors.push(FileError { path: path.display().to_string(), error: e });
                continue;
            }
        };
        let old = by_path.get(path.to_string_lossy().as_ref()).copied();
        let relation = match old.map(|i| continues(&active[i], &file, &meta, gz)).transpose() {
            Ok(r) => r,
            Err(e) => {
                let error = e.to_string();
                report.errors.push(FileError { path: path.display().to_string(), error });
                continue;
            }
        };
        match (relation, old) {
            (Some(Continues::At(start)), Some(i)) => {
                if !gz && start == meta.size && same_metadata(&active[i], &meta) {
                    report.unchanged += 1;
                    continue;
                }
                let row = with_meta(&active[i], path, &meta);
                let (path, fresh, replace_from) = (path.clone(), false, None);
                jobs.push(Job { path, file, meta, gz, row, start, fresh, replace_from });
            }
            (Some(Continues::Tail { position, tail }), Some(i)) => {
                if position == meta.size && same_metadata(&active[i], &meta) {
                    report.unchanged += 1;
                    continue;
                }
                // The last line grew: read it again from its start.
                let mut row = with_meta(&active[i], path, &meta);
                row.line_number = row.line_number.saturating_sub(1);
                let (path, fresh, replace_from) = (path.clone(), false, Some(tail));
                jobs.push(Job { path, file, meta, gz, row, start: tail, fresh, replace_from });
            }
            (Some(Continues::Done), _) => report.unchanged += 1,
            _ => {
                let head = read_head(&file).unwrap_or_default();
                unresolved.push((path.clone(), file, meta, gz, head, old));
            }
        }
    }
    // Versions another file may continue: those whose path now holds other content, and
    // those whose path is gone.
    let mut claimable: Vec<usize> = unresolved.iter().filter_map(|u| u.5).collect();
    for (i, f) in active.iter().enumerate() {
        let p = Path::new(&f.file_path);
        if !scanning.contains(p) && std::fs::symlink_metadata(p).is_err() {
            claimable.push(i);
        }
    }
    let mut claimed = HashSet::new();
    let mut fresh = Vec::new();
    for (path, file, meta, gz, head, old) in unresolved {
        let found =
            if gz { None } else { claim(&active, &claimable, &claimed, &file, &meta, &head) };
        match found {
            Some(i) => {
                claimed.insert(i);
                report.moved += 1;
                let row = with_meta(&active[i], &path, &meta);
                let start = row.position;
                jobs.push(Job {
                    path,
                    file,
                    meta,
                    gz,
                    row,
                    start,
                    fresh: false,
                    replace_from: None,
                });
            }
            None => fresh.push((path, file, meta, gz, old)),
        }
    }
    let mut versions = Vec::with_capacity(fresh.len());
    for (path, _, meta, _, old) in &fresh {
        let supersedes = old.filter(|i| !claimed.contains(i)).map(|i| active[i].logscan_id);
        let mut row = with_meta(&ScannedFile::default(), path, meta);
        row.system_type = UNKNOWN.to_owned();
        row.state = "active".to_owned();
        versions.push((row, supersedes));
    }
    let ids = store.begin_versions(&versions).context("cannot start new file versions")?;
    for ((path, file, meta, gz, _), ((mut row, _), id)) in
        fresh.into_iter().zip(versions.into_iter().zip(ids))
    {
        row.logscan_id = id;
        report.new_versions += 1;
        jobs.push(Job { path, file, meta, gz, row, start: 0, fresh: true, replace_from: None });
    }
    Ok(jobs)
}

fn open(path: &Path) -> Result<(File, Meta, bool), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let m = file.metadata().map_err(|e| e.to_string())?;
    if !m.is_file() {
        return Err("not a regular file".to_owned());
    }
    let mtime = m.modified().ok().and_then(|t| jiff::Timestamp::try_from(t).ok());
    let meta = Meta {
        dev: m.dev(),
        inode: m.ino(),
        size: m.len(),
        mtime: mtime.map(|t| format_utc(t.as_microsecond())),
    };
    let gz = is_gzip(&file).map_err(|e| e.to_string())?;
    Ok((file, meta, gz))
}

/// How a file relates to the version stored for its path.
enum Continues {
    /// The same version: resume here.
    At(u64),
    /// The same version, whose last line (from `tail` to `position`) had no newline.
    Tail { position: u64, tail: u64 },
    /// A gz scanned whole already.
    Done,
    /// Other content: not that version.
    No,
}

fn continues(row: &ScannedFile, file: &File, meta: &Meta, gz: bool) -> io::Result<Continues> {
    let stored_gz = row.identity.as_deref().is_some_and(|id| id.starts_with("gz:"));
    if gz != stored_gz {
        return Ok(Continues::No);
    }
    if gz {
        let fp = fingerprint(file, meta.size)?;
        return Ok(match row.identity.as_deref() {
            Some(id) if id == format!("gz:{fp}:done") => Continues::Done,
            Some(id) if id == format!("gz:{fp}:partial") => Continues::At(row.position),
            _ => Continues::No,
        });
    }
    let (identity, tail) = split_tail(row.identity.as_deref());
    Ok(match (resume(file, meta.size, row.position, identity)?, tail) {
        (Resume::At(p), Some(tail)) => Continues::Tail { position: p, tail },
        (Resume::At(p), None) => Continues::At(p),
        (Resume::NewVersion(_), _) => Continues::No,
    })
}

/// The fingerprint and, for a version whose last line had no newline, where that line starts.
fn split_tail(identity: Option<&str>) -> (Option<&str>, Option<u64>) {
    let Some(id) = identity else { return (None, None) };
    match id.rsplit_once(TAIL) {
        Some((fp, tail)) => (Some(fp), tail.parse().ok()),
        None => (Some(id), None),
    }
}

fn same_metadata(row: &ScannedFile, meta: &Meta) -> bool {
    row.dev == Some(meta.dev) && row.inode == Some(meta.inode) && row.size == meta.size
}

/// The first claimable version whose bytes this file starts with; same inode first.
fn claim(
    active: &[ScannedFile],
    claimable: &[usize],
    claimed: &HashSet<usize>,
    file: &File,
    meta: &Meta,
    head: &[u8],
) -> Option<usize> {
    let mut candidates: Vec<usize> = claimable
        .iter()
        .copied()
        .filter(|i| !claimed.contains(i))
        .filter(|&i| {
            let f = &active[i];
            f.position > 0
                && f.position <= meta.size
                && f.identity.as_deref().is_some_and(|id| head_matches(head, id))
        })
        .collect();
    candidates
        .sort_by_key(|&i| active[i].inode != Some(meta.inode) || active[i].dev != Some(meta.dev));
    candidates.into_iter().find(|&i| {
        let f = &active[i];
        fingerprint(file, f.position).ok().as_deref() == f.identity.as_deref()
    })
}

fn with_meta(row: &ScannedFile, path: &Path, meta: &Meta) -> ScannedFile {
    ScannedFile {
        file_path: path.to_string_lossy().into_owned(),
        dev: Some(meta.dev),
        inode: Some(meta.inode),
        size: meta.size,
        mtime: meta.mtime.clone(),
        ..row.clone()
    }
}

/// The first KiB-or-more of a plain file (for the identity filter).
fn read_head(file: &File) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0; 1024];
    let mut n = 0;
    while n < head.len() {
        match file.read_at(&mut head[n..], n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    head.truncate(n);
    Ok(head)
}

/// Scans one file from its start position; `Ok(true)` when anything was stored.
fn scan_job(
    config: &ScanConfig,
    mut job: Job,
    buf: &mut Vec<u8>,
    out: &mut Outbox<'_>,
    progress: &ProgressBar,
    tally: &mut Tally,
    quiet: std::time::Duration,
) -> anyhow::Result<bool> {
    let original = job.row.clone();
    let gz_fp = if job.gz { Some(fingerprint(&job.file, job.meta.size)?) } else { None };
    let mut filled = 0usize;
    // A plain file read from its start: its head is the start of the first block, read once.
    // Otherwise the head is read apart, before the reader (the file's clones share one
    // offset).
    let from_start = !job.gz && job.start == 0;
    let head_apart = if from_start { Vec::new() } else { classify_head(&job)? };
    let mut reader = open_reader(&mut job)?;
    if from_start {
        fill(&mut reader, buf, &mut filled)?;
    }
    let head: &[u8] = if from_start { &buf[..filled.min(HEAD_BYTES)] } else { &head_apart };
    if job.fresh || (job.row.system_type == UNKNOWN && job.start < HEAD_BYTES as u64) {
        let c = config.classifier.classify(head);
        job.row.system_type = c.system_type;
        job.row.evidence = c.evidence;
    }
    tally.system_type = Some(job.row.system_type.clone());
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let layout = CsvLayout::detect(first_line, csv_hint(&job.path));
    drop(head_apart);
    let view = config.matcher.view(&job.row.system_type, layout.as_ref());
    let mut row = job.row.clone();
    let mut offset = job.start;
    let mut last_sent: Option<ScannedFile> = None;
    let mut replace_from = job.replace_from;
    loop {
        let eof = fill(&mut reader, buf, &mut filled)?;
        let end = if eof && job.gz {
            filled
        } else {
            memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |i| i + 1)
        };
        if end == 0 && !eof {
            anyhow::ensure!(buf.len() < MAX_LINE, "a line at byte {offset} is over 64 MiB long");
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if end > 0 {
            let results = scan_block(config, &view, &buf[..end], offset, row.line_number);
            row.line_number += results.1;
            tally.bytes += end as u64;
            tally.lines += results.1;
            offset += end as u64;
            progress.inc(end as u64);
            row.position = offset;
            row.identity = Some(match &gz_fp {
                Some(fp) => format!("gz:{fp}:partial"),
                None => fingerprint(&job.file, offset)?,
            });
            if eof && job.gz && filled == end {
                row.identity = gz_fp.as_ref().map(|fp| format!("gz:{fp}:done"));
            }
            last_sent = Some(row.clone());
            let commit = ScanCommit {
                file: row.clone(),
                results: results.0,
                replace_from: replace_from.take(),
            };
            if !out.send(Msg::Commit(commit)) {
                anyhow::bail!("the store stopped");
            }
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
        if eof {
            break;
        }
    }
    if !job.gz && filled > 0 && tail_is_final(&job, &buf[..filled], quiet) {
        // The last line has no newline but the file is finished: scan it, and remember where
        // it starts so that a longer version of it replaces its results.
        let tail = &buf[..filled];
        let results = scan_block(config, &view, tail, offset, row.line_number);
        row.line_number += 1;
        tally.bytes += filled as u64;
        tally.lines += 1;
        progress.inc(filled as u64);
        row.position = offset + filled as u64;
        row.identity = Some(format!("{}{TAIL}{offset}", fingerprint(&job.file, row.position)?));
        last_sent = Some(row.clone());
        let commit =
            ScanCommit { file: row.clone(), results: results.0, replace_from: replace_from.take() };
        if !out.send(Msg::Commit(commit)) {
            anyhow::bail!("the store stopped");
        }
    }
    if let Some(fp) = &gz_fp {
        // Complete, including a gz with no line at all.
        row.identity = Some(format!("gz:{fp}:done"));
    }
    // The row itself may have changed without new lines: a new path, a classification,
    // a gz completed.
    if Some(&row) != last_sent.as_ref() && (last_sent.is_some() || row != original) {
        out.send(Msg::Commit(ScanCommit { file: row, results: Vec::new(), replace_from }));
    }
    Ok(last_sent.is_some())
}

/// Whether a last line without a newline is final: the document is complete JSON, or the
/// file has not changed for the quiet period.
fn tail_is_final(job: &Job, tail: &[u8], quiet: std::time::Duration) -> bool {
    if json_complete(tail) {
        return true;
    }
    let closes = matches!(tail.trim_ascii().last(), Some(b'}' | b']'));
    if closes && job.meta.size <= MAX_JSON_CHECK {
        let mut whole = Vec::new();
        let read = job.file.try_clone().and_then(|mut f| {
            f.seek(SeekFrom::Start(0))?;
            f.take(job.meta.size).read_to_end(&mut whole)
        });
        if read.is_ok() && json_complete(&whole) {
            return true;
        }
    }
    let modified = job.file.metadata().and_then(|m| m.modified());
    modified.is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= quiet))
}

fn json_complete(bytes: &[u8]) -> bool {
    let text = bytes.trim_ascii();
    matches!(text.first(), Some(b'{' | b'['))
        && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
}

fn open_reader(job: &mut Job) -> anyhow::Result<Box<dyn Read + Send>> {
    let mut file = job.file.try_clone()?;
    if job.gz {
        file.seek(SeekFrom::Start(0))?;
        let mut decoder = MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file));
        io::copy(&mut (&mut decoder).take(job.start), &mut io::sink())?;
        return Ok(Box::new(decoder));
    }
    file.seek(SeekFrom::Start(job.start))?;
    Ok(Box::new(file))
}

/// The head the classifier and the CSV header detection read (decompressed for a gz).
fn classify_head(job: &Job) -> anyhow::Result<Vec<u8>> {
    let mut file = job.file.try_clone()?;
    file.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    if job.gz {
        MultiGzDecoder::new(file).take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    } else {
        file.take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    }
    Ok(head)
}

fn csv_hint(path: &Path) -> Option<u8> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".csv") {
        Some(b',')
    } else if name.ends_with(".tsv") {
        Some(b'\t')
    } else {
        None
    }
}

/// Reads until the buffer is full or the input ends; `true` at the end.
fn fill(reader: &mut dyn Read, buf: &mut [u8], filled: &mut usize) -> io::Result<bool> {
    while *filled < buf.len() {
        match reader.read(&mut buf[*filled..]) {
            Ok(0) => return Ok(true),
            Ok(n) => *filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// The results of one block of complete lines starting at `offset`, line `lines_before`.
fn scan_block(
    config: &ScanConfig,
    view: &waymark_core::scan::View<'_>,
    block: &[u8],
    offset: u64,
    lines_before: u64,
) -> (Vec<ScanResult>, u64) {
    let mut results = Vec::new();
    let lines = view.scan(block, |h| {
        let rule = view.rule(h.rule);
        results.push(ScanResult {
            line_number: lines_before + h.line_index + 1,
            byte_offset: offset + h.offset as u64,
            rule: rule.name.clone(),
            severity: rule.severity.as_str(),
            line: clean_line(h.line, MAX_STORED_LINE),
            line_timestamp: config.times.extract(h.line),
        });
    });
    (results, lines)
}
