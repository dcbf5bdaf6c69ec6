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
    /// 403 `insufficient_permissions`: the key's role may not call this route (admin routes need
    /// `admin`; feature routes `admin` or `ingest`; an `ingest` key may call only those).
    #[error("this key's role may not call this route")]
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
    /// 408 `request_timeout`: the body did not arrive within `[server] body_timeout_ms`.
    #[error("The request body did not arrive within {secs} s.")]
    RequestTimeout { secs: u64 },
    /// 429 `too_many_failed_authentications`, with `Retry-After`: this client address sent too
    /// many unknown keys; answered before any key lookup.
    #[error(
        "Too many requests with an invalid API key from this address. Try again in {retry_after_secs}s."
    )]
    AuthThrottled { retry_after_secs: u64 },
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
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. }
            | ApiError::InsufficientQuota { .. }
            | ApiError::AuthThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
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
            | ApiError::RequestTimeout { .. }
            | ApiError::Unauthorized(_)
            | ApiError::Forbidden => "invalid_request_error",
            ApiError::RateLimited { .. } | ApiError::AuthThrottled { .. } => "requests",
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
            ApiError::RequestTimeout { .. } => "request_timeout",
            ApiError::AuthThrottled { .. } => "too_many_failed_authentications",
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
        }
        | ApiError::AuthThrottled { retry_after_secs } = &self
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
/// 503 when all were overloaded, else 502 with the last failure's class. A request the upstream
/// refused is the client's 400. The upstreams' own error text (which can carry their internals,
/// or echo the request) is logged here and never sent: the client gets a generic message naming
/// the status class (`upstream_http_503`, `upstream_timeout`, …) in `code` and in the message.
impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        let detail = e.to_string();
        let generic = |code: &str| {
            format!("The model provider failed ({code}). The details are in the gateway's log.")
        };
        match e {
            UpstreamError::UnknownModel(model) => ApiError::ModelNotFound(model),
            UpstreamError::Rejected { param, .. } => {
                tracing::warn!(error = %detail, "the upstream rejected the request");
                ApiError::InvalidRequest {
                    message: "The model provider rejected the request as invalid \
                              (upstream_rejected). The details are in the gateway's log."
                        .into(),
                    param,
                    code: Some("upstream_rejected"),
                }
            }
            UpstreamError::Exhausted(errors) => {
                tracing::warn!(error = %detail, "every upstream failed");
                match errors.last() {
                    Some(ProviderError::Timeout { .. }) => ApiError::UpstreamTimeout {
                        message: generic("upstream_timeout"),
                    },
                    // The local model's own queue: our words, not an upstream's.
                    Some(_)
                        if errors
                            .iter()
                            .all(|e| matches!(e, ProviderError::Overloaded { .. })) =>
                    {
                        ApiError::Overloaded(detail)
                    }
                    Some(last) => ApiError::UpstreamFailed {
                        message: generic(last.class().code()),
                        class: last.class(),
                    },
                    None => ApiError::UpstreamFailed {
                        class: UpstreamClass::Unknown,
                        message: generic(UpstreamClass::Unknown.code()),
                    },
                }
            }
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
    fn upstream_error_text_is_never_sent_only_its_class() {
        let e = ApiError::from(UpstreamError::Exhausted(vec![ProviderError::Status {
            model: "a".into(),
            status: 503,
            message: "internal host db-7.corp refused".into(),
            retry_after: None,
        }]));
        let body = e.to_json();
        assert!(!body.contains("db-7.corp"), "{body}");
        assert!(body.contains("upstream_http_503"), "{body}");
        let e = ApiError::from(UpstreamError::Rejected {
            message: "your prompt 'secret plan' is too long".into(),
            param: None,
        });
        assert_eq!(e.status(), 400);
        assert!(!e.to_json().contains("secret plan"));
    }

    #[test]
    fn the_final_error_follows_the_last_failure() {
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
        assert_eq!(e.code(), Some("upstream_timeout"));
        let e = ApiError::from(UpstreamError::Exhausted(vec![ProviderError::Connect {
            model: "a".into(),
            message: "refused".into(),
        }]));
        assert_eq!(e.status(), 502);
        assert_eq!(e.code(), Some("upstream_connect_error"));
    }
}
