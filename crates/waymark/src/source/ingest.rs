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
use waymark_core::config::Config;
use waymark_core::pipeline::{Batch, Counts, Processor, DEAD_LETTER_MAX_RAW};
use waymark_core::Origin;
use waymark_store::EventStore;

use super::file::{fingerprint, resume, Resume};
use super::lines::{Frame, LineReader};

/// A batch is cut at `[ingest] batch_records` or at this many bytes of records, whichever
/// comes first: memory is bounded whatever the records' length. With three batches in memory
/// and SQLite's 32 MiB page cache, `ingest` peaks near 70 MiB (issue 15: 175 MiB with batches
/// of 100,000 records, two in the channel, and a 64 MiB cache).
const BATCH_BYTES: u64 = 4 << 20;

/// One input of `waymark ingest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    Stdin,
    File(PathBuf),
}

/// What happened to one input.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct InputReport {
    pub(crate) name: String,
    /// Position read from.
    pub(crate) from: u64,
    /// Position reached (committed).
    pub(crate) to: u64,
    /// Bytes after the last newline, left for the next run (a line still being written).
    pub(crate) unterminated_bytes: u64,
    /// Set when the file was truncated or replaced since the last run.
    pub(crate) new_version: Option<&'static str>,
    pub(crate) error: Option<String>,
}

/// The outcome of an ingest run.
#[derive(Debug, Default)]
pub(crate) struct IngestReport {
    pub(crate) counts: Counts,
    pub(crate) inputs: Vec<InputReport>,
    pub(crate) waiting: usize,
    pub(crate) elapsed: Duration,
    pub(crate) batches: u64,
}

struct Prepared {
    source: u32,
    position: u64,
    reader: Box<dyn Read + Send>,
    /// For files: a handle to fingerprint what was read.
    file: Option<File>,
    report: InputReport,
}

/// Ingests the inputs in order; an input that cannot be read is reported and skipped.
pub(crate) fn ingest(
    config: &Config,
    store: &mut dyn EventStore,
    inputs: &[Input],
) -> anyhow::Result<IngestReport> {
    let started = Instant::now();
    let mut report = IngestReport::default();
    let mut prepared = Vec::new();
    for input in dedup(inputs) {
        match prepare(store, &input) {
            Ok(p) => prepared.push(p),
            Err(e) => report.inputs.push(InputReport {
                name: input_name(&input),
                error: Some(format!("{e:#}")),
                ..Default::default()
            }),
        }
    }
    let mut processor = Processor::new(config);
    let (waiting, watermark) = store.join_state().context("cannot load the join state")?;
    processor.restore(waiting, watermark);
    let batch_records = config.ingest.batch_records as u64;
    let max = config.ingest.max_line_bytes;
    // One batch in the channel: the parser stays one batch ahead of the writer, and at most
    // three batches are in memory (filling, waiting, committing). See: issue 15.
    let (tx, rx) = mpsc::sync_channel::<Batch>(1);
    let (done_tx, done_rx) = mpsc::channel::<InputReport>();
    let waiting = std::thread::scope(|scope| -> anyhow::Result<usize> {
        let parser = scope.spawn(move || {
            for p in prepared {
                let r = run_input(&mut processor, p, batch_records, max, &tx);
                if done_tx.send(r).is_err() {
                    break;
                }
            }
            processor.waiting()
        });
        for batch in rx {
            store.commit(&batch).context("cannot commit a batch to the store")?;
            report.counts.add(&batch.counts);
            report.batches += 1;
            tracing::debug!(
                records = batch.counts.records,
                batches = report.batches,
                "batch committed"
            );
        }
        parser.join().map_err(|_| anyhow::anyhow!("the parser thread panicked"))
    })?;
    report.inputs.extend(done_rx);
    report.waiting = waiting;
    report.elapsed = started.elapsed();
    Ok(report)
}

fn dedup(inputs: &[Input]) -> Vec<Input> {
    let mut seen = Vec::new();
    for i in inputs {
        let i = match i {
            Input::File(p) => Input::File(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            Input::Stdin => Input::Stdin,
        };
        if !seen.contains(&i) {
            seen.push(i);
        }
    }
    seen
}

fn input_name(input: &Input) -> String {
    match input {
        Input::Stdin => "-".to_owned(),
        Input::File(p) => p.display().to_string(),
    }
}

fn prepare(store: &mut dyn EventStore, input: &Input) -> anyhow::Result<Prepared> {
    let Input::File(path) = input else {
        // Each run of stdin is a source of its own: its positions start at 0 every time.
        let name = format!("stdin@{}", jiff::Timestamp::now());
        let source = store.source("stdin", &name)?;
        let report = InputReport { name: "-".to_owned(), ..Default::default() };
        return Ok(Prepared {
            source: source.id,
            position: 0,
            reader: Box::new(io::stdin()),
            file: None,
            report,
        });
    };
    let name = path.display().to_string();
    let mut file = File::open(path).with_context(|| format!("cannot open {name}"))?;
    let meta = file.metadata().with_context(|| format!("cannot stat {name}"))?;
    if meta.is_dir() {
        anyhow::bail!("{name} is a directory");
    }
    let mut source = store.source("file", &name)?;
    let mut report = InputReport { name: name.clone(), ..Default::default() };
    if let Resume::NewVersion(why) =
        resume(&file, meta.len(), source.position, source.identity.as_deref())?
    {
        tracing::warn!(file = %name, reason = why, "file changed since the last run: reading it as a new version");
        store.retire_source(source.id)?;
        source = store.source("file", &name)?;
        report.new_version = Some(why);
    }
    file.seek(SeekFrom::Start(source.position))?;
    report.from = source.position;
    report.to = source.position;
    let handle = file.try_clone()?;
    Ok(Prepared {
        source: source.id,
        position: source.position,
        reader: Box::new(file),
        file: Some(handle),
        report,
    })
}

fn run_input(
    processor: &mut Processor<'_>,
    p: Prepared,
    batch_records: u64,
    max: usize,
    tx: &mpsc::SyncSender<Batch>,
) -> InputReport {
    let Prepared { source, position, reader, file, mut report } = p;
    let is_stdin = file.is_none();
    let mut lines = LineReader::new(reader, position, max, DEAD_LETTER_MAX_RAW);
    let mut batch = Batch::default();
    let mut reached = position;
    // Record bytes in the batch: a batch is also cut at BATCH_BYTES.
    let mut batch_bytes = 0u64;
    let flush = |batch: &mut Batch, reached: u64| -> bool {
        let identity = file.as_ref().and_then(|f| fingerprint(f, reached).ok());
        batch.set_position(source, reached, identity);
        tx.send(std::mem::take(batch)).is_ok()
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
            if !flush(&mut batch, reached) {
                return report;
            }
        }
    }
    if !batch.is_empty() || reached != position {
        flush(&mut batch, reached);
    }
    report.to = reached;
    report
}
