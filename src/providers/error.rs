//! What goes wrong upstream: one provider's failure (`ProviderError`), the chain's outcome when no
//! provider answered (`UpstreamError`), and the failure class clients see in `error.code`
//! (`UpstreamClass`). `crate::error` turns these into API errors; providers never see those.

use std::time::Duration;

use super::failover::FailureKind;

/// What went wrong with one provider.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("{model}: no answer within {after:?}")]
    Timeout { model: String, after: Duration },
    #[error("{model}: HTTP {status}: {message}")]
    Status {
        model: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{model}: cannot connect: {message}")]
    Connect { model: String, message: String },
    #[error("{model}: too many requests queued for the local model")]
    Overloaded { model: String },
    /// The upstream refused the request itself (400/404/413/422): retrying or falling back would
    /// only repeat it, so the client is told.
    #[error("{message}")]
    Rejected {
        model: String,
        status: u16,
        message: String,
        param: Option<String>,
    },
    #[error("{model}: {message}")]
    Protocol { model: String, message: String },
    /// A 400 the provider's own policy or limits caused, not the request's shape: its content
    /// filter (`code: "content_filter"`) or its context window (`"context_length_exceeded"`).
    /// Another model may well answer, so `fallback_on` can move on.
    #[error("{model}: HTTP {status} {}: {message}", .kind.as_str())]
    Refused {
        model: String,
        status: u16,
        kind: FailureKind,
        message: String,
        param: Option<String>,
    },
    /// Skipped without a call: the model failed `cooldown_after` times in a row and is cooling
    /// down for `remaining`.
    #[error("{model}: cooling down after repeated failures ({remaining:?} left)")]
    CoolingDown { model: String, remaining: Duration },
}

impl ProviderError {
    /// Worth another try at the same provider (429, 5xx, connection failures).
    pub(super) fn retryable(&self) -> bool {
        match self {
            ProviderError::Status { status, .. } => *status == 429 || *status >= 500,
            ProviderError::Connect { .. } => true,
            _ => false,
        }
    }

    /// The `fallback_on` class of this failure; `None` for a request the upstream refused
    /// outright (never worth another model).
    pub fn kind(&self) -> Option<FailureKind> {
        match self {
            ProviderError::Timeout { .. } => Some(FailureKind::Timeout),
            ProviderError::Status { status: 429, .. } | ProviderError::Overloaded { .. } => {
                Some(FailureKind::TooManyRequests)
            }
            ProviderError::Status { .. }
            | ProviderError::Protocol { .. }
            | ProviderError::CoolingDown { .. } => Some(FailureKind::ServerError),
            ProviderError::Connect { .. } => Some(FailureKind::Connection),
            ProviderError::Refused { kind, .. } => Some(*kind),
            ProviderError::Rejected { .. } => None,
        }
    }

    /// A sign the model itself is unwell (what counts towards its cooldown): not a refusal of
    /// this one request's content or length.
    pub(super) fn is_outage(&self) -> bool {
        !matches!(
            self,
            ProviderError::Rejected { .. }
                | ProviderError::Refused { .. }
                | ProviderError::CoolingDown { .. }
        )
    }

    /// The metrics' outcome label.
    pub(super) fn outcome(&self) -> &'static str {
        match self {
            ProviderError::Timeout { .. } => "timeout",
            _ => "error",
        }
    }

    /// The class reported to the client in `error.code`.
    pub fn class(&self) -> UpstreamClass {
        match self {
            ProviderError::Timeout { .. } => UpstreamClass::Timeout,
            ProviderError::Status { status, .. } => UpstreamClass::Http(HttpStatus::new(*status)),
            ProviderError::Connect { .. } => UpstreamClass::Connect,
            ProviderError::Overloaded { .. } => UpstreamClass::Overloaded,
            ProviderError::Rejected { .. } | ProviderError::Refused { .. } => {
                UpstreamClass::Rejected
            }
            ProviderError::Protocol { .. } => UpstreamClass::Protocol,
            ProviderError::CoolingDown { .. } => UpstreamClass::CoolingDown,
        }
    }
}

/// How an upstream failed, as clients read it in `error.code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamClass {
    /// `upstream_timeout`
    Timeout,
    /// `upstream_http_<status>`
    Http(HttpStatus),
    /// `upstream_connect_error`
    Connect,
    /// `server_overloaded`: the local model's queue is full.
    Overloaded,
    /// `upstream_rejected`
    Rejected,
    /// `upstream_protocol_error`: an answer the gateway cannot read.
    Protocol,
    /// `upstream_stream_error`: a stream that broke after its first chunk.
    Stream,
    /// `upstream_error`: no provider was tried.
    Unknown,
    /// `upstream_cooldown`: every model of the chain is cooling down after repeated failures.
    CoolingDown,
}

impl UpstreamClass {
    /// The `error.code` clients see.
    pub fn code(&self) -> &str {
        match self {
            UpstreamClass::Timeout => "upstream_timeout",
            UpstreamClass::Http(s) => &s.code,
            UpstreamClass::Connect => "upstream_connect_error",
            UpstreamClass::Overloaded => "server_overloaded",
            UpstreamClass::Rejected => "upstream_rejected",
            UpstreamClass::Protocol => "upstream_protocol_error",
            UpstreamClass::Stream => "upstream_stream_error",
            UpstreamClass::Unknown => "upstream_error",
            UpstreamClass::CoolingDown => "upstream_cooldown",
        }
    }
}

/// An upstream's HTTP error status, with its code rendered once (`code()` lends a `&str`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpStatus {
    status: u16,
    code: String,
}

impl HttpStatus {
    pub fn new(status: u16) -> HttpStatus {
        HttpStatus {
            status,
            code: format!("upstream_http_{status}"),
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }
}

/// Why the chain (the requested model, its retries, its fallbacks) gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// No configured model has this name.
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    UnknownModel(String),
    /// An upstream refused the request itself: the client's to fix, nobody else was tried.
    #[error("{message}")]
    Rejected {
        message: String,
        param: Option<String>,
    },
    /// Every provider failed; every attempt's error, in order.
    #[error("Upstream failed: {}", list(.0))]
    Exhausted(Vec<ProviderError>),
}

fn list(errors: &[ProviderError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
