//! `waymark consume`: a Kafka topic into the store, as a consumer-group member.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::cli::Global;
use crate::context::{load_config, open_store};
use crate::output::thousands;

#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    /// Kafka bootstrap servers, HOST:PORT[,...].
    #[arg(long, required = true)]
    pub(crate) brokers: String,
    /// Topic to consume.
    #[arg(long, default_value = "raw-logs")]
    pub(crate) topic: String,
    /// Consumer group: instances of one group split the partitions.
    #[arg(long, default_value = "waymark")]
    pub(crate) group: String,
    /// Stop once the group has consumed everything and nothing new came for SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub(crate) exit_when_idle: Option<f64>,
    /// Commit at least every MS milliseconds while messages flow.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub(crate) max_batch_wait_ms: u64,
    /// librdkafka settings, as in kcat: -X security.protocol=SASL_SSL -X sasl.mechanism=...
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub(crate) rdkafka: Vec<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Read the topic from its start and discard it (no parsing, no store): what librdkafka
    /// alone delivers, for benchmarks. Use a group of its own.
    #[arg(long)]
    pub(crate) discard: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MockBrokerArgs {
    /// Brokers in the mock cluster.
    #[arg(long, default_value_t = 1)]
    pub(crate) brokers: i32,
    /// Topic to create.
    #[arg(long, default_value = "raw-logs")]
    pub(crate) topic: String,
    /// Its partitions.
    #[arg(long, default_value_t = 3)]
    pub(crate) partitions: i32,
}

pub(crate) fn run(g: &Global, args: &ConsumeArgs) -> anyhow::Result<ExitCode> {
    // The consumer's state lives in callbacks for the whole run: the config lives as long.
    let config: &'static _ = Box::leak(Box::new(load_config(g)?));
    // Creates or migrates the store before the consumer opens its connections.
    drop(open_store(g)?);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let opts = waymark_pipeline::kafka::ConsumeOptions {
        brokers: args.brokers.clone(),
        topic: args.topic.clone(),
        group: args.group.clone(),
        settings: waymark_pipeline::kafka::parse_settings(&args.rdkafka)?,
        exit_when_idle: args.exit_when_idle.map(Duration::from_secs_f64),
        max_batch_wait: Duration::from_millis(args.max_batch_wait_ms),
        metrics_source: None,
    };
    if args.discard {
        let r = waymark_pipeline::kafka::drain(&opts, &stop)?;
        let v = serde_json::json!({
            "records": r.records, "bytes": r.bytes, "active_secs": r.active.as_secs_f64(),
            "elapsed_secs": r.elapsed.as_secs_f64(),
        });
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let r = waymark_pipeline::kafka::consume(
        config,
        &|| Ok(Box::new(open_store(g)?) as waymark_pipeline::kafka::BoxedEventStore),
        &opts,
        &stop,
    )?;
    let c = &r.counts;
    let mut out = std::io::stdout().lock();
    if args.json {
        let by_kind = crate::cmd::ingest::rejections_json(c);
        let v = serde_json::json!({
            "records": c.records, "events": c.events, "details": c.details, "reasons_joined": c.joined,
            "orphaned": c.orphaned, "waiting": r.waiting, "dead_letters": c.rejected,
            "dead_letters_by_kind": by_kind, "redelivered_skipped": r.redelivered,
            "offsets_missing": r.offsets_missing,
            "batches": r.batches, "lag": r.lag, "elapsed_secs": r.elapsed.as_secs_f64(),
            "active_secs": r.active.as_secs_f64(),
        });
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        let secs = r.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            out,
            "consumed {} records from {} in {secs:.2}s ({} records/s), lag {} at exit",
            thousands(c.records),
            args.topic,
            thousands((c.records as f64 / secs) as u64),
            r.lag
        )?;
        let rows = [
            ("events stored", c.events),
            ("reasons joined", c.joined),
            ("orphans (ttl expired)", c.orphaned),
            ("waiting for a partner", r.waiting as u64),
            ("dead letters", c.rejected),
            ("redelivered, skipped", r.redelivered),
            ("offsets gone from broker", r.offsets_missing),
        ];
        crate::output::print_counts(&mut out, &rows)?;
        crate::cmd::ingest::print_rejections(&mut out, c)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `waymark mock-broker`: librdkafka's mock cluster on 127.0.0.1, for trying waymark and for
/// tests. Prints the bootstrap servers, then serves until stopped.
///
/// SIGUSR1 takes every broker down (connections closed, new ones refused) and SIGUSR2 brings
/// them back with their data, like a broker restart: the fault tests use it (killing the
/// process would lose the topic, which a real broker keeps on disk). See: issue 16.
pub(crate) fn mock_broker(_g: &Global, args: &MockBrokerArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    use std::sync::atomic::Ordering::Relaxed;
    let cluster =
        waymark_pipeline::kafka::mock_cluster(args.brokers, &args.topic, args.partitions)?;
    println!("{}", cluster.bootstrap_servers());
    std::io::stdout().flush()?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let (down, up) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, down.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGUSR2, up.clone())?;
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        for (flag, is_up) in [(&down, false), (&up, true)] {
            if flag.swap(false, Relaxed) {
                for id in 1..=args.brokers {
                    if is_up { cluster.broker_up(id) } else { cluster.broker_down(id) }
                        .with_context(|| format!("cannot set broker {id} up={is_up}"))?;
                }
                tracing::warn!(brokers = args.brokers, up = is_up, "mock brokers switched");
            }
        }
    }
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}
