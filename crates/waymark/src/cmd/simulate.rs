//! `waymark simulate`: the seed's orchestrator, to a file, stdout or a Kafka topic.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;

use crate::cli::Global;
use waymark_pipeline::simulate::{simulate, Pacer, SimConfig, SimRecord, Simulation};

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Number of flows (correlation ids).
    #[arg(long, default_value_t = 1000)]
    pub(crate) flows: u64,
    /// Records per second (default: as fast as possible).
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Random seed: the same seed gives the same records.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Probability that a fedebom CHECKPOINT_1 or cmf CMF_CHECKPOINT_2 attempt fails
    /// (retried, up to two failures).
    #[arg(long, default_value_t = 0.3)]
    pub(crate) p_fail: f64,
    /// Probability that a reporting or bcis checkpoint fails (its system stops there).
    #[arg(long, default_value_t = 0.05)]
    pub(crate) p_fail_inline: f64,
    /// Probability that a flow goes through cmf.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) p_cmf: f64,
    /// Probability that a separate failure reason is sent before its failure.
    #[arg(long, default_value_t = 0.2)]
    pub(crate) p_reason_first: f64,
    /// Probability of a noise record (in no known format) after each record.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) noise: f64,
    /// Write records to this file instead of stdout.
    #[arg(short, long, conflicts_with = "brokers")]
    pub(crate) output: Option<PathBuf>,
    /// Write the events a correct pipeline ends with, as JSON lines.
    #[arg(long)]
    pub(crate) truth: Option<PathBuf>,
    /// Kafka bootstrap servers: produce to --topic instead of writing lines.
    #[arg(long)]
    pub(crate) brokers: Option<String>,
    /// Kafka topic.
    #[arg(long, default_value = "raw-logs")]
    pub(crate) topic: String,
    /// librdkafka producer settings, as in kcat: -X key=value.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub(crate) rdkafka: Vec<String>,
    /// Append this many empty messages (or lines) at the end, as broken producers send.
    #[arg(long, default_value_t = 0, hide = true)]
    pub(crate) empty_messages: u64,
}

impl SimulateArgs {
    pub(crate) fn sim_config(&self) -> anyhow::Result<SimConfig> {
        for (name, p) in [
            ("--p-fail", self.p_fail),
            ("--p-fail-inline", self.p_fail_inline),
            ("--p-cmf", self.p_cmf),
            ("--p-reason-first", self.p_reason_first),
            ("--noise", self.noise),
        ] {
            if !(0.0..=1.0).contains(&p) {
                anyhow::bail!("{name} must be a probability between 0 and 1, not {p}");
            }
        }
        Ok(SimConfig {
            flows: self.flows,
            seed: self.seed,
            p_fail: self.p_fail,
            p_fail_inline: self.p_fail_inline,
            p_cmf: self.p_cmf,
            p_reason_first: self.p_reason_first,
            p_noise: self.noise,
            ..SimConfig::default()
        })
    }
}

pub(crate) fn run(_g: &Global, args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let mut sim = simulate(&args.sim_config()?);
    for i in 0..args.empty_messages {
        sim.records.push(SimRecord { key: format!("empty-{i}"), payload: Vec::new(), noise: true });
    }
    if let Some(path) = &args.truth {
        write_truth(&sim, path)?;
    }
    let started = Instant::now();
    match (&args.brokers, &args.output) {
        (Some(brokers), _) => produce(&sim.records, brokers, args)?,
        (None, Some(path)) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            write_lines(&sim.records, BufWriter::new(file), args.rate)?;
        }
        (None, None) => write_lines(&sim.records, std::io::stdout().lock(), args.rate)?,
    }
    eprintln!(
        "simulated {} flows: {} records ({} noise), {} events in the truth, in {:.2}s",
        args.flows,
        sim.records.len(),
        sim.noise(),
        sim.truth.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn write_truth(sim: &Simulation, path: &std::path::Path) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = BufWriter::new(file);
    for e in &sim.truth {
        serde_json::to_writer(&mut w, e)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

pub(crate) fn write_lines(
    records: &[SimRecord],
    mut w: impl Write,
    rate: Option<f64>,
) -> anyhow::Result<()> {
    let mut pacer = Pacer::new(rate);
    for r in records {
        pacer.wait();
        w.write_all(&r.payload)?;
        w.write_all(b"\n")?;
        if rate.is_some() {
            w.flush()?;
        }
    }
    w.flush()?;
    Ok(())
}

#[cfg(feature = "kafka")]
fn produce(records: &[SimRecord], brokers: &str, args: &SimulateArgs) -> anyhow::Result<()> {
    waymark_pipeline::kafka::produce(records, brokers, &args.topic, &args.rdkafka, args.rate)
}

#[cfg(not(feature = "kafka"))]
fn produce(_: &[SimRecord], _: &str, _: &SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("this waymark was built without Kafka support (cargo build --features kafka)")
}
