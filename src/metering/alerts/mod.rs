//! The cost alert. The product's service level for the assistant is its cost per message, so a
//! background task compares, every `[alerts] interval`, the mean cost per message of the last
//! 24 h with that of the 24 h before, for all models together (scope `*`) and for each model.
//!
//! A scope is judged only when both windows hold at least `min_messages` billed messages. A rise
//! of more than `cost_rise_ratio` opens an alert (one open alert per scope until it clears): it
//! is stored, listed by `GET /v1/alerts`, logged as a warning and POSTed to `webhook_url` when
//! configured. The gauge `powerbirth_cost_per_message_change_ratio{model}` shows the current
//! change for every judged scope. An open alert clears when its scope is judged again at or
//! under the threshold. Windows are half-open: `[now − 48 h, now − 24 h)` and `[now − 24 h, now)`.

mod config;
mod webhook;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

pub use crate::store::ledger::alerts::{AlertStatus, CostAlert, list_alerts, open_alerts};
pub use config::{AlertsConfig, RawAlertsConfig};
pub use webhook::WebhookPayload;

use super::Metering;
use super::ledger::{self, UsageTotals, day_window};
use super::metrics::{MeteringMetrics, ModelLabels};
use crate::core::{new_id, now_ms};
use crate::periodic::Periodic;
use crate::store::ledger::alerts as records;
use crate::store::{DbError, Store};
use webhook::Webhook;

/// The scope of all models together (label `model="*"`).
pub const ALL_MODELS: &str = "*";

/// What one check changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertChange {
    Opened(CostAlert),
    Cleared(CostAlert),
}

/// The check itself, runnable at any instant (the monitor runs it on a timer; tests call it on a
/// synthetic ledger).
pub struct CostAlerts {
    store: Store,
    cfg: AlertsConfig,
    metrics: MeteringMetrics,
    webhook: Option<Webhook>,
}

/// The two windows of one scope.
#[derive(Debug, Default)]
struct Windows {
    previous: UsageTotals,
    current: UsageTotals,
}

impl CostAlerts {
    /// The check over `metering`'s ledger, with its metrics.
    pub fn new(metering: &Metering, cfg: AlertsConfig) -> anyhow::Result<CostAlerts> {
        let webhook = match &cfg.webhook_url {
            Some(url) => Some(Webhook::new(
                url.clone(),
                cfg.webhook_timeout,
                cfg.webhook_retries,
            )?),
            None => None,
        };
        Ok(CostAlerts {
            store: metering.store().clone(),
            metrics: metering.metrics().clone(),
            cfg,
            webhook,
        })
    }

    /// Compares the 24 h before `now_ms` with the 24 h before those, opens and clears alerts,
    /// sets the gauges and notifies; returns what changed.
    pub async fn check_at(&self, now_ms: i64) -> Result<Vec<AlertChange>, DbError> {
        let (cur_from, cur_to) = day_window(now_ms);
        let (prev_from, prev_to) = day_window(cur_from);
        let current = ledger::model_totals(&self.store, cur_from, cur_to).await?;
        let previous = ledger::model_totals(&self.store, prev_from, prev_to).await?;
        let scopes = scopes(previous, current);
        let open: BTreeMap<String, CostAlert> = open_alerts(&self.store)
            .await?
            .into_iter()
            .map(|a| (a.scope.clone(), a))
            .collect();
        let mut changes = Vec::new();
        for (scope, w) in &scopes {
            let labels = ModelLabels {
                model: scope.clone(),
            };
            let Some(ratio) = self.judge(w) else {
                // Not enough data to judge: no gauge, and an open alert stays open.
                self.metrics.cost_change_ratio.remove(&labels);
                continue;
            };
            self.metrics
                .cost_change_ratio
                .get_or_create(&labels)
                .set(ratio.to_f64().unwrap_or(f64::MAX));
            let rising = ratio > self.cfg.cost_rise_ratio;
            match (rising, open.get(scope)) {
                (true, None) => {
                    let alert = self.alert(scope, w, ratio, now_ms);
                    if records::open(&self.store, &alert).await? {
                        tracing::warn!(
                            model = %scope,
                            change_ratio = %alert.change_ratio,
                            threshold = %alert.threshold,
                            previous_cost_per_message_usd = %alert.previous_cost_per_message_usd,
                            current_cost_per_message_usd = %alert.current_cost_per_message_usd,
                            "cost per message rose over the alert threshold in 24 h"
                        );
                        self.notify("opened", &alert).await;
                        changes.push(AlertChange::Opened(alert));
                    }
                }
                (false, Some(open)) => {
                    if let Some(cleared) = records::clear(&self.store, open, now_ms).await? {
                        tracing::info!(model = %scope, change_ratio = %ratio.normalize(), "cost alert cleared");
                        self.notify("cleared", &cleared).await;
                        changes.push(AlertChange::Cleared(cleared));
                    }
                }
                _ => {}
            }
        }
        Ok(changes)
    }

