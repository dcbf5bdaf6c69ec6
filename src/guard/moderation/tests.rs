//! The adapters against real local HTTP servers speaking each provider's protocol.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::*;

type Seen = Arc<Mutex<Vec<(HeaderMap, Option<String>, Value)>>>;

/// Starts `router` on port 0 and returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// Azure Content Safety: severity 4 for Violence when the text says "violence", 2 for SelfHarm
/// when it says "hurt", sleeps on "slow", answers 500 on "boom".
async fn azure_analyze(
    State(seen): State<Seen>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap();
    seen.lock().unwrap().push((headers, query, body.clone()));
    let text = body["text"].as_str().unwrap_or("");
    if text.contains("slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if text.contains("boom") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    let sev = |cond: bool, s: u64| if cond { s } else { 0 };
    axum::Json(json!({
        "blocklistsMatch": [],
        "categoriesAnalysis": [
            {"category": "Hate", "severity": 0},
            {"category": "SelfHarm", "severity": sev(text.contains("hurt"), 2)},
            {"category": "Sexual", "severity": 0},
            {"category": "Violence", "severity": sev(text.contains("violence"), 4)},
        ]
    }))
    .into_response()
}

/// OpenAI moderations: flags "self-harm" and "self-harm/intent" when the input says "hurt".
async fn openai_moderations(
    State(seen): State<Seen>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap();
    seen.lock().unwrap().push((headers, None, body.clone()));
    let text = body["input"].as_str().unwrap_or("");
    if text.contains("slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let hurt = text.contains("hurt");
    axum::Json(json!({
        "id": "modr-1", "model": "omni-moderation-latest",
        "results": [{
            "flagged": hurt,
            "categories": {"self-harm": hurt, "self-harm/intent": hurt, "violence": false},
            "category_scores": {"self-harm": if hurt {0.93} else {0.01}, "self-harm/intent": 0.9, "violence": 0.0}
        }]
    }))
    .into_response()
}

async fn azure_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let router = Router::new()
        .route("/contentsafety/text:analyze", post(azure_analyze))
        .with_state(seen.clone());
    (serve(router).await, seen)
}

async fn openai_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let router = Router::new()
        .route("/v1/moderations", post(openai_moderations))
        .with_state(seen.clone());
    (format!("{}/v1", serve(router).await), seen)
}

fn settings(toml_text: &str, vars: &[(&str, &str)]) -> Result<ModerationSettings, String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    toml::from_str::<RawModerationConfig>(toml_text)
        .map_err(|e| e.to_string())?
        .validate(&vars)
}

fn azure(endpoint: &str, extra: &str) -> Moderator {
    let cfg = settings(
        &format!(
            "provider = \"azure\"\nendpoint = \"{endpoint}/\"\napi_key_env = \"CS_KEY\"\ntimeout_ms = 500\n{extra}"
        ),
        &[("CS_KEY", "azure-secret")],
    )
    .unwrap();
    Moderator::new(reqwest::Client::new(), cfg)
}

fn openai(api_base: &str, extra: &str) -> Moderator {
    let cfg = settings(
        &format!(
            "provider = \"openai\"\napi_base = \"{api_base}\"\napi_key_env = \"OAI\"\ntimeout_ms = 500\n{extra}"
        ),
        &[("OAI", "sk-test")],
    )
    .unwrap();
    Moderator::new(reqwest::Client::new(), cfg)
}

#[tokio::test]
async fn azure_flags_a_category_at_its_threshold_and_sends_the_key_header_and_api_version() {
    let (url, seen) = azure_server().await;
    let m = azure(&url, "[thresholds]\nviolence = 4\nself_harm = 2");
    let out = m.check("some violence and hurt").await;
    assert_eq!(
        out,
        ModerationOutcome::Flagged {
            categories: vec!["SelfHarm".into(), "Violence".into()]
        }
    );
    assert!(out.is_self_harm() && out.blocks());
    let (headers, query, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(headers["ocp-apim-subscription-key"], "azure-secret");
    assert_eq!(query.as_deref(), Some("api-version=2024-09-01"));
    assert_eq!(body["text"], "some violence and hurt");
}

#[tokio::test]
async fn azure_below_every_threshold_is_clear() {
    let (url, _) = azure_server().await;
    let m = azure(&url, "[thresholds]\nviolence = 6\nself_harm = 4");
    assert_eq!(m.check("violence hurt").await, ModerationOutcome::Clear);
    assert_eq!(m.check("bom dia").await, ModerationOutcome::Clear);
}

#[tokio::test]
async fn azure_long_texts_are_sent_in_pieces_of_ten_thousand_characters() {
    let (url, seen) = azure_server().await;
    let m = azure(&url, "");
    let text = "á".repeat(25_000);
    assert_eq!(m.check(&text).await, ModerationOutcome::Clear);
    let lens: Vec<usize> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, b)| b["text"].as_str().unwrap().chars().count())
        .collect();
    assert_eq!(lens, vec![10_000, 10_000, 5_000]);
}

