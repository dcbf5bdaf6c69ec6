//! The review queue's writes: locking an item for a nurse, picking her next one, and storing a
//! review (which releases the lock). Each is one conditional statement or one transaction, so
//! two nurses racing for the same item cannot both win.

use std::time::Duration;

use sqlx::Row;

use super::{DbError, Reviews};
use crate::core::{new_id, now_ms};

/// A review to store, validated by `review::items::RawReview::parse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewInput {
    pub clinical_accuracy: i64,
    pub tone: i64,
    pub safety_problem: &'static str,
    pub should_escalate: bool,
    pub comment: Option<String>,
    pub corrected_answer: Option<String>,
}

/// Why a nurse cannot have or submit an item.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("no such review item")]
    NotFound,
    #[error("another nurse is reviewing this item")]
    LockedByOther,
    #[error("you have already reviewed this item")]
    AlreadyReviewed,
    #[error("this item has all the reviews it needs")]
    Complete,
    #[error(transparent)]
    Db(#[from] DbError),
}

fn lock_ms(lock: Duration) -> i64 {
    i64::try_from(lock.as_millis()).unwrap_or(i64::MAX)
}

/// An item's review counts: all of them, this nurse's, and whether it takes two.
const COUNTS: &str = "SELECT i.overlap, \
       (SELECT COUNT(*) FROM reviews r WHERE r.item_id = i.id) AS reviews, \
       (SELECT COUNT(*) FROM reviews r WHERE r.item_id = i.id AND r.reviewer_id = $2) AS mine \
     FROM review_items i WHERE i.id = $1";

/// Refuses an item this nurse reviewed already, or one with all its reviews (one, or two for
/// an item marked for overlap).
fn check_counts(row: &sqlx::any::AnyRow) -> Result<(), TakeError> {
    if row.try_get::<i64, _>("mine")? > 0 {
        return Err(TakeError::AlreadyReviewed);
    }
    let needed = 1 + row.try_get::<i64, _>("overlap")?;
    if row.try_get::<i64, _>("reviews")? >= needed {
        return Err(TakeError::Complete);
    }
    Ok(())
}

impl Reviews {
    /// Takes the lock on `item_id` for `reviewer_id` when it is free, expired, or already
    /// theirs: one conditional UPDATE, so of two nurses racing for it exactly one sees a row
    /// affected (on SQLite writes are serialised; on PostgreSQL the second UPDATE waits for the
    /// first and re-checks the condition on the new row).
    pub async fn try_lock(
        &self,
        item_id: &str,
        reviewer_id: &str,
        lock: Duration,
    ) -> Result<bool, DbError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE review_items SET locked_by = $1, locked_until = $2 \
             WHERE id = $3 AND (locked_until IS NULL OR locked_until < $4 OR locked_by = $1)",
        )
        .bind(reviewer_id)
        .bind(now.saturating_add(lock_ms(lock)))
        .bind(item_id)
        .bind(now)
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The next item of `batch_id` this nurse should review, locked for them: the item they
    /// already hold first, then urgent ones, then by position; never one they reviewed, one
    /// with all its reviews (an overlap item takes a second nurse after the first), or one
    /// another nurse holds. `None` when nothing is left for them.
    pub async fn take_next(
        &self,
        batch_id: &str,
        reviewer_id: &str,
        lock: Duration,
    ) -> Result<Option<String>, DbError> {
        // A candidate can be taken by someone else between the SELECT and the UPDATE; then the
        // UPDATE affects no row and the next candidate is tried. Bounded, in case of a stampede.
        for _ in 0..20 {
            let Some(id) = self.next_candidate(batch_id, reviewer_id).await? else {
                return Ok(None);
            };
            if self.try_lock(&id, reviewer_id, lock).await? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The item [`Reviews::take_next`] would lock now, without locking it.
    async fn next_candidate(
        &self,
        batch_id: &str,
        reviewer_id: &str,
    ) -> Result<Option<String>, DbError> {
        let now = now_ms();
        sqlx::query(
            "SELECT i.id FROM review_items i \
             WHERE i.batch_id = $1 \
               AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_id = i.id AND r.reviewer_id = $2) \
               AND (SELECT COUNT(*) FROM reviews r WHERE r.item_id = i.id) < 1 + i.overlap \
               AND (i.locked_until IS NULL OR i.locked_until < $3 OR i.locked_by = $2) \
             ORDER BY CASE WHEN i.locked_by = $2 AND i.locked_until >= $3 THEN 0 ELSE 1 END, \
                      i.urgent DESC, i.position, i.id \
             LIMIT 1",
        )
        .bind(batch_id)
        .bind(reviewer_id)
        .bind(now)
        .fetch_optional(self.store.pool())
        .await?
        .map(|row| row.try_get("id"))
        .transpose()
    }

    /// Whether this nurse can review `item_id` now, and if so locks it for them (opening an
    /// item's page directly holds it as `/review/next` does).
    pub async fn take(
        &self,
        item_id: &str,
        reviewer_id: &str,
        lock: Duration,
    ) -> Result<(), TakeError> {
        let row = sqlx::query(COUNTS)
            .bind(item_id)
            .bind(reviewer_id)
            .fetch_optional(self.store.pool())
            .await?
            .ok_or(TakeError::NotFound)?;
        check_counts(&row)?;
        if self.try_lock(item_id, reviewer_id, lock).await? {
            Ok(())
        } else {
            Err(TakeError::LockedByOther)
        }
    }

    /// Stores a review and releases the lock, in one transaction. Refused when another nurse
    /// holds the item (an expired lock, or none, is fine: nobody else is looking at it), when
    /// this nurse already reviewed it, or when it has all its reviews.
    pub async fn submit(
        &self,
        item_id: &str,
        reviewer_id: &str,
        review: &ReviewInput,
    ) -> Result<String, TakeError> {
        let now = now_ms();
        let mut tx = self.store.pool().begin().await?;
        // Releasing first takes the row's write lock (PostgreSQL) or the database's (SQLite),
        // so the checks below cannot race with another nurse's submit or lock of the same item.
        let released = sqlx::query(
            "UPDATE review_items SET locked_by = NULL, locked_until = NULL \
             WHERE id = $1 AND (locked_by IS NULL OR locked_by = $2 OR locked_until < $3)",
        )
        .bind(item_id)
        .bind(reviewer_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if released.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 AS one FROM review_items WHERE id = $1")
                .bind(item_id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            return Err(if exists {
                TakeError::LockedByOther
            } else {
                TakeError::NotFound
            });
        }
        let row = sqlx::query(COUNTS)
            .bind(item_id)
            .bind(reviewer_id)
            .fetch_one(&mut *tx)
            .await?;
        check_counts(&row)?;
        let id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO reviews (id, item_id, reviewer_id, clinical_accuracy, tone, safety_problem, \
               should_escalate, comment, corrected_answer, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(item_id)
        .bind(reviewer_id)
        .bind(review.clinical_accuracy)
        .bind(review.tone)
        .bind(review.safety_problem)
        .bind(i64::from(review.should_escalate))
        .bind(review.comment.as_deref())
        .bind(review.corrected_answer.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(TakeError::AlreadyReviewed);
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(id)
    }
}
