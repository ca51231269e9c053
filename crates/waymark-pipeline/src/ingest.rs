//! Files and stdin through the core into a store.
//!
//! One thread frames and processes (parse, normalize, correlate), the calling thread commits:
//! parsing runs ahead on the other core while SQLite writes. Each batch carries the position it
//! reached in each source, committed in the same transaction as its rows.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use flate2::read::MultiGzDecoder;
use waymark_core::config::Config;
use waymark_core::correlate::RECENT_ORPHANS;
use waymark_core::pipeline::{Batch, Counts, Processor, DEAD_LETTER_MAX_RAW};
use waymark_core::Origin;
use waymark_store::{EventStore, SourceRow};

use crate::file::{fingerprint, gz_fingerprint, head_matches, is_gzip, Tracking, HEAD};
use crate::lines::{Frame, LineReader};
use crate::writer::commit_with_retry;

/// A batch is cut at `[ingest] batch_records` or at this many bytes of records, whichever
/// comes first: memory is bounded whatever the records' length (`consume` cuts its batches
/// the same way). With three batches in memory
/// and SQLite's 32 MiB page cache, `ingest` peaks near 70 MiB (issue 15: 175 MiB with batches
/// of 100,000 records, two in the channel, and a 64 MiB cache).
pub const BATCH_BYTES: u64 = 4 << 20;

/// One input of `waymark ingest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

/// What happened to one input.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct InputReport {
    pub name: String,
    /// Position read from.
    pub from: u64,
    /// Position reached (committed).
    pub to: u64,
    /// Bytes after the last newline, left for the next run (a line still being written).
    pub unterminated_bytes: u64,
    /// Set when the file was truncated or replaced since the last run.
    pub new_version: Option<&'static str>,
    /// Set when the file is one read before under another path (renamed, rotated, copied
    /// then truncated, compressed): that path.
    pub moved_from: Option<String>,
    /// Set when the file holds the same bytes as another input being read (a copy being
    /// made, or kept beside it): that input. It is not read, so nothing is stored twice.
    pub copy_of: Option<String>,
    pub error: Option<String>,
}

/// The outcome of an ingest run.
#[derive(Debug, Default)]
pub struct IngestReport {
    pub counts: Counts,
    pub inputs: Vec<InputReport>,
    pub waiting: usize,
    pub elapsed: Duration,
    pub batches: u64,
}

struct Prepared {
    source: u32,
    position: u64,
    reader: InputReader,
    report: InputReport,
}

/// What an input is read through: its identity at a position comes from the file itself
/// (plain), from the stream as it was read (gzip, read whole), or nothing (stdin).
enum InputReader {
    Stdin(io::Stdin),
    Plain(File),
    Gz(Box<Tracking<MultiGzDecoder<File>>>),
}

impl Read for InputReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            InputReader::Stdin(r) => r.read(buf),
            InputReader::Plain(r) => r.read(buf),
            InputReader::Gz(r) => r.read(buf),
        }
    }
}

impl InputReader {
    /// The identity of what was read up to `reached`; `Ok(None)` where there is none to keep
    /// (stdin; a gzip file not yet at its end, whose position alone says where to resume).
    fn identity(&self, reached: u64) -> io::Result<Option<String>> {
        match self {
            InputReader::Stdin(_) => Ok(None),
            InputReader::Plain(f) => fingerprint(f, reached).map(Some),
            InputReader::Gz(t) => Ok((t.total() == reached).then(|| t.fingerprint())),
        }
    }

    fn is_stream_end_a_record(&self) -> bool {
        // stdin at its end, and a gzip file (never appended to), are complete: their last
        // line counts even without a newline.
        !matches!(self, InputReader::Plain(_))
    }
}

/// Ingests the inputs in order, once (`waymark ingest`); an input that cannot be read is
/// reported and skipped. Every input is read to its end, so its source ends with the run.
pub fn ingest(
    config: &Config,
    store: &mut dyn EventStore,
    inputs: &[Input],
) -> anyhow::Result<IngestReport> {
    let mut ingest = Ingest::new(config);
    ingest.cycle(store, inputs, Ends::AtEndOfInput)
}

