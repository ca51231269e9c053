//! `waymark serve`: the store over HTTP (see the `waymark-server` crate), with the sources of
//! the configuration. `--check` validates the configuration and exits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use waymark_server::{AppState, ServeOptions, StoreHandle};

use crate::cli::Global;
use crate::cmd::sources::Workers;
use crate::context::load_config;

/// The format of log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub(crate) listen: SocketAddr,
    /// A file holding the bearer token every endpoint but /health then requires.
    #[arg(long, conflicts_with = "token_env")]
    pub(crate) token_file: Option<PathBuf>,
    /// The bearer token itself, from the environment.
    #[arg(long = "token-env", env = "WAYMARK_TOKEN", hide_env_values = true, hide = true)]
    pub(crate) token_env: Option<String>,
    /// Validate the configuration (and its sources) and exit.
    #[arg(long)]
    pub(crate) check: bool,
    /// Log lines as text or as JSON objects.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Seconds the requests in hand may take to finish after SIGTERM/SIGINT.
    #[arg(long, default_value_t = 10)]
    pub(crate) shutdown_grace_secs: u64,
    /// Reload the configuration when its file changes (as on SIGHUP).
    #[arg(long)]
    pub(crate) watch_config: bool,
}

pub(crate) fn run(g: &Global, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(g)?;
    if args.check {
        let n = config.raw.sources.len();
        println!("configuration valid: {n} source(s)");
        for (i, s) in config.raw.sources.iter().enumerate() {
            println!("  {} ({})", s.name(i), s.kind());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.watch_config && g.config.is_none() {
        anyhow::bail!("--watch-config needs a configuration file (--config or WAYMARK_CONFIG)");
    }
    let token = token(args)?;
    let store = StoreHandle::open(&g.db)
        .with_context(|| format!("cannot open the store {}", crate::context::shown_db(g)))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("serve")
        .build()
        .context("cannot start the async runtime")?;
    let config = Arc::new(config);
    let workers = Arc::new(Mutex::new(Workers::start(&config, &g.db)?));
    runtime.block_on(async {
        let metrics = waymark_server::ops::install_metrics()?;
        let state = AppState::new(store, Arc::clone(&config), metrics, token);
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        // One line on stdout says where (with `--listen 127.0.0.1:0`, which port).
        println!("waymark serve: listening on http://{}", listener.local_addr()?);
        std::io::Write::flush(&mut std::io::stdout())?;
        let options = ServeOptions {
            listen: args.listen,
            shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
            watch_config: if args.watch_config { g.config.clone() } else { None },
        };
        let reload = reloader(g, Arc::clone(&workers));
        waymark_server::run(state, listener, options, reload).await
    })?;
    // The listener is closed: the workers finish their poll, commit it, and stop.
    match Arc::try_unwrap(workers) {
        Ok(workers) => workers.into_inner().unwrap_or_else(PoisonError::into_inner).stop(),
        Err(shared) => lock(&shared).stop_all(),
    }
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP: the configuration file read again and validated, then the workers reconciled with
/// it (the changed and removed stop, the new start, the others go on).
fn reloader(g: &Global, workers: Arc<Mutex<Workers>>) -> waymark_server::Reload {
    let g = Global { db: g.db.clone(), config: g.config.clone(), verbose: 0, quiet: false };
    Arc::new(move || {
        let config = Arc::new(load_config(&g).map_err(|e| format!("{e:#}"))?);
        let changed = lock(&workers).reconcile(&config).map_err(|e| format!("{e:#}"))?;
        tracing::info!(started = ?changed.started, stopped = ?changed.stopped, kept = ?changed.kept, "sources reconciled");
        Ok(config)
    })
}

fn lock(workers: &Mutex<Workers>) -> std::sync::MutexGuard<'_, Workers> {
    workers.lock().unwrap_or_else(PoisonError::into_inner)
}

fn token(args: &ServeArgs) -> anyhow::Result<Option<String>> {
    let token = match (&args.token_file, &args.token_env) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?,
        (None, Some(t)) => t.clone(),
        (None, None) => return Ok(None),
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        anyhow::bail!("the bearer token is empty");
    }
    Ok(Some(token))
}
