//! Each way an urgent turn's answer can fail, with a danger sign and with self-harm, streamed and
//! not: the static reply (notice first, 200) and the turn in the urgent review queue; the same
//! failure keeps its error for a turn that is not urgent.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{DANGER, PLAIN, SELF_HARM, expect_degraded, expect_in_urgent_queue, turn};
use crate::common::{self, Spawn, TestApp, on_both_backends, spawn_app, spawn_app_with};
use powerbirth::core::ConversationId;
use powerbirth::store::keys::Role;

/// Every urgent combination: (message, streamed).
const CASES: [(&str, bool); 4] = [
    (DANGER, false),
    (DANGER, true),
    (SELF_HARM, false),
    (SELF_HARM, true),
];

/// Each case in its own conversation, answered with `why`, and found in the urgent queue.
async fn every_case_is_degraded(
    app: &TestApp,
    model: &str,
    why: &str,
    error_code: Option<&str>,
    tag: &str,
) {
    for (i, (text, stream)) in CASES.into_iter().enumerate() {
        let conv = format!("conv-{tag}-{i}");
        let shown = expect_degraded(app, &turn(model, text, &conv), stream, why).await;
        expect_in_urgent_queue(app, &app.conversation(&conv), &shown, error_code).await;
    }
}

/// A request that is not urgent: its status and error code, streamed or not (the same: the
/// failure happens before any chunk).
async fn plain_error(app: &TestApp, key: &str, model: &str) -> [(u16, Value); 2] {
    let mut out = Vec::new();
    for stream in [false, true] {
        let mut body = common::chat(model, PLAIN);
        body["stream"] = json!(stream);
        let res = post_as(app, key, &body).await;
        let status = res.status().as_u16();
        let v: Value = res.json().await.unwrap();
        out.push((status, v["error"]["code"].clone()));
    }
    out.try_into().unwrap()
}

async fn post_as(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn every_model_down_still_gives_the_notice() {
    let app = spawn_app().await;
    let why = "upstream_unavailable";
    every_case_is_degraded(
        &app,
        "gpt-down-alone",
        why,
        Some("upstream_http_503"),
        "down",
    )
    .await;
    let code = json!("upstream_http_503");
    assert_eq!(
        plain_error(&app, &app.client_key, "gpt-down-alone").await,
        [(502, code.clone()), (502, code)],
        "a turn that is not urgent keeps its error"
    );
}
on_both_backends!(every_model_down_still_gives_the_notice);

#[tokio::test]
async fn a_timeout_still_gives_the_notice() {
    let app = spawn_app().await;
    let why = "upstream_unavailable";
    every_case_is_degraded(&app, "gpt-slow", why, Some("upstream_timeout"), "slow").await;
    let code = json!("upstream_timeout");
    assert_eq!(
        plain_error(&app, &app.client_key, "gpt-slow").await,
        [(504, code.clone()), (504, code)]
    );
}

#[tokio::test]
async fn a_spent_budget_still_gives_the_notice_without_calling_a_model() {
    let app = spawn_app().await;
    let spent = powerbirth::core::UsdCost::ZERO;
    let (spent_key, key) = app
        .store
        .create_key_with_budget("spent", Role::Client, None, Some(spent))
        .await
        .unwrap();
    for (i, (text, stream)) in CASES.into_iter().enumerate() {
        let conv = format!("conv-budget-{i}");
        let mut body = turn("gpt-echo", text, &conv);
        body["stream"] = json!(stream);
        let res = post_as(&app, &key, &body).await;
        assert_eq!(res.status(), 200);
        let raw = res.text().await.unwrap();
        assert!(raw.contains("\"degraded\":\"budget\""), "{raw}");
        let shown = if stream {
            common::sse_text(&raw)
        } else {
            let v: Value = serde_json::from_str(&raw).unwrap();
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(shown.starts_with(&super::notice_for(text)), "{shown}");
        let stored = ConversationId::scoped(&spent_key.id, &conv);
        expect_in_urgent_queue(&app, stored.stored(), &shown, Some("insufficient_quota")).await;
    }
    assert_eq!(app.upstream.calls(), 0, "the static reply calls no model");
    let code = json!("insufficient_quota");
    assert_eq!(
        plain_error(&app, &key, "gpt-echo").await,
        [(429, code.clone()), (429, code)]
    );
}

#[tokio::test]
async fn a_rate_limited_key_still_gets_the_notice_and_others_keep_their_429() {
    let app = spawn_app_with(Spawn {
        client_rpm: Some(1),
        ..Spawn::default()
    })
    .await;
    let first = app
        .post("/v1/chat/completions", &common::chat("gpt-echo", PLAIN))
        .await;
    assert_eq!(first.status(), 200);
    let refused = app
        .post("/v1/chat/completions", &common::chat("gpt-echo", PLAIN))
        .await;
    assert_eq!(refused.status(), 429, "refused exactly as before");
    assert!(refused.headers().contains_key("retry-after"));
    let v: Value = refused.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    let calls = app.upstream.calls();
    every_case_is_degraded(
        &app,
        "gpt-echo",
        "rate_limit",
        Some("rate_limit_exceeded"),
        "rl",
    )
    .await;
    assert_eq!(
        app.upstream.calls(),
        calls,
        "the static reply calls no model"
    );
    // A refused request stays refused even when its body is bad or names no known model.
    let bad = app.post("/v1/chat/completions", &json!({"model": 3})).await;
    assert_eq!(bad.status(), 429);
    let unknown = app
        .post("/v1/chat/completions", &common::chat("nope", DANGER))
        .await;
    assert_eq!(unknown.status(), 429);
}

#[tokio::test]
async fn moderation_down_with_fail_closed_still_gives_the_notice_first() {
    // Port 9 (discard) has no listener here: the moderation provider is down.
    let app = spawn_app_with(Spawn {
        extra_toml: "[moderation]\nprovider = \"openai\"\napi_base = \"http://127.0.0.1:9/v1\"\ntimeout_ms = 500\non_error = \"fail_closed\"\n".into(),
        env: HashMap::new(),
        ..Spawn::default()
    })
    .await;
    let unavailable = common::notice("unavailable", "pt-BR");
    for (i, (text, stream)) in CASES.into_iter().enumerate() {
        let conv = format!("conv-moderation-{i}");
        let mut body = turn("gpt-echo", text, &conv);
        body["stream"] = json!(stream);
        let res = app.post("/v1/chat/completions", &body).await;
        assert_eq!(res.status(), 200);
        let raw = res.text().await.unwrap();
        assert!(
            raw.contains("\"degraded\":\"moderation_unavailable\""),
            "{raw}"
        );
        assert!(raw.contains("\"finish_reason\":\"stop\""), "{raw}");
        let shown = if stream {
            common::sse_text(&raw)
        } else {
            let v: Value = serde_json::from_str(&raw).unwrap();
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let want = format!("{}\n\n{unavailable}", super::notice_for(text));
        assert_eq!(shown, want);
        expect_in_urgent_queue(&app, &app.conversation(&conv), &shown, None).await;
    }
    assert_eq!(app.upstream.calls(), 0);
    // Not urgent: the `unavailable` reply as before, not marked degraded.
    let v: Value = app
        .post("/v1/chat/completions", &common::chat("gpt-echo", PLAIN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], unavailable.as_str());
    assert!(v["powerbirth"]["degraded"].is_null(), "{v}");
}
