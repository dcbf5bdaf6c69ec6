//! External moderation in the request path and `POST /v1/moderations`, against a local server
//! that speaks Azure AI Content Safety and OpenAI's moderation protocol; and the bad input both
//! endpoints must refuse with a clear 4xx.

use crate::common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use common::{Spawn, TestApp, chat, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const CPF: &str = "529.982.247-25";

/// A moderation provider on 127.0.0.1. It flags a text by words in it: `socar` (violence),
/// `sumir pra sempre` (self-harm, which our own lexicons do not know), and answers 503 to every
/// request while `down` is set.
#[derive(Clone, Default)]
struct Provider {
    seen: Arc<Mutex<Vec<String>>>,
    down: Arc<Mutex<bool>>,
}

impl Provider {
    async fn start() -> (Provider, SocketAddr) {
        let p = Provider::default();
        let router = axum::Router::new()
            .route("/contentsafety/text:analyze", post(azure))
            .route("/v1/moderations", post(openai))
            .with_state(p.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (p, addr)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }

    /// Records the text; `None` when down.
    fn read(&self, text: &str) -> Option<(bool, bool)> {
        self.seen.lock().unwrap().push(text.to_string());
        if *self.down.lock().unwrap() {
            return None;
        }
        let t = text.to_lowercase();
        Some((t.contains("socar"), t.contains("sumir pra sempre")))
    }
}

async fn azure(
    State(p): State<Provider>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, axum::http::StatusCode> {
    let (violence, self_harm) = p
        .read(body["text"].as_str().unwrap_or_default())
        .ok_or(axum::http::StatusCode::SERVICE_UNAVAILABLE)?;
    let sev = |on: bool| if on { 6 } else { 0 };
    Ok(Json(json!({"blocklistsMatch": [], "categoriesAnalysis": [
        {"category": "Hate", "severity": 0},
        {"category": "SelfHarm", "severity": sev(self_harm)},
        {"category": "Sexual", "severity": 0},
        {"category": "Violence", "severity": sev(violence)},
    ]})))
}

async fn openai(
    State(p): State<Provider>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, axum::http::StatusCode> {
    let (violence, self_harm) = p
        .read(body["input"].as_str().unwrap_or_default())
        .ok_or(axum::http::StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(Json(
        json!({"id": "modr-x", "model": "omni-moderation-latest", "results": [{
            "flagged": violence || self_harm,
            "categories": {"violence": violence, "self-harm/intent": self_harm, "hate": false},
            "category_scores": {"violence": 0.0, "self-harm/intent": 0.0, "hate": 0.0},
        }]}),
    ))
}

/// A gateway whose `[moderation]` points at `addr` over `protocol` ("azure" or "openai").
async fn gateway(addr: SocketAddr, protocol: &str, on_error: &str) -> TestApp {
    let section = match protocol {
        "azure" => format!(
            "[moderation]\nprovider = \"azure\"\nendpoint = \"http://{addr}\"\napi_key_env = \"TEST_CONTENT_SAFETY_KEY\"\ntimeout_ms = 1500\non_error = \"{on_error}\"\n"
        ),
        _ => format!(
            "[moderation]\nprovider = \"openai\"\napi_base = \"http://{addr}/v1\"\ntimeout_ms = 1500\non_error = \"{on_error}\"\n"
        ),
    };
    spawn_app_with(Spawn {
        extra_toml: section,
        env: HashMap::from([(
            "TEST_CONTENT_SAFETY_KEY".to_string(),
            "test-key".to_string(),
        )]),
        ..Spawn::default()
    })
    .await
}

async fn answer(app: &TestApp, body: &Value) -> Value {
    let res = app.post("/v1/chat/completions", body).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn content(v: &Value) -> &str {
    v["choices"][0]["message"]["content"].as_str().unwrap()
}

#[tokio::test]
async fn a_message_the_provider_flags_is_answered_with_help_lines_and_no_model_call() {
    let (provider, addr) = Provider::start().await;
    for protocol in ["azure", "openai"] {
        let app = gateway(addr, protocol, "fail_open").await;
        let body = chat("gpt-echo", "ele disse que vai me socar se eu contar");
        let v = answer(&app, &body).await;
        assert_eq!(
            content(&v),
            common::notice("moderated", "pt-BR"),
            "{protocol}: the help lines (Ligue 180)"
        );
        let guard = &v["powerbirth"]["guard"];
        assert_eq!(guard["decision"], "block", "{protocol}: {guard}");
        assert_eq!(guard["moderation"]["status"], "flagged");
        assert!(
            app.upstream.requests().is_empty(),
            "{protocol}: no model call"
        );
        // Streamed too: the same reply, no model call.
        let mut stream = body.clone();
        stream["stream"] = json!(true);
        let sse = app.post_stream("/v1/chat/completions", &stream).await;
        assert_eq!(
            common::sse_text(&sse),
            common::notice("moderated", "pt-BR"),
            "{sse}"
        );
        assert!(app.upstream.requests().is_empty());
    }
    assert_eq!(
        provider.seen().len(),
        4,
        "two protocols, each asked once for the answer and once for the stream"
    );
}

#[tokio::test]
async fn self_harm_flagged_by_the_provider_escalates_with_the_crisis_notice_and_is_urgent() {
    let (_provider, addr) = Provider::start().await;
    let app = gateway(addr, "azure", "fail_open").await;
    let mut body = chat("gpt-echo", "às vezes penso em sumir pra sempre");
    body["metadata"] = json!({"conversation_id": "conv-mod-sh"});
    let v = answer(&app, &body).await;
    assert_eq!(
        content(&v),
        format!(
            "{}\n\necho: às vezes penso em sumir pra sempre",
            common::notice("crisis", "pt-BR")
        ),
        "crisis notice (CVV 188) first, then the model"
    );
    assert_eq!(v["powerbirth"]["guard"]["decision"], "escalate");
    assert_eq!(v["powerbirth"]["guard"]["urgent"], true);
    assert_eq!(app.upstream.requests().len(), 1, "the model still answers");
    app.settle().await;
    let stored = app.conversation_messages("conv-mod-sh").await;
    assert!(
        stored.iter().any(|m| m.urgent),
        "the conversation is urgent"
    );
}

#[tokio::test]
async fn personal_data_never_reaches_the_moderation_provider() {
    let (provider, addr) = Provider::start().await;
    let app = gateway(addr, "openai", "fail_open").await;
    let text = format!("meu cpf é {CPF} e meu email ana@example.com");
    answer(&app, &chat("gpt-echo", &text)).await;
    let seen = provider.seen().join("\n");
    assert!(
        !seen.contains(CPF) && !seen.contains("ana@example.com"),
        "{seen}"
    );
    assert!(seen.contains("[CPF]"), "{seen}");
}

#[tokio::test]
async fn an_outage_with_fail_open_answers_and_says_moderation_was_unavailable() {
    let (provider, addr) = Provider::start().await;
    provider.set_down(true);
    let app = gateway(addr, "azure", "fail_open").await;
    let v = answer(&app, &chat("gpt-echo", "posso comer queijo na gravidez?")).await;
    assert_eq!(app.upstream.requests().len(), 1, "the model answered");
    let m = &v["powerbirth"]["guard"]["moderation"];
    assert_eq!(m["status"], "unavailable", "{v}");
    assert_eq!(m["on_error"], "fail_open");
    assert_eq!(v["powerbirth"]["guard"]["decision"], "pass");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("powerbirth_moderation_checks_total{outcome=\"unavailable\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_outage_with_fail_closed_blocks_but_still_gives_the_urgent_notice_first() {
    let (provider, addr) = Provider::start().await;
    provider.set_down(true);
    let app = gateway(addr, "azure", "fail_closed").await;
    let v = answer(&app, &chat("gpt-echo", "posso comer queijo na gravidez?")).await;
    assert!(app.upstream.requests().is_empty(), "no model call");
    assert!(content(&v).contains("tente de novo") || content(&v).contains("Tente de novo"));
    let m = &v["powerbirth"]["guard"]["moderation"];
    assert_eq!(
        (m["status"].as_str(), m["on_error"].as_str()),
        (Some("unavailable"), Some("fail_closed"))
    );

    let v = answer(
        &app,
        &chat(
            "gpt-echo",
            "to com 34 semanas, sangrando muito e com dor forte na barriga",
        ),
    )
    .await;
    let text = content(&v);
    assert!(text.starts_with("Atenção"), "urgent notice first: {text}");
    assert!(
        text.contains("SAMU 192") && text.contains("Tente de novo"),
        "{text}"
    );
    assert_eq!(v["powerbirth"]["guard"]["urgent"], true);
}

#[tokio::test]
async fn an_unreachable_provider_is_an_outage() {
    // Port 9 (discard) has no listener here: connection refused is an outage like a timeout.
    let app = gateway("127.0.0.1:9".parse().unwrap(), "openai", "fail_open").await;
    let v = answer(&app, &chat("gpt-echo", "oi")).await;
    assert_eq!(
        v["powerbirth"]["guard"]["moderation"]["status"],
        "unavailable"
    );
}

async fn moderate(app: &TestApp, body: &Value) -> (u16, Value) {
    let res = app.post("/v1/moderations", body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn moderations_speaks_openais_shape_with_the_guards_reading() {
    let app = spawn_app().await;
    let (status, v) = moderate(
        &app,
        &json!({"model": "omni-moderation-latest", "input": [
            "quero me matar",
            "to com 30 semanas e vazou um liquido, a bolsa estourou?",
            format!("meu cpf {CPF}"),
            "posso comer queijo?",
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["id"].as_str().unwrap().starts_with("modr-"));
    assert_eq!(v["model"], "omni-moderation-latest");
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 4);
    // Self-harm is harmful content in OpenAI's sense.
    assert_eq!(r[0]["flagged"], true);
    assert_eq!(r[0]["categories"]["self-harm"], true);
    assert_eq!(r[0]["category_scores"]["self-harm"], 1.0);
    assert_eq!(r[0]["powerbirth"]["categories"], json!(["self_harm"]));
    // A danger sign is escalated, never "flagged" (a client filtering flagged input must not drop it).
    assert_eq!(r[1]["flagged"], false);
    assert_eq!(r[1]["powerbirth"]["categories"], json!(["red_flag"]));
    assert_eq!(r[1]["powerbirth"]["actions"], json!(["escalate"]));
    assert_eq!(r[1]["powerbirth"]["urgent"], true);
    // Personal data: redacted text offered back.
    assert_eq!(r[2]["powerbirth"]["categories"], json!(["pii"]));
    assert_eq!(r[2]["powerbirth"]["redacted"], "meu cpf [CPF]");
    assert_eq!(r[3]["flagged"], false);
    assert_eq!(r[3]["powerbirth"]["actions"], json!(["pass"]));
    assert_eq!(r[3]["powerbirth"]["redacted"], Value::Null);
    for key in [
        "harassment",
        "hate",
        "sexual",
        "violence",
        "self-harm/intent",
    ] {
        assert_eq!(r[3]["categories"][key], false, "{key} is present");
    }

    // A single string and content parts are one input each.
    let (_, v) = moderate(&app, &json!({"input": "quanto de dipirona posso tomar?"})).await;
    assert_eq!(
        v["results"][0]["powerbirth"]["categories"],
        json!(["medication_dosing"])
    );
    assert_eq!(v["model"], "powerbirth-guard");
    let (_, v) = moderate(
        &app,
        &json!({"input": [{"type": "text", "text": "quero"}, {"type": "text", "text": "me matar"}]}),
    )
    .await;
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    assert_eq!(v["results"][0]["flagged"], true);
}

#[tokio::test]
async fn moderations_include_the_external_provider_and_its_outages() {
    let (provider, addr) = Provider::start().await;
    let app = gateway(addr, "openai", "fail_closed").await;
    let (_, v) = moderate(&app, &json!({"input": ["vou te socar", "bom dia"]})).await;
    let r = &v["results"];
    assert_eq!(r[0]["flagged"], true);
    assert_eq!(r[0]["categories"]["violence"], true);
    assert_eq!(r[0]["powerbirth"]["moderation"]["status"], "flagged");
    assert_eq!(r[1]["flagged"], false);
    assert_eq!(r[1]["powerbirth"]["moderation"]["status"], "clear");
    provider.set_down(true);
    let (status, v) = moderate(&app, &json!({"input": "bom dia"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        v["results"][0]["flagged"], true,
        "fail_closed counts as flagged"
    );
    assert_eq!(
        v["results"][0]["powerbirth"]["moderation"]["on_error"],
        "fail_closed"
    );
}

async fn error_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("errors are JSON");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (status, body)
}

async fn raw_post(app: &TestApp, path: &str, body: Vec<u8>) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(&app.client_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_on_chat_and_moderations() {
    let app = spawn_app().await;
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let nested_content = format!(
        r#"{{"model":"gpt-echo","messages":[{{"role":"user","content":{}"x"{}}}]}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let huge = json!({"input": "a".repeat(70_000)}).to_string();
    for path in ["/v1/chat/completions", "/v1/moderations"] {
        let cases: [(&str, Vec<u8>, u16); 6] = [
            ("empty body", Vec::new(), 400),
            ("binary", vec![0xff, 0xfe, 0x00, 0x9f, 0x92, 0x96], 400),
            ("deeply nested", nested.clone().into_bytes(), 400),
            (
                "deeply nested content",
                nested_content.clone().into_bytes(),
                400,
            ),
            ("over the body limit", huge.clone().into_bytes(), 413),
            ("not an object", b"\"hello\"".to_vec(), 400),
        ];
        for (what, body, want) in cases {
            let (status, body) = error_of(raw_post(&app, path, body).await).await;
            assert_eq!(status, want, "{path} {what}: {body}");
        }
    }
    for (input, param) in [
        (json!(""), "input"),
        (json!([]), "input"),
        (json!(["ok", "  "]), "input[1]"),
        (
            json!([{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]),
            "input[0].type",
        ),
        (json!(42), "input"),
    ] {
        let (status, body) =
            error_of(app.post("/v1/moderations", &json!({"input": input})).await).await;
        assert_eq!(status, 400, "{input}: {body}");
        assert_eq!(body["error"]["param"], param, "{input}: {body}");
    }
    // Empty chat content and an empty message list.
    for body in [
        json!({"model": "gpt-echo", "messages": []}),
        json!({"model": "gpt-echo", "messages": [{"role": "user", "content": ""}]}),
    ] {
        let (status, v) = error_of(app.post("/v1/chat/completions", &body).await).await;
        assert_eq!(status, 400, "{body}: {v}");
    }
    assert!(
        app.upstream.requests().is_empty(),
        "bad input never reaches the model"
    );
    // Moderations need a key like the rest of /v1.
    let res = app
        .http
        .post(app.url("/v1/moderations"))
        .json(&json!({"input": "oi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
