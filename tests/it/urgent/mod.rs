//! A danger sign always gets its notice (issue 23): an urgent turn (obstetric danger sign or
//! self-harm) never ends in an error — upstream down or timing out, budget spent, rate limit
//! hit, moderation down with `fail_closed` — while every other request keeps its error; the
//! fallbacks that matter (content filter, context length) and the cooldown of a dead model;
//! per-end-user limits.

mod failures;
mod fallback;
mod per_user;

use crate::common::{self, TestApp};
use serde_json::{Value, json};

/// An obstetric danger sign (pt-BR): the urgent-care notice, SAMU 192.
pub const DANGER: &str = "estou sangrando muito e com 30 semanas";
/// Self-harm (pt-BR): the crisis notice, CVV 188.
pub const SELF_HARM: &str = "não aguento mais, quero morrer";
/// A question with nothing urgent in it.
pub const PLAIN: &str = "posso comer queijo na gravidez?";

/// The notice an urgent message gets first.
pub fn notice_for(text: &str) -> String {
    let kind = if text == SELF_HARM {
        "crisis"
    } else {
        "urgent"
    };
    common::notice(kind, "pt-BR")
}

/// `text` in conversation `conv`.
pub fn turn(model: &str, text: &str, conv: &str) -> Value {
    let mut body = common::chat(model, text);
    body["metadata"] = json!({ "conversation_id": conv });
    body
}

/// Sends `body` (streamed when `stream`) and checks the static urgent reply: 200, the notice
/// first then the `degraded` text, `finish_reason: "stop"`, `powerbirth.degraded = why`, no
/// cost. Returns the answer's text.
pub async fn expect_degraded(app: &TestApp, body: &Value, stream: bool, why: &str) -> String {
    let text = body["messages"][0]["content"].as_str().unwrap().to_string();
    let want = format!(
        "{}\n\n{}",
        notice_for(&text),
        common::notice("degraded", "pt-BR")
    );
    if stream {
        let mut body = body.clone();
        body["stream"] = json!(true);
        let res = app.post("/v1/chat/completions", &body).await;
        assert_eq!(res.status(), 200, "a streamed urgent turn answers 200");
        let sse = res.text().await.unwrap();
        assert_eq!(common::sse_text(&sse), want, "{sse}");
        assert!(sse.contains(&format!("\"degraded\":\"{why}\"")), "{sse}");
        assert!(sse.contains("\"finish_reason\":\"stop\""), "{sse}");
        assert!(sse.contains("\"cost_usd\":\"0\""), "{sse}");
        assert!(sse.ends_with("data: [DONE]\n\n"));
        return want;
    }
    let res = app.post("/v1/chat/completions", body).await;
    assert_eq!(res.status(), 200, "an urgent turn answers 200");
    assert_eq!(res.headers()["x-powerbirth-cost-usd"], "0");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], want.as_str());
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["powerbirth"]["degraded"], why, "{v}");
    assert_eq!(v["powerbirth"]["guard"]["urgent"], true);
    want
}

/// The conversation filed under `stored` (see [`TestApp::conversation`]) is stored urgent,
/// answered (not an error) with `shown`, at no cost, and it is a candidate of the nurses' review
/// queue, flagged urgent.
pub async fn expect_in_urgent_queue(
    app: &TestApp,
    stored: &str,
    shown: &str,
    error_code: Option<&str>,
) {
    app.settle().await;
    let messages = app.store.conversation_messages(stored).await.unwrap();
    let user = messages.iter().find(|m| m.role.as_str() == "user").unwrap();
    assert!(user.urgent, "the turn is logged urgent");
    let answer = messages
        .iter()
        .find(|m| m.role.as_str() == "assistant")
        .unwrap();
    assert_eq!(answer.content, shown);
    assert_eq!(answer.status.as_str(), "blocked", "answered by the gateway");
    assert_eq!(answer.error_code.as_deref(), error_code);
    assert!(answer.cost_usd.is_none_or(|c| c.is_zero()), "no cost");
    let now = powerbirth::core::now_ms();
    let queue = app
        .store
        .reviews()
        .candidates(now - 3_600_000, now + 60_000, "eval")
        .await
        .unwrap();
    let item = queue.iter().find(|c| c.conversation_id == stored);
    assert!(
        item.is_some_and(|c| c.urgent),
        "the conversation reaches the urgent review queue"
    );
}
