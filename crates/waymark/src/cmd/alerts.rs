//! `waymark alerts` (active alerts and recent deliveries), `waymark alerts run` (evaluate and
//! deliver) and `waymark flows` (flows by state against the `[[expect.flow]]` shapes).

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use waymark_core::alert::FlowState;
use waymark_core::normalize::format_utc;
use waymark_pipeline::alert::{self, Deliverer};

use crate::cli::Global;
use crate::context::{load_config, open_store, open_store_for_query};
use crate::output::{clean, Table};

#[derive(Debug, Args)]
pub(crate) struct AlertsArgs {
    #[command(subcommand)]
    pub(crate) command: Option<AlertsCommand>,
    /// Recent deliveries to list.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// Print one JSON object: `{"active": [...], "deliveries": [...]}`.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// Evaluate the alert rules and deliver notifications (the outbox), once or repeatedly.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// One round: evaluate, then one attempt per due notification (for cron jobs and tests).
    #[arg(long, conflicts_with = "interval")]
    pub(crate) once: bool,
    /// Seconds between rounds (until SIGINT or SIGTERM).
    #[arg(long, default_value_t = 30.0)]
    pub(crate) interval: f64,
}

#[derive(Debug, Args)]
pub(crate) struct FlowsArgs {
    /// Only flows in this state: complete, failed, stalled or in-progress.
    #[arg(long, value_parser = parse_state)]
    pub(crate) state: Option<FlowState>,
    /// Flows with an event this recent (seconds; default `[alert] flow_lookback_secs`).
    #[arg(long)]
    pub(crate) lookback_secs: Option<u64>,
    /// At most this many flows, the latest (0 = all).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Print JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

fn parse_state(s: &str) -> Result<FlowState, String> {
    FlowState::parse(s)
        .ok_or_else(|| format!("`{s}` is not a state: complete, failed, stalled or in-progress"))
}

pub(crate) fn run(g: &Global, args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        Some(AlertsCommand::Run(r)) => run_alerts(g, r),
        None => list(g, args),
    }
}

fn list(g: &Global, args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_for_query(g)?;
    let view = waymark_store::alert::alerts_view(&store, args.limit)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &view)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (active, recent) = (view.active, view.deliveries);
    writeln!(out, "active alerts: {}", active.len())?;
    let mut t = Table::new(&["since", "severity", "rule", "system", "job", "subject", "summary"]);
    for f in &active {
        t.row(vec![
            format_utc(f.since_micros),
            f.severity.as_str().into(),
            clean(&f.rule),
            clean(&f.system),
            clean(&f.job),
            clean(&f.subject),
            clean(&f.summary),
        ]);
    }
    t.print(&mut out)?;
    writeln!(out, "\nrecent deliveries: {}", recent.len())?;
    let mut t =
        Table::new(&["created", "sink", "action", "alert", "state", "attempts", "last", "id"]);
    for r in &recent {
        let n = &r.notification;
        let last = match (&r.last_status, &r.last_error) {
            (_, Some(e)) => clean(e),
            (Some(s), None) => s.to_string(),
            (None, None) => String::new(),
        };
        t.row(vec![
            format_utc(n.created_micros),
            clean(&n.sink),
            n.action.as_str().into(),
            clean(&n.firing.key),
            r.state.as_str().into(),
            r.attempts.to_string(),
            last,
            n.id.clone(),
        ]);
    }
    t.print(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

fn run_alerts(g: &Global, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let mut store = open_store(g)?;
    if config.alert.rules.is_empty() {
        tracing::warn!("no [[alert.rule]] in the configuration: nothing to evaluate");
    }
    if args.once {
        let mut deliverer = Deliverer::default();
        let r = alert::tick(&config.alert, &mut store, &mut deliverer, alert::now_micros())?;
        let e = r.eval;
        let d = r.delivery;
        eprintln!(
            "alerts: {} fired, {} resolved, {} active, {} re-sent; deliveries: {} delivered, \
             {} to retry, {} failed",
            e.fired, e.resolved, e.active, e.resent, d.delivered, d.retried, d.failed
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !(args.interval.is_finite() && args.interval > 0.0) {
        anyhow::bail!("--interval must be a positive number of seconds");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    alert::run(&config.alert, &mut store, Duration::from_secs_f64(args.interval), &stop);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn flows(g: &Global, args: &FlowsArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    let store = open_store_for_query(g)?;
    if config.alert.flows.is_empty() {
        anyhow::bail!("no [[expect.flow]] in the configuration: flows have no shape to judge");
    }
    let now = alert::now_micros();
    let lookback = args
        .lookback_secs
        .map_or(config.alert.flow_lookback_micros, |s| s.min(1 << 40) as i64 * 1_000_000);
    let listed = waymark_store::alert::flow_states(
        &store,
        &config.alert.flows,
        now,
        lookback,
        args.state,
        args.limit,
    )?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for s in &listed {
            serde_json::to_writer(&mut out, s)?;
            writeln!(out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["first_event", "flow", "correlation_id", "state", "at", "detail"]);
    for s in &listed {
        let at = format!(
            "{} {}",
            s.system.as_deref().unwrap_or(""),
            s.checkpoint.as_deref().unwrap_or("")
        );
        t.row(vec![
            format_utc(s.first_micros),
            clean(&s.family),
            clean(&s.correlation_id),
            s.state.as_str().into(),
            clean(at.trim()),
            clean(s.reason.as_deref().unwrap_or("")),
        ]);
    }
    t.print(&mut out)?;
    Ok(ExitCode::SUCCESS)
}
