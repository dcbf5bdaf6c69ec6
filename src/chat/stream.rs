//! A streamed answer on its way to the client: provider chunks become SSE frames, the text and
//! usage are collected, and when the stream ends (or the client goes away) the answer is metered,
//! its budget reservation settled, and the exchange logged, exactly once.
//!
//! The gateway always asks upstreams for usage; the usage chunk is held back and sent last, with
//! the cost under `powerbirth.cost_usd`, only if the client asked for usage. Otherwise the cost
//! goes out alone in a final chunk with no choices, so every stream ends with its cost.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

use super::record::{Outcome, exchange};
use super::types::{ChatRequest, Usage};
use super::{SseBody, Turn, guarded};
use crate::error::ApiError;
use crate::guard::StreamGuard;
use crate::metering::{Admission, Metering, UsdCost};
use crate::providers::{ChunkStream, ModelEntry};
use crate::store::messages::MessageStatus;
use crate::store::writer::LogWriter;

/// What a stream has produced so far.
pub(super) struct StreamLog {
    pub writer: LogWriter,
    pub metering: Metering,
    pub admission: Option<Admission>,
    pub turn: Turn,
    /// As the client sent it (logged).
    pub req: ChatRequest,
    /// As the model saw it (token counting when the upstream gives no usage).
    pub upstream_req: ChatRequest,
    pub served: Arc<ModelEntry>,
    pub wants_usage: bool,
    pub upstream: Duration,
    pub text: String,
    /// A chunk to send before the model's first one (the guard's escalation notice).
    pub prefix: Option<String>,
    /// The output guard's sliding window over the model's text.
    pub out_guard: StreamGuard,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// The upstream's usage chunk, held back until the cost is known.
    pub usage_chunk: Option<String>,
    pub ended: bool,
}

impl StreamLog {
    /// Meters, settles and logs the stream; returns its cost (once: later calls return `None`).
    fn end(&mut self, status: MessageStatus, error_code: Option<&str>) -> Option<UsdCost> {
        if self.ended {
            return None;
        }
        self.ended = true;
        let metered = self.metering.measure(
            &self.served,
            &self.upstream_req,
            &self.text,
            self.usage.as_ref(),
        );
        if let Some(admission) = self.admission.take() {
            self.metering.settle_detached(admission, metered.cost);
        }
        let record = exchange(
            &self.turn,
            &self.req,
            Outcome {
                status,
                text: &self.text,
                model: &self.served.name,
                finish_reason: self.finish_reason.as_deref(),
                usage: self.usage.as_ref(),
                upstream: self.upstream,
                error_code,
                metered: Some(&metered),
            },
        );
        // Synchronous hand-off: this runs before the connection closes, so a graceful shutdown
        // (which waits for connections, then drains the writer) always sees the record.
        self.writer.record_now(record);
        Some(metered.cost)
    }

    /// The stream's last chunk: the held-back usage chunk (if the client asked for usage) or a
    /// chunk without choices, carrying `powerbirth.cost_usd`.
    fn cost_chunk(&self, cost: &UsdCost) -> String {
        let mut chunk: Value = match (&self.usage_chunk, self.wants_usage) {
            (Some(data), true) => {
                serde_json::from_str(data).unwrap_or_else(|_| serde_json::json!({}))
            }
            _ => serde_json::json!({
                "id": self.turn.request_id, "object": "chat.completion.chunk", "created": self.turn.started_ms / 1000,
                "model": self.served.name, "choices": [],
            }),
        };
        chunk["powerbirth"] = serde_json::json!({ "cost_usd": cost.to_string() });
        chunk.to_string()
    }
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        self.end(MessageStatus::ClientClosed, None);
    }
}

fn frame(data: &str) -> Bytes {
    let mut b = String::with_capacity(data.len() + 8);
    b.push_str("data: ");
    b.push_str(data);
    b.push_str("\n\n");
    Bytes::from(b)
}

