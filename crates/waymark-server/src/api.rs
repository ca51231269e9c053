//! The JSON API under `/api/v1`: every answer from the store's indexes, lists paginated with
//! opaque cursors, the same values the CLI prints with `--json`. The OpenAPI document is
//! generated from these handlers and types ([`ApiDoc`]), so it cannot drift from them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use waymark_core::answer::{
    parse_time_filter, DeadLetterView, EventView, FlagClock, FlowTrace, OrphanView, Page, RunView,
    ScanResultView, StatusView, Summary,
};
use waymark_core::audit::RunStatus;
use waymark_store::alert::{alerts_view, AlertsView};
use waymark_store::{
    DeadLetterQuery, FailureQuery, OrphanQuery, PageRequest, QueryStore, RunQuery, ScanResultQuery,
};

use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// Rows per page unless `limit` says otherwise, and the most a page holds.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// The API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/flows", get(flow_states))
        .route("/api/v1/flows/{correlation_id}", get(flow))
        .route("/api/v1/failures", get(failures))
        .route("/api/v1/orphans", get(orphans))
        .route("/api/v1/dead-letters", get(dead_letters))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{run_key}", get(run))
        .route("/api/v1/scan-results", get(scan_results))
        .route("/api/v1/status", get(status))
        .route("/api/v1/summary", get(summary))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/records", get(record))
        .route("/api/v1/openapi.json", get(openapi))
}

/// The OpenAPI 3 document of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "waymark", description = "The audit trail of data pipelines: flows, failures, runs."),
    paths(
        flow, flow_states, failures, orphans, dead_letters, runs, run, scan_results, status, summary, alerts,
        record, openapi,
        crate::lineage::receive, crate::ops::health, crate::ops::ready, crate::ops::metrics_text
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// Where a page starts and how long it is.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Rows per page, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    fn request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::bad_request(format!("limit: must be 1 to {MAX_LIMIT}")));
        }
        Ok(PageRequest { cursor: self.cursor.clone(), limit })
    }
}

/// A time window on event time (or a run's start).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowParams {
    /// From this time on: RFC 3339, or a date (zoneless times are UTC).
    pub since: Option<String>,
    /// Before this time.
    pub until: Option<String>,
}

impl WindowParams {
    fn bounds(&self) -> Result<(Option<i64>, Option<i64>), ApiError> {
        let one = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    parse_time_filter(s).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
                })
                .transpose()
        };
        Ok((one("since", &self.since)?, one("until", &self.until)?))
    }
}

/// Filters of `/failures`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FailureParams {
    pub system: Option<String>,
    pub checkpoint: Option<String>,
    /// Only failures whose reason is not (yet) known.
    #[serde(default)]
    pub without_reason: bool,
}

/// Filters of `/orphans`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrphanParams {
    pub system: Option<String>,
    /// `failure` or `reason`.
    pub kind: Option<String>,
}

/// Filters of `/dead-letters`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    /// The rejection's kind (`bad_json`, `invalid_utf8`, `openlineage`, …).
    pub kind: Option<String>,
    /// The source's name.
    pub source: Option<String>,
}

/// Filters of `/runs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// `SUCCESS`, `FAILURE`, `RUNNING` or `UNKNOWN`.
    pub status: Option<String>,
    /// The system type (`INFA_SESSION`, `DBT`, `OPENLINEAGE`, …).
    pub system: Option<String>,
    /// Only runs whose counts do not add up or that have been RUNNING too long.
    #[serde(default)]
    pub flagged: bool,
}

/// Filters of `/scan-results`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanResultParams {
    pub system_type: Option<String>,
    /// `ERROR`, `WARNING` or `INFO`.
    pub severity: Option<String>,
    pub rule: Option<String>,
    pub file_path: Option<String>,
    pub logscan_id: Option<i64>,
}

/// A query string as typed parameters, or a JSON 400.
fn params<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::bad_request(e.body_text()))
}

fn clock(state: &AppState) -> FlagClock {
    FlagClock {
        now_micros: jiff::Timestamp::now().as_microsecond(),
        running_timeout_secs: state.config().audit.running_timeout_secs,
    }
}