    /// `current / previous − 1` of the mean cost per message, when both windows hold enough
    /// billed messages and the previous mean is not zero (a free model has no rate of change).
    fn judge(&self, w: &Windows) -> Option<Decimal> {
        let min = self.cfg.min_messages;
        if w.previous.messages < min || w.current.messages < min {
            return None;
        }
        // Cross-multiplied, so the ratio is not computed from already rounded means.
        let numerator = w
            .current
            .cost_usd
            .amount()
            .checked_mul(Decimal::from(w.previous.messages))?;
        let denominator = w
            .previous
            .cost_usd
            .amount()
            .checked_mul(Decimal::from(w.current.messages))?;
        if denominator.is_zero() {
            return None;
        }
        numerator
            .checked_div(denominator)
            .map(|r| (r - Decimal::ONE).normalize())
    }

    fn alert(&self, scope: &str, w: &Windows, ratio: Decimal, now_ms: i64) -> CostAlert {
        let mean = |t: &UsageTotals| ledger::mean(t.cost_usd, t.messages).unwrap_or_default();
        CostAlert {
            id: new_id(),
            scope: scope.to_string(),
            status: AlertStatus::Open,
            opened_at_ms: now_ms,
            cleared_at_ms: None,
            threshold: self.cfg.cost_rise_ratio,
            change_ratio: ratio.round_dp(18).normalize(),
            previous_cost_per_message_usd: mean(&w.previous),
            current_cost_per_message_usd: mean(&w.current),
            previous_messages: w.previous.messages,
            current_messages: w.current.messages,
        }
    }

    async fn notify(&self, event: &'static str, alert: &CostAlert) {
        let Some(webhook) = &self.webhook else {
            return;
        };
        let payload = WebhookPayload {
            kind: "cost_per_message_rise",
            event,
            window_hours: 24,
            alert,
        };
        if let Err(e) = webhook.send(&payload).await {
            tracing::error!(model = %alert.scope, event, error = %e, "alert webhook gave up");
        }
    }
}

/// Windows per scope: `*` (every model together) and each model that answered in either window.
fn scopes(
    previous: BTreeMap<Option<String>, UsageTotals>,
    current: BTreeMap<Option<String>, UsageTotals>,
) -> BTreeMap<String, Windows> {
    let mut out: BTreeMap<String, Windows> = BTreeMap::new();
    let all = out.entry(ALL_MODELS.to_string()).or_default();
    for t in previous.values() {
        add(&mut all.previous, t);
    }
    for t in current.values() {
        add(&mut all.current, t);
    }
    let models: BTreeSet<&String> = previous.keys().chain(current.keys()).flatten().collect();
    for model in models {
        let key = Some(model.clone());
        out.insert(
            model.clone(),
            Windows {
                previous: previous.get(&key).cloned().unwrap_or_default(),
                current: current.get(&key).cloned().unwrap_or_default(),
            },
        );
    }
    out
}

fn add(into: &mut UsageTotals, t: &UsageTotals) {
    into.requests += t.requests;
    into.messages += t.messages;
    into.cost_usd = into.cost_usd.plus(t.cost_usd);
}

/// The monitor: [`CostAlerts::check_at`] every `[alerts] interval`, as a task that stops on
/// [`AlertMonitor::shutdown`] (a check in progress finishes first).
pub struct AlertMonitor(Periodic);

impl AlertMonitor {
    /// Starts checking now, then every `cfg.interval`. With `enabled = false` it does nothing.
    pub fn spawn(metering: &Metering, cfg: AlertsConfig) -> anyhow::Result<AlertMonitor> {
        let interval = cfg.interval;
        let enabled = cfg.enabled;
        let alerts = Arc::new(CostAlerts::new(metering, cfg)?);
        if !enabled {
            return Ok(AlertMonitor(Periodic::off()));
        }
        Ok(AlertMonitor(Periodic::spawn(interval, move || {
            let alerts = alerts.clone();
            async move {
                if let Err(e) = alerts.check_at(now_ms()).await {
                    tracing::warn!(error = %e, "cost alert check failed; retrying at the next interval");
                }
            }
        })))
    }

    /// Stops the monitor and waits for it.
    pub async fn shutdown(self) {
        self.0.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(messages: u64, cost: &str) -> UsageTotals {
        UsageTotals {
            requests: messages,
            messages,
            cost_usd: cost.parse().unwrap(),
            ..UsageTotals::default()
        }
    }

    #[test]
    fn every_model_is_a_scope_and_star_sums_them_all() {
        let previous = BTreeMap::from([
            (Some("a".to_string()), totals(2, "1")),
            (None, totals(1, "5")),
        ]);
        let current = BTreeMap::from([(Some("b".to_string()), totals(3, "2"))]);
        let s = scopes(previous, current);
        assert_eq!(s.keys().collect::<Vec<_>>(), ["*", "a", "b"]);
        assert_eq!(s["*"].previous.messages, 3);
        assert_eq!(s["*"].previous.cost_usd.to_string(), "6");
        assert_eq!(s["*"].current.messages, 3);
        assert_eq!(s["a"].current.messages, 0);
        assert_eq!(s["b"].current.cost_usd.to_string(), "2");
    }
}
