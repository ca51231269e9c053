//! The workers `serve` runs, one thread each on the pipeline: `file` sources (followed as the
//! files grow, rotate and appear), `scan` sources (every `interval_secs`, each scan followed
//! by the audit of what changed), `kafka` sources (a consumer-group member per topic, as
//! `waymark consume`), and the alert evaluator (when `[[alert.rule]]`s exist). `openlineage`
//! is the server's receiver.
//!
//! Each worker has its own store connection and its own stop flag, and stops at the end of its
//! current poll, so what is in hand is committed. On reload, [`Workers::reconcile`] stops the
//! workers whose definition changed or went away and starts the new ones; a worker whose
//! definition (its `[[source]]` table and the sections of the configuration it reads) is the
//! same keeps running, with its position and join state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use waymark_core::config::{Config, RawConfig, SinkRaw, SourceRaw};
use waymark_pipeline::follow::{follow, sleep_unless, FollowOptions};
use waymark_pipeline::ingest::IngestReport;
use waymark_pipeline::telemetry;
use waymark_store::AnyStore;

/// How often a followed file source looks for new lines.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// One thing to run: its name (for logs, metrics and status), what defines it, and its body.
struct Plan {
    name: String,
    /// The worker's definition as text: equal definitions need no restart on reload.
    definition: String,
    body: Box<dyn FnOnce(Arc<AtomicBool>) + Send>,
}

struct Running {
    name: String,
    definition: String,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The running workers.
pub(crate) struct Workers {
    db: PathBuf,
    running: Vec<Running>,
}

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Reconciled {
    pub(crate) started: Vec<String>,
    pub(crate) stopped: Vec<String>,
    pub(crate) kept: Vec<String>,
}

impl Workers {
    /// Starts every worker of `config` on the store at `db`.
    pub(crate) fn start(config: &Arc<Config>, db: &Path) -> anyhow::Result<Workers> {
        let mut workers = Workers { db: db.to_owned(), running: Vec::new() };
        workers.reconcile(config)?;
        Ok(workers)
    }

    /// Brings the running workers in line with `config`: the changed and the removed ones
    /// stop (committing what they hold), the new and the changed ones start, the others go on.
    pub(crate) fn reconcile(&mut self, config: &Arc<Config>) -> anyhow::Result<Reconciled> {
        let plans = plan(config, &self.db);
        let mut out = Reconciled::default();
        let (keep, stop): (Vec<Running>, Vec<Running>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|r| plans.iter().any(|p| p.name == r.name && p.definition == r.definition));
        for r in stop {
            out.stopped.push(r.name.clone());
            stop_one(r);
        }
        for p in plans {
            if keep.iter().any(|r| r.name == p.name) {
                out.kept.push(p.name);
                continue;
            }
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let body = p.body;
            let thread = std::thread::Builder::new()
                .name(format!("source-{}", p.name))
                .spawn(move || body(flag))?;
            out.started.push(p.name.clone());
            self.running.push(Running { name: p.name, definition: p.definition, stop, thread });
        }
        self.running.extend(keep);
        Ok(out)
    }

    /// Asks every worker to stop after its current poll and waits for them.
    pub(crate) fn stop(mut self) {
        self.stop_all();
    }

