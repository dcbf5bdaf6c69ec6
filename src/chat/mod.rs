//! The chat pipeline shared by the HTTP API and the CLI: one turn is prepared (model resolved,
//! prompt rendered), admitted against the key's budget, sent to the providers (with fallback),
//! metered, and logged as an exchange, whether it ends in an answer, an error or a client that
//! went away. Handlers stay thin; `eval run` goes through exactly this code.

pub(crate) mod guarded;
mod record;
mod stream;
pub mod types;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures_util::Stream;

use crate::error::ApiError;
use crate::guard::moderation::Moderator;
use crate::guard::{Decision, Guard, InputVerdict, Lang, OutputVerdict};
use crate::metering::{Metered, Metering, UsdCost};
use crate::metrics::Metrics;
use crate::prompts::PromptRegistry;
use crate::providers::{Completion, Providers};
use crate::store::keys::ApiKey;
use crate::store::writer::LogWriter;
use crate::store::{new_id, now_ms};
use record::{Outcome, blocked, exchange, failed};
use stream::{StreamLog, sse_frames};
use types::ChatRequest;

/// Everything a turn needs, built once at start-up.
#[derive(Clone)]
pub struct Pipeline {
    pub providers: Arc<Providers>,
    /// The prompt set in force; a reload swaps it whole.
    pub prompts: Arc<ArcSwap<PromptRegistry>>,
    pub metering: Metering,
    /// Guardrails: red flags, self-harm, dosing, PII redaction, the output guard.
    pub guard: Guard,
    /// The external moderation provider (`[moderation]`), when one is configured.
    pub moderator: Moderator,
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
    /// The guard's reading for the log (JSON), and whether it made the conversation urgent.
    pub guard_log: Option<String>,
    pub urgent: bool,
}

/// A request ready for the providers: as the client sent it (what is logged) and, when it named a
/// prompt, with the rendered prompt messages in front (what the model sees).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub request: ChatRequest,
    rendered: Option<ChatRequest>,
    prompt_ref: Option<String>,
    /// The input guard's reading of the turn's user messages, when it found anything.
    verdict: Option<InputVerdict>,
    /// The conversation's language, for the guard's safe texts.
    lang: Lang,
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

    /// The input guard's reading, when it found anything.
    pub fn verdict(&self) -> Option<&InputVerdict> {
        self.verdict.as_ref()
    }
}

impl Turn {
    /// A new turn for `key`, in the client's conversation or a new one.
    pub fn new(key: Arc<ApiKey>, call: &Prepared) -> Turn {
        Turn {
            key,
            request_id: format!("req_{}", uuid::Uuid::new_v4().simple()),
            conversation_id: call
                .request
                .conversation_id()
                .map_or_else(new_id, str::to_string),
            started: Instant::now(),
            started_ms: now_ms(),
            prompt_ref: call.prompt_ref.clone(),
            guard_log: call.verdict.as_ref().map(guarded::log_entry),
            urgent: call.verdict.as_ref().is_some_and(InputVerdict::is_urgent),
        }
    }
}

/// A stream of SSE frames ready for the client.
pub type SseBody = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>>;

/// A non-streamed answer and what it cost.
pub struct Answer {
    pub completion: Completion,
    pub cost: UsdCost,
    /// Answer tokens as metered: the upstream's usage, else counted (0 when blocked).
    pub output_tokens: u64,
}

/// A started streamed answer.
pub struct StreamedTurn {
    pub served_by: String,
    pub upstream: Duration,
    pub body: SseBody,
}

