//! Reading review batches: the batches with their progress, one item with the conversation as
//! the user saw it (redacted as stored), and the reviews an item received. Shared by the pages
//! (owned by the web side: locking, next item, submitting and statistics live there), the CLI,
//! the export and promotion. The queries are `store::reviews`; the records are re-exported
//! here, where the review code has always found them.

use std::fmt;
use std::str::FromStr;

use crate::core::UsdCost;
use crate::prompts::{Language, PromptRef};
use crate::store::Store;
use crate::store::messages::MessageRecord;
use crate::store::reviews::DbError;
pub use crate::store::reviews::{BatchSummary, Origin, Review, ReviewItem};

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

/// Every batch, newest first.
pub async fn list_batches(store: &Store) -> Result<Vec<BatchSummary>, DbError> {
    store.reviews().list_batches().await
}

/// One batch.
pub async fn batch(store: &Store, id: &str) -> Result<Option<BatchSummary>, DbError> {
    store.reviews().batch(id).await
}

/// The items of a batch in review order.
pub async fn batch_items(store: &Store, batch_id: &str) -> Result<Vec<ReviewItem>, DbError> {
    store.reviews().batch_items(batch_id).await
}

/// One item.
pub async fn item(store: &Store, id: &str) -> Result<Option<ReviewItem>, DbError> {
    store.reviews().item(id).await
}

/// One item with its conversation.
pub async fn item_detail(store: &Store, id: &str) -> Result<Option<ItemDetail>, DbError> {
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
pub async fn item_reviews(store: &Store, item_id: &str) -> Result<Vec<Review>, DbError> {
    store.reviews().item_reviews(item_id).await
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
