//! Online evaluation's data: the samples a canary comparison reads from the message log and the
//! review tables (one value per answer, or per nurse review), the prompt canary's label overrides
//! and its recorded decisions (migration 0011).

use sqlx::Row;

use super::{DbError, Store};
use crate::core::new_id;

/// What one sample measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// End-to-end latency of an answered turn (`messages.latency_ms`, status `ok`).
    LatencyMs,
    /// What an answered turn cost, exactly (`messages.cost_usd`, status `ok`).
    CostUsd,
    /// Answer tokens of an answered turn.
    CompletionTokens,
    /// 1 when the turn's user words made the guard escalate (urgent), else 0; every turn.
    GuardEscalated,
    /// A nurse's review of a conversation the side served: the mean of clinical accuracy and
    /// tone (1–5).
    Rating,
    /// 1 when a logged risk prediction answered `high`, else 0; every prediction
    /// (`predictions`, selected by `release` and `model`, the model's name or version).
    RiskHighShare,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::LatencyMs,
        Metric::CostUsd,
        Metric::CompletionTokens,
        Metric::GuardEscalated,
        Metric::Rating,
        Metric::RiskHighShare,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::LatencyMs => "latency_ms",
            Metric::CostUsd => "cost_usd",
            Metric::CompletionTokens => "completion_tokens",
            Metric::GuardEscalated => "guard_escalated",
            Metric::Rating => "rating",
            Metric::RiskHighShare => "risk_high_share",
        }
    }

    /// Whether one value per case is 0 or 1 (compared as a rate, with the two-proportion z-test).
    pub fn is_rate(self) -> bool {
        matches!(self, Metric::GuardEscalated | Metric::RiskHighShare)
    }
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Metric, String> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown metric `{s}` (latency_ms, cost_usd, completion_tokens, guard_escalated, rating, risk_high_share)"
                )
            })
    }
}

/// Which logged answers form one side: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleFilter {
    /// `messages.release`.
    pub release: Option<String>,
    /// A prompt version `id@N` (the logged `prompt_ref` starts with it).
    pub prompt: Option<String>,
    /// `messages.model`.
    pub model: Option<String>,
}

/// The filter's SQL conditions on `m` and their values, numbered from `first`. On the prediction
/// log (`predictions m`), `model` matches the model's name or its version and there is no prompt.
fn conditions(filter: &SampleFilter, first: usize, predictions: bool) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    if let Some(release) = &filter.release {
        binds.push(release.clone());
        sql.push_str(&format!(" AND m.release = ${}", first + binds.len() - 1));
    }
    if let Some(prompt) = &filter.prompt {
        let n = first + binds.len();
        sql.push_str(&format!(
            " AND (m.prompt_ref = ${n} OR m.prompt_ref LIKE ${})",
            n + 1
        ));
        binds.push(prompt.clone());
        binds.push(format!("{prompt};%"));
    }
    if let Some(model) = &filter.model {
        binds.push(model.clone());
        let n = first + binds.len() - 1;
        sql.push_str(&match predictions {
            true => format!(" AND (m.model_name = ${n} OR m.model_version = ${n})"),
            false => format!(" AND m.model = ${n}"),
        });
    }
    (sql, binds)
}

