//! What a caller hands the pipeline besides the request body (`RequestContext`: who asks, in
//! which languages, from where), and what it gets back (`Reply`: the ids the turn is filed under,
//! the guard's decision, and the answer, complete or streamed, or its error).

use std::sync::Arc;
use std::time::Instant;

use super::{Answer, StreamedTurn, Turn};
use crate::core::now_ms;
use crate::error::ApiError;
use crate::guard::Decision;
use crate::store::keys::{ApiKey, Role};

/// Where a turn comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// A client of the HTTP API.
    #[default]
    Api,
    /// An eval case (`eval run`): nobody is in danger, so the conversation is never flagged
    /// urgent, and it is filed under the internal key [`Origin::EVAL_KEY_ID`].
    Eval,
}

impl Origin {
    /// The key id eval turns are filed under in the message log. The log has no origin column:
    /// this id is the stored marker that usage reports and review sampling filter on.
    pub const EVAL_KEY_ID: &'static str = "eval";
}

/// Who asks, and how: everything about a turn that is not in its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub key: Arc<ApiKey>,
    /// The client's `Accept-Language` (for an eval case without a prompt, the case's language).
    pub accept_language: Option<String>,
    pub origin: Origin,
    /// A rate limit (the key's or the end user's) already refused this request. The pipeline
    /// still reads the turn: an urgent one gets the notice anyway, the rest this refusal.
    pub refusal: Option<Refusal>,
    /// The end user's keyed hash (OpenAI `user`, else the conversation id), for the per-user
    /// daily budget.
    pub end_user: Option<String>,
}

/// A rate limit's refusal, decided before the body was read: it becomes the 429 it always was,
/// unless the turn is urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub rpm: u32,
    pub retry_after_secs: u64,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        ApiError::RateLimited {
            rpm: r.rpm,
            retry_after_secs: r.retry_after_secs,
        }
    }
}

impl RequestContext {
    /// A request from an API client.
    pub fn api(key: Arc<ApiKey>, accept_language: Option<&str>) -> RequestContext {
        RequestContext {
            key,
            accept_language: accept_language.map(str::to_string),
            origin: Origin::Api,
            refusal: None,
            end_user: None,
        }
    }

    /// An eval case, under the internal eval key: no budget, not a stored key.
    pub fn eval(accept_language: Option<&str>) -> RequestContext {
        let id = Origin::EVAL_KEY_ID;
        let key = ApiKey {
            id: id.into(),
            name: id.into(),
            prefix: id.into(),
            role: Role::Client,
            rpm: None,
            created_at: now_ms(),
            revoked_at: None,
            daily_budget_usd: None,
        };
        RequestContext {
            key: Arc::new(key),
            accept_language: accept_language.map(str::to_string),
            origin: Origin::Eval,
            refusal: None,
            end_user: None,
        }
    }
}

/// The ids a turn is filed under, as the response headers show them.
#[derive(Debug, Clone)]
pub struct TurnIds {
    pub request_id: String,
    /// The client's own conversation id (the store files it under the key: see
    /// [`crate::core::ConversationId`]).
    pub conversation_id: String,
    /// `id@version;lang=…;persona=…` when the request used a versioned prompt.
    pub prompt_ref: Option<String>,
}

impl TurnIds {
    pub(super) fn of(turn: &Turn) -> TurnIds {
        TurnIds {
            request_id: turn.request_id.clone(),
            conversation_id: turn.conversation.client().to_string(),
            prompt_ref: turn.prompt_ref.clone(),
        }
    }
}

/// The answer to a turn.
pub enum Answered {
    /// Boxed: an answer (completion, request) is ten times the size of a stream handle.
    Complete(Box<Answer>),
    Stream(StreamedTurn),
}

/// The pipeline's reply to a request it accepted (one that named a known model and a prompt
/// that rendered): the turn is filed, whether it was answered or failed.
pub struct Reply {
    pub ids: TurnIds,
    /// What the input guard decided (`Pass` when it found nothing).
    pub decision: Decision,
    /// When the turn started (latency is measured from here).
    pub started: Instant,
    pub outcome: Result<Answered, ApiError>,
}
