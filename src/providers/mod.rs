//! Upstream models behind one interface: an OpenAI-compatible HTTP API or the local candle model,
//! by enum dispatch. A request goes to the model it names, then (after that model's own retries)
//! to its `fallbacks` in order (on the failures its `fallback_on` names; for an escalated turn
//! then its `escalated_fallbacks`); every provider's error is kept, so the final answer says what
//! each one did. A model that keeps failing cools down (`health`) and is skipped meanwhile.

mod error;
pub mod failover;
pub mod health;
pub mod local;
mod local_chat;
mod openai;
pub mod settings;
pub mod sse;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;

use crate::metrics::{Metrics, UpstreamLabels};
use crate::wire::{ChatRequest, Usage};

pub use error::{HttpStatus, ProviderError, UpstreamClass, UpstreamError};
pub use failover::{FailureKind, FallbackOn};
pub use local_chat::{LocalModels, LocalProvider};
pub use openai::OpenAiProvider;
pub use settings::{LocalSettings, ModelConfig, OpenAiSettings, Price, ProviderSettings};

/// A finished (non-streamed) answer.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The OpenAI `chat.completion` JSON, as the upstream sent it.
    pub body: Bytes,
    /// The assistant's text (or its tool calls as JSON), for the log.
    pub text: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// The configured model that produced it (differs from the requested one after a fallback).
    pub served_by: String,
    /// Time spent waiting for upstreams, every attempt included.
    pub upstream: Duration,
}

/// One streamed chunk.
#[derive(Debug, Clone)]
pub struct StreamChunk {
    /// The `chat.completion.chunk` JSON.
    pub data: String,
    /// Text this chunk adds to the answer.
    pub text: String,
    pub finish_reason: Option<String>,
    /// Set on the final usage chunk (`choices: []`).
    pub usage: Option<Usage>,
    /// The chunk's delta names the role (the answer's first chunk): sent even when it carries
    /// no released text.
    pub has_role: bool,
}

/// Chunks after the first byte.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<StreamChunk, ProviderError>> + Send>>;

/// A stream that has started: the upstream answered and chunks can flow to the client.
pub struct StreamStart {
    pub served_by: String,
    /// Time to the upstream's first byte, every attempt included.
    pub upstream: Duration,
    pub chunks: ChunkStream,
}

/// How one configured model is served.
pub enum Backend {
    OpenAi(OpenAiProvider),
    Local(LocalProvider),
}

impl Backend {
    fn kind(&self) -> &'static str {
        match self {
            Backend::OpenAi(_) => "openai",
            Backend::Local(_) => "local",
        }
    }

    fn max_retries(&self) -> u32 {
        match self {
            Backend::OpenAi(p) => p.max_retries(),
            Backend::Local(_) => 0,
        }
    }

    async fn complete(&self, name: &str, req: &ChatRequest) -> Result<Completion, ProviderError> {
        match self {
            Backend::OpenAi(p) => p.complete(name, req).await,
            Backend::Local(p) => p.complete(name, req).await,
        }
    }

    async fn stream(&self, name: &str, req: &ChatRequest) -> Result<StreamStart, ProviderError> {
        match self {
            Backend::OpenAi(p) => p.stream(name, req).await,
            Backend::Local(p) => p.stream(name, req).await,
        }
    }
}

/// A model clients can name.
pub struct ModelEntry {
    pub name: String,
    pub backend: Backend,
    pub fallbacks: Vec<String>,
    pub price: Price,
    pub created: i64,
    /// The failures that move a request on to the next model.
    pub fallback_on: FallbackOn,
    /// Tried after `fallbacks`, for escalated turns only.
    pub escalated_fallbacks: Vec<String>,
    /// The failure streak and cooldown.
    pub health: health::Health,
}

/// Every configured model, loaded once at start-up.
pub struct Providers {
    models: Vec<Arc<ModelEntry>>,
    by_name: HashMap<String, Arc<ModelEntry>>,
}

