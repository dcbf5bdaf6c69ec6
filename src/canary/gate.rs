//! The prompt canary gate: a periodic task that compares every running prompt canary with its
//! prompt's production version over the last `[canary] window` — latency, cost per message,
//! guard escalations and nurse ratings — and applies the prompt's policy. A regression on any
//! metric (significant at `[canary] alpha`) rolls the candidate back; enough samples on latency,
//! cost and escalations with no regression promotes it (or holds, per `on_success`). Ratings
//! count when nurses reviewed enough conversations, and never block a promotion by their absence.
//!
//! A decision is recorded with its numbers and, for promote and rollback, sets the prompt's
//! label override in the database; a second task re-reads the overrides every `[canary]
//! refresh_s` on every replica (and at once on the one that decided).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::{Value, json};

use super::CanaryConfig;
use super::compare::{self, Comparison, Request, Selector, Verdict};
use crate::core::now_ms;
use crate::periodic::Periodic;
use crate::prompts::canary::{
    CanaryOverrides, LabelOverride, OnRegression, OnSuccess, OverrideOutcome,
};
use crate::prompts::{Prompt, PromptRef, PromptRegistry};
use crate::store::canary::{DecisionRow, Metric};
use crate::store::{DbError, Store};

/// The metrics the gate compares; the first three must have enough samples to promote.
const GATE_METRICS: [Metric; 4] = [
    Metric::LatencyMs,
    Metric::CostUsd,
    Metric::GuardEscalated,
    Metric::Rating,
];

/// What the gate needs, shared by its two tasks.
#[derive(Clone)]
pub struct GateContext {
    pub store: Store,
    pub prompts: Arc<ArcSwap<PromptRegistry>>,
    pub overrides: Arc<ArcSwap<CanaryOverrides>>,
    pub config: CanaryConfig,
    pub release: Arc<str>,
}

/// The two background tasks: the gate and the overrides' refresh.
pub struct CanaryGate {
    gate: Periodic,
    refresh: Periodic,
}

impl CanaryGate {
    /// Starts the refresh (always) and the gate (when `[canary] enabled`).
    pub fn spawn(ctx: GateContext) -> CanaryGate {
        let refresh = {
            let ctx = ctx.clone();
            Periodic::spawn(ctx.config.refresh, move || {
                let ctx = ctx.clone();
                async move {
                    if let Err(e) = refresh(&ctx).await {
                        tracing::warn!(error = %e, "cannot read the prompt canary overrides");
                    }
                }
            })
        };
        let gate = if ctx.config.enabled {
            Periodic::spawn(ctx.config.interval, move || {
                let ctx = ctx.clone();
                async move {
                    if let Err(e) = run_once(&ctx, now_ms()).await {
                        tracing::warn!(error = %e, "the prompt canary gate failed; retried next time");
                    }
                }
            })
        } else {
            Periodic::off()
        };
        CanaryGate { gate, refresh }
    }

    /// Stops both tasks, letting a run in progress finish.
    pub async fn shutdown(self) {
        self.gate.shutdown().await;
        self.refresh.shutdown().await;
    }
}

/// Every override as stored, as the prompts module reads them.
pub async fn load_overrides(store: &Store) -> Result<CanaryOverrides, DbError> {
    let rows = store.canary_overrides().await?;
    let mut by_prompt = HashMap::new();
    for r in rows {
        let outcome = match r.outcome.as_str() {
            "promoted" => OverrideOutcome::Promoted,
            _ => OverrideOutcome::RolledBack,
        };
        let version = |v: i64| u32::try_from(v).unwrap_or(0);
        by_prompt.insert(
            r.prompt_id,
            LabelOverride {
                candidate: version(r.candidate_version),
                baseline: version(r.baseline_version),
                outcome,
                decided_at: r.decided_at,
            },
        );
    }
    Ok(CanaryOverrides::new(by_prompt))
}

/// Re-reads the overrides and swaps them in when they changed.
pub async fn refresh(ctx: &GateContext) -> Result<(), DbError> {
    let fresh = load_overrides(&ctx.store).await?;
    if **ctx.overrides.load() != fresh {
        ctx.overrides.store(Arc::new(fresh));
    }
    Ok(())
}

/// One run of the gate over every prompt with a running canary; returns the decisions recorded.
pub async fn run_once(ctx: &GateContext, now: i64) -> Result<Vec<DecisionRow>, DbError> {
    refresh(ctx).await?;
    let registry = ctx.prompts.load_full();
    let overrides = ctx.overrides.load_full();
    let mut recorded = Vec::new();
    for prompt in registry.prompts() {
        if let Some(d) = evaluate(ctx, prompt, &overrides, now).await? {
            recorded.push(d);
        }
    }
    if !recorded.is_empty() {
        refresh(ctx).await?;
    }
    Ok(recorded)
}

