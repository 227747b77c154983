//! One error type for every HTTP failure: a status and a JSON body `{"error": code, "message": text}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An HTTP error answer.
#[derive(Debug)]
pub struct AppError {
    /// The status code.
    pub status: StatusCode,
    /// A stable machine-readable code.
    pub code: &'static str,
    /// A sentence for humans.
    pub message: String,
}

impl AppError {
    /// A 404 for a resource of the given kind.
    pub fn not_found(what: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("{what} not found"),
        }
    }

    /// A 401: no or wrong admin token.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "missing or invalid admin token (Authorization: Bearer TOKEN)".into(),
        }
    }

    /// A 4xx for a request that cannot be processed as sent.
    pub fn bad_request(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// A 500 that hides the cause from the client and logs it.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal server error".into(),
        }
    }
}

impl From<ferrocast_db::DbError> for AppError {
    fn from(e: ferrocast_db::DbError) -> Self {
        match e {
            ferrocast_db::DbError::NameTaken { name } => Self::bad_request(
                StatusCode::CONFLICT,
                "name_taken",
                format!("a channel named {name:?} already exists"),
            ),
            e => Self::internal(e),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut res = (self.status, Json(body)).into_response();
        // Errors must not stick in a CDN: a channel that is offline now may be live in a second.
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        res
    }
}
