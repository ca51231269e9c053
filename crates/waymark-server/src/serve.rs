//! Running the server: bind (127.0.0.1 unless told otherwise), answer until SIGTERM or SIGINT,
//! then finish the requests in hand within a bounded time. SIGHUP — or a change of the
//! configuration file, with `--watch-config` — reloads the configuration: a configuration with
//! errors is refused (its errors logged) and the running one kept.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use waymark_core::config::Config;

use crate::AppState;

/// How to run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// How long requests in hand may take to finish after a stop signal.
    pub shutdown_grace: Duration,
    /// Reload when this file changes (its length or modification time), checked every second.
    pub watch_config: Option<PathBuf>,
}

/// Loads the configuration again and puts it in effect for the sources (SIGHUP); it runs on a
/// blocking thread. `Err` carries every error, for the log.
pub type Reload = Arc<dyn Fn() -> Result<Arc<Config>, String> + Send + Sync>;

/// Serves `state` on `listener` until a stop signal.
pub async fn run(
    state: AppState,
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    reload: Reload,
) -> anyhow::Result<()> {
    let app = crate::app(state.clone());
    state.set_ready(true);
    tracing::info!(listen = %listener.local_addr()?, "serving");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signals =
        tokio::spawn(signals(state.clone(), reload, options.watch_config.clone(), stop_tx));
    let mut stopped = stop_rx.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.wait_for(|s| *s).await;
    });
    let metrics = state.metrics.clone();
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            metrics.run_upkeep();
        }
    });
    let mut stop_seen = stop_rx;
    let server = tokio::spawn(async move { server.await });
    let _ = stop_seen.wait_for(|s| *s).await;
    state.set_ready(false);
    match tokio::time::timeout(options.shutdown_grace, server).await {
        Ok(joined) => joined??,
        Err(_) => tracing::warn!("requests still in hand after the grace period; stopping anyway"),
    }
    signals.abort();
    upkeep.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Reloads, logging the outcome; the running configuration stays when the new one is refused.
async fn reload_now(state: &AppState, reload: &Reload, why: &str) {
    let reload = Arc::clone(reload);
    match tokio::task::spawn_blocking(move || reload()).await {
        Ok(Ok(config)) => {
            state.replace_config(config);
            tracing::info!("{why}: configuration reloaded");
        }
        Ok(Err(errors)) => {
            tracing::error!(%errors, "{why}: configuration refused, the running one is kept")
        }
        Err(e) => tracing::error!(error = %e, "{why}: the reload failed"),
    }
}

/// What tells a configuration file changed.
fn stamp(path: &std::path::Path) -> Option<(u64, std::time::SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

#[cfg(unix)]
async fn signals(
    state: AppState,
    reload: Reload,
    watch: Option<PathBuf>,
    stop: tokio::sync::watch::Sender<bool>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    let mut seen = watch.as_deref().and_then(stamp);
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => reload_now(&state, &reload, "SIGHUP").await,
            _ = every.tick(), if watch.is_some() => {
                let now = watch.as_deref().and_then(stamp);
                if now.is_some() && now != seen {
                    seen = now;
                    reload_now(&state, &reload, "configuration file changed").await;
                }
            }
        }
    }
    let _ = stop.send(true);
}

#[cfg(not(unix))]
async fn signals(
    _state: AppState,
    _reload: Reload,
    _watch: Option<PathBuf>,
    stop: tokio::sync::watch::Sender<bool>,
) {
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop.send(true);
}
