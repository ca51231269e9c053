//! `waymark serve`: the audit trail over HTTP.
//!
//! - [`api::router`]: the JSON API under `/api/v1` (flows, failures, orphans, dead letters,
//!   runs, scan results, status, summary, the OpenAPI document), answering from the
//!   [`QueryStore`](waymark_store::QueryStore);
//! - [`lineage`]: the OpenLineage receiver, `POST /api/v1/lineage`;
//! - [`ops`]: `/health`, `/ready`, `/metrics`, and the layers every response goes through
//!   (bearer token, Content-Security-Policy, body limit, request metrics);
//! - [`AppState`]: the one state every handler shares (store, configuration, metrics).
//!
//! - [`pages`]: the dashboard, HTML pages at `/`.
//!
//! [`app`] composes the routers.

pub mod api;
mod error;
pub mod lineage;
pub mod ops;
pub mod pages;
mod serve;
mod state;

pub use error::{ApiError, ErrorBody};
pub use serve::{run, Reload, ServeOptions};
pub use state::{AppState, StoreHandle};

/// The whole application: every router, behind the common layers.
pub fn app(state: AppState) -> axum::Router {
    let routes = axum::Router::new()
        .merge(api::router())
        .merge(lineage::router())
        .merge(ops::router())
        .merge(pages::router());
    ops::layers(routes, state)
}
