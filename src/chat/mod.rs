//! The chat pipeline shared by the HTTP API and the CLI. One entry, [`Pipeline::handle`]: a turn
//! is prepared (model checked, input guarded, personal data redacted, prompt rendered), admitted
//! against the key's budget, sent to the providers (with fallback), checked by the output guard,
//! metered, and logged as an exchange, whether it ends in an answer, an error, a block or a
//! client that went away. Handlers stay thin; `eval run` goes through exactly this code.

mod choices;
mod complete;
mod context;
mod degraded;
pub(crate) mod guarded;
mod outbound;
mod prepare;
mod record;
mod stream;
mod windows;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures_util::Stream;

use crate::core::UsdCost;
use crate::core::{ConversationId, new_id, now_ms};
use crate::error::ApiError;
use crate::guard::moderation::Moderator;
use crate::guard::{Decision, Guard, InputVerdict};
use crate::metering::Metering;
use crate::metrics::Metrics;
use crate::prompts::PromptRegistry;
use crate::prompts::canary::CanaryOverrides;
use crate::providers::{Completion, ModelEntry, Providers};
use crate::store::keys::ApiKey;
use crate::store::writer::LogWriter;
use crate::wire::{ChatRequest, Head};
pub use context::{Answered, Origin, Refusal, Reply, RequestContext, TurnIds};
pub use degraded::Degraded;
use prepare::Prepared;

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
    /// The prompt canary gate's label overrides, re-read from the database by every replica.
    pub canary: Arc<ArcSwap<CanaryOverrides>>,
    /// The gateway release (`[server] release`) every logged message carries.
    pub release: Arc<str>,
}

/// Who asked, and the ids this turn is filed under.
#[derive(Debug, Clone)]
struct Turn {
    key: Arc<ApiKey>,
    request_id: String,
    /// The client's conversation id (or a fresh one), scoped by the key that sent the turn.
    conversation: ConversationId,
    started: Instant,
    /// When the turn arrived (epoch ms): the user's messages are filed at this time.
    started_ms: i64,
    /// `id@version;lang=…;persona=…` when the request used a versioned prompt.
    prompt_ref: Option<String>,
    /// The guard's reading for the log (JSON), and whether it made the conversation urgent.
    guard_log: Option<String>,
    urgent: bool,
    /// The end user's keyed hash, for their daily budget.
    end_user: Option<String>,
    /// The release that served the turn.
    release: Arc<str>,
}

impl Turn {
    /// A new turn in the client's conversation or a new one. An eval case is nobody in danger:
    /// its conversation never enters the nurses' urgent review queue (the guard's reading is
    /// still logged).
    fn new(ctx: &RequestContext, call: &Prepared) -> Turn {
        Turn {
            key: ctx.key.clone(),
            request_id: call.request_id.clone(),
            conversation: ConversationId::scoped(
                &ctx.key.id,
                &call
                    .request
                    .conversation_id()
                    .map_or_else(new_id, str::to_string),
            ),
            started: Instant::now(),
            started_ms: now_ms(),
            prompt_ref: call.prompt_ref.clone(),
            guard_log: call.verdict.as_ref().map(guarded::log_entry),
            urgent: ctx.origin != Origin::Eval
                && call.verdict.as_ref().is_some_and(InputVerdict::is_urgent),
            end_user: ctx.end_user.clone(),
            release: call.release.clone(),
        }
    }

    /// The fields of every completion or chunk the gateway makes for this turn.
    fn head(&self, model: &str) -> Head {
        Head::new(&self.request_id, self.started_ms / 1000, model)
    }
}

/// A danger sign or self-harm in the turn's own words (what the static reply is for).
fn is_urgent(call: &Prepared) -> bool {
    call.verdict.as_ref().is_some_and(InputVerdict::is_urgent)
}

/// A stream of SSE frames ready for the client.
pub type SseBody = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>>;

/// A non-streamed answer and what it cost.
pub struct Answer {
    pub completion: Completion,
    pub cost: UsdCost,
    /// Answer tokens as metered: the upstream's usage, else counted (0 when blocked).
    pub output_tokens: u64,
    /// The request as the model saw it (rendered prompt in front, personal data redacted).
    pub request: ChatRequest,
}

/// A started streamed answer.
pub struct StreamedTurn {
    pub served_by: String,
    pub upstream: Duration,
    pub body: SseBody,
}

impl Pipeline {
    /// Answers one request, streamed or not as it asks. `Err` when it was refused before a turn
    /// began (unknown model, a prompt that does not render, a rate limit's refusal of a turn
    /// that is not urgent); otherwise the turn is filed and the reply says how it ended.
    pub async fn handle(
        &self,
        request: ChatRequest,
        ctx: &RequestContext,
    ) -> Result<Reply, ApiError> {
        // A refused request is still read by the guard (microseconds, no external moderator):
        // an urgent turn is answered with its notice; any other keeps the refusal it always got.
        let prepared = self
            .prepare(
                request,
                ctx.accept_language.as_deref(),
                ctx.refusal.is_none(),
                // Eval cases are never routed by a prompt canary: they evaluate what the files say.
                (ctx.origin != Origin::Eval).then_some(ctx.key.id.as_str()),
            )
            .await;
        let call = match (prepared, ctx.refusal) {
            (Ok(call), None) => call,
            (Ok(call), Some(refusal)) if ctx.origin != Origin::Eval && is_urgent(&call) => {
                let turn = Turn::new(ctx, &call);
                return Ok(self
                    .degraded_reply(turn, &call, Degraded::RateLimit, &refusal.into())
                    .await);
            }
            (Ok(_), Some(refusal)) | (Err(_), Some(refusal)) => return Err(refusal.into()),
            (Err(e), None) => return Err(e),
        };
        let turn = Turn::new(ctx, &call);
        let (ids, started) = (TurnIds::of(&turn), turn.started);
        let decision = call
            .verdict
            .as_ref()
            .map_or(Decision::Pass, |v| v.decision.clone());
        let outcome = if call.request.is_stream() {
            self.stream(turn, call).await.map(Answered::Stream)
        } else {
            let answer = self.complete(&turn, &call).await;
            answer.map(|(completion, cost, output_tokens)| {
                Answered::Complete(Box::new(Answer {
                    completion,
                    cost,
                    output_tokens,
                    request: call.into_upstream(),
                }))
            })
        };
        Ok(Reply {
            ids,
            decision,
            started,
            outcome,
        })
    }

    /// The static reply of an urgent turn that cannot be answered, as the pipeline's reply.
    async fn degraded_reply(
        &self,
        turn: Turn,
        call: &Prepared,
        why: Degraded,
        cause: &ApiError,
    ) -> Reply {
        let (ids, started) = (TurnIds::of(&turn), turn.started);
        let decision = call
            .verdict
            .as_ref()
            .map_or(Decision::Pass, |v| v.decision.clone());
        let outcome = Ok(self.degraded(&turn, call, why, cause).await);
        Reply {
            ids,
            decision,
            started,
            outcome,
        }
    }

    /// The model the request names (checked again here: the turn must not start without one).
    fn model(&self, req: &ChatRequest) -> Result<&Arc<ModelEntry>, ApiError> {
        self.providers
            .get(&req.model)
            .ok_or_else(|| ApiError::ModelNotFound(req.model.clone()))
    }
}
