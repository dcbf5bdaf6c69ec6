//! Promotion: a reviewed conversation becomes a case of an eval set file, so what a nurse
//! corrected is checked on every prompt change from then on (`powerbirth review promote ITEM_ID
//! --evalset PATH`, and the admin's button on the item page).
//!
//! The case follows the eval set format (`docs/evals.md`): `id = "review-<item id>"`, not
//! required, language and persona from the conversation's `prompt_ref` (variables come from the
//! file's `[defaults]`: none are stored with conversations), `messages` = the conversation up to
//! its last user message (redacted as stored), `reference` = the nurse's corrected answer — or,
//! when no reviewer wrote one and every reviewer rated the answer ≥ 4 for clinical accuracy, the
//! answer as it was — `source = "review:<item id>"`, and assertions `language`, `similarity` ≥
//! 0.6 and `chrf` ≥ 20 against the reference, plus `escalated` when a nurse said it should have
//! been escalated.
//!
//! The file is appended to safely: its existing bytes are kept exactly, the new text is written
//! to a temporary file in the same directory and renamed over it (readers never see half a
//! file), and a `PATH.lock` file keeps two promotions from interleaving.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::batches::{self, PromptUse, Review};
use crate::prompts::PromptRegistry;
use crate::store::Store;
use crate::store::messages::MessageRecord;
use crate::store::reviews::DbError;

/// Minimum clinical accuracy for the answer as it was to serve as the reference.
pub const MIN_ACCURACY_FOR_REFERENCE: i64 = 4;
/// Threshold of the `similarity` assertion (cosine, all-MiniLM-L6-v2).
pub const SIMILARITY_THRESHOLD: f64 = 0.6;
/// Threshold of the `chrf` assertion (sacreBLEU scale).
pub const CHRF_THRESHOLD: f64 = 20.0;
/// `{prompt}` in an eval set path is replaced by the conversation's prompt id (`raw` without one),
/// so one setting (`[review] evalset = "evalsets/{prompt}/reviewed.toml"`) serves every prompt.
pub const PROMPT_PLACEHOLDER: &str = "{prompt}";

/// Where the reference answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceSource {
    /// A nurse's corrected answer.
    Corrected,
    /// The assistant's answer as it was, rated ≥ 4 by every reviewer.
    Original,
}

/// The case written.
#[derive(Debug, Clone, Serialize)]
pub struct PromotedCase {
    pub id: String,
    pub path: PathBuf,
    /// The file did not exist and was created with a header.
    pub created_file: bool,
    pub prompt: Option<String>,
    pub reference_from: ReferenceSource,
    pub escalated: bool,
    /// The TOML appended.
    pub text: String,
}

/// Why an item was not promoted. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("review item {0} does not exist")]
    NotFound(String),
    #[error("review item {0} has not been reviewed yet; promote it once a nurse has reviewed it")]
    NotReviewed(String),
    #[error(
        "review item {item}: no reviewer wrote a corrected answer and the answer was rated {score}/5 for clinical accuracy, so there is no trustworthy reference (it needs a corrected answer, or every rating ≥ {MIN_ACCURACY_FOR_REFERENCE})"
    )]
    NoReference { item: String, score: i64 },
    #[error("review item {item}: {reason}")]
    Conversation { item: String, reason: String },
    #[error(
        "{path}: this eval set is for {file}, but the conversation used {conversation}; promote it into an eval set for {conversation}"
    )]
    WrongPrompt {
        path: PathBuf,
        file: String,
        conversation: String,
    },
    #[error("{path}: case {id} is already there; an item is promoted once")]
    Duplicate { path: PathBuf, id: String },
    #[error("{path}: {reason}")]
    Incompatible { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("database: {0}")]
    Database(#[from] DbError),
}

