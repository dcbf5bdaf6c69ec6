//! The ML endpoints' answer to bad input: 422 naming the field, in OpenAI's error shape
//! (`{"error":{"type":"invalid_request_error","code":"invalid_field","param":"<field>",
//! "message":…}}`), so a client reads it like any other API error. The feature routes use it;
//! the risk and recommendation routes are meant to as well ([`MlError`] lets a handler `?` both
//! this and [`ApiError`]).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::features::FieldError;

/// 422 `invalid_field`: the value of `param` is missing, unknown, of the wrong type or
/// implausible; `message` says which and, for a range, the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The field as in the request body (`systolic_bp_mmhg`, `views_7d.nutrition`, `patient_id`).
    pub param: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            param: param.into(),
            message: message.into(),
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        crate::wire::error_body(
            &self.message,
            "invalid_request_error",
            Some(&self.param),
            Some("invalid_field"),
        )
    }
}

impl From<FieldError> for ValidationError {
    fn from(e: FieldError) -> Self {
        let message = format!("Invalid value for '{}': {}", e.field, e.message);
        ValidationError::new(e.field, message)
    }
}

impl IntoResponse for ValidationError {
    fn into_response(self) -> Response {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "application/json")],
            self.to_json(),
        )
            .into_response()
    }
}

/// What an ML handler can answer instead of success: any API error, or a 422 naming a field.
#[derive(Debug)]
pub enum MlError {
    Api(ApiError),
    Invalid(ValidationError),
    /// 404 `not_found` with this message (an unknown group, a patient with no stored row).
    NotFound(String),
}

impl From<ApiError> for MlError {
    fn from(e: ApiError) -> Self {
        MlError::Api(e)
    }
}

impl From<ValidationError> for MlError {
    fn from(e: ValidationError) -> Self {
        MlError::Invalid(e)
    }
}

impl From<FieldError> for MlError {
    fn from(e: FieldError) -> Self {
        MlError::Invalid(e.into())
    }
}

impl IntoResponse for MlError {
    fn into_response(self) -> Response {
        match self {
            MlError::Api(e) => e.into_response(),
            MlError::Invalid(e) => e.into_response(),
            MlError::NotFound(message) => (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "application/json")],
                crate::wire::error_body(&message, "invalid_request_error", None, Some("not_found")),
            )
                .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_the_field_in_openais_shape() {
        let body: serde_json::Value =
            serde_json::from_str(&ValidationError::new("age_years", "too old").to_json()).unwrap();
        assert_eq!(body["error"]["param"], "age_years");
        assert_eq!(body["error"]["code"], "invalid_field");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["message"], "too old");
    }
}