#[tokio::test]
async fn openai_flagged_categories_are_reported_with_the_bearer_key() {
    let (url, seen) = openai_server().await;
    let m = openai(&url, "");
    let out = m.check("I want to hurt myself").await;
    assert_eq!(
        out,
        ModerationOutcome::Flagged {
            categories: vec!["self-harm".into(), "self-harm/intent".into()]
        }
    );
    assert!(out.is_self_harm());
    assert_eq!(m.check("hello").await, ModerationOutcome::Clear);
    let (headers, _, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(headers["authorization"], "Bearer sk-test");
    assert_eq!(body["model"], "omni-moderation-latest");
}

#[tokio::test]
async fn a_timeout_fails_open_or_closed_as_configured() {
    let (url, _) = azure_server().await;
    let open = azure(&url, "on_error = \"fail_open\"").check("slow").await;
    assert!(matches!(
        open,
        ModerationOutcome::Unavailable {
            fail_open: true,
            ..
        }
    ));
    assert!(!open.blocks());
    let (url, _) = openai_server().await;
    let closed = openai(&url, "on_error = \"fail_closed\"")
        .check("slow")
        .await;
    match &closed {
        ModerationOutcome::Unavailable { fail_open, reason } => {
            assert!(!fail_open);
            assert!(reason.contains("500 ms"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(closed.blocks());
}

#[tokio::test]
async fn a_server_error_or_a_closed_port_is_unavailable_without_leaking_the_key() {
    let (url, _) = azure_server().await;
    let out = azure(&url, "on_error = \"fail_closed\"")
        .check("boom")
        .await;
    let ModerationOutcome::Unavailable { fail_open, reason } = out else {
        panic!("expected unavailable");
    };
    assert!(!fail_open && reason.contains("500") && !reason.contains("azure-secret"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = azure(&dead, "").check("x").await;
    assert!(
        matches!(
            out,
            ModerationOutcome::Unavailable {
                fail_open: true,
                ..
            }
        ),
        "{out:?}"
    );
}

#[tokio::test]
async fn no_provider_is_always_clear_without_a_call() {
    let m = Moderator::new(reqwest::Client::new(), settings("", &[]).unwrap());
    assert!(!m.is_enabled());
    assert_eq!(m.check("anything").await, ModerationOutcome::Clear);
}

#[test]
fn the_section_is_validated_with_messages_that_name_the_key() {
    let d = settings("", &[]).unwrap();
    assert!(matches!(d.provider, ModerationProvider::None));
    assert_eq!(
        (d.timeout, d.on_error),
        (Duration::from_secs(2), OnError::FailOpen)
    );
    for (text, needle) in [
        ("provider = \"azur\"", "provider"),
        ("provider = \"azure\"\napi_key_env = \"K\"", "endpoint"),
        (
            "provider = \"azure\"\nendpoint = \"https://x\"",
            "api_key_env",
        ),
        (
            "provider = \"azure\"\nendpoint = \"https://x\"\napi_key_env = \"MISSING\"",
            "MISSING",
        ),
        (
            "provider = \"azure\"\nendpoint = \"x\"\napi_key_env = \"K\"",
            "http",
        ),
        (
            "provider = \"azure\"\nendpoint = \"https://x\"\napi_key_env = \"K\"\n[thresholds]\nhate = 0",
            "hate",
        ),
        ("provider = \"openai\"", "api_base"),
        (
            "provider = \"openai\"\napi_base = \"https://x\"\n[thresholds]\nhate = 2",
            "thresholds",
        ),
        ("on_error = \"ignore\"", "on_error"),
        ("timeout_ms = 0", "timeout_ms"),
        ("endpont = \"https://x\"", "endpont"),
        ("[thresholds]\nhat = 2", "hat"),
    ] {
        let err = settings(text, &[("K", "k")]).unwrap_err();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn the_key_never_shows_in_debug_output() {
    let cfg = settings(
        "provider = \"azure\"\nendpoint = \"https://x\"\napi_key_env = \"K\"",
        &[("K", "very-secret-key")],
    )
    .unwrap();
    let m = Moderator::new(reqwest::Client::new(), cfg);
    assert!(!format!("{m:?}").contains("very-secret-key"));
}
