//! `POST /v1/chat/completions`: OpenAI's chat API, streamed (SSE) or not.

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::middleware::ResponseMeta;
use crate::auth::AuthedKey;
use crate::chat::{Answer, Answered, Refusal, StreamedTurn};
use crate::error::ApiError;
use crate::http::AppState;
use crate::wire::ChatRequest;

#[tracing::instrument(name = "chat", skip_all, fields(key = %key.0.name))]
pub async fn completions(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
    refusal: Option<Extension<Refusal>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let refusal = refusal.map(|Extension(r)| r);
    let bytes = match super::read_body(&headers, body, state.config.server.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let req = match ChatRequest::parse(&bytes) {
        Ok(req) => req,
        // A refused request stays refused, whatever its body.
        Err(e) => {
            return refusal
                .map_or_else(|| ApiError::from(e), ApiError::from)
                .into_response();
        }
    };
    let ctx = super::limits::context(&state, key.0, accept_language, &req, refusal).await;
    // The turn runs on its own task: a client that closes the connection drops this handler,
    // not the turn, which still finishes, is metered and logged (a stream whose answer nobody
    // reads is logged as client_closed when its body is dropped).
    let pipeline = state.pipeline.clone();
    let turn = tokio::spawn(async move { pipeline.handle(req, &ctx).await }.in_current_span());
    let reply = match turn.await {
        Ok(reply) => reply,
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!(
            "the chat turn's task failed: {e}"
        ))),
    };
    let reply = match reply {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut res = match reply.outcome {
        Ok(Answered::Stream(st)) => streamed(st),
        Ok(Answered::Complete(answer)) => completed(*answer),
        Err(e) => e.into_response(),
    };
    let ids = reply.ids;
    let h = res.headers_mut();
    set(h, "x-request-id", &ids.request_id);
    set(h, "x-conversation-id", &ids.conversation_id);
    if let Some(r) = &ids.prompt_ref {
        set(h, "x-prompt-ref", r);
    }
    res
}

fn streamed(st: StreamedTurn) -> Response {
    let mut res = Response::new(Body::from_stream(st.body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    set(h, "x-powerbirth-model", &st.served_by);
    res.extensions_mut().insert(ResponseMeta {
        model: st.served_by,
        upstream: st.upstream,
    });
    res
}

fn completed(answer: Answer) -> Response {
    let c = answer.completion;
    let mut res = Response::new(Body::from(c.body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set(h, "x-powerbirth-model", &c.served_by);
    set(h, "x-powerbirth-cost-usd", &answer.cost.to_string());
    res.extensions_mut().insert(ResponseMeta {
        model: c.served_by,
        upstream: c.upstream,
    });
    res
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}
