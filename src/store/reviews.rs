//! The review repository: review batches and their items, item locks, nurses' reviews, and the
//! reads that statistics and the export need (`review_batches`, `review_items`, `reviews`).
//! Sampling's reads and writes are `reviews::sampling`, the lock-and-submit queue
//! `reviews::queue`. The rules (who may take what, what is sampled) live in `crate::review`;
//! this module only runs the queries, written once for SQLite and PostgreSQL.

mod queue;
mod sampling;

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

pub use queue::{ReviewInput, TakeError};
pub use sampling::{BatchInsertError, BatchItem, CandidateRow, NewBatch};

use super::Store;

/// A database failure, as the review and user repositories report it.
pub type DbError = sqlx::Error;

/// The review tables, reached through [`Store::reviews`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Reviews {
    store: Store,
}

impl Store {
    /// The review batches, items and reviews.
    pub fn reviews(&self) -> Reviews {
        Reviews {
            store: self.clone(),
        }
    }
}

/// Where a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `powerbirth review sample`.
    Cli,
    /// The server's own `[review] schedule`.
    Schedule,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Schedule => "schedule",
        }
    }
}

impl FromStr for Origin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cli" => Ok(Origin::Cli),
            "schedule" => Ok(Origin::Schedule),
            other => Err(format!("unknown batch origin {other:?}")),
        }
    }
}

/// A batch and how far its review has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    pub id: String,
    pub created_at: i64,
    pub window_start: i64,
    pub window_end: i64,
    pub seed: u64,
    /// The sample size asked for (urgent conversations may make the batch larger).
    pub requested: i64,
    pub origin: Origin,
    /// `2026-W48` or `2026-11-27` for scheduled batches: the period the batch covers.
    pub period: Option<String>,
    pub items: i64,
    pub urgent_items: i64,
    /// Items that have every review they need (one, or two when marked for overlap).
    pub done_items: i64,
    pub reviews: i64,
}

impl BatchSummary {
    /// A batch stays open until every item has all its reviews.
    pub fn is_open(&self) -> bool {
        self.done_items < self.items
    }
}

/// One conversation queued in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewItem {
    pub id: String,
    pub batch_id: String,
    pub conversation_id: String,
    /// 0-based; urgent conversations come first.
    pub position: i64,
    pub urgent: bool,
    /// `lang|persona|prompt@version`, or `no-prompt`: the stratum it was drawn from.
    pub stratum: String,
    /// A second nurse reviews it too, so agreement can be measured.
    pub overlap: bool,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
}

impl ReviewItem {
    /// Reviews it needs before it counts as done.
    pub fn reviews_needed(&self) -> i64 {
        if self.overlap { 2 } else { 1 }
    }
}

/// A nurse's judgement of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    pub id: String,
    pub item_id: String,
    pub reviewer_id: String,
    /// 1–5.
    pub clinical_accuracy: i64,
    /// Tone and empathy, 1–5.
    pub tone: i64,
    /// `none` or a category (`missed_red_flag`, `dosing`, `self_harm`, `misinformation`,
    /// `privacy`, `other`).
    pub safety_problem: String,
    pub should_escalate: bool,
    pub comment: Option<String>,
    pub corrected_answer: Option<String>,
    pub created_at: i64,
}

/// The ratings of one review, as the statistics read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingRow {
    pub item_id: String,
    pub clinical_accuracy: i64,
    pub tone: i64,
    pub safety_problem: String,
    pub should_escalate: bool,
    pub created_at: i64,
}

/// One exported review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    pub review_id: String,
    pub item_id: String,
    pub batch_id: String,
    pub conversation_id: String,
    /// `id@version;lang=…;persona=…` of the conversation's latest prompt; empty for raw chat.
    pub prompt_ref: Option<String>,
    /// The model of the conversation's latest answer.
    pub model: Option<String>,
    /// The guard flagged the conversation urgent.
    pub urgent: bool,
    pub clinical_accuracy: i64,
    pub tone: i64,
    pub safety_problem: String,
    pub should_escalate: bool,
    pub comment: Option<String>,
    pub corrected_answer: Option<String>,
    pub reviewer_id: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// Columns of a batch summary; `b` is `review_batches`.
