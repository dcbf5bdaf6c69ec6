//! The limits a chat request meets once its body is read: the key's rate limit (refused by the
//! middleware, handed on), then the end user's (`[ratelimit] per_user_rpm`). One frontend key
//! serves many women; the end user is the OpenAI `user` field, else the conversation id, and is
//! only ever seen as a keyed hash. These limits only decide whether the request is refused: the
//! pipeline reads the turn first and answers an urgent one anyway.

use std::sync::Arc;

use crate::chat::{Refusal, RequestContext};
use crate::http::AppState;
use crate::ratelimit::{end_user_id, retry_after_secs};
use crate::store::keys::ApiKey;
use crate::wire::ChatRequest;

/// The request's context: who asks, the end user's hash, and any rate limit's refusal (the
/// key's, else the end user's; a request the key's limit refused does not count against the
/// end user's).
pub(super) async fn context(
    state: &AppState,
    key: Arc<ApiKey>,
    accept_language: Option<&str>,
    req: &ChatRequest,
    refusal: Option<Refusal>,
) -> RequestContext {
    let mut ctx = RequestContext::api(key, accept_language);
    let limits = &state.config.ratelimit;
    let user = req
        .user
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| req.conversation_id());
    ctx.end_user = user.map(|u| end_user_id(&limits.user_hash_key, &ctx.key.id, u));
    ctx.refusal = refusal;
    if ctx.refusal.is_none()
        && let (Some(rpm), Some(user)) = (limits.per_user_rpm, &ctx.end_user)
        && let Err(wait) = state
            .limiter
            .check(&format!("user:{}:{user}", ctx.key.id), rpm)
            .await
    {
        state.metrics.ratelimit_rejections.inc();
        ctx.refusal = Some(Refusal {
            rpm,
            retry_after_secs: retry_after_secs(wait),
        });
    }
    ctx
}