/// The trace of one flow and where it stopped.
#[utoipa::path(get, path = "/api/v1/flows/{correlation_id}",
    params(("correlation_id" = String, Path, description = "The flow's correlation id")),
    responses((status = 200, body = FlowTrace), (status = 404, body = ErrorBody, description = "no event has this id")))]
pub async fn flow(
    State(state): State<AppState>,
    Path(correlation_id): Path<String>,
) -> Result<Json<FlowTrace>, ApiError> {
    let flow = state.store.read(move |s| s.flow(&correlation_id)).await?;
    if flow.events.is_empty() {
        return Err(ApiError::not_found(format!(
            "no events for correlation id {}",
            flow.correlation_id
        )));
    }
    Ok(Json(flow))
}

/// Failures, oldest first.
#[utoipa::path(get, path = "/api/v1/failures", params(FailureParams, WindowParams, PageParams),
    responses((status = 200, body = Page<EventView>), (status = 400, body = ErrorBody)))]
pub async fn failures(
    State(state): State<AppState>,
    f: Result<Query<FailureParams>, QueryRejection>,
    w: Result<Query<WindowParams>, QueryRejection>,
    p: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Page<EventView>>, ApiError> {
    let (f, (since, until), page) = (params(f)?, params(w)?.bounds()?, params(p)?.request()?);
    let q = FailureQuery {
        system: f.system,
        checkpoint: f.checkpoint,
        since,
        until,
        without_reason: f.without_reason,
    };
    Ok(Json(state.store.read(move |s| s.failure_page(&q, &page)).await?))
}

/// Halves of split failures that found no partner in time, oldest first.
#[utoipa::path(get, path = "/api/v1/orphans", params(OrphanParams, WindowParams, PageParams),
    responses((status = 200, body = Page<OrphanView>), (status = 400, body = ErrorBody)))]
pub async fn orphans(
    State(state): State<AppState>,
    f: Result<Query<OrphanParams>, QueryRejection>,
    w: Result<Query<WindowParams>, QueryRejection>,
    p: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Page<OrphanView>>, ApiError> {
    let (f, (since, until), page) = (params(f)?, params(w)?.bounds()?, params(p)?.request()?);
    let q = OrphanQuery { system: f.system, kind: f.kind, since, until };
    Ok(Json(state.store.read(move |s| s.orphan_page(&q, &page)).await?))
}

/// Rejected records with their reason and origin.
#[utoipa::path(get, path = "/api/v1/dead-letters", params(DeadLetterParams, PageParams),
    responses((status = 200, body = Page<DeadLetterView>), (status = 400, body = ErrorBody)))]
pub async fn dead_letters(
    State(state): State<AppState>,
    f: Result<Query<DeadLetterParams>, QueryRejection>,
    p: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Page<DeadLetterView>>, ApiError> {
    let (f, page) = (params(f)?, params(p)?.request()?);
    let q = DeadLetterQuery { kind: f.kind, source: f.source };
    Ok(Json(state.store.read(move |s| s.dead_letter_page(&q, &page)).await?))
}

/// Audited ETL runs, the latest start first.
#[utoipa::path(get, path = "/api/v1/runs", params(RunParams, WindowParams, PageParams),
    responses((status = 200, body = Page<RunView>), (status = 400, body = ErrorBody)))]
pub async fn runs(
    State(state): State<AppState>,
    f: Result<Query<RunParams>, QueryRejection>,
    w: Result<Query<WindowParams>, QueryRejection>,
    p: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Page<RunView>>, ApiError> {
    let (f, (since, until), page) = (params(f)?, params(w)?.bounds()?, params(p)?.request()?);
    let status = f
        .status
        .as_deref()
        .map(|s| {
            RunStatus::from_word(&s.to_ascii_uppercase()).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status: `{s}` is not SUCCESS, FAILURE, RUNNING or UNKNOWN"
                ))
            })
        })
        .transpose()?;
    let q = RunQuery {
        status,
        system_type: f.system,
        since,
        until,
        flagged: f.flagged,
        clock: clock(&state),
    };
    Ok(Json(state.store.read(move |s| s.run_page(&q, &page)).await?))
}