/// The SELECT of one metric's values over answers matching the filter in `[$1, $2)`.
fn sample_sql(
    metric: Metric,
    filter: &SampleFilter,
    backend: super::Backend,
) -> (String, Vec<String>) {
    let (cond, binds) = conditions(filter, 3, metric == Metric::RiskHighShare);
    let answers = format!(
        "FROM messages m WHERE m.role = 'assistant' AND m.key_id <> 'eval' \
         AND m.created_at >= $1 AND m.created_at < $2{cond}"
    );
    let sql = match metric {
        Metric::LatencyMs => format!(
            "SELECT CAST(m.latency_ms AS BIGINT) AS v {answers} AND m.status = 'ok' AND m.latency_ms IS NOT NULL"
        ),
        Metric::CompletionTokens => format!(
            "SELECT CAST(m.completion_tokens AS BIGINT) AS v {answers} AND m.status = 'ok' AND m.completion_tokens IS NOT NULL"
        ),
        Metric::CostUsd => {
            let text = match backend {
                super::Backend::Sqlite => "m.cost_usd",
                super::Backend::Postgres => "CAST(m.cost_usd AS TEXT)",
            };
            format!("SELECT {text} AS v {answers} AND m.status = 'ok' AND m.cost_usd IS NOT NULL")
        }
        Metric::GuardEscalated => format!(
            "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM messages u WHERE u.request_id = m.request_id \
             AND u.urgent = 1) THEN 1 ELSE 0 END AS BIGINT) AS v {answers}"
        ),
        Metric::RiskHighShare => format!(
            "SELECT CAST(CASE WHEN m.risk_level = 'high' THEN 1 ELSE 0 END AS BIGINT) AS v \
             FROM predictions m WHERE m.created_at >= $1 AND m.created_at < $2{cond}"
        ),
        Metric::Rating => format!(
            "SELECT CAST(r.clinical_accuracy + r.tone AS BIGINT) AS v FROM reviews r \
             JOIN review_items i ON r.item_id = i.id WHERE i.conversation_id IN \
             (SELECT m.conversation_id {answers})"
        ),
    };
    (sql, binds)
}

/// A stored label override (see `prompts::canary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRow {
    pub prompt_id: String,
    pub candidate_version: i64,
    pub baseline_version: i64,
    /// `promoted` | `rolled_back`.
    pub outcome: String,
    pub decided_at: i64,
}

/// One recorded decision of the prompt canary gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    pub id: String,
    pub prompt_id: String,
    pub candidate_version: i64,
    pub baseline_version: i64,
    /// `promote` | `rollback` | `hold`.
    pub decision: String,
    pub reason: String,
    pub release: String,
    pub window_start: i64,
    pub window_end: i64,
    /// JSON: the numbers of every metric compared.
    pub report: String,
    pub created_at: i64,
}

impl DecisionRow {
    /// A decision with a fresh id.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        prompt_id: &str,
        candidate_version: u32,
        baseline_version: u32,
        decision: &str,
        reason: String,
        release: &str,
        window: (i64, i64),
        report: String,
        created_at: i64,
    ) -> DecisionRow {
        DecisionRow {
            id: new_id(),
            prompt_id: prompt_id.to_owned(),
            candidate_version: i64::from(candidate_version),
            baseline_version: i64::from(baseline_version),
            decision: decision.to_owned(),
            reason,
            release: release.to_owned(),
            window_start: window.0,
            window_end: window.1,
            report,
            created_at,
        }
    }
}

const DECISION_COLUMNS: &str = "id, prompt_id, candidate_version, baseline_version, decision, \
    reason, release, window_start, window_end, report, created_at";

