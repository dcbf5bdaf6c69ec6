//! The risk endpoint's prediction log and the outcomes observed later: `predictions` is written
//! in batches by [`super::writer`] (through the same durable spool as the message log), and
//! `risk_outcomes` by `POST /v1/risk/outcomes`. The weekly quality job reads both back.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Backend, DbError, Store};

/// One logged prediction. Serialised as JSON in the spool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRecord {
    /// A UUID (text).
    pub id: String,
    /// Unix milliseconds, UTC.
    pub created_at: i64,
    /// The pseudonymous patient id the request named, if any.
    pub patient_id: Option<String>,
    /// The model's inputs (in the model's units) and the optional gestational week, as JSON.
    pub features: String,
    /// `{"low","mid","high"}` as JSON.
    pub probabilities: String,
    /// `low`, `mid` or `high`: what was answered (clinical overrides included).
    pub risk_level: String,
    pub escalate: bool,
    pub model_name: String,
    pub model_version: String,
    pub latency_ms: f64,
    /// The gateway's release, when it knows one.
    pub release: Option<String>,
}

/// A prediction with its observed outcome, for the quality job.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledPrediction {
    pub model_name: String,
    pub model_version: String,
    /// `{"low","mid","high"}` as JSON, as logged.
    pub probabilities: String,
    pub risk_level: String,
    /// `low`, `mid` or `high`.
    pub outcome: String,
}

const COLUMNS: [&str; 11] = [
    "id",
    "created_at",
    "patient_id",
    "features",
    "probabilities",
    "risk_level",
    "escalate",
    "model_name",
    "model_version",
    "latency_ms",
    "release",
];

/// Rows per INSERT: 11 columns × 500 rows stays far under SQLite's bound-variable limit.
const ROWS_PER_STATEMENT: usize = 500;

impl Store {
    /// Inserts a batch of predictions in one transaction (idempotent: a replayed spool may hold
    /// rows already stored).
    pub async fn write_predictions(&self, batch: &[PredictionRecord]) -> Result<(), DbError> {
        let mut tx = self.pool().begin().await?;
        for chunk in batch.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO predictions ({}) VALUES {} ON CONFLICT (id) DO NOTHING",
                COLUMNS.join(", "),
                placeholders(self.backend(), chunk.len(), COLUMNS.len())
            );
            let mut q = sqlx::query(&sql);
            for p in chunk {
                q = q
                    .bind(&p.id)
                    .bind(p.created_at)
                    .bind(&p.patient_id)
                    .bind(&p.features)
                    .bind(&p.probabilities)
                    .bind(&p.risk_level)
                    .bind(i64::from(p.escalate))
                    .bind(&p.model_name)
                    .bind(&p.model_version)
                    .bind(p.latency_ms)
                    .bind(&p.release);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// One stored prediction by id.
    pub async fn prediction(&self, id: &str) -> Result<Option<PredictionRecord>, DbError> {
        let sql = format!(
            "SELECT {} FROM predictions WHERE id = $1",
            COLUMNS.join(", ")
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(PredictionRecord {
                id: r.try_get("id")?,
                created_at: r.try_get("created_at")?,
                patient_id: r.try_get("patient_id")?,
                features: r.try_get("features")?,
                probabilities: r.try_get("probabilities")?,
                risk_level: r.try_get("risk_level")?,
                escalate: r.try_get::<i64, _>("escalate")? != 0,
                model_name: r.try_get("model_name")?,
                model_version: r.try_get("model_version")?,
                latency_ms: r.try_get("latency_ms")?,
                release: r.try_get("release")?,
            })
        })
        .transpose()
    }

    /// Records (or replaces) the observed outcome of prediction `id`. `false` when no such
    /// prediction is stored.
    pub async fn record_outcome(
        &self,
        id: &str,
        outcome: &str,
        recorded_at: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO risk_outcomes (prediction_id, outcome, recorded_at) \
             SELECT id, $2, $3 FROM predictions WHERE id = $1 \
             ON CONFLICT (prediction_id) DO UPDATE \
             SET outcome = excluded.outcome, recorded_at = excluded.recorded_at",
        )
        .bind(id)
        .bind(outcome)
        .bind(recorded_at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The outcome recorded for prediction `id`, if any.
    pub async fn outcome(&self, id: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT outcome FROM risk_outcomes WHERE prediction_id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get("outcome")).transpose()
    }

    /// Every prediction whose outcome was recorded at or after `since_ms`, oldest outcome first.
    pub async fn labelled_predictions(
        &self,
        since_ms: i64,
    ) -> Result<Vec<LabelledPrediction>, DbError> {
        let rows = sqlx::query(
            "SELECT p.model_name, p.model_version, p.probabilities, p.risk_level, o.outcome \
             FROM risk_outcomes o JOIN predictions p ON p.id = o.prediction_id \
             WHERE o.recorded_at >= $1 ORDER BY o.recorded_at, p.id",
        )
        .bind(since_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LabelledPrediction {
                    model_name: r.try_get("model_name")?,
                    model_version: r.try_get("model_version")?,
                    probabilities: r.try_get("probabilities")?,
                    risk_level: r.try_get("risk_level")?,
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// The logged features (JSON objects, as written) of model `model_name` version
    /// `model_version` predicted in `[start, end)` (epoch ms), oldest first: the drift job's
    /// current data. With more than `max_rows` of them, every k-th in time order
    /// (k = ⌈count / max_rows⌉), so a busy week is read evenly and in bounded memory. Returns
    /// the rows and how many the window holds.
    pub async fn prediction_features(
        &self,
        model_name: &str,
        model_version: &str,
        (start, end): (i64, i64),
        max_rows: usize,
    ) -> Result<(Vec<String>, usize), DbError> {
        const WINDOW: &str = "FROM predictions WHERE model_name = $1 AND model_version = $2 \
             AND created_at >= $3 AND created_at < $4";
        let count: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {WINDOW}"))
            .bind(model_name)
            .bind(model_version)
            .bind(start)
            .bind(end)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let count = usize::try_from(count).unwrap_or(0);
        let step = count.div_ceil(max_rows.max(1)).max(1) as i64;
        let rows = sqlx::query(&format!(
            "SELECT features FROM (SELECT features, created_at, id, \
             ROW_NUMBER() OVER (ORDER BY created_at, id) AS rn {WINDOW}) t \
             WHERE (rn - 1) % $5 = 0 ORDER BY created_at, id"
        ))
        .bind(model_name)
        .bind(model_version)
        .bind(start)
        .bind(end)
        .bind(step)
        .fetch_all(self.pool())
        .await?;
        let features = rows
            .iter()
            .map(|r| r.try_get("features"))
            .collect::<Result<_, _>>()?;
        Ok((features, count))
    }
}

/// `rows` tuples of `cols` placeholders: anonymous `?` on SQLite (sqlx looks numbered ones up by
/// name, O(n²) per statement, see `messages`), `$n` on PostgreSQL.
fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let cells: Vec<String> = (0..cols)
                .map(|c| match backend {
                    Backend::Sqlite => "?".to_string(),
                    Backend::Postgres => format!("${}", r * cols + c + 1),
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    tuples.join(", ")
}