/// When the sources read in a cycle end (their clocks stop; see [`Processor::end_source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ends {
    /// At the end of each input: a one-shot run.
    AtEndOfInput,
    /// Never while they are followed: a file that is followed may still grow. Sources no
    /// longer among the inputs (retired, rotated away and gone) end.
    WhenGone,
}

/// Files and stdin through the core into a store, cycle after cycle with the same join
/// state in memory: one cycle for `waymark ingest`, one per poll when `waymark serve`
/// follows files.
#[derive(Debug)]
pub struct Ingest<'c> {
    config: &'c Config,
    /// `None` until loaded from the store, and again after a failed commit (the store is the
    /// truth: what was processed but not committed is read again).
    processor: Option<Processor<'c>>,
}

impl<'c> Ingest<'c> {
    pub fn new(config: &'c Config) -> Ingest<'c> {
        Ingest { config, processor: None }
    }

    /// One pass over `inputs`: recognise each file (rotation, replacement), read what is new,
    /// commit it with the positions it reached.
    pub fn cycle(
        &mut self,
        store: &mut dyn EventStore,
        inputs: &[Input],
        ends: Ends,
    ) -> anyhow::Result<IngestReport> {
        let started = Instant::now();
        let mut report = IngestReport::default();
        let prepared = plan(store, inputs, &mut report)?;
        let mut opening = Batch::default();
        let mut processor = match self.processor.take() {
            Some(p) => p,
            None => {
                let mut processor = Processor::new(self.config);
                let (waiting, watermark) =
                    store.join_state().context("cannot load the join state")?;
                // Only the halves of files and stdin: a Kafka partition's halves belong to
                // the consumer that holds the partition.
                let ours: Vec<u32> = store
                    .sources()?
                    .into_iter()
                    .filter(|s| s.kind.starts_with("file") || s.kind.starts_with("stdin"))
                    .map(|s| s.id)
                    .collect();
                let waiting = waiting.into_iter().filter(|p| ours.contains(&p.key.source));
                let watermark = watermark.into_iter().filter(|(s, _)| ours.contains(s));
                processor.restore(waiting.collect(), watermark.collect());
                processor.restore_orphans(store.recent_orphans(RECENT_ORPHANS)?);
                processor
            }
        };
        // Sources this cycle does not read have ended as far as it knows: their halves are
        // timed by the clock of the sources read now.
        let reading: Vec<u32> = prepared.iter().map(|p| p.source).collect();
        for source in processor.sources() {
            if !reading.contains(&source) {
                processor.end_source(source, &mut opening);
            }
        }
        let batch_records = self.config.ingest.batch_records as u64;
        let max = self.config.ingest.max_line_bytes;
        let end_each = ends == Ends::AtEndOfInput;
        // One batch in the channel: the parser stays one batch ahead of the writer, and at
        // most three batches are in memory (filling, waiting, committing).
        let (tx, rx) = mpsc::sync_channel::<Batch>(1);
        let (done_tx, done_rx) = mpsc::channel::<InputReport>();
        let outcome = std::thread::scope(|scope| -> anyhow::Result<Processor<'c>> {
            let parser = scope.spawn(move || {
                if !opening.changes.is_empty() && tx.send(opening).is_err() {
                    return processor;
                }
                for p in prepared {
                    let r = run_input(&mut processor, p, batch_records, max, end_each, &tx);
                    if done_tx.send(r).is_err() {
                        break;
                    }
                }
                processor
            });
            let mut failed = None;
            for batch in rx {
                if let Err(e) = commit_with_retry(store, &batch) {
                    // Stop the parser (it sees the channel close) and report.
                    failed = Some(e);
                    break;
                }
                report.counts.add(&batch.counts);
                report.batches += 1;
                tracing::debug!(
                    records = batch.counts.records,
                    batches = report.batches,
                    "batch committed"
                );
            }
            let processor =
                parser.join().map_err(|_| anyhow::anyhow!("the parser thread panicked"))?;
            match failed {
                Some(e) => Err(e),
                None => Ok(processor),
            }
        });
        // After a failed commit the join state in memory is ahead of the store: it is
        // reloaded from the store at the next cycle.
        let processor = outcome?;
        report.waiting = processor.waiting();
        self.processor = Some(processor);
        report.inputs.extend(done_rx);
        report.elapsed = started.elapsed();
        Ok(report)
    }
}

