//! The log record of one turn: the client's new messages and the answer (or its failure), with
//! tokens and exact cost when the answer was metered.

use std::time::Duration;

use super::Turn;
use crate::core::now_ms;
use crate::error::ApiError;
use crate::metering::Metered;
use crate::store::messages::{Exchange, MessageRecord, MessageRole, MessageStatus};
use crate::wire::{ChatRequest, Role, Usage};

/// How an answer ended.
pub(super) struct Outcome<'a> {
    pub status: MessageStatus,
    pub text: &'a str,
    pub model: &'a str,
    pub finish_reason: Option<&'a str>,
    pub usage: Option<&'a Usage>,
    pub upstream: Duration,
    pub error_code: Option<&'a str>,
    pub metered: Option<&'a Metered>,
}

/// A turn the guard answered itself (no model call).
pub(super) fn blocked<'a>(req: &'a ChatRequest, reply: &'a str) -> Outcome<'a> {
    Outcome {
        status: MessageStatus::Blocked,
        text: reply,
        model: &req.model,
        finish_reason: Some("stop"),
        usage: None,
        upstream: Duration::ZERO,
        error_code: None,
        metered: None,
    }
}

/// A turn that failed before any answer.
pub(super) fn failed<'a>(req: &'a ChatRequest, e: &'a ApiError) -> Outcome<'a> {
    Outcome {
        status: MessageStatus::Error,
        text: "",
        model: &req.model,
        finish_reason: None,
        usage: None,
        upstream: Duration::ZERO,
        error_code: e.code(),
        metered: None,
    }
}

fn message(turn: &Turn, role: MessageRole, content: String, created_at: i64) -> MessageRecord {
    let mut m = MessageRecord::new(
        turn.conversation.stored(),
        &turn.request_id,
        role,
        content,
        created_at,
    );
    m.prompt_ref = turn.prompt_ref.clone();
    m.release = Some(turn.release.to_string());
    if role == MessageRole::User {
        m.guard = turn.guard_log.clone();
        m.urgent = turn.urgent;
    }
    m
}

/// The stored role of a wire role.
fn role_of(role: Role) -> MessageRole {
    match role {
        Role::System => MessageRole::System,
        Role::Developer => MessageRole::Developer,
        Role::User => MessageRole::User,
        Role::Assistant => MessageRole::Assistant,
        Role::Tool => MessageRole::Tool,
        Role::Function => MessageRole::Function,
    }
}

/// The exchange to store: the turn's new messages (as the client sent them, without the rendered
/// prompt), then the answer.
pub(super) fn exchange(turn: &Turn, req: &ChatRequest, out: Outcome<'_>) -> Exchange {
    let at = now_ms();
    let mut messages: Vec<MessageRecord> = req
        .new_turn()
        .iter()
        .map(|m| message(turn, role_of(m.role), m.text(), turn.started_ms))
        .collect();
    let mut answer = message(
        turn,
        MessageRole::Assistant,
        out.text.to_string(),
        at.max(turn.started_ms),
    );
    answer.model = Some(out.model.to_string());
    answer.status = out.status;
    answer.finish_reason = out.finish_reason.map(str::to_string);
    answer.prompt_tokens = out.usage.map(|u| u.prompt_tokens as i64);
    answer.completion_tokens = out.usage.map(|u| u.completion_tokens as i64);
    answer.latency_ms = Some(turn.started.elapsed().as_millis() as i64);
    answer.upstream_ms = Some(out.upstream.as_millis() as i64);
    answer.error_code = out.error_code.map(str::to_string);
    if let Some(metered) = out.metered {
        metered.fill(&mut answer);
    }
    messages.push(answer);
    Exchange {
        conversation_id: turn.conversation.stored().to_string(),
        key_id: turn.key.id.clone(),
        at,
        messages,
    }
}
