//! The fallbacks that matter: a provider's content filter or context window (a 400 with an OpenAI
//! error code) moves on to the next model unless `fallback_on` leaves it out; a dead model cools
//! down and is skipped; an escalated turn may go on to `escalated_fallbacks`.

use serde_json::{Value, json};

use super::{DANGER, PLAIN, notice_for};
use crate::common::{self, Spawn, TestApp, spawn_app_with};

/// One extra `[[models]]` entry on the mock upstream.
fn model(name: &str, upstream: &str, extra: &str) -> String {
    format!(
        "[[models]]\nname = \"{name}\"\nprovider = \"openai\"\napi_base = \"{{api_base}}\"\nupstream_model = \"{upstream}\"\ntimeout_ms = 2000\nmax_retries = 0\n{extra}\n[models.price]\ninput = \"0.15\"\noutput = \"0.60\"\n\n"
    )
}

async fn app_with(models: &[String]) -> TestApp {
    spawn_app_with(Spawn {
        extra_toml: models.concat(),
        ..Spawn::default()
    })
    .await
}

/// How many calls the mock upstream got for `upstream_model`.
fn calls_to(app: &TestApp, upstream_model: &str) -> usize {
    app.upstream
        .requests()
        .iter()
        .filter(|r| r.body["model"] == upstream_model)
        .count()
}

#[tokio::test]
async fn a_content_filter_or_context_length_400_falls_back_to_the_next_model() {
    let app = app_with(&[
        model("gpt-filtered", "filter-400", "fallbacks = [\"gpt-echo\"]"),
        model("gpt-short", "context-400", "fallbacks = [\"gpt-echo\"]"),
        model(
            "gpt-filtered-strict",
            "filter-400",
            "fallbacks = [\"gpt-echo\"]\nfallback_on = [\"5xx\", \"timeout\"]",
        ),
    ])
    .await;
    for name in ["gpt-filtered", "gpt-short"] {
        for stream in [false, true] {
            let mut body = common::chat(name, PLAIN);
            body["stream"] = json!(stream);
            let res = app.post("/v1/chat/completions", &body).await;
            assert_eq!(res.status(), 200, "{name} falls back");
            assert_eq!(res.headers()["x-powerbirth-model"], "gpt-echo");
        }
    }
    let res = app
        .post(
            "/v1/chat/completions",
            &common::chat("gpt-filtered-strict", PLAIN),
        )
        .await;
    assert_eq!(
        res.status(),
        400,
        "fallback_on without content_filter: the client's 400"
    );
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_rejected");
    // A plain 400 (a bad request) is still the client's, never retried elsewhere.
    let res = app
        .post("/v1/chat/completions", &common::chat("gpt-rejects", PLAIN))
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_model_that_keeps_failing_cools_down_and_is_skipped() {
    let app = app_with(&[model(
        "gpt-dead",
        "fail-503",
        "fallbacks = [\"gpt-echo\"]\ncooldown_after = 2\ncooldown_ms = 60000",
    )])
    .await;
    for _ in 0..4 {
        let res = app
            .post("/v1/chat/completions", &common::chat("gpt-dead", PLAIN))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-powerbirth-model"], "gpt-echo");
    }
    assert_eq!(
        calls_to(&app, "fail-503"),
        2,
        "after two failures in a row the dead model is not called"
    );
    let ready: Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dead = ready["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["model"] == "gpt-dead")
        .unwrap()
        .clone();
    assert_eq!(dead["state"], "cooldown", "{ready}");
    assert_eq!(dead["consecutive_failures"], 2);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("powerbirth_upstream_cooldown{model=\"gpt-dead\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_urgent_turn_goes_on_to_its_escalated_fallbacks_and_others_do_not() {
    let app = app_with(&[model(
        "gpt-remote",
        "fail-503",
        "escalated_fallbacks = [\"gpt-echo\"]",
    )])
    .await;
    let res = app
        .post("/v1/chat/completions", &common::chat("gpt-remote", PLAIN))
        .await;
    assert_eq!(
        res.status(),
        502,
        "not urgent: the chain ends at its fallbacks"
    );
    let res = app
        .post("/v1/chat/completions", &common::chat("gpt-remote", DANGER))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-powerbirth-model"], "gpt-echo");
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        format!("{}\n\necho: {DANGER}", notice_for(DANGER)),
        "the last resort's answer, after the notice"
    );
    assert!(v["powerbirth"]["degraded"].is_null());
}
