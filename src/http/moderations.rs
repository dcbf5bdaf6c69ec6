//! `POST /v1/moderations`: OpenAI's moderation API, answered by our guard and, when `[moderation]`
//! names one, the external provider. `flagged` and `categories` keep OpenAI's meaning (harmful
//! content: today self-harm from our lexicons, and whatever the provider flags); the clinical
//! reading (red flags, dosing requests, personal data) is under the `powerbirth` extension, since
//! a woman describing a danger sign must be escalated, never filtered out as "flagged".
//!
//! Each input counts as one request against the key's rate limit, and at most
//! `MAX_CHECKS_PER_KEY` inputs of one key are checked at once, so a key cannot turn one call
//! into 128 unmetered provider calls.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::{Extension, Json};
use dashmap::DashMap;
use futures_util::future::join_all;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use crate::auth::AuthedKey;

use crate::chat::guarded;
use crate::error::ApiError;
use crate::guard::moderation::{ModerationOutcome, names_self_harm};
use crate::guard::{Category, InputVerdict};
use crate::http::AppState;

/// At most this many inputs per request.
const MAX_INPUTS: usize = 128;

/// OpenAI's category names, in their order.
const OPENAI_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

#[derive(Debug, Deserialize)]
struct ModerationRequest {
    input: Input,
    model: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<Item>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Item {
    Text(String),
    Part(Part),
}

/// A multi-modal part (`{"type": "text", "text": …}`); all parts of a request are one input.
#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

impl Input {
    /// The texts to moderate, one result each.
    fn texts(self) -> Result<Vec<String>, ApiError> {
        let texts = match self {
            Input::One(t) => vec![t],
            Input::Many(items) if items.iter().all(|i| matches!(i, Item::Text(_))) => items
                .into_iter()
                .filter_map(|i| match i {
                    Item::Text(t) => Some(t),
                    Item::Part(_) => None,
                })
                .collect(),
            Input::Many(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for (n, item) in items.into_iter().enumerate() {
                    match item {
                        Item::Part(Part {
                            kind,
                            text: Some(text),
                        }) if kind == "text" => parts.push(text),
                        Item::Part(Part { kind, .. }) if kind == "text" => {
                            return Err(ApiError::invalid(
                                format!("input[{n}].text"),
                                "A text part needs a 'text' string.",
                            ));
                        }
                        Item::Part(Part { kind, .. }) => {
                            return Err(ApiError::invalid(
                                format!("input[{n}].type"),
                                format!(
                                    "Only text can be moderated here; '{kind}' parts are not supported."
                                ),
                            ));
                        }
                        Item::Text(_) => {
                            return Err(ApiError::invalid(
                                format!("input[{n}]"),
                                "Do not mix strings and content parts in 'input'.",
                            ));
                        }
                    }
                }
                vec![parts.join("\n")]
            }
        };
        if texts.is_empty() {
            return Err(ApiError::invalid(
                "input",
                "'input' must not be empty: send a string or an array of strings.",
            ));
        }
        if texts.len() > MAX_INPUTS {
            return Err(ApiError::invalid(
                "input",
                format!(
                    "'input' has {} items; at most {MAX_INPUTS} per request.",
                    texts.len()
                ),
            ));
        }
        if let Some(n) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(ApiError::invalid(
                if texts.len() == 1 {
                    "input".to_string()
                } else {
                    format!("input[{n}]")
                },
                "Empty text: there is nothing to moderate.",
            ));
        }
        Ok(texts)
    }
}

/// At most this many inputs of one key are checked (and sent to the external provider) at once,
/// whatever the number of requests carrying them.
const MAX_CHECKS_PER_KEY: usize = 8;

/// Per key, a semaphore of [`MAX_CHECKS_PER_KEY`] slots for moderation checks, so one key
/// cannot make the gateway send hundreds of provider calls at once.
#[derive(Default)]
pub struct CheckSlots {
    keys: DashMap<String, Arc<Semaphore>>,
}

