//! The `recommendations` table: one row per answer of `GET /v1/recommendations` (the patient's
//! pseudonym, the recommended ids, what she had read then, the model version), written in
//! batches by the recommender's log task and read back by the daily recall@5 job.

use sqlx::Row;

use super::{DbError, Store};

/// One logged recommendation.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendationRow {
    pub id: String,
    pub created_at: i64,
    pub patient_pseudonym: String,
    /// Content ids, best first.
    pub item_ids: Vec<String>,
    /// Content ids she had read when it was made.
    pub read_before: Vec<String>,
    pub model_version: String,
}

/// Stores a batch in one transaction (`ON CONFLICT DO NOTHING`: a retried batch is harmless).
pub async fn insert_batch(store: &Store, rows: &[RecommendationRow]) -> Result<(), DbError> {
    let mut tx = store.pool().begin().await?;
    for r in rows {
        sqlx::query(
            "INSERT INTO recommendations (id, created_at, patient_pseudonym, item_ids, \
             read_before, model_version) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(r.created_at)
        .bind(&r.patient_pseudonym)
        .bind(serde_json::to_string(&r.item_ids).unwrap_or_default())
        .bind(serde_json::to_string(&r.read_before).unwrap_or_default())
        .bind(&r.model_version)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// The recommendations made in `[from_ms, to_ms)`, oldest first.
pub async fn between(
    store: &Store,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<RecommendationRow>, DbError> {
    let rows = sqlx::query(
        "SELECT id, created_at, patient_pseudonym, item_ids, read_before, model_version \
         FROM recommendations WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(store.pool())
    .await?;
    let ids = |text: String| serde_json::from_str::<Vec<String>>(&text).unwrap_or_default();
    rows.into_iter()
        .map(|row| {
            Ok(RecommendationRow {
                id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                patient_pseudonym: row.try_get("patient_pseudonym")?,
                item_ids: ids(row.try_get("item_ids")?),
                read_before: ids(row.try_get("read_before")?),
                model_version: row.try_get("model_version")?,
            })
        })
        .collect()
}