/// One run by its key.
#[utoipa::path(get, path = "/api/v1/runs/{run_key}",
    params(("run_key" = String, Path, description = "The run's key, as `runs` lists it")),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    Path(run_key): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    let clock = clock(&state);
    let key = run_key.clone();
    match state.store.read(move |s| s.run(&key, clock)).await? {
        Some(r) => Ok(Json(r)),
        None => Err(ApiError::not_found(format!("no run with key {run_key}"))),
    }
}

/// Lines the scan rules matched, in order of storage.
#[utoipa::path(get, path = "/api/v1/scan-results", params(ScanResultParams, PageParams),
    responses((status = 200, body = Page<ScanResultView>), (status = 400, body = ErrorBody)))]
pub async fn scan_results(
    State(state): State<AppState>,
    f: Result<Query<ScanResultParams>, QueryRejection>,
    p: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Page<ScanResultView>>, ApiError> {
    let (f, page) = (params(f)?, params(p)?.request()?);
    let q = ScanResultQuery {
        system_type: f.system_type,
        severity: f.severity,
        rule: f.rule,
        file_path: f.file_path,
        logscan_id: f.logscan_id,
    };
    Ok(Json(state.store.read(move |s| s.scan_result_page(&q, &page)).await?))
}

/// Row counts and the sources with their positions.
#[utoipa::path(get, path = "/api/v1/status", responses((status = 200, body = StatusView)))]
pub async fn status(State(state): State<AppState>) -> Result<Json<StatusView>, ApiError> {
    Ok(Json(state.store.read(|s| s.status()).await?))
}

/// Event counts by system, checkpoint, status and hour in a window.
#[utoipa::path(get, path = "/api/v1/summary", params(WindowParams),
    responses((status = 200, body = Summary), (status = 400, body = ErrorBody)))]
pub async fn summary(
    State(state): State<AppState>,
    w: Result<Query<WindowParams>, QueryRejection>,
) -> Result<Json<Summary>, ApiError> {
    let (since, until) = params(w)?.bounds()?;
    Ok(Json(state.store.read(move |s| s.summary(since, until)).await?))
}

/// Filters of `/flows`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlowStateParams {
    /// Only flows in this state: `complete`, `failed`, `stalled` or `in-progress`.
    pub state: Option<String>,
    /// The latest flows to list, 1 to 1000 (default 100).
    pub limit: Option<usize>,
}

/// The flows with an event in the alert lookback (`[alert] flow_lookback_secs`), judged now
/// against the `[[expect.flow]]` shapes, oldest first (as `waymark flows --state … --json`).
#[utoipa::path(get, path = "/api/v1/flows", params(FlowStateParams),
    responses((status = 200, body = Vec<waymark_core::alert::FlowStatus>), (status = 400, body = ErrorBody)))]
pub async fn flow_states(
    State(state): State<AppState>,
    f: Result<Query<FlowStateParams>, QueryRejection>,
) -> Result<Json<Vec<waymark_core::alert::FlowStatus>>, ApiError> {
    let f = params(f)?;
    let limit = f.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("limit: must be 1 to {MAX_LIMIT}")));
    }
    let wanted = f
        .state
        .as_deref()
        .map(|s| {
            waymark_core::alert::FlowState::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "state: `{s}` is not complete, failed, stalled or in-progress"
                ))
            })
        })
        .transpose()?;
    judged_flows(&state, wanted, limit).await?.map(Json).ok_or_else(|| {
        ApiError::bad_request(
            "no [[expect.flow]] in the configuration: flows have no shape to judge",
        )
    })
}

