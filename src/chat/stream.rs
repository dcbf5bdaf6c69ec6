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

use super::complete::Screen;
use super::degraded::{self, Degraded};
use super::record::{Outcome, exchange};
use super::windows::{ChoiceWindows, Screened};
use super::{Pipeline, Prepared, SseBody, StreamedTurn, Turn, guarded};
use crate::core::UsdCost;
use crate::error::ApiError;
use crate::guard::Decision;
use crate::metering::{Admission, Metering};
use crate::providers::{ChunkStream, ModelEntry, ProviderError, StreamChunk, UpstreamClass};
use crate::store::messages::MessageStatus;
use crate::store::writer::LogWriter;
use crate::wire::{ChatRequest, Usage};
use crate::wire::{Head, SSE_DONE, sse_frame, with_extension};

impl Pipeline {
    /// Starts a streamed turn. Errors before the first chunk are returned (and logged) as for a
    /// complete answer; after that, an error ends the stream with an error event. The exchange
    /// is metered and logged when the stream ends, or when the client goes away.
    pub(super) async fn stream(
        &self,
        turn: Turn,
        call: Prepared,
    ) -> Result<StreamedTurn, ApiError> {
        let model = self.model(&call.request)?;
        let head = turn.head(&call.request.model);
        let report = match self.screen(&turn, &call).await {
            Screen::Blocked {
                reply,
                report,
                degraded,
            } => {
                return Ok(StreamedTurn {
                    served_by: call.request.model.clone(),
                    upstream: Duration::ZERO,
                    body: blocked_body(&head, reply, &report, degraded),
                });
            }
            Screen::Go { report } => report,
        };
        // An escalated answer starts with the notice: its chunk, and its text for the log.
        let prefix = match (call.verdict.as_ref().map(|v| &v.decision), &report) {
            (Some(Decision::Escalate { notice }), Some(report)) => Some((
                guarded::notice_chunk(&head, notice, report),
                format!("{notice}\n\n"),
            )),
            _ => None,
        };
        let admission = match self.admit(&turn, model, &call).await {
            Ok(a) => a,
            Err(e) if turn.urgent => {
                return Ok(self
                    .degraded_stream(&turn, &call, Degraded::of(&e), &e)
                    .await);
            }
            Err(e) => return Err(e),
        };
        let start = match self
            .providers
            .stream(call.upstream(), turn.urgent, &self.metrics)
            .await
        {
            Ok(s) => s,
            Err(e) if turn.urgent => {
                self.metering.settle(admission, &UsdCost::ZERO).await;
                let (e, why) = (ApiError::from(e), Degraded::UpstreamUnavailable);
                return Ok(self.degraded_stream(&turn, &call, why, &e).await);
            }
            Err(e) => return Err(self.fail(&turn, &call.request, admission, e.into()).await),
        };
        let served = self.providers.get(&start.served_by).unwrap_or(model);
        let (prefix, text) = prefix.unzip();
        let several = call.request.n.is_some_and(|n| n > 1);
        let log = StreamLog {
            writer: self.writer.clone(),
            metering: self.metering.clone(),
            admission: Some(admission),
            wants_usage: call.request.wants_stream_usage(),
            turn,
            upstream_req: call.upstream().clone(),
            req: call.request,
            served: served.clone(),
            upstream: start.upstream,
            text: text.unwrap_or_default(),
            prefix,
            windows: ChoiceWindows::new(self.guard.clone(), call.lang, several),
            finish_reason: None,
            usage: None,
            usage_chunk: None,
            ended: false,
        };
        Ok(StreamedTurn {
            served_by: start.served_by,
            upstream: start.upstream,
            body: sse_frames(start.chunks, log),
        })
    }
}

