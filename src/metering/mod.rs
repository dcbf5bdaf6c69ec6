//! Cost metering: what every answer costs, exactly, and what a key may still spend.
//!
//! - [`cost`]: price × tokens ([`cost_of`]) as a [`UsdCost`] (decimal USD, from `core`);
//! - [`counting`]: token counting with each model's tokenizer when the provider gives no usage;
//! - [`budget`]: daily budgets per key, reserved before the upstream call and settled after
//!   (in memory, or shared by replicas in Redis);
//! - [`ledger`]: the stored costs read back as exact sums (`/v1/usage`, budgets, alerts);
//! - [`alerts`]: the 24-hour cost-per-message alert (monitor task, table, webhook);
//! - [`metrics`]: the Prometheus series.
//!
//! The pipeline calls [`Metering::admit`] before the upstream, [`Metering::measure`] on the
//! answer and [`Metering::settle`] at the end, whatever the outcome. See `docs/metering.md`.

pub mod alerts;
pub mod budget;
pub mod cost;
pub mod counting;
pub mod ledger;
pub mod metrics;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use rust_decimal::Decimal;

pub use alerts::{
    ALL_MODELS, AlertChange, AlertMonitor, AlertStatus, AlertsConfig, CostAlert, CostAlerts,
    RawAlertsConfig, list_alerts,
};
pub use budget::Admission;
pub use cost::{TokenCounts, TokensSource, cost_of};
pub use counting::TokenCounter;
pub use ledger::{GroupBy, UsageGroup, UsageReport, UsageTotals, usage_report};
pub use metrics::MeteringMetrics;

use crate::core::UsdCost;
use crate::core::now_ms;
use crate::error::ApiError;
use crate::providers::{Backend, ModelConfig, ModelEntry, Price, ProviderSettings, Providers};
use crate::store::Store;
use crate::store::keys::ApiKey;
use crate::store::messages::MessageRecord;
use crate::wire::{ChatRequest, Usage};
use budget::BudgetBook;

pub use crate::providers::settings::DEFAULT_MAX_OUTPUT_TOKENS;

/// Metering, built once at start-up. Cheap to clone.
#[derive(Clone)]
pub struct Metering {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    models: HashMap<String, ModelMeter>,
    book: Arc<BudgetBook>,
    metrics: MeteringMetrics,
    /// `[budgets] per_user_daily_usd`.
    per_user_budget: Option<UsdCost>,
}

/// What metering knows of one model.
struct ModelMeter {
    counter: TokenCounter,
    /// Answer length assumed when the request gives none.
    default_max_output: u32,
    /// Prices a reservation uses: the highest of the model and its fallbacks, since any of them
    /// may end up serving the request.
    reserve_price: Price,
}

/// The tokens and exact cost of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metered {
    pub tokens: TokenCounts,
    pub cost: UsdCost,
}

impl Metered {
    /// Writes the tokens and cost into the answer's log record.
    pub fn fill(&self, record: &mut MessageRecord) {
        let n = |v: u64| Some(i64::try_from(v).unwrap_or(i64::MAX));
        record.prompt_tokens = n(self.tokens.input);
        record.completion_tokens = n(self.tokens.output);
        record.cached_tokens = n(self.tokens.cached_input);
        record.reasoning_tokens = n(self.tokens.reasoning);
        record.tokens_source = Some(self.tokens.source);
        record.cost_usd = Some(self.cost);
    }
}

