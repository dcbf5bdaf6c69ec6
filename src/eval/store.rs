//! Eval runs in the database: each run with its whole `metrics.json`, and one row per eval set
//! with its counts and per-metric means (and how many scores each mean is over, so means of
//! several sets of one prompt combine exactly). `eval publish` builds each prompt's trend from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::compare::{Comparison, PASS_RATE};
use super::report::metrics_json;
use super::results::{CaseStatus, RunResult, SetResult};
use crate::store::Store;

/// A mean and how many scores it is over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mean {
    pub mean: f64,
    pub n: u64,
}

/// One prompt's results in one run (all its sets in that run combined).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRun {
    pub run_id: String,
    pub created_at: i64,
    pub git_sha: Option<String>,
    pub model: String,
    /// The set files of this prompt the run included.
    pub sets: Vec<String>,
    pub cases: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    /// Per metric key (`pass_rate`, `chrf`, `judge:friendly_tone`, …).
    pub means: BTreeMap<String, Mean>,
}

/// A prompt's stored runs, newest first. `prompt` is `None` for raw chat sets.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptHistory {
    pub prompt: Option<String>,
    pub runs: Vec<PromptRun>,
}

/// Why a run could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum EvalStoreError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("eval run {run_id}: {source}")]
    Json {
        run_id: String,
        source: serde_json::Error,
    },
}

impl Store {
    /// Stores a run (and its comparison, when it had a baseline) in one transaction.
    pub async fn save_eval_run(
        &self,
        run: &RunResult,
        comparison: Option<&Comparison>,
    ) -> Result<(), EvalStoreError> {
        let json_error = |source| EvalStoreError::Json {
            run_id: run.run_id.clone(),
            source,
        };
        let result = metrics_json(run, comparison).map_err(json_error)?;
        let totals = run.sets.iter().map(counts).fold([0u64; 4], |a, b| {
            [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
        });

        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO eval_runs (id, created_at, git_sha, model, cases, passed, failed, errored, \
             baseline_id, regressions, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&run.run_id)
        .bind(run.started_at)
        .bind(run.git_sha.clone())
        .bind(&run.model)
        .bind(to_i64(totals[0]))
        .bind(to_i64(totals[1]))
        .bind(to_i64(totals[2]))
        .bind(to_i64(totals[3]))
        .bind(comparison.map(|c| c.baseline_run_id.clone()))
        .bind(comparison.map(|c| to_i64(c.regressions() as u64)))
        .bind(result)
        .execute(&mut *tx)
        .await?;
        for set in &run.sets {
            let [cases, passed, failed, errored] = counts(set);
            let aggregates = serde_json::to_string(&means(set)).map_err(json_error)?;
            sqlx::query(
                "INSERT INTO eval_set_results (run_id, file, prompt, cases, passed, failed, errored, \
                 aggregates) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&run.run_id)
            .bind(&set.file)
            .bind(set.prompt.clone())
            .bind(to_i64(cases))
            .bind(to_i64(passed))
            .bind(to_i64(failed))
            .bind(to_i64(errored))
            .bind(aggregates)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every prompt's stored runs, newest first, at most `runs_per_prompt` each; prompts sorted
    /// by id (raw chat sets last). Reads every set row: eval runs are few (one per merge or
    /// release), so this stays small.
    pub async fn eval_history(
        &self,
        runs_per_prompt: usize,
    ) -> Result<Vec<PromptHistory>, EvalStoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.created_at, r.git_sha, r.model, s.file, s.prompt, s.cases, s.passed, \
             s.failed, s.errored, s.aggregates \
             FROM eval_set_results s JOIN eval_runs r ON r.id = s.run_id \
             ORDER BY r.created_at DESC, r.id DESC, s.file",
        )
        .fetch_all(self.pool())
        .await?;

        // prompt → runs in newest-first order (rows arrive sorted).
        let mut by_prompt: BTreeMap<Option<String>, Vec<PromptRun>> = BTreeMap::new();
        for row in rows {
            let run_id: String = row.try_get("id")?;
            let prompt: Option<String> = row.try_get("prompt")?;
            let aggregates: String = row.try_get("aggregates")?;
            let set_means: BTreeMap<String, Mean> =
                serde_json::from_str(&aggregates).map_err(|source| EvalStoreError::Json {
                    run_id: run_id.clone(),
                    source,
                })?;
            let runs = by_prompt.entry(prompt).or_default();
            if runs.last().is_none_or(|r| r.run_id != run_id) {
                runs.push(PromptRun {
                    run_id: run_id.clone(),
                    created_at: row.try_get("created_at")?,
                    git_sha: row.try_get("git_sha")?,
                    model: row.try_get("model")?,
                    sets: Vec::new(),
                    cases: 0,
                    passed: 0,
                    failed: 0,
                    errored: 0,
                    means: BTreeMap::new(),
                });
            }
            let Some(run) = runs.last_mut() else {
                continue;
            };
            run.sets.push(row.try_get("file")?);
            run.cases += from_i64(row.try_get("cases")?);
            run.passed += from_i64(row.try_get("passed")?);
            run.failed += from_i64(row.try_get("failed")?);
            run.errored += from_i64(row.try_get("errored")?);
            for (metric, m) in set_means {
                let total = run.means.entry(metric).or_insert(Mean { mean: 0.0, n: 0 });
                let n = total.n + m.n;
                if n > 0 {
                    total.mean = (total.mean * total.n as f64 + m.mean * m.n as f64) / n as f64;
                }
                total.n = n;
            }
        }

        let mut history: Vec<PromptHistory> = by_prompt
            .into_iter()
            .map(|(prompt, mut runs)| {
                runs.truncate(runs_per_prompt);
                PromptHistory { prompt, runs }
            })
            .collect();
        // `None` sorts first in a BTreeMap; raw chat reads better last.
        history.sort_by_key(|h| (h.prompt.is_none(), h.prompt.clone()));
        Ok(history)
    }
}

/// [cases, passed, failed, errored] of a set.
fn counts(set: &SetResult) -> [u64; 4] {
    let mut n = [set.cases.len() as u64, 0, 0, 0];
    for c in &set.cases {
        match c.status {
            CaseStatus::Passed => n[1] += 1,
            CaseStatus::Failed => n[2] += 1,
            CaseStatus::Errored => n[3] += 1,
        }
    }
    n
}

/// The set's means with their counts, over exactly what [`SetResult::aggregate`] averages:
/// finite scores of assertions that did not error, in cases that did not error; `pass_rate` over
/// the cases that did not error.
fn means(set: &SetResult) -> BTreeMap<String, Mean> {
    let mut sums: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    let scored = set.cases.iter().filter(|c| c.status != CaseStatus::Errored);
    for case in scored.clone() {
        for a in case.assertions.iter().filter(|a| !a.errored) {
            if let Some(score) = a.score.filter(|s| s.is_finite()) {
                let e = sums.entry(a.metric_key()).or_default();
                e.0 += score;
                e.1 += 1;
            }
        }
    }
    let mut means: BTreeMap<String, Mean> = sums
        .into_iter()
        .map(|(k, (sum, n))| {
            (
                k,
                Mean {
                    mean: sum / n as f64,
                    n,
                },
            )
        })
        .collect();
    let n = scored.clone().count() as u64;
    if n > 0 {
        let passed = scored.filter(|c| c.status == CaseStatus::Passed).count();
        means.insert(
            PASS_RATE.to_string(),
            Mean {
                mean: passed as f64 / n as f64,
                n,
            },
        );
    }
    means
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_i64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