/// Appends review item `item_id` as a case of the eval set at `evalset` (`{prompt}` in the path
/// is replaced by the prompt id), checking it against `prompts` so the file still loads.
pub async fn promote(
    store: &Store,
    item_id: &str,
    evalset: &Path,
    prompts: &PromptRegistry,
) -> Result<PromotedCase, PromoteError> {
    let detail = batches::item_detail(store, item_id)
        .await?
        .ok_or_else(|| PromoteError::NotFound(item_id.to_string()))?;
    let reviews = batches::item_reviews(store, item_id).await?;
    let conversation_error = |reason: &str| PromoteError::Conversation {
        item: item_id.to_string(),
        reason: reason.to_string(),
    };
    let prompt_use = match detail.prompt_ref.as_deref() {
        None => None,
        Some(r) => Some(r.parse::<PromptUse>().map_err(|e| {
            conversation_error(&format!("its prompt reference does not parse: {e}"))
        })?),
    };
    let case = build_case(item_id, &detail.messages, &reviews, prompt_use)?;
    let path = resolve_path(
        evalset,
        case.prompt_use.as_ref().map(|u| u.prompt.id.as_str()),
    );
    let check = Compatibility::of(&case, prompts);
    let promoted = PromotedCase {
        id: case_id(item_id),
        path: path.clone(),
        created_file: false,
        prompt: case.prompt_use.as_ref().map(|u| u.prompt.id.clone()),
        reference_from: case.reference_from,
        escalated: case.escalated,
        text: String::new(),
    };
    let (created_file, text) = tokio::task::spawn_blocking(move || append(&path, &case, &check))
        .await
        .map_err(|e| PromoteError::File {
            path: promoted.path.clone(),
            reason: format!("the writer stopped: {e}"),
        })??;
    Ok(PromotedCase {
        created_file,
        text,
        ..promoted
    })
}

/// `evalset` with `{prompt}` replaced.
pub fn resolve_path(evalset: &Path, prompt_id: Option<&str>) -> PathBuf {
    let text = evalset.to_string_lossy();
    if text.contains(PROMPT_PLACEHOLDER) {
        PathBuf::from(text.replace(PROMPT_PLACEHOLDER, prompt_id.unwrap_or("raw")))
    } else {
        evalset.to_path_buf()
    }
}

fn case_id(item_id: &str) -> String {
    format!("review-{item_id}")
}

/// The case, before it is checked against a file.
#[derive(Debug, Clone)]
struct Case {
    item_id: String,
    prompt_use: Option<PromptUse>,
    messages: Vec<(String, String)>,
    reference: String,
    reference_from: ReferenceSource,
    escalated: bool,
}

/// The case of a reviewed conversation, or why there is none.
fn build_case(
    item_id: &str,
    messages: &[MessageRecord],
    reviews: &[Review],
    prompt_use: Option<PromptUse>,
) -> Result<Case, PromoteError> {
    let conversation_error = |reason: &str| PromoteError::Conversation {
        item: item_id.to_string(),
        reason: reason.to_string(),
    };
    if !is_case_id(&case_id(item_id)) {
        return Err(conversation_error(
            "its id cannot name an eval case ([a-z0-9-_]+)",
        ));
    }
    if reviews.is_empty() {
        return Err(PromoteError::NotReviewed(item_id.to_string()));
    }
    // What the user saw: their messages and the answers that reached them (failed calls left
    // nothing on screen; system messages are the prompt's business, rendered by the eval).
    let shown: Vec<&MessageRecord> = messages
        .iter()
        .filter(|m| m.role == "user" || (m.role == "assistant" && m.status != "error"))
        .collect();
    let last_user = shown
        .iter()
        .rposition(|m| m.role == "user")
        .ok_or_else(|| conversation_error("the conversation has no user message to replay"))?;
    let corrected = reviews
        .iter()
        .rev()
        .filter_map(|r| r.corrected_answer.as_deref())
        .find(|a| !a.trim().is_empty());
    let (reference, reference_from) = match corrected {
        Some(a) => (a.trim().to_string(), ReferenceSource::Corrected),
        None => {
            let lowest = reviews
                .iter()
                .map(|r| r.clinical_accuracy)
                .min()
                .unwrap_or(0);
            if lowest < MIN_ACCURACY_FOR_REFERENCE {
                return Err(PromoteError::NoReference {
                    item: item_id.to_string(),
                    score: lowest,
                });
            }
            let answer = shown[last_user + 1..]
                .iter()
                .find(|m| m.role == "assistant" && !m.content.trim().is_empty())
                .ok_or_else(|| {
                    conversation_error(
                        "the last message got no answer and no reviewer wrote a corrected one",
                    )
                })?;
            (answer.content.clone(), ReferenceSource::Original)
        }
    };
    Ok(Case {
        item_id: item_id.to_string(),
        prompt_use,
        messages: shown[..=last_user]
            .iter()
            .map(|m| (m.role.to_string(), m.content.clone()))
            .collect(),
        reference,
        reference_from,
        escalated: reviews.iter().any(|r| r.should_escalate),
    })
}

/// `[a-z0-9-_]+`, the eval format's case ids.
fn is_case_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

mod file;
#[cfg(test)]
mod tests;

use file::{Compatibility, append};
