//! The OpenLineage receiver: `POST /api/v1/lineage`, the path Marquez serves and the
//! OpenLineage clients post to. Each RunEvent upserts one audit row keyed by its `runId` (the
//! never-blank merge of [`AuditStore`]); a malformed event is answered 400 with what is
//! wrong and kept as a dead letter of the `openlineage` source.
//!
//! The receiver answers only when the configuration declares a `type = "openlineage"` source.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use waymark_core::audit::AuditUpsert;
use waymark_core::config::SourceRaw;
use waymark_core::lineage::{parse_run_event, LineageError};
use waymark_core::parse::Reject;
use waymark_core::pipeline::{Batch, DeadLetter, DEAD_LETTER_MAX_RAW};
use waymark_core::Origin;
use waymark_store::{AuditStore, EventStore};

use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// The receiver's route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/lineage", post(receive))
}

/// What the receiver did with an event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineageAck {
    /// The audit row's key (`OPENLINEAGE|<runId>`).
    pub run_key: String,
    pub event_type: String,
    /// `inserted`, `updated` or `unchanged`.
    pub outcome: String,
}

/// The name of the configured OpenLineage source, if there is one.
fn source_name(state: &AppState) -> Option<String> {
    let config = state.config();
    config
        .raw
        .sources
        .iter()
        .enumerate()
        .find_map(|(i, s)| matches!(s, SourceRaw::Openlineage { .. }).then(|| s.name(i)))
}

/// Receives one OpenLineage RunEvent.
#[utoipa::path(post, path = "/api/v1/lineage", request_body(content = Object, description = "An OpenLineage RunEvent"),
    responses((status = 201, body = LineageAck), (status = 400, body = ErrorBody, description = "not a RunEvent; kept as a dead letter"),
        (status = 404, body = ErrorBody, description = "no openlineage source configured"), (status = 413, description = "body too large")))]
pub async fn receive(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<LineageAck>), ApiError> {
    let Some(source) = source_name(&state) else {
        return Err(ApiError::not_found("no source of type `openlineage` is configured"));
    };
    let run = match parse_run_event(&body) {
        Ok(run) => run,
        Err(err) => {
            metrics::counter!("waymark_dead_letters_total", "source" => source.clone(), "reason" => err.kind.as_str())
                .increment(1);
            let message = err.message.clone();
            state.store.write(move |s| dead_letter(s, &source, &body, err)).await?;
            return Err(ApiError::bad_request(format!("not an OpenLineage RunEvent: {message}")));
        }
    };
    let event_type = run.event_type.clone();
    let run_key = run.run_key.clone();
    let upsert =
        AuditUpsert { run_key: run.run_key, row: run.row, logscan_id: None, log_file: None };
    let summary = state.store.write(move |s| s.upsert_runs(&[upsert], None)).await?;
    let outcome = if summary.inserted > 0 {
        "inserted"
    } else if summary.updated > 0 {
        "updated"
    } else {
        "unchanged"
    };
    let known = matches!(event_type.as_str(), "START" | "RUNNING" | "COMPLETE" | "FAIL" | "ABORT");
    let label = if known { event_type.clone() } else { "OTHER".to_owned() };
    metrics::counter!("waymark_openlineage_events_total", "event_type" => label).increment(1);
    metrics::gauge!("waymark_last_success_timestamp_seconds", "source" => source_name(&state).unwrap_or_default())
        .set(jiff::Timestamp::now().as_second() as f64);
    Ok((StatusCode::CREATED, Json(LineageAck { run_key, event_type, outcome: outcome.to_owned() })))
}

/// Stores a rejected event as a dead letter at the next position of the source.
fn dead_letter(
    s: &mut waymark_store::AnyStore,
    source: &str,
    body: &[u8],
    err: LineageError,
) -> waymark_store::Result<()> {
    let src = s.source("openlineage", source)?;
    let mut batch = Batch::default();
    batch.dead_letters.push(DeadLetter {
        origin: Origin { source: src.id, position: src.position },
        raw: body[..body.len().min(DEAD_LETTER_MAX_RAW)].to_vec(),
        raw_len: body.len() as u64,
        reason: Reject::new(err.kind, err.message),
    });
    batch.counts.records = 1;
    batch.counts.rejected = 1;
    batch.set_position(src.id, src.position + 1, None);
    s.commit(&batch)
}