fn run_input(
    processor: &mut Processor<'_>,
    p: Prepared,
    batch_records: u64,
    max: usize,
    end_at_eof: bool,
    tx: &mpsc::SyncSender<Batch>,
) -> InputReport {
    let Prepared { source, position, reader, mut report } = p;
    let is_stdin = reader.is_stream_end_a_record();
    let mut lines = LineReader::new(reader, position, max, DEAD_LETTER_MAX_RAW);
    let mut batch = Batch::default();
    let mut reached = position;
    // Record bytes in the batch: a batch is also cut at BATCH_BYTES.
    let mut batch_bytes = 0u64;
    // A position is committed with the identity of what was read up to it, or not at all:
    // a fingerprint that cannot be taken stops this input (its batch is read again next run).
    let flush = |batch: &mut Batch,
                 reached: u64,
                 lines: &LineReader<InputReader>,
                 report: &mut InputReport|
     -> bool {
        match lines.get_ref().identity(reached) {
            Ok(identity) => {
                batch.set_position(source, reached, identity);
                tx.send(std::mem::take(batch)).is_ok()
            }
            Err(e) => {
                report.error = Some(format!("cannot fingerprint what was read: {e}"));
                false
            }
        }
    };
    loop {
        let frame = match lines.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                report.error = Some(format!("read error: {e}"));
                break;
            }
        };
        match frame {
            Frame::Line { offset, bytes } => {
                processor.record(Origin { source, position: offset }, bytes, &mut batch);
            }
            Frame::Oversized { offset, head, len, terminated } if terminated || is_stdin => {
                processor.oversized(Origin { source, position: offset }, &head, len, &mut batch);
            }
            Frame::Tail { offset, bytes } if is_stdin => {
                processor.record(Origin { source, position: offset }, bytes, &mut batch);
            }
            Frame::Tail { .. } | Frame::Oversized { .. } => {
                report.unterminated_bytes = lines.offset() - reached;
                break;
            }
        }
        batch_bytes += lines.offset() - reached;
        reached = lines.offset();
        if batch.len() >= batch_records || batch_bytes >= BATCH_BYTES {
            batch_bytes = 0;
            if !flush(&mut batch, reached, &lines, &mut report) {
                return report;
            }
        }
    }
    // Read to its end (or closed, for stdin): the source's clock stops here — unless the
    // file is followed and may grow; stdin always ends.
    if end_at_eof || is_stdin {
        processor.end_source(source, &mut batch);
    }
    if (!batch.is_empty() || !batch.changes.is_empty() || reached != position)
        && !flush(&mut batch, reached, &lines, &mut report)
    {
        return report;
    }
    report.to = reached;
    report
}

/// An input file as found: opened, and what the planner needs to recognise it.
struct Found {
    name: String,
    file: File,
    len: u64,
    gz: bool,
    /// Its first KiB (decompressed, for gzip).
    head: Vec<u8>,
}