/// Compares one prompt's running canary and records the decision its policy takes, if any.
async fn evaluate(
    ctx: &GateContext,
    prompt: &Prompt,
    overrides: &CanaryOverrides,
    now: i64,
) -> Result<Option<DecisionRow>, DbError> {
    let (Some(policy), Some(baseline)) = (
        prompt.running_canary(overrides),
        prompt.effective_production(overrides),
    ) else {
        return Ok(None);
    };
    let version = |v: u32| PromptRef {
        id: prompt.id().to_owned(),
        version: v,
    };
    let (candidate, base) = (
        Selector::prompt(&version(policy.version)),
        Selector::prompt(&version(baseline)),
    );
    let window = (now - ctx.config.window.as_millis() as i64, now);
    let mut results = Vec::new();
    for metric in GATE_METRICS {
        let req = Request {
            metric,
            candidate: &candidate,
            baseline: &base,
            window,
            alpha: ctx.config.alpha,
            min_samples: policy.min_samples as usize,
        };
        results.push(compare::compare(&ctx.store, &req).await?);
    }
    let Some((decision, outcome, reason)) =
        decide(&results, policy.on_regression, policy.on_success)
    else {
        return Ok(None);
    };
    if decision == "hold" && already_held(&ctx.store, prompt.id(), policy.version).await? {
        return Ok(None);
    }
    let row = DecisionRow::new(
        prompt.id(),
        policy.version,
        baseline,
        decision,
        reason,
        &ctx.release,
        window,
        json!({ "metrics": results }).to_string(),
        now,
    );
    let done = ctx.store.record_canary_decision(&row, outcome).await?;
    if done {
        tracing::info!(
            prompt = prompt.id(),
            candidate = policy.version,
            baseline,
            decision,
            "prompt canary decision"
        );
    }
    Ok(done.then_some(row))
}

/// The decision (`promote` | `rollback` | `hold`), the override it sets, and why; `None` while
/// the samples do not allow one.
fn decide(
    results: &[Comparison],
    on_regression: OnRegression,
    on_success: OnSuccess,
) -> Option<(&'static str, Option<&'static str>, String)> {
    let worse: Vec<&str> = results
        .iter()
        .filter(|c| c.verdict == Verdict::Worse)
        .map(|c| c.metric)
        .collect();
    if !worse.is_empty() {
        let reason = format!("candidate significantly worse on {}", worse.join(", "));
        return Some(match on_regression {
            OnRegression::Rollback => ("rollback", Some("rolled_back"), reason),
            OnRegression::Hold => ("hold", None, reason),
        });
    }
    let required_ready = results
        .iter()
        .filter(|c| c.metric != Metric::Rating.as_str())
        .all(|c| c.verdict != Verdict::InsufficientData);
    if !required_ready {
        return None;
    }
    let reason = "enough samples and no significant regression".to_owned();
    Some(match on_success {
        OnSuccess::Promote => ("promote", Some("promoted"), reason),
        OnSuccess::Hold => ("hold", None, reason),
    })
}

/// A hold is recorded once per candidate, not at every run.
async fn already_held(store: &Store, prompt_id: &str, candidate: u32) -> Result<bool, DbError> {
    let last = store.canary_decisions(prompt_id, 1).await?;
    Ok(last
        .first()
        .is_some_and(|d| d.decision == "hold" && d.candidate_version == i64::from(candidate)))
}

/// The body of `GET /v1/prompts/{id}/canary`: the canary as the files declare it, the stored
/// override, what is served now, and the decisions (newest first, at most 50). `None` for an
/// unknown prompt.
pub async fn state(
    store: &Store,
    registry: &PromptRegistry,
    prompt_id: &str,
) -> Result<Option<Value>, DbError> {
    let Some(prompt) = registry.get(prompt_id) else {
        return Ok(None);
    };
    let overrides = load_overrides(store).await?;
    let running = prompt.running_canary(&overrides);
    let over = overrides.get(prompt_id);
    let status = match (prompt.canary(), over, running) {
        (_, _, Some(_)) => "running",
        (Some(c), Some(o), None) if o.candidate == c.version => match o.outcome {
            OverrideOutcome::Promoted => "promoted",
            OverrideOutcome::RolledBack => "rolled_back",
        },
        (Some(_), _, None) => "inactive",
        (None, _, _) => "none",
    };
    let decisions: Vec<Value> = store
        .canary_decisions(prompt_id, 50)
        .await?
        .into_iter()
        .map(|d| {
            let report: Value = serde_json::from_str(&d.report).unwrap_or(Value::Null);
            json!({
                "id": d.id, "decision": d.decision, "reason": d.reason,
                "candidate_version": d.candidate_version, "baseline_version": d.baseline_version,
                "release": d.release, "window_start": d.window_start, "window_end": d.window_end,
                "created_at": d.created_at, "report": report,
            })
        })
        .collect();
    Ok(Some(json!({
        "object": "prompt.canary",
        "prompt": prompt_id,
        "status": status,
        "canary": prompt.canary(),
        "production_label": prompt.labels().get(crate::prompts::DEFAULT_LABEL),
        "override": over,
        "serving": {
            "production": prompt.effective_production(&overrides),
            "canary": running.map(|c| c.version),
            "traffic_percent": running.map_or(0.0, |c| c.traffic_percent),
        },
        "decisions": decisions,
    })))
}
