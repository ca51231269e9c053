//! Kafka: consume a topic into the store exactly once in effect, and produce simulated flows.
//!
//! The consumer is a consumer-group member on librdkafka. Every message's origin is
//! (topic/partition source, offset); the position of each partition is committed in the store
//! in the same transaction as the rows its messages produced, and only then to Kafka (for lag
//! and restarts). A message below the store's position is a redelivery (after a crash between
//! the two commits, or a rebalance) and is skipped before the correlator sees it, so nothing is
//! stored or joined twice. On a partition's revocation the batch in hand is committed first and
//! the partition's waiting join halves are forgotten; on assignment they are loaded from the
//! store, where the previous owner left them.
//!
//! Three threads: the polling thread only polls, copying each payload into a chunk (one buffer
//! of a few thousand messages) that it hands to the parse thread; the parse thread parses,
//! correlates and builds the batches; the writer thread ([`Writer`], as in `ingest`) commits
//! them. The offsets the writer acknowledged come back to the polling thread, which alone
//! touches the consumer and commits them to Kafka. Rebalances go through the same channel as
//! the chunks, in order: on a revocation the chunk in hand goes first, and the callback waits
//! until the parse thread has committed everything before it, so no record of a revoked
//! partition is committed after the revocation; on an assignment the partition's state is
//! loaded before any of its records is parsed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use crate::writer::BoxedEventStore;
use crate::writer::Writer;
use anyhow::Context as _;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use waymark_core::config::Config;
use waymark_core::pipeline::{Batch, Counts, Processor};
use waymark_core::Origin;
use waymark_store::EventStore;

use crate::ingest::BATCH_BYTES;
use crate::simulate::SimRecord;

/// What `waymark consume` was asked to do.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    /// `-X key=value` settings passed to librdkafka.
    pub settings: Vec<(String, String)>,
    pub exit_when_idle: Option<Duration>,
    /// Commit at least this often while messages flow.
    pub max_batch_wait: Duration,
    /// The source name of the metrics (records, dead letters, lag per partition) this
    /// consumer reports, when it runs in a server; `None` reports none.
    pub metrics_source: Option<String>,
}

/// The end-of-run summary.
#[derive(Debug, Default)]
pub struct ConsumeReport {
    pub counts: Counts,
    /// Redelivered messages skipped because the store already had them.
    pub redelivered: u64,
    /// Offsets the broker no longer had when this consumer got there (retention, compaction):
    /// never read, reported rather than silently jumped over.
    pub offsets_missing: u64,
    pub batches: u64,
    pub elapsed: Duration,
    /// From the first message to the last commit: the time spent consuming, without the
    /// group join before and the idle wait after.
    pub active: Duration,
    /// Messages still to read in the assigned partitions at the end.
    pub lag: i64,
    pub waiting: usize,
}