/// The flows of the alert lookback judged now against the `[[expect.flow]]` shapes, oldest
/// first, only those in `wanted` when given, the latest `limit` (0 = all); `None` when the
/// configuration has no shape. The API and the pages both ask this.
pub async fn judged_flows(
    state: &AppState,
    wanted: Option<waymark_core::alert::FlowState>,
    limit: usize,
) -> Result<Option<Vec<waymark_core::alert::FlowStatus>>, ApiError> {
    let config = state.config();
    if config.alert.flows.is_empty() {
        return Ok(None);
    }
    let now = jiff::Timestamp::now().as_microsecond();
    let lookback = config.alert.flow_lookback_micros;
    let listed = state
        .store
        .read(move |s| {
            let shapes = &config.alert.flows;
            waymark_store::alert::flow_states(s, shapes, now, lookback, wanted, limit)
        })
        .await?;
    Ok(Some(listed))
}

/// Which record `/records` reads.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordParams {
    /// The source's name, as an event's `source` (a file source's path).
    pub source: String,
    /// The record's position, as an event's `position` (a byte offset in the file).
    pub position: u64,
}

/// A stored record's bytes, read again from its file on demand.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RecordView {
    pub source: String,
    pub position: u64,
    /// Whether the file still holds what was read (else `reason` says why not).
    pub available: bool,
    /// The record's bytes, without its newline (invalid UTF-8 replaced by U+FFFD).
    pub text: Option<String>,
    /// Longer than the configured `max_line_bytes`, cut there.
    pub truncated: bool,
    pub reason: Option<String>,
}

/// The bytes of a record of a `file` source, read again from the file when it still holds
/// what was read (checked by the stored fingerprint); Kafka and stdin records are not kept.
#[utoipa::path(get, path = "/api/v1/records", params(RecordParams),
    responses((status = 200, body = RecordView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn record(
    State(state): State<AppState>,
    f: Result<Query<RecordParams>, QueryRejection>,
) -> Result<Json<RecordView>, ApiError> {
    Ok(Json(read_record(&state, params(f)?).await?))
}

/// [`record`]'s answer, shared with the page of the same name.
pub async fn read_record(state: &AppState, f: RecordParams) -> Result<RecordView, ApiError> {
    use waymark_store::EventStore as _;
    let name = f.source.clone();
    let source = state
        .store
        .read(move |s| Ok(s.sources()?.into_iter().find(|r| r.name == name)))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no source named {}", f.source)))?;
    let mut view = RecordView {
        source: f.source,
        position: f.position,
        available: false,
        text: None,
        truncated: false,
        reason: None,
    };
    if source.kind != "file" {
        view.reason = Some(format!("records of {} sources are not kept", source.kind));
        return Ok(view);
    }
    let max = state.config().ingest.max_line_bytes;
    let path = std::path::PathBuf::from(&source.name);
    let read = tokio::task::spawn_blocking(move || {
        waymark_pipeline::file::record_at(
            &path,
            f.position,
            source.position,
            source.identity.as_deref(),
            max,
        )
    })
    .await
    .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match read {
        Ok(waymark_pipeline::file::RecordAt::Found { bytes, truncated }) => {
            view.available = true;
            view.text = Some(String::from_utf8_lossy(&bytes).into_owned());
            view.truncated = truncated;
        }
        Ok(waymark_pipeline::file::RecordAt::Gone(why)) => view.reason = Some(why.to_owned()),
        Err(e) => view.reason = Some(format!("cannot read the file: {e}")),
    }
    Ok(view)
}

/// How many deliveries `/alerts` lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// The latest deliveries to list, 1 to 1000 (default 20).
    pub limit: Option<usize>,
}

/// The active alerts and the latest notifications with how their delivery went (as
/// `waymark alerts --json`).
#[utoipa::path(get, path = "/api/v1/alerts", params(AlertParams),
    responses((status = 200, body = AlertsView), (status = 400, body = ErrorBody)))]
pub async fn alerts(
    State(state): State<AppState>,
    f: Result<Query<AlertParams>, QueryRejection>,
) -> Result<Json<AlertsView>, ApiError> {
    let limit = params(f)?.limit.unwrap_or(20);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("limit: must be 1 to {MAX_LIMIT}")));
    }
    Ok(Json(state.store.read(move |s| alerts_view(s, limit)).await?))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, description = "OpenAPI 3")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
