//! The `eval_runs` and `eval_set_results` tables: one row per eval run (with its whole
//! `metrics.json`) and one per eval set of the run (counts and per-metric means as JSON).
//! `eval` builds the rows from its results and reads them back as each prompt's trend.

use sqlx::Row;

use super::{DbError, Store};

/// One eval run, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRunRow {
    pub id: String,
    pub created_at: i64,
    pub git_sha: Option<String>,
    pub model: String,
    pub cases: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    /// The run it was compared with, if any.
    pub baseline_id: Option<String>,
    /// Regressions found by that comparison.
    pub regressions: Option<u64>,
    /// The run's `metrics.json`.
    pub result: String,
}

/// One eval set of a run, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSetRow {
    pub file: String,
    /// `None` for raw chat sets.
    pub prompt: Option<String>,
    pub cases: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    /// Per-metric means with their counts, as JSON.
    pub aggregates: String,
}

/// A stored set with the run it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSet {
    pub run_id: String,
    pub created_at: i64,
    pub git_sha: Option<String>,
    pub model: String,
    pub set: EvalSetRow,
}

/// Stores a run and its sets in one transaction.
pub async fn insert(store: &Store, run: &EvalRunRow, sets: &[EvalSetRow]) -> Result<(), DbError> {
    let mut tx = store.pool().begin().await?;
    sqlx::query(
        "INSERT INTO eval_runs (id, created_at, git_sha, model, cases, passed, failed, errored, \
         baseline_id, regressions, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&run.id)
    .bind(run.created_at)
    .bind(run.git_sha.clone())
    .bind(&run.model)
    .bind(to_i64(run.cases))
    .bind(to_i64(run.passed))
    .bind(to_i64(run.failed))
    .bind(to_i64(run.errored))
    .bind(run.baseline_id.clone())
    .bind(run.regressions.map(to_i64))
    .bind(&run.result)
    .execute(&mut *tx)
    .await?;
    for set in sets {
        sqlx::query(
            "INSERT INTO eval_set_results (run_id, file, prompt, cases, passed, failed, errored, \
             aggregates) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&run.id)
        .bind(&set.file)
        .bind(set.prompt.clone())
        .bind(to_i64(set.cases))
        .bind(to_i64(set.passed))
        .bind(to_i64(set.failed))
        .bind(to_i64(set.errored))
        .bind(&set.aggregates)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Every stored set with its run, newest run first (then by id, then by file). Eval runs are few
/// (one per merge or release), so reading them all stays small.
pub async fn all_sets(store: &Store) -> Result<Vec<StoredSet>, DbError> {
    let rows = sqlx::query(
        "SELECT r.id, r.created_at, r.git_sha, r.model, s.file, s.prompt, s.cases, s.passed, \
         s.failed, s.errored, s.aggregates \
         FROM eval_set_results s JOIN eval_runs r ON r.id = s.run_id \
         ORDER BY r.created_at DESC, r.id DESC, s.file",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredSet {
                run_id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                git_sha: row.try_get("git_sha")?,
                model: row.try_get("model")?,
                set: EvalSetRow {
                    file: row.try_get("file")?,
                    prompt: row.try_get("prompt")?,
                    cases: from_i64(row.try_get("cases")?),
                    passed: from_i64(row.try_get("passed")?),
                    failed: from_i64(row.try_get("failed")?),
                    errored: from_i64(row.try_get("errored")?),
                    aggregates: row.try_get("aggregates")?,
                },
            })
        })
        .collect()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_i64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
