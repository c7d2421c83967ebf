//! [`ApiError`]: the JSON error of the HTTP endpoints (downloads and the
//! admin API), `{"error": {"code": "...", "message": "..."}}` with an HTTP
//! status. Codes are stable and SCREAMING_SNAKE_CASE; messages are English
//! for people and may change.
//!
//! One place turns store and blob errors into codes: [`ApiError::from_store`]
//! and [`ApiError::from_blob`]. Backend failures are logged in detail and
//! answered as an opaque `INTERNAL_ERROR`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::blobs::BlobError;
use crate::domain::DomainError;
use crate::releases::PublishError;
use crate::store::StoreError;

/// An HTTP error with a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code, e.g. `NOT_FOUND`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500 `INTERNAL_ERROR`; the detail goes to the log, not to the client.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "the server failed; nothing was changed",
        )
    }

    /// The answer to a refusal by a business rule.
    pub fn from_domain(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { .. } => Self::not_found("NOT_FOUND", e.to_string()),
            DomainError::Conflict { .. } => {
                Self::new(StatusCode::CONFLICT, "CONFLICT", e.to_string())
            }
            DomainError::Invalid(message) => Self::bad_request(message),
        }
    }

    /// The answer to a store error.
    pub fn from_store(e: StoreError) -> Self {
        match e {
            StoreError::Domain(e) => Self::from_domain(e),
            StoreError::Dump(_) => Self::bad_request(e.to_string()),
            StoreError::Config(_) | StoreError::Backend(_) => Self::internal(&e),
        }
    }

    /// The answer to a blob store error.
    pub fn from_blob(e: BlobError) -> Self {
        match e {
            BlobError::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                e.to_string(),
            ),
            BlobError::Missing | BlobError::Io(_) => Self::internal(&e),
        }
    }

    /// The answer to a failed publish.
    pub fn from_publish(e: PublishError) -> Self {
        match e {
            PublishError::Blob(e) => Self::from_blob(e),
            PublishError::Store(e) => Self::from_store(e),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_stable_codes() {
        let e = ApiError::from_store(StoreError::not_found("product `x`"));
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, "NOT_FOUND"));
        let e = ApiError::from_store(crate::store::error::corrupt("disk on fire"));
        assert_eq!(e.code, "INTERNAL_ERROR");
        assert!(
            !e.message.contains("disk"),
            "backend detail stays in the log"
        );
        assert_eq!(
            e.body()["error"]["code"],
            serde_json::Value::from("INTERNAL_ERROR")
        );
    }
}
