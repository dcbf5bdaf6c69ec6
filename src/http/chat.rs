//! `POST /v1/chat/completions`: OpenAI's chat API, streamed (SSE) or not.

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::middleware::ResponseMeta;
use crate::app::AppState;
use crate::auth::AuthedKey;
use crate::chat::Turn;
use crate::chat::types::ChatRequest;

#[tracing::instrument(name = "chat", skip_all, fields(key = %key.0.name))]
pub async fn completions(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match super::read_body(&headers, body, state.config.server.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let call = match ChatRequest::parse(&bytes) {
        Ok(req) => state.pipeline.prepare(req, accept_language).await,
        Err(e) => Err(e),
    };
    let call = match call {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let turn = Turn::new(key.0, &call);
    let mut ids = vec![
        ("x-request-id", turn.request_id.clone()),
        ("x-conversation-id", turn.conversation_id.clone()),
    ];
    if let Some(r) = call.prompt_ref() {
        ids.push(("x-prompt-ref", r.to_string()));
    }
    let mut res = if call.request.is_stream() {
        match state.pipeline.stream(turn, call).await {
            Ok(st) => {
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
            Err(e) => e.into_response(),
        }
    } else {
        match state.pipeline.complete(&turn, &call).await {
            Ok(answer) => {
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
            Err(e) => e.into_response(),
        }
    };
    for (name, value) in ids {
        set(res.headers_mut(), name, &value);
    }
    res
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}
