//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd;

/// Turns the logs of data pipelines into an audit trail: normalize, correlate, scan, audit, trace.
#[derive(Debug, Parser)]
#[command(name = "waymark", version, about, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options of every command.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The store: a SQLite file, or a PostgreSQL URL (`postgres://user:password@host/db`).
    #[arg(long, global = true, env = "WAYMARK_DB", default_value = "waymark.db")]
    pub(crate) db: PathBuf,
    /// TOML configuration merged over the built-in one (see `waymark config show`).
    #[arg(long, global = true, env = "WAYMARK_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); WAYMARK_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Generate flows, ingest them into the store and trace a failed one (the main job).
    Demo(cmd::demo::DemoArgs),
    /// Read records (one per line) from files or stdin into the store, exactly once.
    Ingest(cmd::ingest::IngestArgs),
    /// Consume a Kafka topic into the store as a consumer-group member, exactly once in effect.
    #[cfg(feature = "kafka")]
    Consume(cmd::consume::ConsumeArgs),
    /// Run librdkafka's mock Kafka cluster on 127.0.0.1 and print its bootstrap servers.
    #[cfg(feature = "kafka")]
    MockBroker(cmd::consume::MockBrokerArgs),
    /// Show the flow of one correlation id across systems, in time order.
    Trace(cmd::query::TraceArgs),
    /// List failures with their reasons.
    Failures(cmd::query::FailuresArgs),
    /// List failures and reasons that found no partner within the join time-to-live.
    Orphans(cmd::query::OrphansArgs),
    /// List rejected records with their reason, source and position.
    DeadLetters(cmd::query::DeadLettersArgs),
    /// Row counts and the position reached in each source.
    Status(cmd::query::StatusArgs),
    /// Run one read-only SQL query against the store and print the rows.
    Sql(cmd::query::SqlArgs),
    /// Scan ETL log files (PowerCenter, CDGC, dbt, Mass Ingestion, CI/CD) with the scan rules.
    Scan(cmd::scan::ScanArgs),
    /// Build or update one audit row per ETL run from what `scan` stored.
    Audit(cmd::audit::AuditArgs),
    /// List audited ETL runs.
    Runs(cmd::audit::RunsArgs),
    /// Answer over HTTP (JSON API, OpenLineage receiver, metrics) and run the configured sources.
    Serve(cmd::serve::ServeArgs),
    /// List active alerts and recent deliveries; `alerts run` evaluates and delivers them.
    Alerts(cmd::alerts::AlertsArgs),
    /// List flows by state (complete, failed, stalled, in progress) against `[[expect.flow]]`.
    Flows(cmd::alerts::FlowsArgs),
    /// Export a table to CSV, JSON lines or Parquet; `--since-last NAME` gives each row once.
    Export(cmd::export::ExportArgs),
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// Play the seed's orchestrator: flows of the four systems in their own formats.
    Simulate(cmd::simulate::SimulateArgs),
    /// Measure the pipeline against the SQLite ceiling (see bench/README.md).
    #[command(hide = true)]
    Bench(cmd::bench::BenchArgs),
}