impl Store {
    /// The values of `metric` for the answers matching `filter` logged in `[start, end)`. Costs
    /// are exact decimals read as text and returned as `f64` (a test statistic needs no more);
    /// a rating is the mean of the review's two 1–5 scores.
    pub async fn canary_samples(
        &self,
        metric: Metric,
        filter: &SampleFilter,
        start: i64,
        end: i64,
    ) -> Result<Vec<f64>, DbError> {
        let (sql, binds) = sample_sql(metric, filter, self.backend());
        let mut q = sqlx::query(&sql).bind(start).bind(end);
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| match metric {
                Metric::CostUsd => {
                    let text: String = row.try_get("v")?;
                    text.parse::<f64>()
                        .map_err(|e| DbError::Decode(Box::new(e)))
                }
                Metric::Rating => Ok(row.try_get::<i64, _>("v")? as f64 / 2.0),
                _ => Ok(row.try_get::<i64, _>("v")? as f64),
            })
            .collect()
    }

    /// Every prompt's label override.
    pub async fn canary_overrides(&self) -> Result<Vec<OverrideRow>, DbError> {
        let rows = sqlx::query(
            "SELECT prompt_id, candidate_version, baseline_version, outcome, decided_at \
             FROM prompt_canary_overrides ORDER BY prompt_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OverrideRow {
                    prompt_id: r.try_get("prompt_id")?,
                    candidate_version: r.try_get("candidate_version")?,
                    baseline_version: r.try_get("baseline_version")?,
                    outcome: r.try_get("outcome")?,
                    decided_at: r.try_get("decided_at")?,
                })
            })
            .collect()
    }

    /// Records a decision; with `outcome` (`promoted` | `rolled_back`) it also sets the prompt's
    /// override, in the same transaction. Returns `false`, recording nothing, when the override
    /// for this candidate is already set (another replica decided first).
    pub async fn record_canary_decision(
        &self,
        decision: &DecisionRow,
        outcome: Option<&str>,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool().begin().await?;
        if let Some(outcome) = outcome {
            let set = sqlx::query(
                "INSERT INTO prompt_canary_overrides \
                 (prompt_id, candidate_version, baseline_version, outcome, decided_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (prompt_id) DO UPDATE SET \
                 candidate_version = excluded.candidate_version, \
                 baseline_version = excluded.baseline_version, outcome = excluded.outcome, \
                 decided_at = excluded.decided_at \
                 WHERE prompt_canary_overrides.candidate_version <> excluded.candidate_version",
            )
            .bind(&decision.prompt_id)
            .bind(decision.candidate_version)
            .bind(decision.baseline_version)
            .bind(outcome)
            .bind(decision.created_at)
            .execute(&mut *tx)
            .await?;
            if set.rows_affected() == 0 {
                return Ok(false);
            }
        }
        sqlx::query(&format!(
            "INSERT INTO prompt_canary_decisions ({DECISION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&decision.id)
        .bind(&decision.prompt_id)
        .bind(decision.candidate_version)
        .bind(decision.baseline_version)
        .bind(&decision.decision)
        .bind(&decision.reason)
        .bind(&decision.release)
        .bind(decision.window_start)
        .bind(decision.window_end)
        .bind(&decision.report)
        .bind(decision.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The prompt's decisions, newest first, at most `limit`.
    pub async fn canary_decisions(
        &self,
        prompt_id: &str,
        limit: i64,
    ) -> Result<Vec<DecisionRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM prompt_canary_decisions WHERE prompt_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(prompt_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(decision_from_row).collect()
    }
}

fn decision_from_row(r: &sqlx::any::AnyRow) -> Result<DecisionRow, DbError> {
    Ok(DecisionRow {
        id: r.try_get("id")?,
        prompt_id: r.try_get("prompt_id")?,
        candidate_version: r.try_get("candidate_version")?,
        baseline_version: r.try_get("baseline_version")?,
        decision: r.try_get("decision")?,
        reason: r.try_get("reason")?,
        release: r.try_get("release")?,
        window_start: r.try_get("window_start")?,
        window_end: r.try_get("window_end")?,
        report: r.try_get("report")?,
        created_at: r.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_becomes_numbered_conditions_after_the_window() {
        let filter = SampleFilter {
            release: Some("2026.12.1".into()),
            prompt: Some("assistant-general@3".into()),
            model: Some("gpt-4o-mini".into()),
        };
        let (sql, binds) = conditions(&filter, 3, false);
        assert_eq!(
            sql,
            " AND m.release = $3 AND (m.prompt_ref = $4 OR m.prompt_ref LIKE $5) AND m.model = $6"
        );
        assert_eq!(
            binds,
            [
                "2026.12.1",
                "assistant-general@3",
                "assistant-general@3;%",
                "gpt-4o-mini"
            ]
        );
    }

    #[test]
    fn every_metric_has_its_name() {
        for m in Metric::ALL {
            assert_eq!(m.as_str().parse::<Metric>().unwrap(), m);
        }
        assert!("risk_low_share".parse::<Metric>().is_err());
    }
}
