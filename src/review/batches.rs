//! Reading review batches: the batches with their progress, one item with the conversation as
//! the user saw it (redacted as stored), and the reviews an item received. Shared by the pages
//! (owned by the web side: locking, next item, submitting and statistics live there), the CLI,
//! the export and promotion.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::metering::UsdCost;
use crate::prompts::{Language, PromptRef};
use crate::store::Store;
use crate::store::messages::MessageRecord;

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

/// The prompt a conversation ran under, as stored in `messages.prompt_ref`
/// (`id@version;lang=…;persona=…`, the `x-prompt-ref` header).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromptUse {
    pub prompt: PromptRef,
    pub language: Language,
    pub persona: String,
}

impl FromStr for PromptUse {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(';');
        let prompt: PromptRef = parts.next().unwrap_or_default().trim().parse()?;
        let (mut language, mut persona) = (None, None);
        for part in parts {
            match part.trim().split_once('=') {
                Some(("lang", v)) => language = Some(Language::parse(v.trim())?),
                Some(("persona", v)) if !v.trim().is_empty() => persona = Some(v.trim().into()),
                _ => return Err(format!("{s:?}: unexpected part {part:?}")),
            }
        }
        match (language, persona) {
            (Some(language), Some(persona)) => Ok(PromptUse {
                prompt,
                language,
                persona,
            }),
            _ => Err(format!("{s:?} lacks lang=… or persona=…")),
        }
    }
}

impl fmt::Display for PromptUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};lang={};persona={}",
            self.prompt, self.language, self.persona
        )
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

/// An item with everything its page shows: the conversation in order (redacted as stored), the
/// prompt it ran under, the model that answered, the guard's readings and what it cost.
#[derive(Debug, Clone)]
pub struct ItemDetail {
    pub item: ReviewItem,
    /// Every stored message, oldest first; `guard` holds each one's reading.
    pub messages: Vec<MessageRecord>,
    /// The latest prompt reference of the conversation, as stored.
    pub prompt_ref: Option<String>,
    /// The model of the latest answer.
    pub model: Option<String>,
    /// Sum of the answers' exact costs.
    pub cost_usd: UsdCost,
}

impl ItemDetail {
    /// The parsed prompt reference (`None` for raw chat, or a reference that does not parse).
    pub fn prompt_use(&self) -> Option<PromptUse> {
        self.prompt_ref.as_deref().and_then(|r| r.parse().ok())
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

const REVIEW_COLUMNS: &str = "id, item_id, reviewer_id, clinical_accuracy, tone, safety_problem, \
     should_escalate, comment, corrected_answer, created_at";

/// Every batch, newest first.
pub async fn list_batches(store: &Store) -> Result<Vec<BatchSummary>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "{BATCH_SUMMARY} ORDER BY b.created_at DESC, b.id DESC"
    ))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(batch_from_row).collect()
}

/// One batch.
pub async fn batch(store: &Store, id: &str) -> Result<Option<BatchSummary>, sqlx::Error> {
    let row = sqlx::query(&format!("{BATCH_SUMMARY} WHERE b.id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(batch_from_row).transpose()
}

/// The items of a batch in review order.
pub async fn batch_items(store: &Store, batch_id: &str) -> Result<Vec<ReviewItem>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {ITEM_COLUMNS} FROM review_items WHERE batch_id = $1 ORDER BY position"
    ))
    .bind(batch_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(item_from_row).collect()
}

/// One item.
pub async fn item(store: &Store, id: &str) -> Result<Option<ReviewItem>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {ITEM_COLUMNS} FROM review_items WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(item_from_row).transpose()
}

/// One item with its conversation.
pub async fn item_detail(store: &Store, id: &str) -> Result<Option<ItemDetail>, sqlx::Error> {
    let Some(item) = item(store, id).await? else {
        return Ok(None);
    };
    let messages = store.conversation_messages(&item.conversation_id).await?;
    let prompt_ref = messages.iter().rev().find_map(|m| m.prompt_ref.clone());
    let model = messages
        .iter()
        .rev()
        .filter(|m| m.role == "assistant")
        .find_map(|m| m.model.clone());
    let cost_usd = messages.iter().filter_map(|m| m.cost_usd).sum();
    Ok(Some(ItemDetail {
        item,
        messages,
        prompt_ref,
        model,
        cost_usd,
    }))
}

/// The reviews of an item, oldest first.
pub async fn item_reviews(store: &Store, item_id: &str) -> Result<Vec<Review>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews WHERE item_id = $1 ORDER BY created_at, id"
    ))
    .bind(item_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(review_from_row).collect()
}

fn batch_from_row(row: &AnyRow) -> Result<BatchSummary, sqlx::Error> {
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

pub(crate) fn item_from_row(row: &AnyRow) -> Result<ReviewItem, sqlx::Error> {
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

pub(crate) fn review_from_row(row: &AnyRow) -> Result<Review, sqlx::Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_prompt_reference_parses_into_prompt_language_and_persona() {
        let u: PromptUse = "assistant-general@2;lang=pt-BR;persona=doula"
            .parse()
            .unwrap();
        assert_eq!(u.prompt.to_string(), "assistant-general@2");
        assert_eq!(u.language.as_str(), "pt-BR");
        assert_eq!(u.persona, "doula");
        assert_eq!(
            u.to_string(),
            "assistant-general@2;lang=pt-BR;persona=doula"
        );
    }

    #[test]
    fn a_reference_without_language_or_persona_is_refused() {
        for bad in [
            "assistant-general@2",
            "assistant-general@2;lang=pt-BR",
            "assistant-general;lang=pt-BR;persona=doula",
            "assistant-general@2;lang=pt-BR;persona=doula;x=1",
        ] {
            assert!(bad.parse::<PromptUse>().is_err(), "{bad} should not parse");
        }
    }
}