/// The token counter a model is metered with and the output cap it assumes when the client sets
/// none (`max_output_tokens` upstream, `max_tokens` for the local model).
fn model_counter(m: &ModelConfig, providers: &Providers) -> anyhow::Result<(TokenCounter, u32)> {
    Ok(match &m.provider {
        ProviderSettings::OpenAi(s) => {
            let counter = match &s.tokenizer {
                Some(path) => {
                    TokenCounter::from_file(path).with_context(|| format!("model {:?}", m.name))?
                }
                None => {
                    tracing::info!(model = %m.name, "no tokenizer configured: answers without upstream usage get estimated token counts");
                    TokenCounter::Estimate
                }
            };
            (counter, s.max_output_tokens)
        }
        ProviderSettings::Local(s) => {
            let counter = match providers.get(&m.name).map(|e| &e.backend) {
                Some(Backend::Local(p)) => TokenCounter::Local(p.model().clone()),
                _ => TokenCounter::Estimate,
            };
            (counter, s.max_tokens)
        }
    })
}

impl Metering {
    /// Loads every model's tokenizer (a missing `tokenizer` file stops the start-up with the
    /// model named), registers the metrics, and opens the budget book: in Redis when `redis` is
    /// given (replicas share it), else in this process.
    pub fn new(
        store: Store,
        configured: &[ModelConfig],
        providers: &Providers,
        redis: Option<redis::aio::ConnectionManager>,
        registry: &mut prometheus_client::registry::Registry,
    ) -> anyhow::Result<Metering> {
        let mut counters = HashMap::new();
        for m in configured {
            counters.insert(m.name.clone(), model_counter(m, providers)?);
        }
        // A fallback may serve the request with its own cap: reserve for the largest.
        let caps: HashMap<&str, u32> = counters
            .iter()
            .map(|(n, (_, c))| (n.as_str(), *c))
            .collect();
        let cap_of = |m: &ModelConfig| {
            std::iter::once(&m.name)
                .chain(&m.fallbacks)
                .filter_map(|n| caps.get(n.as_str()).copied())
                .max()
                .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS)
        };
        let caps: HashMap<String, u32> = configured
            .iter()
            .map(|m| (m.name.clone(), cap_of(m)))
            .collect();
        let mut models = HashMap::new();
        for m in configured {
            let chain = std::iter::once(&m.price).chain(
                m.fallbacks
                    .iter()
                    .filter_map(|f| configured.iter().find(|fm| &fm.name == f))
                    .map(|fm| &fm.price),
            );
            let counter = counters
                .remove(&m.name)
                .map_or(TokenCounter::Estimate, |(c, _)| c);
            let default_max_output = caps
                .get(&m.name)
                .copied()
                .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
            models.insert(
                m.name.clone(),
                ModelMeter {
                    counter,
                    default_max_output,
                    reserve_price: highest_price(chain),
                },
            );
        }
        Ok(Metering {
            inner: Arc::new(Inner {
                book: Arc::new(BudgetBook::new(store.clone(), redis)),
                store,
                models,
                metrics: MeteringMetrics::register(registry),
                per_user_budget: None,
            }),
        })
    }

    /// Before any upstream call. Keys without a budget are admitted at once (nothing reserved).
    /// A key whose spend plus reservations today (UTC) is at or over its budget gets 429
    /// `insufficient_quota`; otherwise the request's worst case ([`Metering::worst_case`]) is
    /// reserved until [`Metering::settle`].
    pub async fn admit(
        &self,
        key: &ApiKey,
        model: &ModelEntry,
        req: &ChatRequest,
    ) -> Result<Admission, ApiError> {
        let Some(budget) = key.daily_budget_usd else {
            return Ok(Admission::unbudgeted());
        };
        let amount = self.worst_case(&model.name, req);
        match self
            .inner
            .book
            .reserve(&key.id, budget, amount, now_ms())
            .await
        {
            Ok(admission) => Ok(admission),
            Err(over) => {
                self.inner.metrics.budget_rejections.inc();
                tracing::info!(key_id = %key.id, budget = %budget, committed = %over.committed, "daily budget reached; request refused");
                Err(ApiError::InsufficientQuota {
                    daily_budget_usd: budget,
                })
            }
        }
    }

    /// Sets `[budgets] per_user_daily_usd`; call it on a new `Metering`, before any clone.
    pub fn with_per_user_budget(mut self, budget: Option<UsdCost>) -> Metering {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.per_user_budget = budget,
            None => tracing::error!("per-user budget set on a shared Metering; ignored"),
        }
        self
    }

    /// [`Metering::admit`], then the end user's own daily budget (`[budgets]
    /// per_user_daily_usd`) when `end_user` (the keyed hash of the OpenAI `user` field or the
    /// conversation id) is known. An end user over budget gets the same 429
    /// `insufficient_quota`, and the key's reservation is released.
    pub async fn admit_user(
        &self,
        key: &ApiKey,
        end_user: Option<&str>,
        model: &ModelEntry,
        req: &ChatRequest,
    ) -> Result<Admission, ApiError> {
        let mut admission = self.admit(key, model, req).await?;
        let (Some(user), Some(budget)) = (end_user, self.inner.per_user_budget) else {
            return Ok(admission);
        };
        let amount = self.worst_case(&model.name, req);
        // The user's book is per key: two frontends' "user-1" are two different women.
        let book_id = format!("user:{}:{user}", key.id);
        match self
            .inner
            .book
            .reserve(&book_id, budget, amount, now_ms())
            .await
        {
            Ok(mut own) => {
                admission.user = own.take_reservation();
                Ok(admission)
            }
            Err(over) => {
                self.settle(admission, &UsdCost::ZERO).await;
                self.inner.metrics.budget_rejections.inc();
                tracing::info!(key_id = %key.id, budget = %budget, committed = %over.committed, "an end user's daily budget reached; request refused");
                Err(ApiError::InsufficientQuota {
                    daily_budget_usd: budget,
                })
            }
        }
    }

    /// The most a request to `model` can cost: its prompt (counted, never under-estimated) at
    /// the highest input price of the model and its fallbacks, plus `max_completion_tokens` /
    /// `max_tokens` (else the largest configured cap of the model and its fallbacks: a local
    /// model's `max_tokens`, an upstream's `max_output_tokens`, which the provider then sends)
    /// times `n` at the highest output price.
    pub fn worst_case(&self, model: &str, req: &ChatRequest) -> UsdCost {
        let Some(meter) = self.inner.models.get(model) else {
            return UsdCost::ZERO;
        };
        let max_output = req.max_output_tokens().unwrap_or(meter.default_max_output);
        let tokens = TokenCounts {
            input: meter.counter.prompt_upper_bound(req),
            output: u64::from(max_output) * u64::from(req.n.unwrap_or(1).max(1)),
            cached_input: 0,
            reasoning: 0,
            source: meter.counter.source(),
        };
        cost_of(&meter.reserve_price, &tokens)
    }

    /// The tokens and exact cost of an answer from `model` (the model that served it, after any
    /// fallback): the upstream's `usage` when there is one, else counted with the model's
    /// tokenizer from the request and `answer_text`. Counts the metrics, so call it once per
    /// answer.
    pub fn measure(
        &self,
        model: &ModelEntry,
        req: &ChatRequest,
        answer_text: &str,
        usage: Option<&Usage>,
    ) -> Metered {
        let tokens = match usage {
            Some(u) => tokens_of_usage(u),
            None => {
                let counter = self
                    .inner
                    .models
                    .get(&model.name)
                    .map_or(&TokenCounter::Estimate, |m| &m.counter);
                TokenCounts {
                    input: counter.prompt(req),
                    output: counter.answer(answer_text),
                    cached_input: 0,
                    reasoning: 0,
                    source: counter.source(),
                }
            }
        };
        let cost = cost_of(&model.price, &tokens);
        self.inner.metrics.record(&model.name, &tokens, &cost);
        Metered { tokens, cost }
    }

    /// Settles an admission with what the request actually cost (zero when nothing was spent,
    /// e.g. the upstream failed before answering).
    pub async fn settle(&self, admission: Admission, actual: &UsdCost) {
        admission.settle(actual).await;
    }

    /// [`Metering::settle`] from synchronous code (a `Drop`): runs on the current runtime.
    pub fn settle_detached(&self, admission: Admission, actual: UsdCost) {
        if !admission.is_budgeted() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move { admission.settle(&actual).await });
            }
            // No runtime: dropping keeps the reservation as spent (the safe side).
            Err(_) => drop(admission),
        }
    }

    /// The database the ledger lives in.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Metering's metrics (the alert monitor sets its gauge there).
    pub fn metrics(&self) -> &MeteringMetrics {
        &self.inner.metrics
    }
}

