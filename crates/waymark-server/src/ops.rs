//! Operations: `/health` (alive), `/ready` (store open, sources started), `/metrics`
//! (Prometheus text), and the layers every response goes through — the bearer token (all but
//! `/health`), the body size limit, the Content-Security-Policy and request metrics.

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// Largest request body accepted (an OpenLineage event with its facets fits many times).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The policy sent with every response: nothing from elsewhere, no framing. Pages served
/// later load their own scripts and styles only.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// The operational routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
}

/// The routes with state and the common layers, outermost last.
pub fn layers(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(count_requests))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}

/// Alive.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is alive (never requires the token).
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The store is open and the sources are started.
#[utoipa::path(get, path = "/ready", responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "starting"));
    }
    state.store.read(|_| Ok(())).await?;
    Ok(Json(Health { status: "ready" }))
}

/// Metrics in Prometheus text format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    let body = state.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// The cookie a browser keeps the token in after `/login` (HttpOnly, SameSite=Strict).
pub const TOKEN_COOKIE: &str = "waymark_token";

/// Refuses a request without the token when one is set: `Authorization: Bearer …`, or the
/// cookie `/login` sets for browsers. `/health`, `/login` and the assets are always open; a
/// page asked for without the token redirects to `/login`, an API call gets 401.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path == "/health" || path == "/login" || path.starts_with("/assets/") {
        return next.run(request).await;
    }
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
        .find(|c| same(c.as_bytes(), token.as_bytes()));
    if bearer.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) || cookie.is_some() {
        return next.run(request).await;
    }
    let is_page = request.method() == axum::http::Method::GET
        && !path.starts_with("/api/")
        && path != "/metrics"
        && path != "/ready";
    if is_page {
        let next_url = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let to = format!("/login?next={}", crate::pages::encode(next_url));
        return axum::response::Redirect::to(&to).into_response();
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "a bearer token is required (Authorization: Bearer …)",
    )
    .into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Whether `given` is the token, in time independent of where they differ.
pub fn is_token(given: &str, token: &str) -> bool {
    same(given.trim().as_bytes(), token.as_bytes())
}

/// Compares in time independent of where the texts differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts requests and their latency by route (the route's pattern, never its values).
async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("waymark_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("waymark_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Installs the process-wide metrics recorder and returns the handle `/metrics` renders.
pub fn install_metrics() -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    let recorder = metrics_builder()?.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
    Ok(handle)
}

/// A handle not installed process-wide (tests, embedding).
pub fn local_metrics() -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    Ok(metrics_builder()?.build_recorder().handle())
}

fn metrics_builder() -> anyhow::Result<metrics_exporter_prometheus::PrometheusBuilder> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let latency = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_comparison() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
    }
}
