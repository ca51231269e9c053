//! One module per command; each takes its parsed arguments and the global options.

pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod config;
#[cfg(feature = "kafka")]
pub(crate) mod consume;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod ingest;
pub(crate) mod query;
pub(crate) mod scan;
pub(crate) mod serve;
pub(crate) mod simulate;
pub(crate) mod sources;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the command; the exit code says whether everything went through.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Demo(a) => demo::run(g, &a),
        Command::Ingest(a) => ingest::run(g, &a),
        Command::Trace(a) => query::trace(g, &a),
        Command::Failures(a) => query::failures(g, &a),
        Command::Orphans(a) => query::orphans(g, &a),
        Command::DeadLetters(a) => query::dead_letters(g, &a),
        Command::Status(a) => query::status(g, &a),
        Command::Sql(a) => query::sql(g, &a),
        Command::Config(c) => config::run(g, &c),
        Command::Simulate(a) => simulate::run(g, &a),
        Command::Bench(a) => bench::run(g, &a),
        #[cfg(feature = "kafka")]
        Command::Consume(a) => consume::run(g, &a),
        #[cfg(feature = "kafka")]
        Command::MockBroker(a) => consume::mock_broker(g, &a),
        Command::Scan(a) => scan::run(g, &a),
        Command::Serve(a) => serve::run(g, &a),
        Command::Audit(a) => audit::run(g, &a),
        Command::Runs(a) => audit::runs(g, &a),
        Command::Alerts(a) => alerts::run(g, &a),
        Command::Flows(a) => alerts::flows(g, &a),
        Command::Export(a) => export::run(g, &a),
    }
}
