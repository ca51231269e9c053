//! `waymark serve`: the store over HTTP (see the `waymark-server` crate), with the sources of
//! the configuration. `--check` validates the configuration and exits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use waymark_server::{AppState, ServeOptions, StoreHandle};

use crate::cli::Global;
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
    let token = token(args)?;
    let store = StoreHandle::open(&g.db)
        .with_context(|| format!("cannot open the store {}", g.db.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("serve")
        .build()
        .context("cannot start the async runtime")?;
    let shared = std::sync::Arc::new(load_config(g)?);
    let sources = runtime.block_on(async {
        let metrics = waymark_server::ops::install_metrics()?;
        let sources = crate::cmd::sources::Sources::start(&shared, &g.db)?;
        let state = AppState::new(store, config, metrics, token);
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        // One line on stdout says where (with `--listen 127.0.0.1:0`, which port).
        println!("waymark serve: listening on http://{}", listener.local_addr()?);
        std::io::Write::flush(&mut std::io::stdout())?;
        let options = ServeOptions {
            listen: args.listen,
            shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        };
        let reload_from = (g.db.clone(), g.config.clone());
        let reload: waymark_server::Reload = Box::new(move || {
            let g = Global {
                db: reload_from.0.clone(),
                config: reload_from.1.clone(),
                verbose: 0,
                quiet: false,
            };
            load_config(&g).map_err(|e| format!("{e:#}"))
        });
        waymark_server::run(state, listener, options, reload).await?;
        anyhow::Ok(sources)
    })?;
    // The listener is closed: the sources finish their poll, commit it, and stop.
    sources.stop();
    Ok(ExitCode::SUCCESS)
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
