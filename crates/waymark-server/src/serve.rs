//! Running the server: bind (127.0.0.1 unless told otherwise), answer until SIGTERM or SIGINT,
//! then finish the requests in hand within a bounded time. SIGHUP reloads the configuration:
//! a configuration with errors is refused (its errors logged) and the running one kept.

use std::net::SocketAddr;
use std::time::Duration;

use waymark_core::config::Config;

use crate::AppState;

/// How to run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// How long requests in hand may take to finish after a stop signal.
    pub shutdown_grace: Duration,
}

/// Loads the configuration again (SIGHUP); `Err` carries every error, for the log.
pub type Reload = Box<dyn Fn() -> Result<Config, String> + Send + Sync>;

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
    let signals = tokio::spawn(signals(state.clone(), reload, stop_tx));
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

#[cfg(unix)]
async fn signals(state: AppState, reload: Reload, stop: tokio::sync::watch::Sender<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => match reload() {
                Ok(config) => {
                    state.replace_config(config);
                    tracing::info!("SIGHUP: configuration reloaded");
                }
                Err(errors) => tracing::error!(%errors, "SIGHUP: configuration refused, the running one is kept"),
            },
        }
    }
    let _ = stop.send(true);
}

#[cfg(not(unix))]
async fn signals(_state: AppState, _reload: Reload, stop: tokio::sync::watch::Sender<bool>) {
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop.send(true);
}
