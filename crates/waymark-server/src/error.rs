//! Errors as HTTP answers: a JSON body `{"error": …, "status": …}` with the status that fits;
//! the details of a server-side failure go to the log, not to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use waymark_store::StoreError;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What is wrong, for people.
    pub error: String,
    /// The HTTP status, repeated.
    pub status: u16,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match &err {
            StoreError::InvalidCursor(m) => ApiError::bad_request(m.clone()),
            StoreError::Refused(m) => ApiError::bad_request(format!("refused: {m}")),
            StoreError::Busy { .. } | StoreError::Timeout(_) => {
                tracing::warn!(error = %err, "store unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is busy, retry later")
            }
            StoreError::Lost { .. } => {
                tracing::warn!(error = %err, "store unreachable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is unreachable, retry later",
                )
            }
            _ => {
                tracing::error!(error = %err, "store error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store error (see the server log)")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.message, status: self.status.as_u16() };
        (self.status, axum::Json(body)).into_response()
    }
}