/// The stream of a blocked turn: the guard's safe reply, marked degraded when it stands in for
/// an urgent turn's answer.
fn blocked_body(head: &Head, reply: &str, report: &Value, why: Option<Degraded>) -> SseBody {
    match why {
        Some(why) => degraded::stream_body(head, reply, report, why),
        None => guarded::blocked_stream(head, reply, report),
    }
}

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
    /// The output guard's windows over the model's text (per choice and text field).
    pub windows: ChoiceWindows,
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

    /// The fields every chunk the gateway adds to this stream shares.
    fn head(&self) -> Head {
        Head::new(
            &self.turn.request_id,
            self.turn.started_ms / 1000,
            &self.served.name,
        )
    }

    /// The stream's last chunk: the held-back usage chunk (if the client asked for usage) or a
    /// chunk without choices, carrying `powerbirth.cost_usd`.
    fn cost_chunk(&self, cost: &UsdCost) -> String {
        let chunk: Value = match (&self.usage_chunk, self.wants_usage) {
            (Some(data), true) => {
                serde_json::from_str(data).unwrap_or_else(|_| serde_json::json!({}))
            }
            _ => self.head().choiceless_chunk(None),
        };
        with_extension(chunk, None, Some(&cost.to_string())).to_string()
    }

    /// One upstream chunk: what (if anything) the client gets now.
    fn on_chunk(&mut self, chunk: StreamChunk) -> Step {
        if chunk.finish_reason.is_some() {
            self.finish_reason = chunk.finish_reason.clone();
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage.clone();
            if chunk.text.is_empty() && chunk.finish_reason.is_none() {
                self.usage_chunk = Some(chunk.data);
                return Step::Skip;
            }
        }
        let (screened, released) = self.windows.screen(&chunk.data);
        self.text.push_str(&released);
        match screened {
            Screened::AsIs => Step::Send(sse_frame(&chunk.data)),
            Screened::Rewritten(data) => Step::Send(sse_frame(&data)),
            Screened::Skip => Step::Skip, // held back: nothing checked to send yet
            Screened::Stop(safe_text) => Step::End(self.filtered(&safe_text)),
        }
    }

    /// The upstream failed mid-answer: an error event, then `[DONE]`.
    fn on_error(&mut self, e: &ProviderError) -> Bytes {
        tracing::warn!(request_id = %self.turn.request_id, error = %e, "stream failed mid-answer");
        let err = ApiError::UpstreamFailed {
            class: UpstreamClass::Stream,
            message: e.to_string(),
        };
        self.end(MessageStatus::Error, err.code());
        let mut out = sse_frame(&err.to_json()).to_vec();
        out.extend_from_slice(SSE_DONE);
        Bytes::from(out)
    }

    /// The upstream ended: what the guard held back, the cost, `[DONE]`.
    fn on_end(&mut self) -> Bytes {
        let mut out = Vec::new();
        // An upstream that ended without a finish chunk: release what is held back.
        match self.windows.finish_all() {
            Ok((choices, logged)) if !choices.is_empty() => {
                self.text.push_str(&logged);
                let mut tail = self.head().tail_chunk("");
                tail["choices"] = Value::Array(choices);
                out.extend_from_slice(&sse_frame(&tail.to_string()));
            }
            Ok(_) => {}
            Err(safe_text) => return self.filtered(&safe_text),
        }
        if let Some(cost) = self.end(MessageStatus::Ok, None) {
            out.extend_from_slice(&sse_frame(&self.cost_chunk(&cost)));
        }
        out.extend_from_slice(SSE_DONE);
        Bytes::from(out)
    }

    /// The end of a stream the output guard stopped: the safe text, `content_filter`, the
    /// cost, `[DONE]`.
    fn filtered(&mut self, safe_text: &str) -> Bytes {
        let mut out = Vec::new();
        for c in guarded::filtered_chunks(&self.head(), safe_text) {
            out.extend_from_slice(&sse_frame(&c));
        }
        self.text.push_str(&format!("\n\n{safe_text}"));
        self.finish_reason = Some("content_filter".into());
        if let Some(cost) = self.end(MessageStatus::Ok, None) {
            out.extend_from_slice(&sse_frame(&self.cost_chunk(&cost)));
        }
        out.extend_from_slice(SSE_DONE);
        Bytes::from(out)
    }
}

/// What one upstream event gives the client.
enum Step {
    /// Nothing yet (held back, or the usage chunk kept for last).
    Skip,
    /// A frame; the stream goes on.
    Send(Bytes),
    /// The last frames.
    End(Bytes),
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        self.end(MessageStatus::ClientClosed, None);
    }
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
                return Some((Ok(sse_frame(&prefix)), Some((chunks, log))));
            }
            loop {
                let step = match chunks.next().await {
                    Some(Ok(chunk)) => log.on_chunk(chunk),
                    Some(Err(e)) => Step::End(log.on_error(&e)),
                    None => Step::End(log.on_end()),
                };
                match step {
                    Step::Skip => continue,
                    Step::Send(frame) => return Some((Ok(frame), Some((chunks, log)))),
                    Step::End(frames) => return Some((Ok(frames), None)),
                }
            }
        },
    ))
}
