//! An urgent turn never ends in an error. When the input guard found a danger sign or self-harm
//! and the answer cannot be produced (every model failed or timed out, the key's or the end
//! user's budget or rate limit refuses, the moderation provider is down with `fail_closed`), the
//! turn is answered 200 with the notice first and a short safe text from `guard/notices.toml`
//! (`[degraded]`), `finish_reason: "stop"`, and `"powerbirth": {"degraded": why}`, streamed or
//! not. No model is called for it, so it cannot be used to spend money; the turn is logged
//! urgent (it reaches the nurses' queue), with the error it replaced and no cost.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::record::{Outcome, exchange};
use super::{Answer, Answered, Pipeline, Prepared, SseBody, StreamedTurn, Turn, guarded};
use crate::core::UsdCost;
use crate::error::ApiError;
use crate::guard::moderation::ModerationOutcome;
use crate::guard::{Decision, NoticeKind};
use crate::providers::Completion;
use crate::store::messages::MessageStatus;
use crate::wire::{Author, Delta, Head, SSE_DONE, Usage, sse_frame, with_extension};

/// Why an urgent turn got the static reply instead of a model's answer
/// (`powerbirth.degraded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degraded {
    /// Every model of the chain failed, timed out or is cooling down.
    UpstreamUnavailable,
    /// The key's (or the end user's) daily budget is spent.
    Budget,
    /// The key's (or the end user's) rate limit is reached.
    RateLimit,
    /// The moderation provider is down and `[moderation] on_error = "fail_closed"`.
    ModerationUnavailable,
}

impl Degraded {
    pub fn as_str(self) -> &'static str {
        match self {
            Degraded::UpstreamUnavailable => "upstream_unavailable",
            Degraded::Budget => "budget",
            Degraded::RateLimit => "rate_limit",
            Degraded::ModerationUnavailable => "moderation_unavailable",
        }
    }

    /// Why, by the error that would otherwise have ended the turn.
    pub(super) fn of(e: &ApiError) -> Degraded {
        match e {
            ApiError::InsufficientQuota { .. } => Degraded::Budget,
            ApiError::RateLimited { .. } => Degraded::RateLimit,
            _ => Degraded::UpstreamUnavailable,
        }
    }

    /// An urgent turn blocked because the moderation provider is down with `fail_closed`: its
    /// reply (notice first, then the `unavailable` text) is already the static one.
    pub(super) fn of_block(turn: &Turn, call: &Prepared) -> Option<Degraded> {
        let closed = call.verdict.as_ref().is_some_and(|v| {
            matches!(
                v.moderation,
                Some(ModerationOutcome::Unavailable {
                    fail_open: false,
                    ..
                })
            )
        });
        (turn.urgent && closed).then_some(Degraded::ModerationUnavailable)
    }
}

impl Pipeline {
    /// The static reply to an urgent turn that cannot be answered, streamed or not as asked;
    /// logged here.
    pub(super) async fn degraded(
        &self,
        turn: &Turn,
        call: &Prepared,
        why: Degraded,
        cause: &ApiError,
    ) -> Answered {
        if call.request.is_stream() {
            Answered::Stream(self.degraded_stream(turn, call, why, cause).await)
        } else {
            let completion = self.degraded_completion(turn, call, why, cause).await;
            Answered::Complete(Box::new(Answer {
                completion,
                cost: UsdCost::ZERO,
                output_tokens: 0,
                request: call.upstream().clone(),
            }))
        }
    }

    /// The static reply as one `chat.completion`; logged.
    pub(super) async fn degraded_completion(
        &self,
        turn: &Turn,
        call: &Prepared,
        why: Degraded,
        cause: &ApiError,
    ) -> Completion {
        let text = self.degraded_text(call);
        self.log_degraded(turn, call, why, &text, cause).await;
        let head = turn.head(&call.request.model);
        Completion {
            body: completion_body(&head, &text, &report(call), why),
            text,
            finish_reason: Some("stop".into()),
            usage: None,
            served_by: call.request.model.clone(),
            upstream: Duration::ZERO,
        }
    }

    /// The static reply as a stream; logged.
    pub(super) async fn degraded_stream(
        &self,
        turn: &Turn,
        call: &Prepared,
        why: Degraded,
        cause: &ApiError,
    ) -> StreamedTurn {
        let text = self.degraded_text(call);
        self.log_degraded(turn, call, why, &text, cause).await;
        let head = turn.head(&call.request.model);
        StreamedTurn {
            served_by: call.request.model.clone(),
            upstream: Duration::ZERO,
            body: stream_body(&head, &text, &report(call), why),
        }
    }

    /// The notice (crisis first, then urgent care), then the `degraded` text.
    fn degraded_text(&self, call: &Prepared) -> String {
        let safe = self.guard.notice(NoticeKind::Degraded, call.lang);
        match call.verdict.as_ref().map(|v| &v.decision) {
            Some(Decision::Escalate { notice }) => format!("{notice}\n\n{safe}"),
            Some(Decision::Block { reply }) => reply.clone(),
            Some(Decision::Pass) | None => safe.to_string(),
        }
    }

    async fn log_degraded(
        &self,
        turn: &Turn,
        call: &Prepared,
        why: Degraded,
        text: &str,
        cause: &ApiError,
    ) {
        tracing::warn!(reason = why.as_str(), error = %cause, conversation_id = %turn.conversation.stored(), "urgent turn answered with the static notice");
        let req = &call.request;
        let outcome = Outcome {
            status: MessageStatus::Blocked,
            text,
            model: &req.model,
            finish_reason: Some("stop"),
            usage: None,
            upstream: Duration::ZERO,
            error_code: cause.code(),
            metered: None,
        };
        self.writer.record(exchange(turn, req, outcome)).await;
    }
}

fn report(call: &Prepared) -> Value {
    call.verdict
        .as_ref()
        .map_or_else(|| json!({}), guarded::report)
}

/// A `chat.completion` carrying `text`, the guard's report, zero cost and why it is degraded.
pub(super) fn completion_body(head: &Head, text: &str, guard: &Value, why: Degraded) -> Bytes {
    let body = head.completion(Author::Gateway, text, "stop", &Usage::default());
    let zero = UsdCost::ZERO.to_string();
    let mut body = with_extension(body, Some(guard), Some(&zero));
    body["powerbirth"]["degraded"] = json!(why.as_str());
    Bytes::from(body.to_string())
}

/// The stream of `text`: one chunk (with the guard's report and why), the stop, the zero cost,
/// `[DONE]`.
pub(super) fn stream_body(head: &Head, text: &str, guard: &Value, why: Degraded) -> SseBody {
    let mut first = with_extension(
        head.chunk(Author::Gateway, Delta::First(text), None),
        Some(guard),
        None,
    );
    first["powerbirth"]["degraded"] = json!(why.as_str());
    let stop = head.chunk(Author::Gateway, Delta::Empty, Some("stop"));
    let zero = UsdCost::ZERO.to_string();
    let mut cost = with_extension(head.choiceless_chunk(None), None, Some(&zero));
    cost["powerbirth"]["degraded"] = json!(why.as_str());
    let mut out = Vec::new();
    for c in [first, stop, cost] {
        out.extend_from_slice(&sse_frame(&c.to_string()));
    }
    out.extend_from_slice(SSE_DONE);
    Box::pin(futures_util::stream::iter([Ok(Bytes::from(out))]))
}
