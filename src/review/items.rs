//! The nurse's side of a batch: taking the next item under a lock, submitting a review (which
//! releases it) and each nurse's progress. The statistics are `super::stats`.
//!
//! Reading batches and items is `super::batches` (the data side); this module only adds what
//! the pages do to them.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::Row;

use crate::store::{Store, new_id, now_ms};

/// The ISO week of an instant lives with the statistics; re-exported for the scheduler, which
/// names weekly batches by it.
pub use super::stats::iso_week;

/// Safety problems a nurse can name, in the order the form lists them.
pub const SAFETY_PROBLEMS: [&str; 7] = [
    "none",
    "missed_red_flag",
    "dosing",
    "self_harm",
    "misinformation",
    "privacy",
    "other",
];

/// Longest comment and corrected answer accepted (characters).
pub const MAX_COMMENT_CHARS: usize = 4_000;
pub const MAX_ANSWER_CHARS: usize = 8_000;

/// A review as submitted, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewInput {
    pub clinical_accuracy: i64,
    pub tone: i64,
    pub safety_problem: &'static str,
    pub should_escalate: bool,
    pub comment: Option<String>,
    pub corrected_answer: Option<String>,
}

/// A problem with one field of the review form: the field and what is wrong, as a key of the
/// pages' string table (so the page says it in the nurse's language).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: &'static str,
}

/// The review form exactly as posted (every field a string, possibly missing).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RawReview {
    pub clinical_accuracy: String,
    pub tone: String,
    pub safety_problem: String,
    pub should_escalate: String,
    pub comment: String,
    pub corrected_answer: String,
}

impl RawReview {
    /// Validates every field at once, so the page can show all problems together.
    pub fn parse(&self) -> Result<ReviewInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let score = |field: &'static str, raw: &str, errors: &mut Vec<FieldError>| match raw
            .trim()
            .parse::<i64>(
        ) {
            Ok(n) if (1..=5).contains(&n) => n,
            _ => {
                errors.push(FieldError {
                    field,
                    problem: "err_score",
                });
                0
            }
        };
        let clinical_accuracy = score("clinical_accuracy", &self.clinical_accuracy, &mut errors);
        let tone = score("tone", &self.tone, &mut errors);
        let safety_problem = SAFETY_PROBLEMS
            .iter()
            .find(|p| **p == self.safety_problem.trim())
            .copied()
            .unwrap_or_else(|| {
                errors.push(FieldError {
                    field: "safety_problem",
                    problem: "err_safety",
                });
                "none"
            });
        let should_escalate = match self.should_escalate.trim() {
            "yes" => true,
            "no" => false,
            _ => {
                errors.push(FieldError {
                    field: "should_escalate",
                    problem: "err_escalate",
                });
                false
            }
        };
        let text = |field: &'static str, raw: &str, max: usize, errors: &mut Vec<FieldError>| {
            let t = raw.trim();
            if t.chars().count() > max {
                errors.push(FieldError {
                    field,
                    problem: "err_too_long",
                });
            }
            (!t.is_empty()).then(|| t.replace('\0', ""))
        };
        let comment = text("comment", &self.comment, MAX_COMMENT_CHARS, &mut errors);
        let corrected_answer = text(
            "corrected_answer",
            &self.corrected_answer,
            MAX_ANSWER_CHARS,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(ReviewInput {
                clinical_accuracy,
                tone,
                safety_problem,
                should_escalate,
                comment,
                corrected_answer,
            })
        } else {
            Err(errors)
        }
    }
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
    Db(#[from] sqlx::Error),
}

fn lock_ms(lock: Duration) -> i64 {
    i64::try_from(lock.as_millis()).unwrap_or(i64::MAX)
}

/// Takes the lock on `item_id` for `reviewer_id` when it is free, expired, or already theirs:
/// one conditional UPDATE, so of two nurses racing for it exactly one sees a row affected (on
/// SQLite writes are serialised; on PostgreSQL the second UPDATE waits for the first and
/// re-checks the condition on the new row).
async fn try_lock(
    store: &Store,
    item_id: &str,
    reviewer_id: &str,
    lock: Duration,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE review_items SET locked_by = $1, locked_until = $2 \
         WHERE id = $3 AND (locked_until IS NULL OR locked_until < $4 OR locked_by = $1)",
    )
    .bind(reviewer_id)
    .bind(now.saturating_add(lock_ms(lock)))
    .bind(item_id)
    .bind(now)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The next item of `batch_id` this nurse should review, locked for them: the item they already
