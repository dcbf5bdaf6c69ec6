//! The local SmolLM2 model end to end through the HTTP API: real answers with no API key at all.
//! Skipped with a printed reason only when `models/` is absent outside CI; in CI it must run.

use crate::common;

use common::{MockUpstream, Spawn, local_model_path, spawn_app_with};
use serde_json::{Value, json};

fn local_toml(path: &std::path::Path) -> String {
    format!(
        "[[models]]\nname = \"local-smollm2\"\nprovider = \"local\"\npath = \"{}\"\nmax_tokens = 24\nprice = \"free\"\n",
        path.display()
    )
}

/// The raw SSE of a streamed answer, its text (every chunk's content, joined) and its usage chunk.
async fn stream(app: &common::TestApp, body: &Value) -> (String, String, Option<Value>) {
    let sse = app
        .post("/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    let mut joined = String::new();
    let mut usage = None;
    for line in sse.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(line).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
        joined.push_str(
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or(""),
        );
        if !chunk["usage"].is_null() {
            usage = Some(chunk["usage"].clone());
        }
    }
    (sse, joined, usage)
}

#[tokio::test]
async fn the_local_model_answers_deterministically_streamed_and_not() {
    let Some(path) = local_model_path() else {
        return;
    };
    let _ = MockUpstream::start; // the upstream is unused here: no key, no network
    let app = spawn_app_with(Spawn {
        extra_toml: local_toml(&path),
        ..Spawn::default()
    })
    .await;
    let body = json!({
        "model": "local-smollm2", "temperature": 0, "max_tokens": 24,
        "messages": [{"role": "user", "content": "What is the capital of France?"}]
    });
    let first: Value = app
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    let text = first["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!text.trim().is_empty());
    assert_eq!(
        text,
        second["choices"][0]["message"]["content"].as_str().unwrap(),
        "temperature 0 is greedy"
    );
    // Greedy decoding of this question runs to the cap: exactly max_tokens, cut for length.
    assert_eq!(first["choices"][0]["finish_reason"], "length");
    assert_eq!(first["usage"]["completion_tokens"], 24);
    // The question in SmolLM2's ChatML template (default system turn, user turn, assistant
    // header) is 37 tokens under the GGUF's byte-level BPE; a change in the template or the
    // tokenizer shows here.
    assert_eq!(first["usage"]["prompt_tokens"], 37);
    assert_eq!(first["usage"]["total_tokens"], 61);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (sse, joined, usage) = stream(&app, &streamed).await;
    assert!(sse.ends_with("data: [DONE]\n\n"));
    assert_eq!(
        joined, text,
        "the stream says what the non-streamed answer says"
    );
    assert_eq!(
        usage.unwrap()["completion_tokens"],
        first["usage"]["completion_tokens"]
    );
}

#[tokio::test]
async fn an_upstream_falls_back_to_the_local_model() {
    let Some(path) = local_model_path() else {
        return;
    };
    let extra = format!(
        "{}\n[[models]]\nname = \"gpt-dead\"\nprovider = \"openai\"\napi_base = \"http://127.0.0.1:9/v1\"\ntimeout_ms = 500\nmax_retries = 0\nfallbacks = [\"local-smollm2\"]\n[models.price]\ninput = \"1\"\noutput = \"1\"\n",
        local_toml(&path)
    );
    let app = spawn_app_with(Spawn {
        extra_toml: extra,
        ..Spawn::default()
    })
    .await;
    let res = app
        .post(
            "/v1/chat/completions",
            &json!({"model": "gpt-dead", "max_tokens": 8, "temperature": 0,
        "messages": [{"role": "user", "content": "Oi"}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-powerbirth-model"], "local-smollm2");
}