/// OpenAI's usage as token counts; details larger than their totals are capped to them.
pub fn tokens_of_usage(u: &Usage) -> TokenCounts {
    let cached = u
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens)
        .unwrap_or(0);
    let reasoning = u
        .completion_tokens_details
        .as_ref()
        .and_then(|d| d.reasoning_tokens)
        .unwrap_or(0);
    TokenCounts {
        input: u.prompt_tokens,
        output: u.completion_tokens,
        cached_input: cached.min(u.prompt_tokens),
        reasoning: reasoning.min(u.completion_tokens),
        source: TokensSource::Upstream,
    }
}

/// The highest input (cached or not) and output prices among `prices`; free when all are.
fn highest_price<'a>(prices: impl Iterator<Item = &'a Price>) -> Price {
    let mut input = Decimal::ZERO;
    let mut output = Decimal::ZERO;
    for p in prices {
        if let Price::PerMillion {
            input: i,
            output: o,
            cached_input,
        } = p
        {
            input = input.max(*i).max(cached_input.unwrap_or(Decimal::ZERO));
            output = output.max(*o);
        }
    }
    if input.is_zero() && output.is_zero() {
        Price::Free
    } else {
        Price::PerMillion {
            input,
            output,
            cached_input: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CompletionTokensDetails, PromptTokensDetails};

    #[test]
    fn usage_details_become_token_counts_capped_by_their_totals() {
        let u = Usage {
            prompt_tokens: 100,
            completion_tokens: 40,
            total_tokens: 140,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(64),
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: Some(90),
            }),
        };
        let t = tokens_of_usage(&u);
        assert_eq!(
            (t.input, t.output, t.cached_input, t.reasoning),
            (100, 40, 64, 40)
        );
        assert_eq!(t.source, TokensSource::Upstream);
    }

    #[test]
    fn a_reservation_prices_at_the_dearest_model_of_the_fallback_chain() {
        let p = |i: &str, o: &str, c: Option<&str>| Price::PerMillion {
            input: i.parse().unwrap(),
            output: o.parse().unwrap(),
            cached_input: c.map(|c| c.parse().unwrap()),
        };
        let chain = [
            p("0.15", "0.60", None),
            Price::Free,
            p("2.50", "0.50", Some("3")),
        ];
        assert_eq!(highest_price(chain.iter()), p("3", "0.60", None));
        assert_eq!(highest_price([Price::Free].iter()), Price::Free);
    }

    #[test]
    fn a_metered_answer_fills_its_log_record() {
        let mut record = MessageRecord::new(
            "c",
            "r",
            crate::store::messages::MessageRole::Assistant,
            String::new(),
            0,
        );
        let metered = Metered {
            tokens: TokenCounts {
                input: 11,
                output: 7,
                cached_input: 3,
                reasoning: 2,
                source: TokensSource::Counted,
            },
            cost: "0.00000585".parse().unwrap(),
        };
        metered.fill(&mut record);
        assert_eq!(record.prompt_tokens, Some(11));
        assert_eq!(record.cached_tokens, Some(3));
        assert_eq!(record.reasoning_tokens, Some(2));
        assert_eq!(record.tokens_source, Some(TokensSource::Counted));
        assert_eq!(record.cost_usd.unwrap().to_string(), "0.00000585");
    }
}
