//! Eval runs in the database, the domain side: each run with its whole `metrics.json`, and one
//! row per eval set with its counts and per-metric means (and how many scores each mean is over,
//! so means of several sets of one prompt combine exactly). `eval publish` builds each prompt's
//! trend from it. The SQL is in [`crate::store::eval_runs`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::compare::{Comparison, PASS_RATE};
use super::report::metrics_json;
use super::results::{CaseStatus, RunResult, SetResult};
use crate::store::eval_runs::{self, EvalRunRow, EvalSetRow};
use crate::store::{DbError, Store};

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
    Db(#[from] DbError),
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
        let row = EvalRunRow {
            id: run.run_id.clone(),
            created_at: run.started_at,
            git_sha: run.git_sha.clone(),
            model: run.model.clone(),
            cases: totals[0],
            passed: totals[1],
            failed: totals[2],
            errored: totals[3],
            baseline_id: comparison.map(|c| c.baseline_run_id.clone()),
            regressions: comparison.map(|c| c.regressions() as u64),
            result,
        };
        let sets = run
            .sets
            .iter()
            .map(|set| {
                let [cases, passed, failed, errored] = counts(set);
                Ok(EvalSetRow {
                    file: set.file.clone(),
                    prompt: set.prompt.clone(),
                    cases,
                    passed,
                    failed,
                    errored,
                    aggregates: serde_json::to_string(&means(set)).map_err(json_error)?,
                })
            })
            .collect::<Result<Vec<_>, EvalStoreError>>()?;
        eval_runs::insert(self, &row, &sets).await?;
        Ok(())
    }

    /// Every prompt's stored runs, newest first, at most `runs_per_prompt` each; prompts sorted
    /// by id (raw chat sets last).
    pub async fn eval_history(
        &self,
        runs_per_prompt: usize,
    ) -> Result<Vec<PromptHistory>, EvalStoreError> {
        // prompt → runs in newest-first order (rows arrive sorted).
        let mut by_prompt: BTreeMap<Option<String>, Vec<PromptRun>> = BTreeMap::new();
        for stored in eval_runs::all_sets(self).await? {
            let set = stored.set;
            let set_means: BTreeMap<String, Mean> =
                serde_json::from_str(&set.aggregates).map_err(|source| EvalStoreError::Json {
                    run_id: stored.run_id.clone(),
                    source,
                })?;
            let runs = by_prompt.entry(set.prompt).or_default();
            if runs.last().is_none_or(|r| r.run_id != stored.run_id) {
                runs.push(PromptRun {
                    run_id: stored.run_id,
                    created_at: stored.created_at,
                    git_sha: stored.git_sha,
                    model: stored.model,
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
            run.sets.push(set.file);
            run.cases += set.cases;
            run.passed += set.passed;
            run.failed += set.failed;
            run.errored += set.errored;
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