const BATCH_SUMMARY: &str = "SELECT b.id, b.created_at, b.window_start, b.window_end, b.seed, \
     b.requested, b.origin, b.period, \
     (SELECT COUNT(*) FROM review_items i WHERE i.batch_id = b.id) AS items, \
     (SELECT COUNT(*) FROM review_items i WHERE i.batch_id = b.id AND i.urgent = 1) AS urgent_items, \
     (SELECT COUNT(*) FROM review_items i WHERE i.batch_id = b.id AND \
        (SELECT COUNT(*) FROM reviews r WHERE r.item_id = i.id) >= 1 + i.overlap) AS done_items, \
     (SELECT COUNT(*) FROM reviews r JOIN review_items i ON i.id = r.item_id \
        WHERE i.batch_id = b.id) AS reviews \
     FROM review_batches b";

const ITEM_COLUMNS: &str = "id, batch_id, conversation_id, position, urgent, stratum, overlap, \
     locked_by, locked_until";

impl Reviews {
    /// Every batch, newest first.
    pub async fn list_batches(&self) -> Result<Vec<BatchSummary>, DbError> {
        let rows = sqlx::query(&format!(
            "{BATCH_SUMMARY} ORDER BY b.created_at DESC, b.id DESC"
        ))
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(batch_from_row).collect()
    }