/// Parses `-X key=value` arguments.
pub fn parse_settings(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|kv| {
            let (k, v) =
                kv.split_once('=').with_context(|| format!("-X {kv}: expected key=value"))?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Messages polled since the last hand-over, at most this many...
const CHUNK_MESSAGES: usize = 2_000;
/// ...or this many payload bytes, copied out of librdkafka's buffers into one block.
const CHUNK_BYTES: usize = 1 << 20;

/// Messages handed whole from the polling thread to the parse thread: their payloads copied
/// one after the other into one buffer (no allocation per message).
#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    msgs: Vec<Msg>,
}

struct Msg {
    partition: i32,
    offset: i64,
    /// The payload is `data[previous end..end]`; `None` for a message without one.
    end: Option<usize>,
}

impl Chunk {
    fn push(&mut self, partition: i32, offset: i64, payload: Option<&[u8]>) {
        let end = payload.map(|p| {
            self.data.extend_from_slice(p);
            self.data.len()
        });
        self.msgs.push(Msg { partition, offset, end });
    }

    fn is_full(&self) -> bool {
        self.msgs.len() >= CHUNK_MESSAGES || self.data.len() >= CHUNK_BYTES
    }
}

/// Kafka offsets to commit: (partition, next offset).
type Offsets = Vec<(i32, i64)>;

/// What the polling thread hands to the parse thread, in the order librdkafka delivered it:
/// a rebalance travels in the same channel as the records, so every record polled before a
/// revocation is parsed and committed before the revocation is answered, and none after.
enum Work {
    Records(Chunk),
    /// Partitions assigned: their state is loaded from the store; the reply holds their
    /// positions (the next offset to store).
    Assign(Vec<i32>, SyncSender<Vec<(i32, i64)>>),
    /// Partitions revoked: everything in hand is committed to the store first, then their
    /// state is forgotten; the reply holds the offsets to commit to Kafka.
    Revoke(Vec<i32>, SyncSender<Offsets>),
    /// The end: everything in hand is committed; the reply holds the offsets.
    Finish(SyncSender<Offsets>),
}

struct Part {
    source: u32,
    /// The next offset to store: everything below is in the store.
    next: i64,
}

/// The parse thread: parses and correlates the records, builds the batches and hands them to
/// the writer thread, and passes the offsets the writer acknowledged back to the polling
/// thread (which alone touches the consumer).
struct Parse {
    /// For sources, join state and positions; batches go through `writer`.
    store: BoxedEventStore,
    writer: Writer,
    processor: Processor<'static>,
    batch: Batch,
    /// The last batch the writer committed and handed back, to be reused.
    spare: Option<Batch>,
    batch_started: Option<Instant>,
    batch_records: u64,
    /// Payload bytes in the batch in hand: a batch is also cut at [`BATCH_BYTES`], as in
    /// `ingest`, so that memory is bounded whatever the records' length.
    batch_bytes: u64,
    max_batch_wait: Duration,
    last_commit: Option<Instant>,
    parts: HashMap<i32, Part>,
    topic: String,
    report: ConsumeReport,
    metrics_source: Option<String>,
    /// Offsets the writer acknowledged, for the polling thread to commit to Kafka.
    commits: mpsc::Sender<Offsets>,
    /// Records stored, for the polling thread's progress log.
    stored: Arc<AtomicU64>,
}

impl Parse {
    fn run(mut self, work: Receiver<Work>) -> anyhow::Result<(ConsumeReport, Option<Instant>)> {
        loop {
            let wait = match self.batch_started {
                Some(t) => self.max_batch_wait.saturating_sub(t.elapsed()),
                None => Duration::from_millis(100),
            };
            match work.recv_timeout(wait) {
                Ok(Work::Records(chunk)) => self.records(&chunk)?,
                Ok(Work::Assign(partitions, reply)) => {
                    let mut positions = Vec::with_capacity(partitions.len());
                    for p in partitions {
                        positions.push((p, self.part(p)?.next));
                    }
                    let _ = reply.send(positions);
                }
                Ok(Work::Revoke(partitions, reply)) => {
                    let offsets = self.flush(true)?;
                    for p in partitions {
                        if let Some(part) = self.parts.remove(&p) {
                            self.processor.forget_source(part.source);
                            tracing::info!(
                                partition = p,
                                position = part.next,
                                "partition revoked"
                            );
                        }
                    }
                    let _ = reply.send(offsets);
                }
                Ok(Work::Finish(reply)) => {
                    let offsets = self.flush(true)?;
                    let _ = reply.send(offsets);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let due = self.batch_started.is_some_and(|t| t.elapsed() >= self.max_batch_wait);
            let offsets = if due { self.flush(false)? } else { self.acknowledge(false)? };
            if !offsets.is_empty() {
                let _ = self.commits.send(offsets);
            }
        }
        self.report.waiting = self.processor.waiting();
        Ok((std::mem::take(&mut self.report), self.last_commit))
    }

    fn records(&mut self, chunk: &Chunk) -> anyhow::Result<()> {
        self.batch_started.get_or_insert_with(Instant::now);
        let mut start = 0;
        for m in &chunk.msgs {
            let payload = m.end.map(|end| &chunk.data[std::mem::replace(&mut start, end)..end]);
            self.batch_bytes += payload.map_or(0, |p| p.len() as u64);
            self.handle(m.partition, m.offset, payload)?;
            if self.batch.len() >= self.batch_records || self.batch_bytes >= BATCH_BYTES {
                let offsets = self.flush(false)?;
                if !offsets.is_empty() {
                    let _ = self.commits.send(offsets);
                }
                self.batch_started = Some(Instant::now());
            }
        }
        Ok(())
    }

    fn part(&mut self, partition: i32) -> anyhow::Result<&mut Part> {
        if !self.parts.contains_key(&partition) {
            let name = format!("{}/{partition}", self.topic);
            let source = self.store.source("kafka", &name)?;
            let pending = self.store.pending_of_source(source.id)?;
            tracing::info!(
                partition,
                position = source.position,
                waiting = pending.len(),
                "partition assigned"
            );
            let watermark = source.watermark.map(|w| (source.id, w));
            self.processor.restore(pending, watermark.into_iter().collect());
            self.parts.insert(partition, Part { source: source.id, next: source.position as i64 });
        }
        self.parts.get_mut(&partition).context("partition state")
    }

    fn handle(
        &mut self,
        partition: i32,
        offset: i64,
        payload: Option<&[u8]>,
    ) -> anyhow::Result<()> {
        let part = self.part(partition)?;
        if offset < part.next {
            self.report.redelivered += 1;
            return Ok(());
        }
        if offset > part.next {
            tracing::warn!(
                partition,
                from = part.next,
                to = offset,
                "offsets missing from the broker (retention or compaction): they were never read"
            );
        }
        let missing = (offset - part.next).max(0) as u64;
        let origin = Origin { source: part.source, position: offset as u64 };
        part.next = offset + 1;
        let (source, next) = (part.source, part.next);
        self.report.offsets_missing += missing;
        let payload = payload.map(|p| p.strip_suffix(b"\n").unwrap_or(p));
        match payload {
            None | Some([]) => self.processor.empty(origin, &mut self.batch),
            Some(bytes) => self.processor.record(origin, bytes, &mut self.batch),
        }
        self.batch.set_position(source, next as u64, None);
        Ok(())
    }

    /// Hands the batch in hand to the writer, then takes its acknowledgements (see
    /// [`Parse::acknowledge`]).
    fn flush(&mut self, wait: bool) -> anyhow::Result<Offsets> {
        if !self.batch.positions.is_empty() {
            let next = match self.spare.take() {
                Some(mut b) => {
                    // Its rows are freed here, its buffers kept.
                    b.changes.clear();
                    b.dead_letters.clear();
                    b.positions.clear();
                    b.watermarks.clear();
                    b.counts = Counts::default();
                    b
                }
                None => Batch::default(),
            };
            self.writer.send(std::mem::replace(&mut self.batch, next))?;
            self.batch_started = None;
            self.batch_bytes = 0;
        }
        self.acknowledge(wait)
    }

    /// Takes the writer's acknowledgements — all of them when `wait` (revocation, exit), else
    /// those ready — and returns the Kafka offsets they make committable.
    fn acknowledge(&mut self, wait: bool) -> anyhow::Result<Offsets> {
        let mut offsets = Vec::new();
        while let Some(ack) = self.writer.ack(wait) {
            let done = ack?.batch;
            self.last_commit = Some(Instant::now());
            self.report.counts.add(&done.counts);
            self.report.batches += 1;
            self.stored.store(self.report.counts.records, Ordering::Relaxed);
            if let Some(name) = &self.metrics_source {
                crate::telemetry::count_records(name, &done.counts, self.processor.waiting());
            }
            for p in &done.positions {
                let owner = self.parts.iter().find(|(_, part)| part.source == p.source);
                if let Some((partition, _)) = owner {
                    offsets.push((*partition, p.position as i64));
                }
            }
            self.spare = Some(done);
        }
        Ok(offsets)
    }
}

/// The polling thread's state, shared with the rebalance and statistics callbacks (which run
/// inside `poll`, on the same thread, while the main loop holds no lock).
struct Shared {
    /// Messages polled, not yet handed to the parse thread.
    chunk: Chunk,
    work: SyncSender<Work>,
    commits: Receiver<Offsets>,
    /// The next offset of each assigned partition, as polled (or as stored, before any).
    polled: HashMap<i32, i64>,
    /// High watermarks of the partitions this consumer fetches, from librdkafka's statistics
    /// (no request to the broker on the hot path).
    highs: HashMap<i32, i64>,
    /// When the group-wide "everything consumed?" check last asked the broker.
    last_caught_up_check: Option<Instant>,
    topic: String,
    metrics_source: Option<String>,
    /// An error met inside a callback (the parse thread stopped), raised by the main loop.
    failed: Option<anyhow::Error>,
}

impl Shared {
    /// Hands the messages polled so far to the parse thread.
    fn hand_over(&mut self) -> anyhow::Result<()> {
        if self.chunk.msgs.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.chunk);
        self.work.send(Work::Records(chunk)).ok().context("the parse thread has stopped")
    }

    /// Asks the parse thread and waits for its answer (the records polled before go first).
    fn ask<T>(&mut self, work: impl FnOnce(SyncSender<T>) -> Work) -> anyhow::Result<T> {
        self.hand_over()?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.work.send(work(tx)).ok().context("the parse thread has stopped")?;
        rx.recv().ok().context("the parse thread has stopped")
    }

    /// Commits to Kafka the offsets the store acknowledged, `last` after those waiting.
    fn commit(&mut self, consumer: &BaseConsumer<Ctx>, last: Offsets, mode: CommitMode) {
        let mut newest: HashMap<i32, i64> = HashMap::new();
        for (p, o) in self.commits.try_iter().flatten().chain(last) {
            let e = newest.entry(p).or_insert(o);
            *e = (*e).max(o);
        }
        if newest.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in newest {
            if let Err(e) = tpl.add_partition_offset(&self.topic, p, Offset::Offset(o)) {
                tracing::warn!(error = %e, "cannot list an offset to commit");
            }
        }
        if let Err(e) = consumer.commit(&tpl, mode) {
            // The store has the data and the positions; Kafka's offsets only lag behind.
            tracing::warn!(error = %e, "cannot commit offsets to Kafka; the store's positions stand");
        }
    }

    fn revoke(&mut self, consumer: &BaseConsumer<Ctx>, tpl: &TopicPartitionList) {
        let partitions: Vec<i32> =
            tpl.elements_for_topic(&self.topic).iter().map(|el| el.partition()).collect();
        match self.ask(|reply| Work::Revoke(partitions.clone(), reply)) {
            Ok(offsets) => self.commit(consumer, offsets, CommitMode::Sync),
            Err(e) => {
                self.failed.get_or_insert(e);
            }
        }
        for p in partitions {
            self.polled.remove(&p);
        }
    }

    fn assign(&mut self, tpl: &TopicPartitionList) {
        let partitions: Vec<i32> =
            tpl.elements_for_topic(&self.topic).iter().map(|el| el.partition()).collect();
        match self.ask(|reply| Work::Assign(partitions, reply)) {
            Ok(positions) => self.polled.extend(positions),
            Err(e) => {
                self.failed.get_or_insert(e);
            }
        }
    }
}

struct Ctx {
    shared: Arc<Mutex<Shared>>,
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(facility = fac, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(facility = fac, "librdkafka: {message}"),
            _ => tracing::debug!(facility = fac, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, "kafka: {reason}");
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut sh = lock(&self.shared);
        let Some(topic) = statistics.topics.get(&sh.topic) else { return };
        let highs: Vec<(i32, i64)> = topic
            .partitions
            .iter()
            .filter(|(p, _)| **p >= 0)
            .map(|(p, s)| (*p, s.hi_offset))
            .collect();
        for (p, high) in highs {
            if high >= 0 {
                sh.highs.insert(p, high);
            }
        }
        if let Some(name) = &sh.metrics_source {
            for (p, next) in &sh.polled {
                if let Some(high) = sh.highs.get(p) {
                    crate::telemetry::kafka_lag(name, &sh.topic, *p, (high - next).max(0));
                }
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            lock(&self.shared).revoke(consumer, tpl);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            lock(&self.shared).assign(tpl);
        }
    }
}

fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a half-applied batch: the store commit is
    // one transaction. Go on with the state as it is.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Consumes until stopped (SIGINT/SIGTERM) or idle; every message ends in the store.
pub fn consume(
    config: &'static Config,
    open_store: &dyn Fn() -> anyhow::Result<BoxedEventStore>,
    opts: &ConsumeOptions,
    stop: &AtomicBool,
) -> anyhow::Result<ConsumeReport> {
    let started = Instant::now();
    let (work_tx, work_rx) = mpsc::sync_channel(4);
    let (commits_tx, commits_rx) = mpsc::channel();
    let stored = Arc::new(AtomicU64::new(0));
    // Three store handles: the parse thread's reads (join state of assigned partitions), the
    // writer thread's, and this thread's (positions, for the idle check).
    let parse = Parse {
        store: open_store()?,
        writer: Writer::spawn(open_store()?),
        // Join state is loaded per partition as partitions are assigned.
        processor: Processor::new(config),
        batch: Batch::default(),
        spare: None,
        batch_started: None,
        batch_records: config.ingest.batch_records as u64,
        batch_bytes: 0,
        max_batch_wait: opts.max_batch_wait,
        last_commit: None,
        parts: HashMap::new(),
        topic: opts.topic.clone(),
        report: ConsumeReport::default(),
        metrics_source: opts.metrics_source.clone(),
        commits: commits_tx,
        stored: stored.clone(),
    };
    let mut store = open_store()?;
    let parser = std::thread::Builder::new()
        .name("kafka-parse".into())
        .spawn(move || parse.run(work_rx))
        .context("cannot start the parse thread")?;
    let shared = Arc::new(Mutex::new(Shared {
        chunk: Chunk::default(),
        work: work_tx,
        commits: commits_rx,
        polled: HashMap::new(),
        highs: HashMap::new(),
        last_caught_up_check: None,
        topic: opts.topic.clone(),
        metrics_source: opts.metrics_source.clone(),
        failed: None,
    }));
    let consumer: BaseConsumer<Ctx> = client_config(opts)
        .create_with_context(Ctx { shared: shared.clone() })
        .context("cannot create the Kafka consumer")?;
    consumer.subscribe(&[&opts.topic]).context("cannot subscribe")?;
    tracing::info!(brokers = %opts.brokers, topic = %opts.topic, group = %opts.group, "consuming");

    let polled = poll_loop(&consumer, &shared, store.as_mut(), opts, stop, &stored);
    // Whatever stopped the loop, what was polled is committed (or the parse thread's error
    // is the one to report).
    let mut sh = lock(&shared);
    let finished = polled.and_then(|first| {
        let offsets = sh.ask(Work::Finish)?;
        sh.commit(&consumer, offsets, CommitMode::Sync);
        Ok(first)
    });
    let lag = lag(&sh);
    drop(sh);
    drop(consumer);
    // The consumer (and its context) is gone: the parse thread's channel closes.
    drop(shared);
    let joined = parser.join().map_err(|_| anyhow::anyhow!("the parse thread panicked"))?;
    let (mut report, last_commit) = joined?;
    let first_message = finished?;
    report.lag = lag;
    report.elapsed = started.elapsed();
    if let (Some(first), Some(last)) = (first_message, last_commit) {
        report.active = last.saturating_duration_since(first);
    }
    Ok(report)
}

/// Polls until stopped or idle, handing the messages over to the parse thread chunk by chunk
/// and committing to Kafka the offsets it passes back. Returns when the first message came.
fn poll_loop(
    consumer: &BaseConsumer<Ctx>,
    shared: &Mutex<Shared>,
    store: &mut dyn EventStore,
    opts: &ConsumeOptions,
    stop: &AtomicBool,
    stored: &AtomicU64,
) -> anyhow::Result<Option<Instant>> {
    let mut first_message = None;
    let mut last_message = Instant::now();
    let mut last_log = Instant::now();
    let mut last_logged_records = 0u64;
    let mut backoff = Duration::from_millis(100);
    // Whether messages wait in hand (a rebalance callback may have handed them over since:
    // then one more poll finds nothing and hands over nothing).
    let mut pending = false;
    while !stop.load(Ordering::Relaxed) {
        // While messages wait in hand, only what librdkafka already holds is taken: the chunk
        // goes to the parse thread as soon as the local queue is empty.
        let timeout = if pending { Duration::ZERO } else { Duration::from_millis(100) };
        let polled = consumer.poll(timeout);
        let mut sh = lock(shared);
        if let Some(e) = sh.failed.take() {
            return Err(e);
        }
        match polled {
            Some(Ok(msg)) => {
                backoff = Duration::from_millis(100);
                first_message.get_or_insert_with(Instant::now);
                let (partition, offset) = (msg.partition(), msg.offset());
                sh.chunk.push(partition, offset, msg.payload());
                sh.polled.insert(partition, offset + 1);
                if !sh.chunk.is_full() {
                    pending = true;
                    continue;
                }
                // The clock is read per chunk, not per message.
                last_message = Instant::now();
                sh.hand_over()?;
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "kafka error; retrying");
                sh.hand_over()?;
                pending = false;
                drop(sh);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
            None if pending => {
                last_message = Instant::now();
                sh.hand_over()?;
            }
            None => {}
        }
        pending = false;
        sh.commit(consumer, Vec::new(), CommitMode::Async);
        if last_log.elapsed() >= Duration::from_secs(5) {
            let done = stored.load(Ordering::Relaxed);
            let rate = (done - last_logged_records) as f64 / last_log.elapsed().as_secs_f64();
            let lag = lag(&sh);
            tracing::info!(records = done, rate = rate as u64, lag, "progress");
            last_log = Instant::now();
            last_logged_records = done;
        }
        if let Some(idle) = opts.exit_when_idle {
            if last_message.elapsed() >= idle && caught_up(consumer, &mut sh, store) {
                tracing::info!("everything consumed and idle: stopping");
                break;
            }
        }
    }
    Ok(first_message)
}

/// The consumer's librdkafka settings: `consume` and `drain` use the same.
fn client_config(opts: &ConsumeOptions) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &opts.brokers)
        .set("group.id", &opts.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Lag comes from these statistics, not from a request per partition.
        .set("statistics.interval.ms", "1000")
        // librdkafka prefetches up to 64 MiB by default, more than half of `consume`'s
        // memory. 2 MiB is still tens of milliseconds of records ahead of a consumer storing a
        // few hundred thousand a second, and a full queue is looked at again after 10 ms
        // instead of librdkafka's 1 s, during which fetching stopped while the store caught up
        // (bench/rss.sh, bench/kafka.sh). Both can be set again with `-X`.
        .set("queued.max.messages.kbytes", "2048")
        .set("fetch.queue.backoff.ms", "10");
    for (k, v) in &opts.settings {
        cc.set(k, v);
    }
    cc
}

/// What [`drain`] measured: librdkafka alone.
#[derive(Debug, Default)]
pub struct DrainReport {
    pub records: u64,
    pub bytes: u64,
    /// From the first message to the last.
    pub active: Duration,
    pub elapsed: Duration,
}

/// Reads the topic from its start and discards every message (no parsing, no store, no
/// commit), with the consumer's own settings: the client's ceiling, which `bench/kafka.sh`
/// compares `consume` with. Stops once every partition reached the high watermark it had when
/// the drain began, or when idle.
pub fn drain(opts: &ConsumeOptions, stop: &AtomicBool) -> anyhow::Result<DrainReport> {
    let started = Instant::now();
    let consumer: BaseConsumer =
        client_config(opts).create().context("cannot create the Kafka consumer")?;
    let meta = consumer
        .fetch_metadata(Some(&opts.topic), Duration::from_secs(10))
        .context("cannot read the topic's metadata")?;
    let mut highs = HashMap::new();
    for topic in meta.topics() {
        for p in topic.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(&opts.topic, p.id(), Duration::from_secs(10))
                .context("cannot read the watermarks")?;
            highs.insert(p.id(), high);
        }
    }
    let mut left: usize = highs.values().filter(|h| **h > 0).count();
    consumer.subscribe(&[&opts.topic]).context("cannot subscribe")?;
    let mut report = DrainReport::default();
    let (mut first, mut last) = (None, Instant::now());
    while left > 0 && !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                report.records += 1;
                report.bytes += msg.payload_len() as u64;
                last = Instant::now();
                first.get_or_insert(last);
                if highs.get(&msg.partition()).is_some_and(|h| msg.offset() + 1 == *h) {
                    left -= 1;
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "kafka error"),
            None => {
                if opts.exit_when_idle.is_some_and(|idle| first.is_some() && last.elapsed() >= idle)
                {
                    break;
                }
            }
        }
    }
    report.active = first.map(|f| last.duration_since(f)).unwrap_or_default();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Messages not yet read in the partitions this consumer holds (as of the last statistics).