impl CheckSlots {
    fn of(&self, key_id: &str) -> Arc<Semaphore> {
        self.keys
            .entry(key_id.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_CHECKS_PER_KEY)))
            .clone()
    }
}

/// Each input is one request against the key's rate limit: the middleware counted the call
/// itself, this counts the other inputs (all or none).
async fn count_inputs(state: &AppState, key: &AuthedKey, inputs: usize) -> Result<(), ApiError> {
    let rpm = key.0.rpm.unwrap_or(state.config.ratelimit.default_rpm);
    let extra = u32::try_from(inputs.saturating_sub(1)).unwrap_or(u32::MAX);
    state
        .limiter
        .check_n(&key.0.id, rpm, extra)
        .await
        .map_err(|wait| {
            state.metrics.ratelimit_rejections.inc();
            ApiError::RateLimited {
                rpm,
                retry_after_secs: crate::ratelimit::retry_after_secs(wait),
            }
        })
}

#[tracing::instrument(name = "moderations", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = super::read_body(&headers, body, state.config.server.max_body_bytes).await?;
    let req: ModerationRequest = super::parse_json(&bytes)?;
    let texts = req.input.texts()?;
    count_inputs(&state, &key, texts.len()).await?;
    let slots = state.moderation_slots.of(&key.0.id);
    let hint = guarded::negotiate_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let pipeline = &state.pipeline;
    let results = join_all(texts.iter().map(|text| async {
        // A closed semaphore never happens (it is never closed); checking without a slot
        // would only lift the cap.
        let _slot = slots.acquire().await.ok();
        let (verdict, outcome) =
            guarded::check_input(&pipeline.guard, &pipeline.moderator, text, hint).await;
        let verdict = match outcome {
            Some(outcome) => pipeline.guard.moderated(verdict, outcome),
            None => verdict,
        };
        result(&verdict)
    }))
    .await;
    Ok(Json(json!({
        "id": format!("modr-{}", uuid::Uuid::new_v4().simple()),
        "model": req.model.unwrap_or_else(|| "powerbirth-guard".into()),
        "results": results,
    })))
}

/// One result in OpenAI's shape, with the guard's reading under `powerbirth`.
fn result(v: &InputVerdict) -> Value {
    let mut on: Vec<&str> = Vec::new();
    if v.has(Category::SelfHarm) {
        on.push("self-harm");
    }
    let fail_closed = matches!(
        v.moderation,
        Some(ModerationOutcome::Unavailable {
            fail_open: false,
            ..
        })
    );
    if let Some(ModerationOutcome::Flagged { categories }) = &v.moderation {
        for c in categories {
            on.extend(openai_name(c));
        }
    }
    let mut categories = Map::new();
    let mut scores = Map::new();
    let mut applied = Map::new();
    for name in OPENAI_CATEGORIES {
        let flagged = on.contains(&name);
        categories.insert(name.into(), json!(flagged));
        scores.insert(name.into(), json!(if flagged { 1.0 } else { 0.0 }));
        applied.insert(name.into(), json!(["text"]));
    }
    let mut extension = guarded::report(v);
    extension["redacted"] = json!(v.redacted);
    json!({
        // An outage with fail_closed is treated as flagged, as in the chat path.
        "flagged": !on.is_empty() || fail_closed,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
        "powerbirth": extension,
    })
}

/// The OpenAI category for a provider's category name (Azure: `Hate`, `SelfHarm`, `Sexual`,
/// `Violence`; OpenAI-compatible providers already use OpenAI's names).
fn openai_name(provider: &str) -> Option<&'static str> {
    if let Some(&name) = OPENAI_CATEGORIES.iter().find(|n| **n == provider) {
        return Some(name);
    }
    match provider {
        "Hate" => Some("hate"),
        "Sexual" => Some("sexual"),
        "Violence" => Some("violence"),
        p if names_self_harm(p) => Some("self-harm"),
        _ => None,
    }
}
