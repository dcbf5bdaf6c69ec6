//! Metering's Prometheus series, registered in the app's registry (prefix `powerbirth_`):
//! `powerbirth_tokens_total{model,kind}`, `powerbirth_cost_usd_total{model}`,
//! `powerbirth_budget_rejections_total` and `powerbirth_cost_per_message_change_ratio{model}`.
//!
//! The cost counter is a float: fine for dashboards and alert rules; the exact figures are in the
//! ledger (`/v1/usage`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rust_decimal::prelude::ToPrimitive;

use super::cost::TokenCounts;
use crate::core::UsdCost;

/// Labels of a token counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: String,
    /// `input`, `output`, `cached_input` or `reasoning` (the last two are parts of the first two).
    pub kind: &'static str,
}

/// Labels with just a model (`*` for all models together).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

/// Metering's series. Cheap to clone (each is an `Arc` inside).
#[derive(Clone, Default)]
pub struct MeteringMetrics {
    pub tokens: Family<TokenLabels, Counter>,
    pub cost_usd: Family<ModelLabels, Counter<f64, AtomicU64>>,
    pub budget_rejections: Counter,
    pub cost_change_ratio: Family<ModelLabels, Gauge<f64, AtomicU64>>,
}

impl MeteringMetrics {
    /// Creates the series and registers them in `registry` (expected to carry the `powerbirth`
    /// prefix, as the app's does).
    pub fn register(registry: &mut Registry) -> MeteringMetrics {
        let m = MeteringMetrics::default();
        registry.register(
            "tokens",
            "Tokens per model and kind (input includes cached_input; output includes reasoning)",
            m.tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "Cost of answers in USD per model (float; the ledger holds the exact figures)",
            m.cost_usd.clone(),
        );
        registry.register(
            "budget_rejections",
            "Requests refused because the key reached its daily budget",
            m.budget_rejections.clone(),
        );
        registry.register(
            "cost_per_message_change_ratio",
            "Mean cost per message of the last 24 h against the 24 h before, minus 1 (model=\"*\": all models)",
            m.cost_change_ratio.clone(),
        );
        m
    }

    /// Counts one measured answer.
    pub fn record(&self, model: &str, tokens: &TokenCounts, cost: &UsdCost) {
        for (kind, n) in [
            ("input", tokens.input),
            ("output", tokens.output),
            ("cached_input", tokens.cached_input),
            ("reasoning", tokens.reasoning),
        ] {
            if n > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model: model.to_string(),
                        kind,
                    })
                    .inc_by(n);
            }
        }
        self.cost_usd
            .get_or_create(&ModelLabels {
                model: model.to_string(),
            })
            .inc_by(cost.amount().to_f64().unwrap_or(0.0));
    }
}