fn lag(sh: &Shared) -> i64 {
    sh.polled.iter().filter_map(|(p, next)| Some((sh.highs.get(p)? - next).max(0))).sum()
}

/// Whether the store holds every message of every partition of the topic: the whole group is
/// done, not only this member (whose partitions may still move to it). It asks the broker, so
/// it runs at most once a second, and only once this member's own partitions look done.
fn caught_up(consumer: &BaseConsumer<Ctx>, sh: &mut Shared, store: &mut dyn EventStore) -> bool {
    let own_done = !sh.polled.is_empty()
        && sh.chunk.msgs.is_empty()
        && sh.polled.iter().all(|(p, next)| sh.highs.get(p).is_some_and(|h| next >= h));
    let recent = sh.last_caught_up_check.is_some_and(|t| t.elapsed() < Duration::from_secs(1));
    if !own_done || recent {
        return false;
    }
    sh.last_caught_up_check = Some(Instant::now());
    let Ok(meta) = consumer.fetch_metadata(Some(&sh.topic), Duration::from_secs(2)) else {
        return false;
    };
    let Some(topic) = meta.topics().first() else { return false };
    if topic.partitions().is_empty() {
        return false;
    }
    let positions: HashMap<String, u64> = match store.sources() {
        Ok(rows) => {
            rows.into_iter().filter(|s| s.kind == "kafka").map(|s| (s.name, s.position)).collect()
        }
        Err(_) => return false,
    };
    topic.partitions().iter().all(|p| {
        let Ok((low, high)) = consumer.fetch_watermarks(&sh.topic, p.id(), Duration::from_secs(2))
        else {
            return false;
        };
        let stored =
            positions.get(&format!("{}/{}", sh.topic, p.id())).copied().unwrap_or(0) as i64;
        high <= low || stored >= high
    })
}

