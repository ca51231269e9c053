//! The sources `serve` runs, one thread each on the pipeline: `file` (followed as the files
//! grow, rotate and appear) and `scan` (every `interval_secs`, each scan followed by the audit
//! of what changed). Each has its own store connection; each stops at the end of its current
//! poll when the server stops, so what is in hand is committed. `kafka` sources are reported
//! as not run yet; `openlineage` is the server's receiver.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use waymark_core::config::{Config, SourceRaw};
use waymark_core::parse::RejectKind;
use waymark_pipeline::follow::{follow, sleep_unless, FollowOptions};
use waymark_pipeline::ingest::IngestReport;

/// Running source threads and their stop flag.
pub(crate) struct Sources {
    stop: Arc<AtomicBool>,
    threads: Vec<(String, JoinHandle<()>)>,
}

/// How often a followed file source looks for new lines.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

impl Sources {
    /// Starts every runnable source of `config` on the store at `db`.
    pub(crate) fn start(config: &Arc<Config>, db: &Path) -> anyhow::Result<Sources> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (i, source) in config.raw.sources.iter().enumerate() {
            let name = source.name(i);
            let (config, db, stop) = (Arc::clone(config), db.to_owned(), Arc::clone(&stop));
            let body: Box<dyn FnOnce() + Send> = match source.clone() {
                SourceRaw::File { paths, .. } => {
                    let name = name.clone();
                    Box::new(move || run_file(&config, &db, &name, paths, &stop))
                }
                SourceRaw::Scan { paths, interval_secs, .. } => {
                    let name = name.clone();
                    let every = Duration::from_secs(interval_secs.unwrap_or(60));
                    Box::new(move || run_scan(&config, &db, &name, &paths, every, &stop))
                }
                SourceRaw::Kafka { .. } => {
                    tracing::warn!(source = %name, "kafka sources are not run by serve yet");
                    continue;
                }
                SourceRaw::Openlineage { .. } => continue,
            };
            let thread = std::thread::Builder::new().name(format!("source-{name}")).spawn(body)?;
            threads.push((name, thread));
        }
        Ok(Sources { stop, threads })
    }

    /// Asks every source to stop after its current poll and waits for them.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for (name, thread) in self.threads {
            if thread.join().is_err() {
                tracing::error!(source = %name, "the source's thread panicked");
            }
        }
    }
}

fn run_file(config: &Config, db: &Path, name: &str, paths: Vec<String>, stop: &AtomicBool) {
    let mut store = match waymark_store::open(db) {
        Ok(s) => s,
        Err(e) => return tracing::error!(source = name, error = %e, "cannot open the store"),
    };
    tracing::info!(source = name, ?paths, "following files");
    let opts = FollowOptions { paths, interval: FOLLOW_INTERVAL };
    let result = follow(config, &mut store, &opts, stop, |report| record_metrics(name, report));
    if let Err(e) = result {
        tracing::error!(source = name, error = %format!("{e:#}"), "the file source stopped");
    }
}

fn record_metrics(name: &str, report: &IngestReport) {
    let c = &report.counts;
    let source = name.to_owned();
    metrics::counter!("waymark_records_received_total", "source" => source.clone())
        .increment(c.records);
    metrics::counter!("waymark_events_stored_total", "source" => source.clone())
        .increment(c.events);
    for (kind, n) in RejectKind::ALL.iter().zip(c.rejected_by_kind) {
        if n > 0 {
            metrics::counter!("waymark_dead_letters_total", "source" => source.clone(), "reason" => kind.as_str())
                .increment(n);
        }
    }
    metrics::gauge!("waymark_join_waiting", "source" => source.clone()).set(report.waiting as f64);
    metrics::gauge!("waymark_last_success_timestamp_seconds", "source" => source)
        .set(jiff::Timestamp::now().as_second() as f64);
}

fn run_scan(
    config: &Config,
    db: &Path,
    name: &str,
    paths: &[String],
    every: Duration,
    stop: &AtomicBool,
) {
    let mut store = match waymark_store::open(db) {
        Ok(s) => s,
        Err(e) => return tracing::error!(source = name, error = %e, "cannot open the store"),
    };
    let db_abs = std::path::absolute(db).unwrap_or_else(|_| db.to_owned());
    while !stop.load(Ordering::Relaxed) {
        let mut walked = waymark_pipeline::scan::expand(paths);
        walked.files.retain(|f| !f.to_string_lossy().starts_with(&*db_abs.to_string_lossy()));
        let progress = indicatif::ProgressBar::hidden();
        match waymark_pipeline::scan::scan(
            &config.scan,
            &mut store,
            &walked.files,
            &progress,
            std::time::Duration::from_secs(waymark_pipeline::scan::DEFAULT_QUIET_SECS),
        ) {
            Ok(report) => {
                let source = name.to_owned();
                metrics::counter!("waymark_scan_bytes_total", "source" => source.clone())
                    .increment(report.bytes);
                metrics::counter!("waymark_scan_matches_total", "source" => source.clone())
                    .increment(report.matches);
                match waymark_pipeline::audit::audit_pending(config, &mut store) {
                    Ok(_) => metrics::gauge!("waymark_last_success_timestamp_seconds", "source" => source)
                        .set(jiff::Timestamp::now().as_second() as f64),
                    Err(e) => tracing::error!(source = name, error = %format!("{e:#}"), "audit failed"),
                }
            }
            Err(e) => {
                tracing::error!(source = name, error = %format!("{e:#}"), "scan failed; retrying")
            }
        }
        sleep_unless(stop, every);
    }
}
