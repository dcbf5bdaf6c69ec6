//! What happens when a model fails: the classes of failure `fallback_on` names, which of them
//! move a request to the next model, and when a failing model is cooled down (skipped for a
//! while). Read from each `[[models]]` entry by [`super::settings`].

use std::time::Duration;

/// A class of failure that `fallback_on` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// `"5xx"`: an upstream server error (or an answer the gateway cannot read).
    ServerError,
    /// `"429"`: rate-limited upstream (or the local model's queue full).
    TooManyRequests,
    /// `"timeout"`.
    Timeout,
    /// `"connection"`: no connection to the upstream.
    Connection,
    /// `"content_filter"`: a 400 whose OpenAI error code is `content_filter` (the provider's own
    /// filter refused the wording: exactly what self-harm and violence turns contain).
    ContentFilter,
    /// `"context_length_exceeded"`: a 400 with that OpenAI error code (a long conversation).
    ContextLength,
}

impl FailureKind {
    pub const ALL: [FailureKind; 6] = [
        FailureKind::ServerError,
        FailureKind::TooManyRequests,
        FailureKind::Timeout,
        FailureKind::Connection,
        FailureKind::ContentFilter,
        FailureKind::ContextLength,
    ];

    /// The name in `fallback_on`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::ServerError => "5xx",
            FailureKind::TooManyRequests => "429",
            FailureKind::Timeout => "timeout",
            FailureKind::Connection => "connection",
            FailureKind::ContentFilter => "content_filter",
            FailureKind::ContextLength => "context_length_exceeded",
        }
    }

    pub(super) fn parse(s: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The failures that move a request to the next model (`fallback_on`; default: all of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackOn(pub(super) Vec<FailureKind>);

impl Default for FallbackOn {
    fn default() -> Self {
        FallbackOn(FailureKind::ALL.to_vec())
    }
}

impl FallbackOn {
    pub fn contains(&self, kind: FailureKind) -> bool {
        self.0.contains(&kind)
    }
}

/// `cooldown_after` consecutive failures put a model in cooldown for `cooldown_ms`: requests skip
/// it and go straight to its fallbacks. `after = 0` (the default) never cools a model down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CooldownPolicy {
    pub after: u32,
    pub duration: Duration,
}