/// Produces records keyed by correlation id (one flow stays in one partition, in order).
pub fn produce(
    records: &[SimRecord],
    brokers: &str,
    topic: &str,
    settings: &[String],
    rate: Option<f64>,
) -> anyhow::Result<()> {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        // Log lines compress well; brokers keep (and tests' mock brokers cap) fewer bytes.
        .set("compression.type", "lz4")
        .set("enable.idempotence", "true");
    for (k, v) in parse_settings(settings)? {
        cc.set(k, v);
    }
    let producer: BaseProducer = cc.create().context("cannot create the Kafka producer")?;
    let mut pacer = crate::simulate::Pacer::new(rate);
    for r in records {
        pacer.wait();
        let mut record = BaseRecord::to(topic).key(r.key.as_bytes()).payload(&r.payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    back,
                )) => {
                    producer.poll(Duration::from_millis(50));
                    record = back;
                }
                Err((e, _)) => return Err(e).context("cannot produce"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).context("cannot deliver every record")?;
    Ok(())
}

/// Starts librdkafka's mock cluster: a real Kafka-protocol broker on 127.0.0.1.
pub fn mock_cluster(
    brokers: i32,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>>
{
    let cluster =
        rdkafka::mocking::MockCluster::new(brokers).context("cannot start the mock cluster")?;
    cluster.create_topic(topic, partitions, 1).context("cannot create the topic")?;
    Ok(cluster)
}
