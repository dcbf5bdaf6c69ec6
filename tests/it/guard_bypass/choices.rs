//! Bypass 2: every choice and every text field goes through the output guard; token
//! log-probabilities (which carry every original token) are refused.

use serde_json::{Value, json};

use super::{app, choice_text, events};
use crate::common::notice;

/// Every choice of every chunk of a stream, as JSON text (what a client could read).
fn all_choices(sse: &str) -> String {
    events(sse)
        .iter()
        .map(|e| e["choices"].to_string())
        .collect()
}

fn ask(model: &str, n: u32) -> Value {
    json!({"model": model, "n": n, "messages": [{"role": "user", "content": "como aliviar a dor nas costas?"}]})
}

#[tokio::test]
async fn the_second_choice_gets_the_output_guard_too() {
    let app = app().await;
    let res = app
        .post("/v1/chat/completions", &ask("gpt-two-choices", 2))
        .await;
    let answer: Value = res.json().await.unwrap();
    assert!(
        !answer["choices"].to_string().contains("500 mg"),
        "{answer}"
    );
    assert_eq!(answer["choices"][0]["message"]["content"], "Descanse.");
    assert_eq!(
        answer["choices"][1]["message"]["content"],
        notice("dosing", "pt-BR")
    );
    assert_eq!(answer["choices"][1]["finish_reason"], "content_filter");

    let sse = app
        .post_stream("/v1/chat/completions", &ask("gpt-two-choices", 2))
        .await;
    assert!(!all_choices(&sse).contains("500"), "{sse}");
    assert_eq!(
        choice_text(&sse, 0),
        "Descanse e beba água.",
        "one window per choice"
    );
    assert!(
        choice_text(&sse, 1).ends_with(&notice("dosing", "pt-BR")),
        "{sse}"
    );
    let finished: Vec<Value> = events(&sse)
        .iter()
        .flat_map(|e| e["choices"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["index"] == 1 && !c["finish_reason"].is_null())
        .map(|c| c["finish_reason"].clone())
        .collect();
    assert_eq!(finished, [json!("content_filter")]);
}

#[tokio::test]
async fn a_dose_in_refusal_reasoning_or_tool_arguments_never_reaches_the_client() {
    let app = app().await;
    let answer: Value = app
        .post("/v1/chat/completions", &ask("gpt-fields", 1))
        .await
        .json()
        .await
        .unwrap();
    let text = answer["choices"].to_string();
    assert!(!text.contains("500") && !text.contains("6 em 6"), "{text}");
    assert_eq!(answer["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        notice("dosing", "pt-BR")
    );

    let sse = app
        .post_stream("/v1/chat/completions", &ask("gpt-fields", 1))
        .await;
    assert!(!all_choices(&sse).contains("500"), "{sse}");
    assert!(
        choice_text(&sse, 0).ends_with(&notice("dosing", "pt-BR")),
        "{sse}"
    );
}

#[tokio::test]
async fn logprobs_and_top_logprobs_are_refused_with_a_clear_400() {
    let app = app().await;
    for (field, value, stream) in [
        ("logprobs", json!(true), false),
        ("top_logprobs", json!(3), false),
        ("logprobs", json!(true), true),
    ] {
        let mut body = ask("gpt-echo", 1);
        body[field] = value;
        body["stream"] = json!(stream);
        let res = app.post("/v1/chat/completions", &body).await;
        assert_eq!(res.status(), 400, "{field}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["type"], "invalid_request_error");
        assert_eq!(err["error"]["param"], field);
    }
    let mut fine = ask("gpt-echo", 1);
    fine["logprobs"] = json!(false);
    assert_eq!(app.post("/v1/chat/completions", &fine).await.status(), 200);
    assert_eq!(
        app.upstream.calls(),
        1,
        "no refused request reached the model"
    );
}
