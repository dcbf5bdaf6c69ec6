//! A real OpenAI-compatible HTTP server started inside the test process: the upstream every test
//! gateway talks to, whose behaviour follows the model name it is asked for.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What a mock upstream received.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
}

/// An OpenAI-compatible server started inside the test. Its behaviour follows the upstream model
/// name it is asked for:
/// - `echo`: answers `echo: <last user message>` (streams it in three chunks);
/// - `fail-503`, `fail-401`, `fail-400`: answers that status with an OpenAI error body;
/// - `filter-400`, `context-400`: a 400 with OpenAI's `content_filter` or
///   `context_length_exceeded` error code (a provider's policy or window, not a bad request);
/// - `slow-<ms>`: echoes after sleeping that long;
/// - `flaky-<n>`: 503 for the first n calls, then echoes;
/// - `dose`: answers with a medicine dose (for the output guard);
/// - `judge-4`: an LLM judge that grades `{"score": 4, …}` (wrapped in prose, as judges do);
/// - `judge-garbage`: a judge that answers no grade at all;
/// - `echo-system`: answers with the system message (so a prompt change changes the answer);
/// - `verbose`: echoes, but reports 50,000 completion tokens, or the request's `max_tokens` /
///   `max_completion_tokens` when lower (a long answer cut at the cap, as a real upstream does).
#[derive(Clone)]
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    calls: Arc<AtomicUsize>,
}

impl MockUpstream {
    pub async fn start() -> MockUpstream {
        let received = Arc::new(Mutex::new(Vec::new()));
        let calls = Arc::new(AtomicUsize::new(0));
        let state = (received.clone(), calls.clone());
        let router = Router::new()
            .route("/v1/chat/completions", post(mock_chat))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        MockUpstream {
            addr,
            received,
            calls,
        }
    }

    pub fn api_base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many chat calls it has received.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

type MockState = (Arc<Mutex<Vec<Received>>>, Arc<AtomicUsize>);

fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string()
}

fn error(status: u16, message: &str) -> Response {
    let body =
        json!({"error": {"message": message, "type": "mock_error", "param": null, "code": null}});
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

/// A 400 with an OpenAI error `code`.
fn coded_error(code: &str, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": code}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

async fn mock_chat(State((received, calls)): State<MockState>, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap();
    received
        .lock()
        .unwrap()
        .push(Received { body: body.clone() });
    let n = calls.fetch_add(1, Ordering::SeqCst);
    let model = body["model"].as_str().unwrap_or("").to_string();
    match model.as_str() {
        "fail-503" => return error(503, "upstream overloaded"),
        "fail-401" => return error(401, "bad upstream key"),
        "fail-400" => return error(400, "context too long"),
        "filter-400" => return coded_error("content_filter", "The response was filtered"),
        "context-400" => return coded_error("context_length_exceeded", "maximum context length"),
        _ => {}
    }
    if let Some(ms) = model.strip_prefix("slow-") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
    }
    if let Some(k) = model.strip_prefix("flaky-")
        && n < k.parse::<usize>().unwrap()
    {
        return error(503, "flaky");
    }
    if let Some(scripted) = super::scripted::reply(&model, &body) {
        return scripted;
    }
    let answer = mock_answer(&model, &body);
    if body["stream"] == true {
        let include_usage = body["stream_options"]["include_usage"] == true;
        return mock_stream(&model, &answer, include_usage);
    }
    let completion_tokens = if model == "verbose" {
        let cap = body["max_completion_tokens"]
            .as_u64()
            .or(body["max_tokens"].as_u64());
        cap.unwrap_or(50_000).min(50_000)
    } else {
        7
    };
    axum::Json(json!({
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": completion_tokens, "total_tokens": 11 + completion_tokens}
    }))
    .into_response()
}

/// What the mock model answers, by its name (see [`MockUpstream`]).
fn mock_answer(model: &str, body: &Value) -> String {
    if model == "dose" {
        // A model that gives a dose: the output guard must never let it through.
        "Pode tomar 500 mg de dipirona de 6 em 6 horas, ou 40 gotas se preferir.".to_string()
    } else if model == "judge-4" {
        "Here is my grade: {\"score\": 4, \"reason\": \"warm and clear\"}".to_string()
    } else if model == "judge-garbage" {
        "I would rather not grade this answer.".to_string()
    } else if model == "echo-system" {
        // Answers with the system prompt: a prompt change shows in the answer.
        body["messages"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["role"] == "system"))
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string()
    } else {
        format!("echo: {}", last_user(body))
    }
}

/// The answer as an SSE stream in three content chunks (and a usage chunk when asked), as
/// OpenAI streams.
fn mock_stream(model: &str, answer: &str, include_usage: bool) -> Response {
    let mut frames = Vec::new();
    let chunk = |delta: Value, finish: Value| {
        json!({"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1,"model":model,
               "choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
    };
    frames.push(chunk(json!({"role":"assistant","content":""}), Value::Null));
    let third = answer.len() / 3;
    let cut1 = (0..=third)
        .rev()
        .find(|i| answer.is_char_boundary(*i))
        .unwrap();
    let cut2 = (0..=2 * third)
        .rev()
        .find(|i| answer.is_char_boundary(*i))
        .unwrap();
    for part in [&answer[..cut1], &answer[cut1..cut2], &answer[cut2..]] {
        frames.push(chunk(json!({"content": part}), Value::Null));
    }
    frames.push(chunk(json!({}), json!("stop")));
    if include_usage {
        frames.push(
            json!({"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1,"model":model,
            "choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}),
        );
    }
    let mut out = String::new();
    for f in frames {
        out.push_str(&format!("data: {f}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], out).into_response()
}