impl Providers {
    /// Builds every provider of `[[models]]`; local models are loaded here (on a blocking
    /// thread) unless `local` already holds them, so a missing or broken GGUF stops the start-up
    /// with its path named.
    pub async fn build(
        configured: &[ModelConfig],
        http: reqwest::Client,
        local: &LocalModels,
    ) -> anyhow::Result<Providers> {
        let created = crate::core::now_ms() / 1000;
        let mut models = Vec::with_capacity(configured.len());
        for m in configured {
            let backend = match &m.provider {
                ProviderSettings::OpenAi(s) => {
                    Backend::OpenAi(OpenAiProvider::new(http.clone(), s))
                }
                ProviderSettings::Local(s) => {
                    let (s, local) = (s.clone(), local.clone());
                    let name = m.name.clone();
                    let provider =
                        tokio::task::spawn_blocking(move || LocalProvider::load(&s, &local))
                            .await?
                            .map_err(|e| anyhow::anyhow!("model {name:?}: {e}"))?;
                    Backend::Local(provider)
                }
            };
            models.push(Arc::new(ModelEntry {
                name: m.name.clone(),
                backend,
                fallbacks: m.fallbacks.clone(),
                price: m.price.clone(),
                created,
                fallback_on: m.fallback_on.clone(),
                escalated_fallbacks: m.escalated_fallbacks.clone(),
                health: health::Health::new(m.cooldown),
            }));
        }
        let by_name = models.iter().map(|m| (m.name.clone(), m.clone())).collect();
        Ok(Providers { models, by_name })
    }

    /// The model clients call `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<ModelEntry>> {
        self.by_name.get(name)
    }

    /// Every model, in configuration order.
    pub fn all(&self) -> &[Arc<ModelEntry>] {
        &self.models
    }

    /// Non-streamed answer from `req.model` or its fallbacks.
    pub async fn complete(
        &self,
        req: &ChatRequest,
        metrics: &Metrics,
    ) -> Result<Completion, UpstreamError> {
        self.complete_for(req, false, metrics).await
    }

    /// As [`Providers::complete`]; an `escalated` turn may also go to `escalated_fallbacks`.
    pub async fn complete_for(
        &self,
        req: &ChatRequest,
        escalated: bool,
        metrics: &Metrics,
    ) -> Result<Completion, UpstreamError> {
        let mut waited = Duration::ZERO;
        let mut out = self
            .chain(req, escalated, metrics, &mut waited, |entry| {
                entry.backend.complete(&entry.name, req)
            })
            .await?;
        out.upstream = waited;
        Ok(out)
    }

    /// Streamed answer from `req.model` or its fallbacks. Fallback happens only before the first
    /// chunk: once the client has text, the stream cannot switch models.
    pub async fn stream(
        &self,
        req: &ChatRequest,
        escalated: bool,
        metrics: &Metrics,
    ) -> Result<StreamStart, UpstreamError> {
        let mut waited = Duration::ZERO;
        let mut out = self
            .chain(req, escalated, metrics, &mut waited, |entry| {
                entry.backend.stream(&entry.name, req)
            })
            .await?;
        out.upstream = waited;
        Ok(out)
    }

    /// The models a request may go to, in order: the one it names, its fallbacks, then (for an
    /// escalated turn) its escalated fallbacks; each once.
    fn candidates<'a>(&'a self, first: &'a ModelEntry, escalated: bool) -> Vec<&'a ModelEntry> {
        let extra = if escalated {
            &first.escalated_fallbacks[..]
        } else {
            &[]
        };
        let mut out = vec![first];
        for name in first.fallbacks.iter().chain(extra) {
            if let Some(m) = self.get(name)
                && !out.iter().any(|o| o.name == m.name)
            {
                out.push(m);
            }
        }
        out
    }

    /// Tries the requested model, with retries, then each fallback while the failure is one the
    /// failing model's `fallback_on` names; a model cooling down is skipped. Returns the first
    /// success or an error that lists every attempt.
    async fn chain<'a, T, F, Fut>(
        &'a self,
        req: &ChatRequest,
        escalated: bool,
        metrics: &Metrics,
        waited: &mut Duration,
        call: F,
    ) -> Result<T, UpstreamError>
    where
        F: Fn(&'a ModelEntry) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let first = self
            .get(&req.model)
            .ok_or_else(|| UpstreamError::UnknownModel(req.model.clone()))?;
        let mut errors: Vec<ProviderError> = Vec::new();
        for entry in self.candidates(first, escalated) {
            if let Some(remaining) = entry.health.cooling() {
                errors.push(ProviderError::CoolingDown {
                    model: entry.name.clone(),
                    remaining,
                });
                continue;
            }
            match attempt(entry, metrics, waited, &call).await {
                Ok(value) => {
                    if !errors.is_empty() {
                        tracing::warn!(model = %entry.name, failed = ?errors.iter().map(ToString::to_string).collect::<Vec<_>>(), "served after upstream failures");
                    }
                    return Ok(value);
                }
                Err(e) => {
                    let moves_on = e.kind().is_some_and(|k| entry.fallback_on.contains(k));
                    if !moves_on {
                        return Err(final_error(errors, e));
                    }
                    errors.push(e);
                }
            }
        }
        Err(exhausted(errors))
    }
}

