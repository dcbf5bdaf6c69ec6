//! Sampling's side of the review tables: the conversations a window offers, whether a period
//! has its batch, and storing a new batch with its items in one transaction.

use sqlx::Row;

use super::{DbError, Origin, Reviews};

/// A conversation that may be drawn into a batch, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateRow {
    pub conversation_id: String,
    /// Last activity, epoch ms.
    pub updated_at: i64,
    /// A message of it was flagged urgent by the guard.
    pub urgent: bool,
    /// The latest prompt reference of the conversation, as stored.
    pub prompt_ref: Option<String>,
}

/// A batch to store (its items go alongside).
#[derive(Debug, Clone, Copy)]
pub struct NewBatch<'a> {
    pub id: &'a str,
    pub created_at: i64,
    pub window_start: i64,
    pub window_end: i64,
    pub seed: u64,
    pub requested: i64,
    pub origin: Origin,
    pub period: Option<&'a str>,
}

/// One conversation of a new batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BatchItem {
    pub id: String,
    pub conversation_id: String,
    pub position: i64,
    pub urgent: bool,
    pub stratum: String,
    pub overlap: bool,
}

/// Why a batch was not stored; nothing of it was.
#[derive(Debug, thiserror::Error)]
pub enum BatchInsertError {
    /// The batch's period has a batch already (unique `review_batches.period`).
    #[error("the review batch for this period exists already")]
    PeriodTaken,
    /// One of its conversations went into another batch meanwhile (unique
    /// `review_items.conversation_id`).
    #[error("another batch took some of these conversations")]
    Raced,
    #[error(transparent)]
    Db(#[from] DbError),
}

fn is_unique_violation(e: &DbError) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Reviews {
    /// Conversations active in `[from, to)` that are in no batch and have an answer (an
    /// assistant message that is not an error), except those of key `excluded_key`.
    pub async fn candidates(
        &self,
        from: i64,
        to: i64,
        excluded_key: &str,
    ) -> Result<Vec<CandidateRow>, DbError> {
        let rows = sqlx::query(
            "SELECT c.id, c.updated_at, \
               (SELECT MAX(m.urgent) FROM messages m WHERE m.conversation_id = c.id) AS urgent, \
               (SELECT m.prompt_ref FROM messages m WHERE m.conversation_id = c.id \
                  AND m.prompt_ref IS NOT NULL ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS prompt_ref \
             FROM conversations c \
             WHERE c.updated_at >= $1 AND c.updated_at < $2 AND c.key_id <> $3 \
               AND EXISTS (SELECT 1 FROM messages a WHERE a.conversation_id = c.id \
                             AND a.role = 'assistant' AND a.status <> 'error') \
               AND NOT EXISTS (SELECT 1 FROM review_items i WHERE i.conversation_id = c.id) \
             ORDER BY c.id",
        )
        .bind(from)
        .bind(to)
        .bind(excluded_key)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CandidateRow {
                    conversation_id: r.try_get("id")?,
                    updated_at: r.try_get("updated_at")?,
                    urgent: r.try_get::<Option<i64>, _>("urgent")?.unwrap_or(0) != 0,
                    prompt_ref: r.try_get("prompt_ref")?,
                })
            })
            .collect()
    }

    /// Whether a batch covers `period` already.
    pub async fn period_has_batch(&self, period: &str) -> Result<bool, DbError> {
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM review_batches WHERE period = $1")
                .bind(period)
                .fetch_one(self.store.pool())
                .await?;
        Ok(exists > 0)
    }

    /// Stores a batch and its items in one transaction: all of it, or nothing.
    pub async fn insert_batch(
        &self,
        batch: &NewBatch<'_>,
        items: &[BatchItem],
    ) -> Result<(), BatchInsertError> {
        let mut tx = self.store.pool().begin().await?;
        sqlx::query(
            "INSERT INTO review_batches (id, created_at, window_start, window_end, seed, requested, origin, period) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(batch.id)
        .bind(batch.created_at)
        .bind(batch.window_start)
        .bind(batch.window_end)
        // BIGINT holds the seed's 64 bits, reinterpreted.
        .bind(batch.seed as i64)
        .bind(batch.requested)
        .bind(batch.origin.as_str())
        .bind(batch.period)
        .execute(&mut *tx)
        .await
        .map_err(|e| match batch.period {
            Some(_) if is_unique_violation(&e) => BatchInsertError::PeriodTaken,
            _ => e.into(),
        })?;
        for item in items {
            sqlx::query(
                "INSERT INTO review_items (id, batch_id, conversation_id, position, urgent, stratum, overlap) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&item.id)
            .bind(batch.id)
            .bind(&item.conversation_id)
            .bind(item.position)
            .bind(i64::from(item.urgent))
            .bind(&item.stratum)
            .bind(i64::from(item.overlap))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    BatchInsertError::Raced
                } else {
                    e.into()
                }
            })?;
        }
        tx.commit().await?;
        Ok(())
    }
}
