//! [`AppState`]: what every handler shares — the store, the configuration (replaced whole on
//! reload), the metrics handle, the token and readiness.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use metrics_exporter_prometheus::PrometheusHandle;
use waymark_core::config::Config;
use waymark_store::{AnyStore, StoreError};

use crate::ApiError;

/// The store: a pool of reader connections (SQLite in WAL mode lets readers run beside the
/// writer) and one writer connection, each used on a blocking thread. At most [`READERS`]
/// reads run at once (the others wait their turn): more would only share the same cores and
/// each open its own page cache.
#[derive(Debug)]
pub struct StoreHandle {
    path: PathBuf,
    readers: Mutex<Vec<AnyStore>>,
    permits: tokio::sync::Semaphore,
    writer: Mutex<AnyStore>,
}

/// Reads running at once, and reader connections kept open between requests.
pub(crate) const READERS: usize = 8;

impl StoreHandle {
    /// Opens (creating or migrating) the store at `path`.
    pub fn open(path: &Path) -> Result<StoreHandle, StoreError> {
        let writer = waymark_store::open(path)?;
        Ok(StoreHandle {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(READERS),
            writer: Mutex::new(writer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with a reader connection on a blocking thread.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AnyStore) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|e| {
            ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, format!("stopping: {e}"))
        })?;
        let handle = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let pooled = handle.readers.lock().ok().and_then(|mut v| v.pop());
            let store = match pooled {
                Some(s) => s,
                None => AnyStore::open_reader(&handle.path)?,
            };
            let out = f(&store);
            if let Ok(mut v) = handle.readers.lock() {
                if v.len() < READERS {
                    v.push(store);
                }
            }
            out
        })
        .await;
        joined
            .map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    format!("worker failed: {e}"),
                )
            })?
            .map_err(ApiError::from)
    }

    /// Runs `f` with the writer connection on a blocking thread (one write at a time).
    pub async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyStore) -> Result<T, StoreError> + Send + 'static,
    {
        let handle = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let mut writer =
                handle.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut writer)
        })
        .await;
        joined
            .map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    format!("worker failed: {e}"),
                )
            })?
            .map_err(ApiError::from)
    }
}

/// The state every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<StoreHandle>,
    config: Arc<RwLock<Arc<Config>>>,
    pub metrics: PrometheusHandle,
    /// The bearer token every endpoint but `/health` requires, when set.
    pub token: Option<Arc<str>>,
    ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.store.path()).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(
        store: StoreHandle,
        config: Arc<Config>,
        metrics: PrometheusHandle,
        token: Option<String>,
    ) -> AppState {
        AppState {
            store: Arc::new(store),
            config: Arc::new(RwLock::new(config)),
            metrics,
            token: token.map(Arc::from),
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The configuration in effect.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Puts a new (validated) configuration in effect.
    pub fn replace_config(&self, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config;
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}