impl Pipeline {
    /// Resolves the request's model, redacts personal data (CPF, cartão SUS, phones, e-mail) from
    /// every message, and renders the prompt, if it names one (language from the request, else
    /// `accept_language`, else the prompt's default). When `[moderation]` names a provider, the
    /// turn's (redacted) words go to it too, and its answer joins the guard's verdict. From here
    /// on neither the upstream nor the log sees the raw data.
    pub async fn prepare(
        &self,
        mut request: ChatRequest,
        accept_language: Option<&str>,
    ) -> Result<Prepared, ApiError> {
        if self.providers.get(&request.model).is_none() {
            return Err(ApiError::ModelNotFound(request.model));
        }
        // The guard reads the turn's own words (before redaction, so it can report PII too).
        let turn_text: Vec<String> = request
            .new_turn()
            .iter()
            .filter(|m| m.role == types::Role::User)
            .map(|m| m.text())
            .collect();
        let hint = request
            .prompt
            .as_ref()
            .and_then(|p| p.language.clone())
            .or_else(|| {
                accept_language
                    .and_then(|h| h.split([',', ';']).next())
                    .map(|t| t.trim().to_string())
            });
        let joined = turn_text.join("\n");
        let verdict =
            (!joined.is_empty()).then(|| self.guard.check_input(&joined, hint.as_deref()));
        let lang = verdict.as_ref().map_or(Lang::PtBr, |v| v.language);
        let verdict = verdict.filter(|v| !v.categories.is_empty());
        let verdict = if self.moderator.is_enabled() && !joined.is_empty() {
            // Personal data never leaves the gateway, not even to the moderation provider.
            let text = self.guard.redact_in(&joined, lang).unwrap_or(joined);
            let outcome = self.moderator.check(&text).await;
            self.guard.apply_moderation(verdict, outcome, lang)
        } else {
            verdict
        };
        request.redact_with(|text| self.guard.redact(text));
        let Some(selector) = &request.prompt else {
            return Ok(Prepared {
                request,
                rendered: None,
                prompt_ref: None,
                verdict,
                lang,
            });
        };
        let rendered = self.prompts.load().render(selector, accept_language)?;
        let prompt_ref = rendered.header_value();
        Ok(Prepared {
            rendered: Some(request.with_prompt(&rendered)),
            request,
            prompt_ref: Some(prompt_ref),
            verdict,
            lang,
        })
    }

    /// Answers one turn without streaming, meters and logs it. A key over its daily budget gets
    /// 429 `insufficient_quota` before any upstream call.
    pub async fn complete(&self, turn: &Turn, call: &Prepared) -> Result<Answer, ApiError> {
        let req = &call.request;
        let model = self
            .providers
            .get(&req.model)
            .ok_or_else(|| ApiError::ModelNotFound(req.model.clone()))?;
        let guard = call.verdict().map(guarded::report);
        if let (Some(v), Some(report)) = (call.verdict(), &guard)
            && let Decision::Block { reply } = &v.decision
        {
            // No upstream call: the safe reply is the answer.
            let body = guarded::blocked_completion(
                &turn.request_id,
                turn.started_ms / 1000,
                &req.model,
                reply,
                report,
            );
            let completion = Completion {
                body,
                text: reply.clone(),
                finish_reason: Some("stop".into()),
                usage: None,
                served_by: req.model.clone(),
                upstream: Duration::ZERO,
            };
            self.writer
                .record(exchange(turn, req, blocked(req, reply)))
                .await;
            return Ok(Answer {
                completion,
                cost: UsdCost::ZERO,
                output_tokens: 0,
            });
        }
        let admission = self
            .metering
            .admit(&turn.key, model, call.upstream())
            .await?;
        let result = self
            .providers
            .complete(call.upstream(), &self.metrics)
            .await;
        match result {
            Ok(mut completion) => {
                let served = self.providers.get(&completion.served_by).unwrap_or(model);
                let metered: Metered = self.metering.measure(
                    served,
                    call.upstream(),
                    &completion.text,
                    completion.usage.as_ref(),
                );
                self.metering.settle(admission, &metered.cost).await;
                // The output guard reads the model's own words (not the notice).
                let (answer, filtered) =
                    match self.guard.check_output_verdict(&completion.text, call.lang) {
                        OutputVerdict::Pass => (None, false),
                        OutputVerdict::Redact(text) => (Some(text), false),
                        OutputVerdict::Replace { text, .. } => (Some(text), true),
                    };
                let notice = match call.verdict().map(|v| &v.decision) {
                    Some(Decision::Escalate { notice }) => Some(notice.as_str()),
                    _ => None,
                };
                if (answer.is_some() || guard.is_some())
                    && let Some((body, shown)) = guarded::rewrite(
                        &completion.body,
                        answer.as_deref(),
                        filtered,
                        notice,
                        guard.as_ref(),
                    )
                {
                    completion.body = body;
                    completion.text = shown;
                    if filtered {
                        completion.finish_reason = Some("content_filter".into());
                    }
                }
                let outcome = Outcome {
                    status: crate::store::messages::MessageStatus::Ok,
                    text: &completion.text,
                    model: &completion.served_by,
                    finish_reason: completion.finish_reason.as_deref(),
                    usage: completion.usage.as_ref(),
                    upstream: completion.upstream,
                    error_code: None,
                    metered: Some(&metered),
                };
                self.writer.record(exchange(turn, req, outcome)).await;
                Ok(Answer {
                    completion,
                    cost: metered.cost,
                    output_tokens: metered.tokens.output,
                })
            }
            Err(e) => {
                self.metering.settle(admission, &UsdCost::ZERO).await;
                self.writer
                    .record(exchange(turn, req, failed(req, &e)))
                    .await;
                Err(e)
            }
        }
    }

