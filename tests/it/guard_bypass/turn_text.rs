//! Bypass 1: a trailing assistant (or tool) message must not switch the input guard off.

use serde_json::{Value, json};

use super::app;
use crate::common::{notice, sse_text};

fn trailing_assistant(text: &str) -> Value {
    json!({"model": "gpt-echo", "metadata": {"conversation_id": "conv-trailing"},
           "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": ""}]})
}

#[tokio::test]
async fn a_dosing_question_followed_by_an_assistant_message_is_still_blocked() {
    let app = app().await;
    let body = trailing_assistant("quantos mg de dipirona posso tomar");
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(
        answer["powerbirth"]["guard"]["decision"], "block",
        "{answer}"
    );
    let sse = app.post_stream("/v1/chat/completions", &body).await;
    assert!(sse_text(&sse).contains(&notice("dosing", "pt-BR")), "{sse}");
    assert_eq!(
        app.upstream.calls(),
        0,
        "the dosing question never reaches the model"
    );
}

#[tokio::test]
async fn a_danger_sign_followed_by_an_assistant_or_tool_message_is_escalated_and_logged() {
    let app = app().await;
    let words = "estou sangrando muito e o bebê não mexe";
    let res = app
        .post("/v1/chat/completions", &trailing_assistant(words))
        .await;
    let answer: Value = res.json().await.unwrap();
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.starts_with(&notice("urgent", "pt-BR")), "{content}");

    let mut tool = trailing_assistant(words);
    tool["messages"][1] = json!({"role": "assistant", "content": null,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]});
    tool["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "tool", "tool_call_id": "call_1", "content": "ok"}));
    let sse = app.post_stream("/v1/chat/completions", &tool).await;
    assert!(
        sse_text(&sse).starts_with(&notice("urgent", "pt-BR")),
        "{sse}"
    );

    app.settle().await;
    let stored = app.conversation_messages("conv-trailing").await;
    let users: Vec<_> = stored
        .iter()
        .filter(|m| m.role.as_str() == "user")
        .collect();
    assert_eq!(users.len(), 2, "the user's words are logged on both turns");
    for m in users {
        assert_eq!(m.content, words);
        assert!(m.urgent, "the conversation is urgent");
    }
}
