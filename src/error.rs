//! The one API error type. Every variant documents its HTTP status and OpenAI error `code`, and
//! renders OpenAI's body `{"error":{"message","type","param","code"}}` so any OpenAI client can
//! read it. Internal causes are logged here and never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::providers::{ProviderError, UpstreamClass, UpstreamError};

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_request_error`: malformed JSON or a wrong field, named in `param`.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    /// 401 `invalid_api_key`: no `Authorization: Bearer` header, or a key that is unknown or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `insufficient_permissions`: the key's role may not call this route.
    #[error("this route needs an admin key")]
    Forbidden,
    /// 404 `model_not_found`.
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    ModelNotFound(String),
    /// 404 `prompt_not_found`: unknown prompt, version, label, language or persona.
    #[error("{0}")]
    PromptNotFound(String),
    /// 400 `invalid_prompt_variables`: every problem with the prompt's variables, at once.
    #[error("Invalid prompt variables: {}", .0.join("; "))]
    InvalidPromptVariables(Vec<String>),
    /// 422 `prompt_reload_failed`: the new prompt set has problems; the old one keeps serving.
    #[error("Prompt reload rejected; the previous prompts keep serving. Problems: {}", .0.join("; "))]
    PromptReloadFailed(Vec<String>),
    /// 404 `not_found`: no such route.
    #[error("Unknown route {0}")]
    RouteNotFound(String),
    /// 413 `request_too_large`: body over `[server] max_body_bytes`.
    #[error("Request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 429 `rate_limit_exceeded`, with `Retry-After` in whole seconds.
    #[error(
        "Rate limit reached for this key ({rpm} requests per minute). Try again in {retry_after_secs}s."
    )]
    RateLimited { rpm: u32, retry_after_secs: u64 },
    /// 429 `insufficient_quota` (type `insufficient_quota`, as OpenAI answers an exhausted
    /// quota): the key has reached its daily budget; checked before any upstream call.
    #[error(
        "This API key has reached its daily budget of {daily_budget_usd} USD. It resets at 00:00 UTC."
    )]
    InsufficientQuota {
        daily_budget_usd: crate::core::UsdCost,
    },
    /// 503 `server_overloaded`: the local model's queue is full.
    #[error("{0}")]
    Overloaded(String),
    /// 502, code from the class (`upstream_http_503`, `upstream_connect_error`, …): every
    /// provider in the fallback chain failed, or a stream broke mid-answer.
    #[error("{message}")]
    UpstreamFailed {
        message: String,
        class: UpstreamClass,
    },
    /// 504 `upstream_timeout`: the last provider tried timed out.
    #[error("{message}")]
    UpstreamTimeout { message: String },
    /// 500 `internal_error`: the cause is logged, the client gets a request id to quote.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 naming the offending field.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: None,
        }
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::ModelNotFound(_)
            | ApiError::RouteNotFound(_)
            | ApiError::PromptNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidPromptVariables(_) => StatusCode::BAD_REQUEST,
            ApiError::PromptReloadFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } | ApiError::InsufficientQuota { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UpstreamFailed { .. } => StatusCode::BAD_GATEWAY,
            ApiError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. }
            | ApiError::ModelNotFound(_)
            | ApiError::RouteNotFound(_)
            | ApiError::PromptNotFound(_)
            | ApiError::InvalidPromptVariables(_)
            | ApiError::PromptReloadFailed(_)
            | ApiError::PayloadTooLarge { .. }
            | ApiError::Unauthorized(_)
            | ApiError::Forbidden => "invalid_request_error",
            ApiError::RateLimited { .. } => "requests",
            ApiError::InsufficientQuota { .. } => "insufficient_quota",
            ApiError::Overloaded(_)
            | ApiError::UpstreamFailed { .. }
            | ApiError::UpstreamTimeout { .. }
            | ApiError::Internal(_) => "server_error",
        }
    }

    /// OpenAI-style error `code`.
    pub fn code(&self) -> Option<&str> {
        Some(match self {
            ApiError::InvalidRequest { code, .. } => return *code,
            ApiError::Unauthorized(_) => "invalid_api_key",
            ApiError::Forbidden => "insufficient_permissions",
            ApiError::ModelNotFound(_) => "model_not_found",
            ApiError::RouteNotFound(_) => "not_found",
            ApiError::PromptNotFound(_) => "prompt_not_found",
            ApiError::InvalidPromptVariables(_) => "invalid_prompt_variables",
            ApiError::PromptReloadFailed(_) => "prompt_reload_failed",
            ApiError::PayloadTooLarge { .. } => "request_too_large",
            ApiError::RateLimited { .. } => "rate_limit_exceeded",
            ApiError::InsufficientQuota { .. } => "insufficient_quota",
            ApiError::Overloaded(_) => "server_overloaded",
            ApiError::UpstreamFailed { class, .. } => class.code(),
            ApiError::UpstreamTimeout { .. } => "upstream_timeout",
            ApiError::Internal(_) => "internal_error",
        })
    }

    fn param(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { param, .. } => param.as_deref(),
            ApiError::ModelNotFound(_) => Some("model"),
            ApiError::InvalidPromptVariables(_) => Some("prompt.variables"),
            _ => None,
        }
    }

    /// The JSON body as bytes (also used inside SSE streams).
    pub fn to_json(&self) -> String {
        let message = match self {
            ApiError::Internal(_) => {
                "The server had an error while processing your request.".to_string()
            }
            other => other.to_string(),
        };
        crate::wire::error_body(&message, self.kind(), self.param(), self.code())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "internal error");
        }
        let status = self.status();
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.to_json(),
        )
            .into_response();
        if let ApiError::RateLimited {
            retry_after_secs, ..
        } = &self
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        res
    }
}

impl From<crate::prompts::RenderError> for ApiError {
    fn from(e: crate::prompts::RenderError) -> Self {
        match e {
            crate::prompts::RenderError::NotFound(m) => ApiError::PromptNotFound(m),
            crate::prompts::RenderError::InvalidVariables(v) => ApiError::InvalidPromptVariables(v),
            e @ crate::prompts::RenderError::Template { .. } => ApiError::Internal(e.into()),
        }
    }
}

impl From<crate::wire::RequestError> for ApiError {
    fn from(e: crate::wire::RequestError) -> Self {
        ApiError::InvalidRequest {
            message: e.message,
            param: e.param,
            code: None,
        }
    }
}

/// The client's error once the chain gave no answer: 504 when the last provider tried timed out,
/// 503 when all were overloaded, else 502 with the last failure's class; the message lists every
/// attempt. A request the upstream refused is the client's 400.
impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        let message = e.to_string();
        match e {
            UpstreamError::UnknownModel(model) => ApiError::ModelNotFound(model),
            UpstreamError::Rejected { message, param } => ApiError::InvalidRequest {
                message,
                param,
                code: Some("upstream_rejected"),
            },
            UpstreamError::Exhausted(errors) => match errors.last() {
                Some(ProviderError::Timeout { .. }) => ApiError::UpstreamTimeout { message },
                Some(_)
                    if errors
                        .iter()
                        .all(|e| matches!(e, ProviderError::Overloaded { .. })) =>
                {
                    ApiError::Overloaded(message)
                }
                Some(last) => ApiError::UpstreamFailed {
                    class: last.class(),
                    message,
                },
                None => ApiError::UpstreamFailed {
                    class: UpstreamClass::Unknown,
                    message,
                },
            },
        }
    }
}

/// A failed query is an internal error: its cause is logged, never sent.
impl From<crate::store::DbError> for ApiError {
    fn from(e: crate::store::DbError) -> Self {
        ApiError::Internal(e.into())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn errors_render_openai_error_bodies() {
        let v: serde_json::Value =
            serde_json::from_str(&ApiError::ModelNotFound("nope".into()).to_json()).unwrap();
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "model");
        assert!(v["error"]["message"].as_str().unwrap().contains("nope"));
    }

    #[test]
    fn internal_causes_are_never_sent() {
        let body = ApiError::Internal(anyhow::anyhow!("password=hunter2 at db")).to_json();
        assert!(!body.contains("hunter2"));
    }

    #[test]
    fn rate_limited_answers_carry_retry_after() {
        let res = ApiError::RateLimited {
            rpm: 1,
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
    }

    #[test]
    fn the_final_error_follows_the_last_failure_and_lists_all() {
        let e = ApiError::from(UpstreamError::Exhausted(vec![
            ProviderError::Status {
                model: "a".into(),
                status: 503,
                message: "down".into(),
                retry_after: None,
            },
            ProviderError::Timeout {
                model: "b".into(),
                after: Duration::from_millis(5),
            },
        ]));
        assert_eq!(e.status(), 504);
        let text = e.to_string();
        assert!(
            text.contains("a: HTTP 503") && text.contains("b: no answer"),
            "{text}"
        );
        let e = ApiError::from(UpstreamError::Exhausted(vec![ProviderError::Connect {
            model: "a".into(),
            message: "refused".into(),
        }]));
        assert_eq!(e.status(), 502);
        assert_eq!(e.code(), Some("upstream_connect_error"));
    }
}