    /// Starts a streamed turn. Errors before the first chunk are returned (and logged) as for
    /// [`Pipeline::complete`]; after that, an error ends the stream with an error event. The
    /// exchange is metered and logged when the stream ends, or when the client goes away.
    pub async fn stream(&self, turn: Turn, call: Prepared) -> Result<StreamedTurn, ApiError> {
        let model = self
            .providers
            .get(&call.request.model)
            .ok_or_else(|| ApiError::ModelNotFound(call.request.model.clone()))?;
        let guard = call.verdict().map(guarded::report);
        let created = turn.started_ms / 1000;
        if let (Some(v), Some(report)) = (call.verdict(), &guard)
            && let Decision::Block { reply } = &v.decision
        {
            let req = &call.request;
            self.writer
                .record(exchange(&turn, req, blocked(req, reply)))
                .await;
            return Ok(StreamedTurn {
                served_by: req.model.clone(),
                upstream: Duration::ZERO,
                body: guarded::blocked_stream(&turn.request_id, created, &req.model, reply, report),
            });
        }
        let prefix = match (call.verdict().map(|v| &v.decision), &guard) {
            (Some(Decision::Escalate { notice }), Some(report)) => Some((
                guarded::notice_chunk(
                    &turn.request_id,
                    created,
                    &call.request.model,
                    notice,
                    report,
                ),
                format!("{notice}\n\n"),
            )),
            _ => None,
        };
        let admission = self
            .metering
            .admit(&turn.key, model, call.upstream())
            .await?;
        let start = match self.providers.stream(call.upstream(), &self.metrics).await {
            Ok(s) => s,
            Err(e) => {
                self.metering.settle(admission, &UsdCost::ZERO).await;
                self.writer
                    .record(exchange(&turn, &call.request, failed(&call.request, &e)))
                    .await;
                return Err(e);
            }
        };
        let served = self
            .providers
            .get(&start.served_by)
            .unwrap_or(model)
            .clone();
        let upstream_req = call.upstream().clone();
        let log = StreamLog {
            writer: self.writer.clone(),
            metering: self.metering.clone(),
            admission: Some(admission),
            wants_usage: call.request.wants_stream_usage(),
            turn,
            req: call.request,
            upstream_req,
            served,
            upstream: start.upstream,
            text: prefix
                .as_ref()
                .map(|(_, text)| text.clone())
                .unwrap_or_default(),
            prefix: prefix.map(|(chunk, _)| chunk),
            out_guard: self.guard.stream_guard(call.lang),
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
