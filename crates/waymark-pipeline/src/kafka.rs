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
//! As in `ingest`, SQLite writes run on a thread of their own ([`Writer`]): the consumer thread
//! polls, parses and correlates the next batch while the previous one is committed, and
//! commits Kafka offsets as the writer acknowledges each batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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

struct Part {
    source: u32,
    /// The next offset to store: everything below is in the store.
    next: i64,
}

/// The consumer's state, shared with the rebalance callbacks (which run inside `poll`, on
/// the same thread, while the main loop holds no lock).
struct State {
    /// For sources, join state and positions; batches go through `writer`.
    store: BoxedEventStore,
    writer: Writer,
    processor: Processor<'static>,
    batch: Batch,
    batch_started: Option<Instant>,
    first_message: Option<Instant>,
    last_commit: Option<Instant>,
    parts: HashMap<i32, Part>,
    /// High watermarks of the partitions this consumer fetches, from librdkafka's statistics
    /// (no request to the broker on the hot path).
    highs: HashMap<i32, i64>,
    /// When the group-wide "everything consumed?" check last asked the broker.
    last_caught_up_check: Option<Instant>,
    topic: String,
    report: ConsumeReport,
    metrics_source: Option<String>,
    /// A store error met inside a callback, raised by the main loop.
    failed: Option<anyhow::Error>,
}

impl State {
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
        now: Instant,
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
        self.batch_started.get_or_insert(now);
        self.first_message.get_or_insert(now);
        Ok(())
    }

    /// Hands the batch in hand to the writer, then takes its acknowledgements and commits
    /// their offsets to Kafka: all of them when `wait` (revocation, exit), else those ready.
    fn flush(&mut self, consumer: &BaseConsumer<Ctx>, wait: bool) -> anyhow::Result<()> {
        if !self.batch.positions.is_empty() {
            self.writer.send(std::mem::take(&mut self.batch))?;
            self.batch_started = None;
        }
        self.acknowledge(consumer, wait)
    }

    fn acknowledge(&mut self, consumer: &BaseConsumer<Ctx>, wait: bool) -> anyhow::Result<()> {
        let mode = if wait { CommitMode::Sync } else { CommitMode::Async };
        while let Some(ack) = self.writer.ack(wait) {
            let done = ack?;
            self.last_commit = Some(Instant::now());
            self.report.counts.add(&done.counts);
            self.report.batches += 1;
            if let Some(name) = &self.metrics_source {
                crate::telemetry::count_records(name, &done.counts, self.processor.waiting());
            }
            let mut tpl = TopicPartitionList::new();
            for p in &done.positions {
                let owner = self.parts.iter().find(|(_, part)| part.source == p.source);
                if let Some((partition, _)) = owner {
                    let offset = Offset::Offset(p.position as i64);
                    tpl.add_partition_offset(&self.topic, *partition, offset)?;
                }
            }
            if let Err(e) = consumer.commit(&tpl, mode) {
                // The store has the data and the positions; Kafka's offsets only lag behind.
                tracing::warn!(error = %e, "cannot commit offsets to Kafka; the store's positions stand");
            }
        }
        Ok(())
    }

    fn revoke(&mut self, consumer: &BaseConsumer<Ctx>, tpl: &TopicPartitionList) {
        if let Err(e) = self.flush(consumer, true) {
            self.failed.get_or_insert(e);
        }
        for el in tpl.elements_for_topic(&self.topic) {
            if let Some(part) = self.parts.remove(&el.partition()) {
                self.processor.forget_source(part.source);
                tracing::info!(
                    partition = el.partition(),
                    position = part.next,
                    "partition revoked"
                );
            }
        }
    }

    fn assign(&mut self, tpl: &TopicPartitionList) {
        for el in tpl.elements_for_topic(&self.topic) {
            if let Err(e) = self.part(el.partition()) {
                self.failed.get_or_insert(e);
            }
        }
    }
}

