//! The chat pipeline shared by the HTTP API and the CLI: one turn goes to the providers (with
//! fallback) and is logged as an exchange, whether it ends in an answer, an error or a client
//! that went away. Handlers stay thin; `eval run` will go through exactly this code.

pub mod types;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use arc_swap::ArcSwap;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::prompts::PromptRegistry;
use crate::providers::{ChunkStream, Completion, Providers};
use crate::store::keys::ApiKey;
use crate::store::messages::{Exchange, MessageRecord};
use crate::store::writer::LogWriter;
use crate::store::{new_id, now_ms};
use types::{ChatRequest, Usage};

/// Everything a turn needs, built once at start-up.
#[derive(Clone)]
pub struct Pipeline {
    pub providers: Arc<Providers>,
    /// The prompt set in force; a reload swaps it whole.
    pub prompts: Arc<ArcSwap<PromptRegistry>>,
    pub writer: LogWriter,
    pub metrics: Arc<Metrics>,
}

/// Who asked, and the ids this turn is filed under.
#[derive(Debug, Clone)]
pub struct Turn {
    pub key: Arc<ApiKey>,
    pub request_id: String,
    pub conversation_id: String,
    pub started: Instant,
    /// When the turn arrived (epoch ms): the user's messages are filed at this time.
    pub started_ms: i64,
    /// `id@version;lang=…;persona=…` when the request used a versioned prompt.
    pub prompt_ref: Option<String>,
}

/// A request ready for the providers: as the client sent it (what is logged) and, when it named a
/// prompt, with the rendered prompt messages in front (what the model sees).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub request: ChatRequest,
    rendered: Option<ChatRequest>,
    prompt_ref: Option<String>,
}

impl Prepared {
    /// The request the upstream receives.
    pub fn upstream(&self) -> &ChatRequest {
        self.rendered.as_ref().unwrap_or(&self.request)
    }

    /// The prompt reference, as the `x-prompt-ref` header shows it.
    pub fn prompt_ref(&self) -> Option<&str> {
        self.prompt_ref.as_deref()
    }
}

impl Turn {
    /// A new turn for `key`, in the client's conversation or a new one.
    pub fn new(key: Arc<ApiKey>, call: &Prepared) -> Turn {
        Turn {
            key,
            request_id: format!("req_{}", uuid::Uuid::new_v4().simple()),
            conversation_id: call.request.conversation_id().map_or_else(new_id, str::to_string),
            started: Instant::now(),
            started_ms: now_ms(),
            prompt_ref: call.prompt_ref.clone(),
        }
    }
}

/// How an answer ended, for the log.
struct Outcome<'a> {
    status: &'static str,
    text: &'a str,
    model: &'a str,
    finish_reason: Option<&'a str>,
    usage: Option<&'a Usage>,
    upstream: Duration,
    error_code: Option<&'a str>,
}

/// The exchange to store: the turn's new messages, then the answer (or its failure).
fn exchange(turn: &Turn, req: &ChatRequest, out: Outcome<'_>) -> Exchange {
    let at = now_ms();
    let mut messages: Vec<MessageRecord> = req
        .new_turn()
        .iter()
        .map(|m| MessageRecord {
            id: new_id(),
            conversation_id: turn.conversation_id.clone(),
            request_id: turn.request_id.clone(),
            role: m.role.as_str().to_string(),
            content: m.text(),
            model: None,
            status: "ok".into(),
            finish_reason: None,
            prompt_tokens: None,
            completion_tokens: None,
            latency_ms: None,
            upstream_ms: None,
            error_code: None,
            created_at: turn.started_ms,
            prompt_ref: turn.prompt_ref.clone(),
            cost_usd: None,
            cached_tokens: None,
            reasoning_tokens: None,
            tokens_source: None,
        })
        .collect();
    messages.push(MessageRecord {
        id: new_id(),
        conversation_id: turn.conversation_id.clone(),
        request_id: turn.request_id.clone(),
        role: "assistant".into(),
        content: out.text.to_string(),
        model: Some(out.model.to_string()),
        status: out.status.into(),
        finish_reason: out.finish_reason.map(str::to_string),
        prompt_tokens: out.usage.map(|u| u.prompt_tokens as i64),
        completion_tokens: out.usage.map(|u| u.completion_tokens as i64),
        latency_ms: Some(turn.started.elapsed().as_millis() as i64),
        upstream_ms: Some(out.upstream.as_millis() as i64),
        error_code: out.error_code.map(str::to_string),
        created_at: at.max(turn.started_ms),
        prompt_ref: turn.prompt_ref.clone(),
        cost_usd: None,
        cached_tokens: None,
        reasoning_tokens: None,
        tokens_source: None,
    });
    Exchange {
        conversation_id: turn.conversation_id.clone(),
        key_id: turn.key.id.clone(),
        at,
        messages,
    }
}

/// A stream of SSE frames ready for the client.
pub type SseBody = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>>;

/// A started streamed answer.
pub struct StreamedTurn {
    pub served_by: String,
    pub upstream: Duration,
    pub body: SseBody,
}