/// How a file was recognised.
enum Plan {
    /// The source already at its path, continued at its position.
    Continue(SourceRow),
    /// A source found under another path (renamed, rotated, copied then truncated, compressed).
    Moved(SourceRow),
    /// New content: a new source from 0; `Some` names why an earlier one at the path ended.
    New(Option<&'static str>),
    /// Not read this run (its fingerprint failed; reported).
    Skip,
}

/// Matches every input file to the source whose content it continues, the way `scan` does:
/// by content (the fingerprint of what was read), not by path or inode. First each file is
/// checked against the source at its own path; then each file left over against the sources
/// not yet claimed — so a rotated file and its successor given in one command, a file renamed
/// by logrotate `create`, the copy of a `copytruncate` and a rotated file compressed later
/// each continue the source they came from; anything else starts a new source. Opening or
/// fingerprinting errors are reported for that file, and the others go on.
fn plan(
    store: &mut dyn EventStore,
    inputs: &[Input],
    report: &mut IngestReport,
) -> anyhow::Result<Vec<Prepared>> {
    let mut found: Vec<Found> = Vec::new();
    let mut stdin = false;
    for input in inputs {
        let path = match input {
            Input::Stdin => {
                stdin = true;
                continue;
            }
            Input::File(p) => std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()),
        };
        let name = path.display().to_string();
        if found.iter().any(|f| f.name == name) {
            continue;
        }
        match open_input(&path, &name) {
            Ok(f) => found.push(f),
            Err(e) => report.inputs.push(InputReport {
                name,
                error: Some(format!("{e:#}")),
                ..Default::default()
            }),
        }
    }
    // Retired versions too: a file replaced at its path may turn up under another one.
    let sources: Vec<SourceRow> = store
        .sources()?
        .into_iter()
        .filter(|s| s.kind == "file" || s.kind == "file:retired")
        .collect();
    let mut claimed: Vec<u32> = Vec::new();
    let mut plans: Vec<Option<Plan>> = Vec::with_capacity(found.len());
    // 1. The source at the file's own path, when the file continues it.
    for f in &found {
        let own = sources.iter().find(|s| s.kind == "file" && s.name == f.name);
        let plan = match own {
            Some(s) => match continues(f, s, true) {
                Ok(true) => {
                    claimed.push(s.id);
                    Some(Plan::Continue(s.clone()))
                }
                Ok(false) => None,
                Err(e) => {
                    // Never a stale identity: the file is reported and left for the next run.
                    report.inputs.push(failed(&f.name, format!("cannot fingerprint: {e}")));
                    Some(Plan::Skip)
                }
            },
            None => None,
        };
        plans.push(plan);
    }
    // Files that continue the source at their own path: a file left over that holds the
    // same bytes as one of them (a copy being made by copy-truncate, or kept beside it) is not
    // read — its lines come from that file — until it is recognised as the moved source.
    let continuing: Vec<usize> = plans
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Some(Plan::Continue(_))))
        .map(|(i, _)| i)
        .collect();
    let mut copies: Vec<(usize, usize)> = Vec::new();
    for (i, f) in found.iter().enumerate() {
        if plans[i].is_some() || f.gz {
            continue;
        }
        for &g in &continuing {
            let other = &found[g];
            let n = f.len.min(other.len);
            if n == 0
                || other.gz
                || f.head[..f.head.len().min(n as usize)]
                    != other.head[..other.head.len().min(n as usize)]
            {
                continue;
            }
            if let (Ok(a), Ok(b)) = (fingerprint(&f.file, n), fingerprint(&other.file, n)) {
                if a == b {
                    copies.push((i, g));
                    break;
                }
            }
        }
    }
    for &(i, g) in &copies {
        tracing::info!(file = %found[i].name, of = %found[g].name, "a copy of a file being read: not read now");
        report.inputs.push(InputReport {
            name: found[i].name.clone(),
            copy_of: Some(found[g].name.clone()),
            ..Default::default()
        });
        plans[i] = Some(Plan::Skip);
    }
    // 2. Files left over: a source not claimed whose content they continue.
    for (f, plan) in found.iter().zip(plans.iter_mut()) {
        if plan.is_some() {
            continue;
        }
        let mut hit = None;
        for s in &sources {
            if claimed.contains(&s.id) || s.position == 0 {
                continue;
            }
            let Some(identity) = s.identity.as_deref() else { continue };
            if !head_matches(&f.head, identity) {
                continue;
            }
            match continues(f, s, false) {
                Ok(true) => {
                    hit = Some(s.clone());
                    break;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(file = %f.name, error = %e, "cannot fingerprint"),
            }
        }
        *plan = Some(match hit {
            Some(s) => {
                claimed.push(s.id);
                Plan::Moved(s)
            }
            None => {
                let own = sources.iter().find(|s| s.kind == "file" && s.name == f.name);
                Plan::New(own.map(|s| if f.len < s.position { "truncated" } else { "replaced" }))
            }
        });
    }
    // Moves first (each to a name of its own, then to its new path), so that a chain of
    // rotations (a.log.1 -> a.log.2, a.log -> a.log.1) never collides on a name.
    for (f, plan) in found.iter().zip(&plans) {
        if let Some(Plan::Moved(s)) = plan {
            store.rename_source(s.id, &format!("{} #moving", f.name))?;
        }
    }
    for (f, plan) in found.iter().zip(&plans) {
        if let Some(Plan::Moved(s)) = plan {
            store.rename_source(s.id, &f.name)?;
        }
    }
    let mut prepared = Vec::new();
    for (f, plan) in found.into_iter().zip(plans) {
        let Some(plan) = plan else { continue };
        let mut r = InputReport { name: f.name.clone(), ..Default::default() };
        let source = match plan {
            // Claimed by name (a shared store leases the file to one writer at a time: this
            // waits for another ingest of it to end), with the position as it is now.
            Plan::Continue(s) => store.source(&s.kind, &s.name)?,
            Plan::Moved(s) => {
                tracing::info!(file = %f.name, from = %s.name, "recognised as a file read before under another path");
                r.moved_from = Some(s.name.clone());
                store.source("file", &f.name)?
            }
            Plan::Skip => continue,
            Plan::New(why) => {
                let mut s = store.source("file", &f.name)?;
                // The claim may have waited for another writer of a shared store that read
                // this very file meanwhile: what it stored is continued, not read again.
                let continued = s.position > 0 && matches!(continues(&f, &s, false), Ok(true));
                // A source still at this path, not claimed by another file: its content is
                // gone (replaced or truncated); it ends, and a new one starts.
                if s.position > 0 && !claimed.contains(&s.id) && !continued {
                    tracing::warn!(file = %f.name, reason = why.unwrap_or("replaced"), "file changed since the last run: reading it as a new version");
                    store.retire_source(s.id)?;
                    s = store.source("file", &f.name)?;
                    r.new_version = Some(why.unwrap_or("replaced"));
                }
                s
            }
        };
        r.from = source.position;
        r.to = source.position;
        match reader_at(f, source.position) {
            Ok(reader) => prepared.push(Prepared {
                source: source.id,
                position: source.position,
                reader,
                report: r,
            }),
            Err(e) => {
                r.error = Some(format!("{e:#}"));
                report.inputs.push(r);
            }
        }
    }
    if stdin {
        // Each run of stdin is a source of its own: its positions start at 0 every time.
        let name = format!("stdin@{}", jiff::Timestamp::now());
        let source = store.source("stdin", &name)?;
        prepared.push(Prepared {
            source: source.id,
            position: 0,
            reader: InputReader::Stdin(io::stdin()),
            report: InputReport { name: "-".to_owned(), ..Default::default() },
        });
    }
    Ok(prepared)
}

