//! The nurse's side of a batch: taking the next item under a lock, submitting a review (which
//! releases it) and each nurse's progress. The statistics are `super::stats`.
//!
//! Reading batches and items is `super::batches` (the data side); this module only adds what
//! the pages do to them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::store::Store;
use crate::store::reviews::DbError;
pub use crate::store::reviews::{ReviewInput, TakeError};

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

/// The next item of `batch_id` this nurse should review, locked for them: the item they already
/// hold first, then urgent ones, then by position; never one they reviewed, one with all its
/// reviews (an overlap item takes a second nurse after the first), or one another nurse holds.
/// `None` when nothing is left for them.
pub async fn take_next(
    store: &Store,
    batch_id: &str,
    reviewer_id: &str,
    lock: Duration,
) -> Result<Option<String>, DbError> {
    store.reviews().take_next(batch_id, reviewer_id, lock).await
}

/// Whether this nurse can review `item_id` now, and if so locks it for them (opening an item's
/// page directly holds it as `/review/next` does).
pub async fn take(
    store: &Store,
    item_id: &str,
    reviewer_id: &str,
    lock: Duration,
) -> Result<(), TakeError> {
    store.reviews().take(item_id, reviewer_id, lock).await
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
    store.reviews().submit(item_id, reviewer_id, review).await
}

/// Reviews given in a batch, by reviewer e-mail.
pub async fn progress(store: &Store) -> Result<BTreeMap<String, Vec<(String, i64)>>, DbError> {
    store.reviews().progress().await
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