    /// As [`Workers::stop`], through a shared reference (nothing runs afterwards).
    pub(crate) fn stop_all(&mut self) {
        for r in &self.running {
            r.stop.store(true, Ordering::SeqCst);
        }
        for r in std::mem::take(&mut self.running) {
            stop_one(r);
        }
    }
}

fn stop_one(r: Running) {
    r.stop.store(true, Ordering::SeqCst);
    if r.thread.join().is_err() {
        tracing::error!(source = %r.name, "the source's thread panicked");
    }
}

/// The definition of a worker: its own table and the sections of the configuration it reads,
/// as JSON (every section serializes; spans are not part of the values).
fn definition(parts: &[serde_json::Value]) -> String {
    serde_json::Value::Array(parts.to_vec()).to_string()
}

fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// What records are parsed with: the systems and the ingest settings.
fn record_sections(raw: &RawConfig) -> Vec<serde_json::Value> {
    vec![json(&raw.ingest), json(&raw.systems)]
}

fn plan(config: &Arc<Config>, db: &Path) -> Vec<Plan> {
    let raw = &config.raw;
    let mut plans = Vec::new();
    for (i, source) in raw.sources.iter().enumerate() {
        let name = source.name(i);
        let mut parts = vec![json(source)];
        match source.clone() {
            SourceRaw::File { paths, .. } => {
                parts.extend(record_sections(raw));
                let (config, db, n) = (Arc::clone(config), db.to_owned(), name.clone());
                plans.push(Plan {
                    name,
                    definition: definition(&parts),
                    body: Box::new(move |stop| run_file(&config, &db, &n, paths, &stop)),
                });
            }
            SourceRaw::Scan { paths, interval_secs, .. } => {
                parts.extend([json(&raw.scan), json(&raw.audit)]);
                let every = Duration::from_secs(interval_secs.unwrap_or(60));
                let (config, db, n) = (Arc::clone(config), db.to_owned(), name.clone());
                plans.push(Plan {
                    name,
                    definition: definition(&parts),
                    body: Box::new(move |stop| run_scan(&config, &db, &n, &paths, every, &stop)),
                });
            }
            SourceRaw::Kafka { brokers, topics, group, settings, .. } => {
                parts.extend(record_sections(raw));
                let several = topics.len() > 1;
                for topic in topics {
                    let worker = if several { format!("{name}/{topic}") } else { name.clone() };
                    let opts = KafkaWork {
                        brokers: brokers.clone(),
                        topic,
                        group: group.clone().unwrap_or_else(|| "waymark".to_owned()),
                        settings: settings.clone().into_iter().collect(),
                    };
                    let (config, db, n) = (Arc::clone(config), db.to_owned(), name.clone());
                    plans.push(Plan {
                        name: worker,
                        definition: definition(&parts),
                        body: Box::new(move |stop| run_kafka(config, &db, &n, opts, &stop)),
                    });
                }
            }
            SourceRaw::Openlineage { .. } => {}
        }
    }
    for (i, sink) in raw.sinks.iter().enumerate() {
        let name = sink.name(i);
        let SinkRaw::Snowflake { url, interval_secs, .. } = sink.clone();
        let every = Duration::from_secs(interval_secs.unwrap_or(300));
        let (db, n) = (db.to_owned(), name.clone());
        plans.push(Plan {
            name,
            definition: definition(&[json(sink)]),
            body: Box::new(move |stop| run_snowflake(&db, &n, &url, every, &stop)),
        });
    }
    if !config.alert.rules.is_empty() {
        let every = Duration::from_secs(raw.alert.interval_secs.unwrap_or(30).max(1));
        let (config, db) = (Arc::clone(config), db.to_owned());
        plans.push(Plan {
            name: "alerts".to_owned(),
            definition: definition(&[json(&raw.expect), json(&raw.alert)]),
            body: Box::new(move |stop| run_alerts(&config, &db, every, &stop)),
        });
    }
    plans
}

/// The store connection of one worker.
fn open(db: &Path, name: &str) -> Option<AnyStore> {
    match waymark_store::open(db) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(source = name, error = %e, "cannot open the store");
            None
        }
    }
}

fn run_file(config: &Config, db: &Path, name: &str, paths: Vec<String>, stop: &AtomicBool) {
    let Some(mut store) = open(db, name) else { return };
    tracing::info!(source = name, ?paths, "following files");
    let opts = FollowOptions { paths, interval: FOLLOW_INTERVAL };
    let result = follow(config, &mut store, &opts, stop, |report| record_metrics(name, report));
    if let Err(e) = result {
        tracing::error!(source = name, error = %format!("{e:#}"), "the file source stopped");
    }
}

fn record_metrics(name: &str, report: &IngestReport) {
    telemetry::count_records(name, &report.counts, report.waiting);
}