struct Ctx {
    state: Arc<Mutex<State>>,
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
        let mut st = lock(&self.state);
        let Some(topic) = statistics.topics.get(&st.topic) else { return };
        let highs: Vec<(i32, i64)> = topic
            .partitions
            .iter()
            .filter(|(p, _)| **p >= 0)
            .map(|(p, s)| (*p, s.hi_offset))
            .collect();
        for (p, high) in highs {
            if high >= 0 {
                st.highs.insert(p, high);
            }
        }
        if let Some(name) = &st.metrics_source {
            for (p, part) in &st.parts {
                if let Some(high) = st.highs.get(p) {
                    let lag = (high - part.next).max(0);
                    crate::telemetry::kafka_lag(name, &st.topic, *p, lag);
                }
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            lock(&self.state).revoke(consumer, tpl);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            lock(&self.state).assign(tpl);
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
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
    // Join state is loaded per partition as partitions are assigned.
    let processor = Processor::new(config);
    // One handle reads (join state of assigned partitions), the other writes on its thread.
    let store = open_store()?;
    let writer = Writer::spawn(open_store()?);
    let state = Arc::new(Mutex::new(State {
        store,
        writer,
        processor,
        batch: Batch::default(),
        batch_started: None,
        first_message: None,
        last_commit: None,
        parts: HashMap::new(),
        highs: HashMap::new(),
        last_caught_up_check: None,
        topic: opts.topic.clone(),
        report: ConsumeReport::default(),
        metrics_source: opts.metrics_source.clone(),
        failed: None,
    }));
    let consumer: BaseConsumer<Ctx> = client_config(opts)
        .create_with_context(Ctx { state: state.clone() })
        .context("cannot create the Kafka consumer")?;
    consumer.subscribe(&[&opts.topic]).context("cannot subscribe")?;
    tracing::info!(brokers = %opts.brokers, topic = %opts.topic, group = %opts.group, "consuming");

    let batch_records = config.ingest.batch_records as u64;
    let mut last_message = Instant::now();
    let mut last_log = Instant::now();
    let mut last_logged_records = 0u64;
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        let polled = consumer.poll(Duration::from_millis(100));
        let now = Instant::now();
        let mut st = lock(&state);
        if let Some(e) = st.failed.take() {
            return Err(e);
        }
        match polled {
            Some(Ok(msg)) => {
                backoff = Duration::from_millis(100);
                last_message = now;
                st.handle(msg.partition(), msg.offset(), msg.payload(), now)?;
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "kafka error; retrying");
                drop(st);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
            None => {}
        }
        let due = st.batch_started.is_some_and(|t| now.duration_since(t) >= opts.max_batch_wait);
        if st.batch.len() >= batch_records || due {
            st.flush(&consumer, false)?;
        } else {
            st.acknowledge(&consumer, false)?;
        }
        if last_log.elapsed() >= Duration::from_secs(5) {
            let done = st.report.counts.records;
            let rate = (done - last_logged_records) as f64 / last_log.elapsed().as_secs_f64();
            let lag = lag(&st);
            tracing::info!(records = done, rate = rate as u64, lag, "progress");
            last_log = Instant::now();
            last_logged_records = done;
        }
        if let Some(idle) = opts.exit_when_idle {
            if last_message.elapsed() >= idle
                && st.batch.positions.is_empty()
                && caught_up(&consumer, &mut st)
            {
                tracing::info!("everything consumed and idle: stopping");
                break;
            }
        }
    }
    let mut st = lock(&state);
    st.flush(&consumer, true)?;
    st.report.lag = lag(&st);
    st.report.waiting = st.processor.waiting();
    st.report.elapsed = started.elapsed();
    if let (Some(first), Some(last)) = (st.first_message, st.last_commit) {
        st.report.active = last.saturating_duration_since(first);
    }
    let report = std::mem::take(&mut st.report);
    drop(st);
    drop(consumer);
    Ok(report)
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
        .set("statistics.interval.ms", "1000");
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
                if opts.exit_when_idle.is_some_and(|idle| first.is_some() && last.elapsed() >= idle) {
                    break;
                }
            }
        }
    }
    report.active = first.map(|f| last.duration_since(f)).unwrap_or_default();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Messages not yet stored in the partitions this consumer holds (as of the last statistics).
fn lag(st: &State) -> i64 {
    st.parts.iter().filter_map(|(p, part)| Some((st.highs.get(p)? - part.next).max(0))).sum()
}

/// Whether the store holds every message of every partition of the topic: the whole group is
/// done, not only this member (whose partitions may still move to it). It asks the broker, so
/// it runs at most once a second, and only once this member's own partitions look done.
fn caught_up(consumer: &BaseConsumer<Ctx>, st: &mut State) -> bool {
    let own_done = !st.parts.is_empty()
        && st.parts.iter().all(|(p, part)| st.highs.get(p).is_some_and(|h| part.next >= *h));
    let recent = st.last_caught_up_check.is_some_and(|t| t.elapsed() < Duration::from_secs(1));
    if !own_done || recent {
        return false;
    }
    st.last_caught_up_check = Some(Instant::now());
    let Ok(meta) = consumer.fetch_metadata(Some(&st.topic), Duration::from_secs(2)) else {
        return false;
    };
    let Some(topic) = meta.topics().first() else { return false };
    if topic.partitions().is_empty() {
        return false;
    }
    let positions: HashMap<String, u64> = match st.store.sources() {
        Ok(rows) => {
            rows.into_iter().filter(|s| s.kind == "kafka").map(|s| (s.name, s.position)).collect()
        }
        Err(_) => return false,
    };
    topic.partitions().iter().all(|p| {
        let Ok((low, high)) = consumer.fetch_watermarks(&st.topic, p.id(), Duration::from_secs(2))
        else {
            return false;
        };
        let stored =
            positions.get(&format!("{}/{}", st.topic, p.id())).copied().unwrap_or(0) as i64;
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