/// Turns provider chunks into SSE frames: the answer, its cost, then `data: [DONE]`.
///
/// Every piece of model text passes the output guard's sliding window first: a chunk carries only
/// the text the guard released, so no unchecked span reaches the client. A violation ends the
/// stream with the safe text and `finish_reason: "content_filter"` (the upstream is dropped).
pub(super) fn sse_frames(chunks: ChunkStream, log: StreamLog) -> SseBody {
    Box::pin(futures_util::stream::unfold(
        Some((chunks, log)),
        |state| async move {
            let (mut chunks, mut log) = state?;
            if let Some(prefix) = log.prefix.take() {
                return Some((Ok(frame(&prefix)), Some((chunks, log))));
            }
            loop {
                match chunks.next().await {
                    Some(Ok(chunk)) => {
                        if chunk.finish_reason.is_some() {
                            log.finish_reason = chunk.finish_reason.clone();
                        }
                        let usage_only = chunk.usage.is_some()
                            && chunk.text.is_empty()
                            && chunk.finish_reason.is_none();
                        if chunk.usage.is_some() {
                            log.usage = chunk.usage.clone();
                        }
                        if usage_only {
                            log.usage_chunk = Some(chunk.data);
                            continue;
                        }
                        let mut released = match log.out_guard.push(&chunk.text) {
                            Ok(r) => r,
                            Err(v) => return Some((Ok(filtered(&mut log, &v.safe_text)), None)),
                        };
                        if chunk.finish_reason.is_some() {
                            match log.out_guard.finish() {
                                Ok(rest) => released.push_str(&rest),
                                Err(v) => {
                                    return Some((Ok(filtered(&mut log, &v.safe_text)), None));
                                }
                            }
                        }
                        log.text.push_str(&released);
                        if released == chunk.text {
                            return Some((Ok(frame(&chunk.data)), Some((chunks, log))));
                        }
                        if released.is_empty() && chunk.finish_reason.is_none() && !chunk.has_role {
                            continue; // held back: nothing checked to send yet
                        }
                        let data = guarded::with_delta_text(&chunk.data, &released);
                        return Some((Ok(frame(&data)), Some((chunks, log))));
                    }
                    Some(Err(e)) => {
                        tracing::warn!(request_id = %log.turn.request_id, error = %e, "stream failed mid-answer");
                        let err = ApiError::UpstreamFailed {
                            class: "upstream_stream_error".into(),
                            message: e.to_string(),
                        };
                        log.end(MessageStatus::Error, err.code());
                        let mut out = frame(&err.to_json()).to_vec();
                        out.extend_from_slice(b"data: [DONE]\n\n");
                        return Some((Ok(Bytes::from(out)), None));
                    }
                    None => {
                        let mut out = Vec::new();
                        // An upstream that ended without a finish chunk: release what is held back.
                        match log.out_guard.finish() {
                            Ok(rest) if !rest.is_empty() => {
                                log.text.push_str(&rest);
                                let data = serde_json::json!({
                                    "id": log.turn.request_id, "object": "chat.completion.chunk",
                                    "created": log.turn.started_ms / 1000, "model": log.served.name,
                                    "choices": [{"index": 0, "delta": {"content": rest}, "finish_reason": null}],
                                });
                                out.extend_from_slice(&frame(&data.to_string()));
                            }
                            Ok(_) => {}
                            Err(v) => return Some((Ok(filtered(&mut log, &v.safe_text)), None)),
                        }
                        if let Some(cost) = log.end(MessageStatus::Ok, None) {
                            out.extend_from_slice(&frame(&log.cost_chunk(&cost)));
                        }
                        out.extend_from_slice(b"data: [DONE]\n\n");
                        return Some((Ok(Bytes::from(out)), None));
                    }
                }
            }
        },
    ))
}

/// The end of a stream the output guard stopped: the safe text, `content_filter`, the cost, `[DONE]`.
fn filtered(log: &mut StreamLog, safe_text: &str) -> Bytes {
    let (id, created, model) = (
        log.turn.request_id.clone(),
        log.turn.started_ms / 1000,
        log.served.name.clone(),
    );
    let mut out = Vec::new();
    for c in guarded::filtered_chunks(&id, created, &model, safe_text) {
        out.extend_from_slice(&frame(&c));
    }
    log.text.push_str(&format!("\n\n{safe_text}"));
    log.finish_reason = Some("content_filter".into());
    if let Some(cost) = log.end(MessageStatus::Ok, None) {
        out.extend_from_slice(&frame(&log.cost_chunk(&cost)));
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    Bytes::from(out)
}
