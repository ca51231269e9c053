//! `waymark demo`: the main job on the embedded default, end to end.

use std::process::ExitCode;

use clap::Args;

use crate::cli::Global;
use crate::cmd::ingest::print_summary;
use crate::cmd::simulate::write_lines;
use crate::context::{load_config, open_store};
use waymark_pipeline::ingest::{ingest, Input};
use waymark_pipeline::simulate::{simulate, SimConfig};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Number of flows to generate.
    #[arg(long, default_value_t = 2000)]
    pub(crate) flows: u64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
}

pub(crate) fn run(g: &Global, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let cfg =
        SimConfig { flows: args.flows, seed: args.seed, p_noise: 0.002, ..SimConfig::default() };
    let sim = simulate(&cfg);
    let log = g.db.with_extension("demo.log");
    let file = std::fs::File::create(&log)?;
    write_lines(&sim.records, std::io::BufWriter::new(file), None)?;
    println!(
        "generated {} flows of fedebom, cmf, reporting and bcis: {} records ({} noise) in {}",
        args.flows,
        sim.records.len(),
        sim.noise(),
        log.display()
    );
    let mut store = open_store(g)?;
    let report = ingest(&config, &mut store, &[Input::File(log.clone())])?;
    println!("\ningested into {}:", crate::context::shown_db(g));
    let mut out = std::io::stdout().lock();
    print_summary(&mut out, &report)?;
    if report.counts.records == 0 {
        println!(
            "  (nothing new: this file was ingested by an earlier run, and is not counted twice)"
        );
    }
    // A flow that stopped on a failure, preferably one whose reason came separately.
    let failed = sim
        .truth
        .iter()
        .rev()
        .find(|e| e.status == "FAILURE" && (e.system_id == "reporting" || e.system_id == "bcis"))
        .or_else(|| sim.truth.iter().find(|e| e.status == "FAILURE"));
    if let Some(e) = failed {
        println!("\n$ waymark trace {}", e.correlation_id);
        drop(out);
        let flow = waymark_store::QueryStore::flow(&store, &e.correlation_id)?;
        crate::cmd::query::print_flow(&flow)?;
    }
    println!(
        "\nnext: waymark failures --system cmf | waymark orphans | waymark dead-letters | waymark status"
    );
    Ok(ExitCode::SUCCESS)
}