impl Pipeline {
    /// Resolves the request's model and renders its prompt, if it names one (language from the
    /// request, else `accept_language`, else the prompt's default).
    pub fn prepare(&self, request: ChatRequest, accept_language: Option<&str>) -> Result<Prepared, ApiError> {
        if self.providers.get(&request.model).is_none() {
            return Err(ApiError::ModelNotFound(request.model));
        }
        let Some(selector) = &request.prompt else {
            return Ok(Prepared { request, rendered: None, prompt_ref: None });
        };
        let rendered = self.prompts.load().render(selector, accept_language)?;
        let prompt_ref = rendered.header_value();
        Ok(Prepared { rendered: Some(request.with_prompt(&rendered)), request, prompt_ref: Some(prompt_ref) })
    }

    /// Answers one turn without streaming, and logs it.
    pub async fn complete(&self, turn: &Turn, call: &Prepared) -> Result<Completion, ApiError> {
        let req = &call.request;
        let result = self.providers.complete(call.upstream(), &self.metrics).await;
        let record = match &result {
            Ok(c) => exchange(
                turn,
                req,
                Outcome {
                    status: "ok",
                    text: &c.text,
                    model: &c.served_by,
                    finish_reason: c.finish_reason.as_deref(),
                    usage: c.usage.as_ref(),
                    upstream: c.upstream,
                    error_code: None,
                },
            ),
            Err(e) => exchange(turn, req, failed(req, e)),
        };
        self.writer.record(record).await;
        result
    }

    /// Starts a streamed turn. Errors before the first chunk are returned (and logged) as for
    /// [`Pipeline::complete`]; after that, an error ends the stream with an error event. The
    /// exchange is logged when the stream ends, or when the client goes away.
    pub async fn stream(&self, turn: Turn, call: Prepared) -> Result<StreamedTurn, ApiError> {
        let start = match self.providers.stream(call.upstream(), &self.metrics).await {
            Ok(s) => s,
            Err(e) => {
                self.writer.record(exchange(&turn, &call.request, failed(&call.request, &e))).await;
                return Err(e);
            }
        };
        let req = call.request;
        let log = StreamLog {
            writer: self.writer.clone(),
            turn,
            wants_usage: req.wants_stream_usage(),
            req,
            served_by: start.served_by.clone(),
            upstream: start.upstream,
            text: String::new(),
            finish_reason: None,
            usage: None,
            ended: false,
        };
        Ok(StreamedTurn {
            served_by: start.served_by,
            upstream: start.upstream,
            body: sse_frames(start.chunks, log),
        })
    }
}

fn failed<'a>(req: &'a ChatRequest, e: &'a ApiError) -> Outcome<'a> {
    Outcome {
        status: "error",
        text: "",
        model: &req.model,
        finish_reason: None,
        usage: None,
        upstream: Duration::ZERO,
        error_code: e.code(),
    }
}

/// What a stream has produced so far; logs the exchange exactly once, at the end or on drop.
struct StreamLog {
    writer: LogWriter,
    turn: Turn,
    req: ChatRequest,
    wants_usage: bool,
    served_by: String,
    upstream: Duration,
    text: String,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    ended: bool,
}

impl StreamLog {
    fn end(&mut self, status: &'static str, error_code: Option<&str>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let record = exchange(
            &self.turn,
            &self.req,
            Outcome {
                status,
                text: &self.text,
                model: &self.served_by,
                finish_reason: self.finish_reason.as_deref(),
                usage: self.usage.as_ref(),
                upstream: self.upstream,
                error_code,
            },
        );
        // Synchronous hand-off: this runs before the connection closes, so a graceful shutdown
        // (which waits for connections, then drains the writer) always sees the record.
        self.writer.record_now(record);
    }
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        self.end("client_closed", None);
    }
}

fn frame(data: &str) -> Bytes {
    let mut b = String::with_capacity(data.len() + 8);
    b.push_str("data: ");
    b.push_str(data);
    b.push_str("\n\n");
    Bytes::from(b)
}

/// Turns provider chunks into SSE frames, ending with `data: [DONE]`.
fn sse_frames(chunks: ChunkStream, log: StreamLog) -> SseBody {
    Box::pin(futures_util::stream::unfold(
        Some((chunks, log)),
        |state| async move {
            let (mut chunks, mut log) = state?;
            loop {
                match chunks.next().await {
                    Some(Ok(chunk)) => {
                        log.text.push_str(&chunk.text);
                        if chunk.finish_reason.is_some() {
                            log.finish_reason = chunk.finish_reason.clone();
                        }
                        let usage_only = chunk.usage.is_some()
                            && chunk.text.is_empty()
                            && chunk.finish_reason.is_none();
                        if chunk.usage.is_some() {
                            log.usage = chunk.usage;
                        }
                        // The gateway always asks upstreams for usage; a client that did not ask
                        // must not get the extra chunk.
                        if usage_only && !log.wants_usage {
                            continue;
                        }
                        return Some((Ok(frame(&chunk.data)), Some((chunks, log))));
                    }
                    Some(Err(e)) => {
                        tracing::warn!(request_id = %log.turn.request_id, error = %e, "stream failed mid-answer");
                        let err = ApiError::UpstreamFailed {
                            class: "upstream_stream_error".into(),
                            message: e.to_string(),
                        };
                        log.end("error", err.code());
                        let mut out = frame(&err.to_json()).to_vec();
                        out.extend_from_slice(b"data: [DONE]\n\n");
                        return Some((Ok(Bytes::from(out)), None));
                    }
                    None => {
                        log.end("ok", None);
                        return Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), None));
                    }
                }
            }
        },
    ))
}