/// One model, with its own retries; its health updated and every attempt observed.
async fn attempt<'a, T, F, Fut>(
    entry: &'a ModelEntry,
    metrics: &Metrics,
    waited: &mut Duration,
    call: &F,
) -> Result<T, ProviderError>
where
    F: Fn(&'a ModelEntry) -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let retries = entry.backend.max_retries();
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        let result = call(entry).await;
        let elapsed = started.elapsed();
        *waited += elapsed;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        metrics
            .upstream_duration
            .get_or_create(&UpstreamLabels {
                model: entry.name.clone(),
                provider: entry.backend.kind(),
                outcome,
            })
            .observe(elapsed.as_secs_f64());
        let e = match result {
            Ok(value) => {
                entry.health.succeeded();
                metrics.set_cooldown(&entry.name, false);
                return Ok(value);
            }
            Err(e) => e,
        };
        tracing::warn!(model = %entry.name, attempt, error = %e, "upstream attempt failed");
        if e.is_outage() && entry.health.failed() {
            tracing::warn!(model = %entry.name, "model cooling down after repeated failures");
            metrics.set_cooldown(&entry.name, true);
            return Err(e);
        }
        if !(e.retryable() && attempt < retries) {
            return Err(e);
        }
        let hint = match &e {
            ProviderError::Status { retry_after, .. } => *retry_after,
            _ => None,
        };
        tokio::time::sleep(backoff(attempt, hint)).await;
        attempt += 1;
    }
}

/// The chain's answer when `last` may not move on: a request the upstream refused is the
/// client's to fix (as before any fallback existed); any other failure joins the list.
fn final_error(mut errors: Vec<ProviderError>, last: ProviderError) -> UpstreamError {
    match last {
        ProviderError::Rejected { message, param, .. }
        | ProviderError::Refused { message, param, .. } => {
            UpstreamError::Rejected { message, param }
        }
        e => {
            errors.push(e);
            UpstreamError::Exhausted(errors)
        }
    }
}

/// Every candidate failed or was skipped. When each one refused the request outright (content
/// filter, context length), the client gets the last refusal as a 400, as from a single model.
fn exhausted(mut errors: Vec<ProviderError>) -> UpstreamError {
    let all_refused = !errors.is_empty()
        && errors
            .iter()
            .all(|e| matches!(e, ProviderError::Refused { .. }));
    match errors.pop() {
        Some(ProviderError::Refused { message, param, .. }) if all_refused => {
            UpstreamError::Rejected { message, param }
        }
        Some(e) => {
            errors.push(e);
            UpstreamError::Exhausted(errors)
        }
        None => UpstreamError::Exhausted(errors),
    }
}

/// Exponential backoff with jitter: 100 ms, 200 ms, 400 ms … capped at 2 s; an upstream's
/// `Retry-After` is honoured up to 5 s.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(hint) = retry_after {
        return hint.min(Duration::from_secs(5));
    }
    let base = Duration::from_millis(100)
        .saturating_mul(1 << attempt.min(5))
        .min(Duration::from_secs(2));
    let jitter = rand::random::<f64>() * 0.5 + 0.75;
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(model: &str) -> ProviderError {
        ProviderError::Refused {
            model: model.into(),
            status: 400,
            kind: FailureKind::ContentFilter,
            message: "filtered".into(),
            param: None,
        }
    }

    #[test]
    fn a_chain_where_every_model_refused_the_content_is_the_clients_400() {
        let e = exhausted(vec![refused("a"), refused("b")]);
        assert!(matches!(e, UpstreamError::Rejected { .. }), "{e:?}");
        let down = ProviderError::Connect {
            model: "b".into(),
            message: "refused".into(),
        };
        let e = exhausted(vec![refused("a"), down]);
        assert!(
            matches!(e, UpstreamError::Exhausted(ref v) if v.len() == 2),
            "{e:?}"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0, None) <= Duration::from_millis(125));
        assert!(backoff(10, None) <= Duration::from_millis(2500));
        assert_eq!(
            backoff(0, Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }
}