/// hold first, then urgent ones, then by position; never one they reviewed, one with all its
/// reviews (an overlap item takes a second nurse after the first), or one another nurse holds.
/// `None` when nothing is left for them.
pub async fn take_next(
    store: &Store,
    batch_id: &str,
    reviewer_id: &str,
    lock: Duration,
) -> Result<Option<String>, sqlx::Error> {
    // A candidate can be taken by someone else between the SELECT and the UPDATE; then the
    // UPDATE affects no row and the next candidate is tried. Bounded, in case of a stampede.
    for _ in 0..20 {
        let now = now_ms();
        let candidate: Option<String> = sqlx::query(
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
        .fetch_optional(store.pool())
        .await?
        .map(|row| row.try_get("id"))
        .transpose()?;
        let Some(id) = candidate else {
            return Ok(None);
        };
        if try_lock(store, &id, reviewer_id, lock).await? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Whether this nurse can review `item_id` now, and if so locks it for them (opening an item's
/// page directly holds it as `/review/next` does).
pub async fn take(
    store: &Store,
    item_id: &str,
    reviewer_id: &str,
    lock: Duration,
) -> Result<(), TakeError> {
    let row = sqlx::query(
        "SELECT i.overlap, \
           (SELECT COUNT(*) FROM reviews r WHERE r.item_id = i.id) AS reviews, \
           (SELECT COUNT(*) FROM reviews r WHERE r.item_id = i.id AND r.reviewer_id = $2) AS mine \
         FROM review_items i WHERE i.id = $1",
    )
    .bind(item_id)
    .bind(reviewer_id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(TakeError::NotFound)?;
    let overlap: i64 = row.try_get("overlap")?;
    let reviews: i64 = row.try_get("reviews")?;
    let mine: i64 = row.try_get("mine")?;
    if mine > 0 {
        return Err(TakeError::AlreadyReviewed);
    }
    // One review, or two for an item marked for overlap.
    let needed = 1 + overlap;
    if reviews >= needed {
        return Err(TakeError::Complete);
    }
    if try_lock(store, item_id, reviewer_id, lock).await? {
        Ok(())
    } else {
        Err(TakeError::LockedByOther)
    }
}

/// Stores a review and releases the lock, in one transaction. Refused when another nurse holds
/// the item (an expired lock, or none, is fine: nobody else is looking at it), when this nurse
/// already reviewed it, or when it has all its reviews.
pub async fn submit(
    store: &Store,
    item_id: &str,
    reviewer_id: &str,
    review: &ReviewInput,
) -> Result<String, TakeError> {
    let now = now_ms();
    let mut tx = store.pool().begin().await?;
    // Releasing first takes the row's write lock (PostgreSQL) or the database's (SQLite), so
    // the checks below cannot race with another nurse's submit or lock of the same item.
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
    let row = sqlx::query(
        "SELECT i.overlap, \
           (SELECT COUNT(*) FROM reviews r WHERE r.item_id = i.id) AS reviews, \
           (SELECT COUNT(*) FROM reviews r WHERE r.item_id = i.id AND r.reviewer_id = $2) AS mine \
         FROM review_items i WHERE i.id = $1",
    )
    .bind(item_id)
    .bind(reviewer_id)
    .fetch_one(&mut *tx)
    .await?;
    if row.try_get::<i64, _>("mine")? > 0 {
        return Err(TakeError::AlreadyReviewed);
    }
    let needed = 1 + row.try_get::<i64, _>("overlap")?;
    if row.try_get::<i64, _>("reviews")? >= needed {
        return Err(TakeError::Complete);
    }
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

/// Reviews given in a batch, by reviewer e-mail.
pub async fn progress(store: &Store) -> Result<BTreeMap<String, Vec<(String, i64)>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT i.batch_id, u.email, COUNT(*) AS n FROM reviews r \
         JOIN review_items i ON i.id = r.item_id JOIN users u ON u.id = r.reviewer_id \
         GROUP BY i.batch_id, u.email ORDER BY i.batch_id, u.email",
    )
    .fetch_all(store.pool())
    .await?;
    let mut by_batch: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for row in rows {
        by_batch
            .entry(row.try_get("batch_id")?)
            .or_default()
            .push((row.try_get("email")?, row.try_get("n")?));
    }
    Ok(by_batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(clinical: &str, tone: &str, safety: &str, escalate: &str) -> RawReview {
        RawReview {
            clinical_accuracy: clinical.into(),
            tone: tone.into(),
            safety_problem: safety.into(),
            should_escalate: escalate.into(),
            comment: "  ".into(),
            corrected_answer: " Vá à maternidade hoje. ".into(),
        }
    }

    #[test]
    fn a_complete_form_parses_with_blank_text_as_none() {
        let r = raw("4", "5", "dosing", "yes").parse().unwrap();
        assert_eq!(r.clinical_accuracy, 4);
        assert_eq!(r.safety_problem, "dosing");
        assert!(r.should_escalate);
        assert_eq!(r.comment, None);
        assert_eq!(
            r.corrected_answer.as_deref(),
            Some("Vá à maternidade hoje.")
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = raw("0", "six", "rude", "").parse().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "clinical_accuracy",
                "tone",
                "safety_problem",
                "should_escalate"
            ]
        );
    }
}