    /// One batch.
    pub async fn batch(&self, id: &str) -> Result<Option<BatchSummary>, DbError> {
        let row = sqlx::query(&format!("{BATCH_SUMMARY} WHERE b.id = $1"))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    /// The items of a batch in review order.
    pub async fn batch_items(&self, batch_id: &str) -> Result<Vec<ReviewItem>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {ITEM_COLUMNS} FROM review_items WHERE batch_id = $1 ORDER BY position"
        ))
        .bind(batch_id)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(item_from_row).collect()
    }

    /// One item.
    pub async fn item(&self, id: &str) -> Result<Option<ReviewItem>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {ITEM_COLUMNS} FROM review_items WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        row.as_ref().map(item_from_row).transpose()
    }

    /// The reviews of an item, oldest first, each with its reviewer's e-mail (`None` when the
    /// account is gone): one query, joined, for the item page.
    pub async fn item_reviews_with_emails(
        &self,
        item_id: &str,
    ) -> Result<Vec<(Review, Option<String>)>, DbError> {
        let rows = sqlx::query(
            "SELECT r.id, r.item_id, r.reviewer_id, r.clinical_accuracy, r.tone, \
               r.safety_problem, r.should_escalate, r.comment, r.corrected_answer, r.created_at, \
               u.email \
             FROM reviews r LEFT JOIN users u ON u.id = r.reviewer_id \
             WHERE r.item_id = $1 ORDER BY r.created_at, r.id",
        )
        .bind(item_id)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((review_from_row(r)?, r.try_get("email")?)))
            .collect()
    }

    /// The reviews of an item, oldest first.
    pub async fn item_reviews(&self, item_id: &str) -> Result<Vec<Review>, DbError> {
        Ok(self
            .item_reviews_with_emails(item_id)
            .await?
            .into_iter()
            .map(|(review, _)| review)
            .collect())
    }

    /// Reviews given in each batch, by reviewer e-mail: batch id → `(e-mail, reviews)`.
    pub async fn progress(&self) -> Result<BTreeMap<String, Vec<(String, i64)>>, DbError> {
        let rows = sqlx::query(
            "SELECT i.batch_id, u.email, COUNT(*) AS n FROM reviews r \
             JOIN review_items i ON i.id = r.item_id JOIN users u ON u.id = r.reviewer_id \
             GROUP BY i.batch_id, u.email ORDER BY i.batch_id, u.email",
        )
        .fetch_all(self.store.pool())
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

    /// The ratings of every review, by item then oldest first (so the first two of an item
    /// are its overlap pair).
    pub async fn ratings(&self) -> Result<Vec<RatingRow>, DbError> {
        let rows = sqlx::query(
            "SELECT item_id, clinical_accuracy, tone, safety_problem, should_escalate, created_at \
             FROM reviews ORDER BY item_id, created_at, id",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RatingRow {
                    item_id: r.try_get("item_id")?,
                    clinical_accuracy: r.try_get("clinical_accuracy")?,
                    tone: r.try_get("tone")?,
                    safety_problem: r.try_get("safety_problem")?,
                    should_escalate: r.try_get::<i64, _>("should_escalate")? != 0,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Up to `limit` reviews after `after` (`created_at`, `id`), oldest first: a keyset page of
    /// the export.
    pub async fn export_page(
        &self,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<ExportRow>, DbError> {
        let (after_at, after_id) = after.unwrap_or((i64::MIN, ""));
        let rows = sqlx::query(
            "SELECT r.id, r.item_id, i.batch_id, i.conversation_id, i.urgent, \
               (SELECT m.prompt_ref FROM messages m WHERE m.conversation_id = i.conversation_id \
                  AND m.prompt_ref IS NOT NULL ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS prompt_ref, \
               (SELECT m.model FROM messages m WHERE m.conversation_id = i.conversation_id \
                  AND m.role = 'assistant' AND m.model IS NOT NULL \
                  ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS model, \
               r.clinical_accuracy, r.tone, r.safety_problem, r.should_escalate, r.comment, \
               r.corrected_answer, r.reviewer_id, r.created_at \
             FROM reviews r JOIN review_items i ON i.id = r.item_id \
             WHERE r.created_at > $1 OR (r.created_at = $1 AND r.id > $2) \
             ORDER BY r.created_at, r.id LIMIT $3",
        )
        .bind(after_at)
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(export_from_row).collect()
    }
}

fn batch_from_row(row: &AnyRow) -> Result<BatchSummary, DbError> {
    let origin: String = row.try_get("origin")?;
    Ok(BatchSummary {
        id: row.try_get("id")?,
        created_at: row.try_get("created_at")?,
        window_start: row.try_get("window_start")?,
        window_end: row.try_get("window_end")?,
        // Stored as BIGINT: the seed's 64 bits, reinterpreted.
        seed: row.try_get::<i64, _>("seed")? as u64,
        requested: row.try_get("requested")?,
        origin: origin
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        period: row.try_get("period")?,
        items: row.try_get("items")?,
        urgent_items: row.try_get("urgent_items")?,
        done_items: row.try_get("done_items")?,
        reviews: row.try_get("reviews")?,
    })
}

fn item_from_row(row: &AnyRow) -> Result<ReviewItem, DbError> {
    Ok(ReviewItem {
        id: row.try_get("id")?,
        batch_id: row.try_get("batch_id")?,
        conversation_id: row.try_get("conversation_id")?,
        position: row.try_get("position")?,
        urgent: row.try_get::<i64, _>("urgent")? != 0,
        stratum: row.try_get("stratum")?,
        overlap: row.try_get::<i64, _>("overlap")? != 0,
        locked_by: row.try_get("locked_by")?,
        locked_until: row.try_get("locked_until")?,
    })
}

fn review_from_row(row: &AnyRow) -> Result<Review, DbError> {
    Ok(Review {
        id: row.try_get("id")?,
        item_id: row.try_get("item_id")?,
        reviewer_id: row.try_get("reviewer_id")?,
        clinical_accuracy: row.try_get("clinical_accuracy")?,
        tone: row.try_get("tone")?,
        safety_problem: row.try_get("safety_problem")?,
        should_escalate: row.try_get::<i64, _>("should_escalate")? != 0,
        comment: row.try_get("comment")?,
        corrected_answer: row.try_get("corrected_answer")?,
        created_at: row.try_get("created_at")?,
    })
}

fn export_from_row(r: &AnyRow) -> Result<ExportRow, DbError> {
    Ok(ExportRow {
        review_id: r.try_get("id")?,
        item_id: r.try_get("item_id")?,
        batch_id: r.try_get("batch_id")?,
        conversation_id: r.try_get("conversation_id")?,
        prompt_ref: r.try_get("prompt_ref")?,
        model: r.try_get("model")?,
        urgent: r.try_get::<i64, _>("urgent")? != 0,
        clinical_accuracy: r.try_get("clinical_accuracy")?,
        tone: r.try_get("tone")?,
        safety_problem: r.try_get("safety_problem")?,
        should_escalate: r.try_get::<i64, _>("should_escalate")? != 0,
        comment: r.try_get("comment")?,
        corrected_answer: r.try_get("corrected_answer")?,
        reviewer_id: r.try_get("reviewer_id")?,
        created_at: r.try_get("created_at")?,
    })
}
