//! `waymark bench`: the core pipeline's speed against the ceiling SQLite sets, in one process.
//!
//! Over one input file it measures (1) parse + normalize on one core, (2) the whole core
//! (checks, parse, normalize, correlate), (3) the SQLite ceiling: the same events, already
//! parsed, committed into the same schema with its indexes in batches cut where `ingest` cuts
//! them (and, for comparison with earlier figures, in batches of `batch_records` events), and
//! (4) end to end: `ingest` of the file into a fresh store. `bench/run.sh` adds the seed's
//! Python approach over the same file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use waymark_core::correlate::Change;
use waymark_core::parse::Parsed;
use waymark_core::pipeline::{Batch, Processor};
use waymark_core::{Event, Origin};
use waymark_store::{EventStore, SqliteStore};

use crate::cli::Global;
use crate::context::load_config;
use waymark_pipeline::ingest::{ingest, Input, BATCH_BYTES};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Input file, one record per line (e.g. from `waymark simulate -o`).
    #[arg(long)]
    pub(crate) input: PathBuf,
    /// Folder for the benchmark's databases (default: a temporary one, removed after).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Repetitions of the in-memory measurements (the best is kept).
    #[arg(long, default_value_t = 3)]
    pub(crate) repeat: u32,
    /// Only measure parse + normalize (for profiling).
    #[arg(long)]
    pub(crate) parse_only: bool,
}

pub(crate) fn run(g: &Global, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let data = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let n = lines.len() as f64;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("waymark-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;

    let parse_secs = best(args.repeat, || {
        let mut ok = 0u64;
        for l in &lines {
            ok += config.parsers.parse_bytes(l).is_ok() as u64;
        }
        std::hint::black_box(ok);
    });
    if args.parse_only {
        println!(
            "{}",
            serde_json::json!({ "records": lines.len(), "parse_normalize_per_sec": (n / parse_secs).round() })
        );
        return Ok(ExitCode::SUCCESS);
    }
    let core_secs = best(args.repeat, || {
        let mut p = Processor::new(&config);
        let mut batch = Batch::default();
        for (i, l) in lines.iter().enumerate() {
            p.record(Origin { source: 1, position: i as u64 }, l, &mut batch);
            if batch.len() >= config.ingest.batch_records as u64 {
                batch = Batch::default();
            }
        }
        std::hint::black_box(batch);
    });

    // The ceiling: events already parsed, committed into the same schema in batches cut where
    // `ingest` cuts them (at `[ingest] batch_records` records or BATCH_BYTES of input, the
    // records' bytes counted with their newline); and, as measured before batches had a byte
    // cut, in batches of `batch_records` events.
    let mut events = Vec::with_capacity(lines.len());
    let mut cuts = Vec::new();
    let (mut records, mut bytes) = (0, 0);
    for (i, l) in lines.iter().enumerate() {
        if let Ok(Parsed::Event(e)) = std::str::from_utf8(l)
            .map_err(|_| ())
            .and_then(|t| config.parsers.parse(t).map_err(|_| ()))
        {
            events.push((i as u64, e));
        }
        records += 1;
        bytes += l.len() as u64 + 1;
        if records >= config.ingest.batch_records || bytes >= BATCH_BYTES {
            cuts.push(events.len());
            (records, bytes) = (0, 0);
        }
    }
    let as_ingest = split_at(&events, &cuts);
    let whole: Vec<_> = events.chunks(config.ingest.batch_records).collect();
    let ceiling_secs = ceiling(&dir.join("ceiling.db"), &as_ingest)?;
    let ceiling_whole_secs = ceiling(&dir.join("ceiling-whole.db"), &whole)?;
    let ceiling_rows = events.len() as f64;

    let e2e_db = dir.join("e2e.db");
    remove_db(&e2e_db);
    let t = Instant::now();
    let mut store = SqliteStore::open(&e2e_db)?;
    let report = ingest(&config, &mut store, &[Input::File(args.input.clone())])?;
    drop(store);
    let e2e_secs = t.elapsed().as_secs_f64();
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }

    let ceiling_rate = ceiling_rows / ceiling_secs;
    let ceiling_whole_rate = ceiling_rows / ceiling_whole_secs;
    let e2e_rate = report.counts.records as f64 / e2e_secs;
    let e2e_rows_rate = report.counts.events as f64 / e2e_secs;
    let v = serde_json::json!({
        "records": lines.len(),
        "events": report.counts.events,
        "parse_normalize_per_sec": (n / parse_secs).round(),
        "core_per_sec": (n / core_secs).round(),
        "sqlite_ceiling_rows_per_sec": ceiling_rate.round(),
        "end_to_end_records_per_sec": e2e_rate.round(),
        "end_to_end_rows_per_sec": e2e_rows_rate.round(),
        "end_to_end_vs_ceiling": (e2e_rows_rate / ceiling_rate * 1000.0).round() / 1000.0,
        "end_to_end_secs": e2e_secs,
        "sqlite_ceiling_whole_batches_rows_per_sec": ceiling_whole_rate.round(),
        "end_to_end_vs_ceiling_whole_batches": (e2e_rows_rate / ceiling_whole_rate * 1000.0).round() / 1000.0,
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}

/// `events` split before each index of `cuts` (the last part is what follows the last cut).
fn split_at<'a, T>(events: &'a [T], cuts: &[usize]) -> Vec<&'a [T]> {
    let mut parts = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&events.len())) {
        if to > from {
            parts.push(&events[from..to]);
            from = to;
        }
    }
    parts
}

/// Seconds to commit `batches` of pre-parsed events into a fresh store at `path`, closing
/// included (it checkpoints what the write-ahead log still holds).
fn ceiling(path: &std::path::Path, batches: &[&[(u64, Event)]]) -> anyhow::Result<f64> {
    remove_db(path);
    let mut store = SqliteStore::open(path)?;
    let source = store.source("file", "ceiling")?.id;
    let batches: Vec<Batch> = batches
        .iter()
        .map(|chunk| {
            let mut b = Batch::default();
            for (pos, e) in *chunk {
                b.changes.push(Change::Insert {
                    origin: Origin { source, position: *pos },
                    event: e.clone(),
                });
            }
            b.set_position(source, chunk.last().map_or(0, |c| c.0), None);
            b
        })
        .collect();
    let t = Instant::now();
    for b in &batches {
        store.commit(b)?;
    }
    drop(store);
    Ok(t.elapsed().as_secs_f64())
}

fn best(repeat: u32, mut f: impl FnMut()) -> f64 {
    (0..repeat.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn remove_db(path: &std::path::Path) {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
}
