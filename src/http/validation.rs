//! 422 answers for the ML endpoints: a field the client got wrong, named in `param`, with the
//! OpenAI-shaped body the rest of `/v1` uses:
//! `{"error":{"type":"invalid_request_error","code":"invalid_field","param":"<field>","message":…}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A 422 naming `param`, with `code` (`invalid_field`, `missing_field`).
pub fn unprocessable(param: &str, code: &str, message: &str) -> Response {
    error_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request_error",
        code,
        Some(param),
        message,
    )
}

/// An error body with any status (404 `not_found` for an unknown prediction, 503 for a model
/// not yet loaded), in the same shape.
pub fn error_response(
    status: StatusCode,
    kind: &str,
    code: &str,
    param: Option<&str>,
    message: &str,
) -> Response {
    let body = json!({
        "error": { "type": kind, "code": code, "param": param, "message": message }
    });
    (status, axum::Json(body)).into_response()
}