fn run_scan(
    config: &Config,
    db: &Path,
    name: &str,
    paths: &[String],
    every: Duration,
    stop: &AtomicBool,
) {
    let Some(mut store) = open(db, name) else { return };
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
                telemetry::scanned(name, report.bytes, report.matches);
                match waymark_pipeline::audit::audit_pending(config, &mut store) {
                    Ok(_) => telemetry::succeeded(name),
                    Err(e) => {
                        tracing::error!(source = name, error = %format!("{e:#}"), "audit failed")
                    }
                }
            }
            Err(e) => {
                tracing::error!(source = name, error = %format!("{e:#}"), "scan failed; retrying")
            }
        }
        sleep_unless(stop, every);
    }
}

/// One topic of a `kafka` source.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
struct KafkaWork {
    brokers: String,
    topic: String,
    group: String,
    settings: Vec<(String, String)>,
}

#[cfg(feature = "kafka")]
fn run_kafka(config: Arc<Config>, db: &Path, name: &str, work: KafkaWork, stop: &AtomicBool) {
    use waymark_pipeline::kafka::{consume, BoxedEventStore, ConsumeOptions};
    // The consumer's callbacks borrow the configuration for as long as it runs: this worker's
    // `Arc` is kept for the life of the process (one pointer per start of a Kafka worker).
    let config: &'static Arc<Config> = Box::leak(Box::new(config));
    let opts = ConsumeOptions {
        brokers: work.brokers,
        topic: work.topic,
        group: work.group,
        settings: work.settings,
        exit_when_idle: None,
        max_batch_wait: Duration::from_millis(500),
        metrics_source: Some(name.to_owned()),
    };
    let open = || -> anyhow::Result<BoxedEventStore> { Ok(Box::new(waymark_store::open(db)?)) };
    // A consumer that fails (the store gone, the broker refusing the group) is restarted
    // after a pause, as a supervisor would; its positions are in the store.
    let mut pause = Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        match consume(config, &open, &opts, stop) {
            Ok(r) => {
                tracing::info!(source = name, records = r.counts.records, "the consumer stopped");
                return;
            }
            Err(e) => {
                tracing::error!(source = name, error = %format!("{e:#}"), retry_in = ?pause, "the Kafka source failed; restarting it");
                sleep_unless(stop, pause);
                pause = (pause * 2).min(Duration::from_secs(60));
            }
        }
    }
}

#[cfg(not(feature = "kafka"))]
fn run_kafka(_config: Arc<Config>, _db: &Path, name: &str, _work: KafkaWork, _stop: &AtomicBool) {
    tracing::error!(source = name, "this binary was built without Kafka (feature `kafka`)");
}

fn run_alerts(config: &Config, db: &Path, every: Duration, stop: &AtomicBool) {
    let Some(mut store) = open(db, "alerts") else { return };
    tracing::info!(rules = config.alert.rules.len(), every = ?every, "evaluating alert rules");
    waymark_pipeline::alert::run(&config.alert, &mut store, every, stop);
}

/// A `[[sink]] type = "snowflake"`: every `every`, what is new since the last load is loaded
/// (as `waymark export --to URL`; the watermarks are in the store, so a restart goes on).
fn run_snowflake(db: &Path, name: &str, url: &str, every: Duration, stop: &AtomicBool) {
    let Some(mut store) = open(db, name) else { return };
    let cfg = match waymark_pipeline::export::snowflake::SnowflakeConfig::from_url(url, &|k| {
        std::env::var(k).ok()
    }) {
        Ok(c) => c,
        Err(e) => {
            return tracing::error!(sink = name, error = %format!("{e:#}"), "the sink cannot start")
        }
    };
    while !stop.load(Ordering::Relaxed) {
        match waymark_pipeline::export::snowflake::load(&mut store, &cfg, &[]) {
            Ok(loads) => {
                let rows: u64 = loads.iter().map(|l| l.rows).sum();
                tracing::info!(sink = name, rows, "loaded into snowflake");
                telemetry::succeeded(name);
            }
            Err(e) => {
                tracing::error!(sink = name, error = %format!("{e:#}"), "the snowflake load failed; retrying at the next round")
            }
        }
        sleep_unless(stop, every);
    }
}