fn failed(name: &str, error: String) -> InputReport {
    InputReport { name: name.to_owned(), error: Some(error), ..Default::default() }
}

fn open_input(path: &std::path::Path, name: &str) -> anyhow::Result<Found> {
    let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
    let meta = file.metadata().with_context(|| format!("cannot stat {name}"))?;
    if meta.is_dir() {
        anyhow::bail!("{name} is a directory");
    }
    let gz = is_gzip(&file)?;
    let head = if gz {
        let mut head = Vec::new();
        let mut f = file.try_clone()?;
        f.seek(SeekFrom::Start(0))?;
        MultiGzDecoder::new(f).take(HEAD).read_to_end(&mut head)?;
        head
    } else {
        let mut head = vec![0; meta.len().min(HEAD) as usize];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0)?;
        head
    };
    Ok(Found { name: name.to_owned(), file, len: meta.len(), gz, head })
}

/// Whether `f` holds what `s` read, so that reading can go on at its position. At its own
/// path a source without an identity (a gzip file cut short by a crash) is trusted.
fn continues(f: &Found, s: &SourceRow, own_path: bool) -> io::Result<bool> {
    if s.position == 0 {
        return Ok(own_path);
    }
    let Some(identity) = s.identity.as_deref() else { return Ok(own_path) };
    if f.gz {
        return Ok(gz_fingerprint(&f.file, s.position)?.is_some_and(|(fp, _)| fp == identity));
    }
    Ok(f.len >= s.position && fingerprint(&f.file, s.position)? == identity)
}

/// The file's reader, positioned at `position` (decompressed bytes for gzip).
fn reader_at(f: Found, position: u64) -> anyhow::Result<InputReader> {
    let mut file = f.file;
    if f.gz {
        file.seek(SeekFrom::Start(0))?;
        let mut t = Tracking::new(MultiGzDecoder::new(file));
        let skipped = io::copy(&mut (&mut t).take(position), &mut io::sink())?;
        if skipped < position {
            anyhow::bail!("{} holds fewer than the {position} bytes already read", f.name);
        }
        return Ok(InputReader::Gz(Box::new(t)));
    }
    file.seek(SeekFrom::Start(position))?;
    Ok(InputReader::Plain(file))
}
