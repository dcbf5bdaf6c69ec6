//! `powerbirth deploy check` through the real binary: against the real gateway with its real
//! risk endpoint (a fitted model in production, `risk::fixture`), its guard, notices and mock
//! upstream; against a small axum route that keeps the `POST /v1/risk/obstetric` contract in
//! front of the gateway (the check's own reading of the contract, independent of the endpoint);
//! and against a deliberately broken gateway that answers out of range, where it must fail with
//! a readable list.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::repo;
use crate::common::{self, Spawn, spawn_app, spawn_app_with};

/// The endpoint's ranges as the risk endpoint's contract states them (issue 16).
const RANGES: [(&str, f64, f64); 8] = [
    ("age_years", 10.0, 60.0),
    ("systolic_bp_mmhg", 60.0, 260.0),
    ("diastolic_bp_mmhg", 30.0, 160.0),
    ("blood_glucose_mmol_l", 1.0, 40.0),
    ("body_temperature_c", 34.0, 43.0),
    ("body_temperature_f", 93.2, 109.4),
    ("heart_rate_bpm", 30.0, 220.0),
    ("gestational_week", 1.0, 45.0),
];

fn field_error(field: &str, code: &str, message: String) -> (StatusCode, Json<Value>) {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": field, "code": code}});
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body))
}

/// A risk route that keeps the contract: 422 naming the field, probabilities that sum to 1,
/// the severe-hypertension override.
async fn contract_risk(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let Some(obj) = body.as_object() else {
        return field_error("body", "invalid_field", "a JSON object".into());
    };
    for key in obj.keys() {
        if !RANGES.iter().any(|(f, _, _)| f == key) {
            return field_error(key, "invalid_field", format!("unknown field {key}"));
        }
    }
    for (field, min, max) in RANGES {
        if let Some(v) = obj.get(field) {
            match v.as_f64() {
                Some(x) if (min..=max).contains(&x) => {}
                _ => {
                    return field_error(
                        field,
                        "invalid_field",
                        format!("{field} must be {min}–{max}"),
                    );
                }
            }
        }
    }
    for field in [
        "age_years",
        "systolic_bp_mmhg",
        "diastolic_bp_mmhg",
        "blood_glucose_mmol_l",
        "heart_rate_bpm",
    ] {
        if !obj.contains_key(field) {
            return field_error(field, "missing_field", format!("{field} is required"));
        }
    }
    if !obj.contains_key("body_temperature_c") && !obj.contains_key("body_temperature_f") {
        return field_error(
            "body_temperature_c",
            "missing_field",
            "body_temperature_c is required".into(),
        );
    }
    let get = |f: &str| obj[f].as_f64().unwrap();
    let (sys, dia) = (get("systolic_bp_mmhg"), get("diastolic_bp_mmhg"));
    if dia >= sys {
        let message = format!("diastolic_bp_mmhg ({dia}) must be below systolic_bp_mmhg ({sys})");
        return field_error("diastolic_bp_mmhg", "invalid_field", message);
    }
    let severe = sys >= 160.0 || dia >= 110.0;
    // A softmax over three scores: some patients low, some mid, some high.
    let score = (sys - 120.0) / 20.0 + (get("blood_glucose_mmol_l") - 6.0) / 3.0;
    let logits = [-score, 0.0, score];
    let exp: Vec<f64> = logits.iter().map(|l| f64::exp(*l)).collect();
    let total: f64 = exp.iter().sum();
    let p: Vec<f64> = exp.iter().map(|e| e / total).collect();
    let argmax = (0..3).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap();
    let level = if severe {
        "high"
    } else {
        ["low", "mid", "high"][argmax]
    };
    let notices = if severe {
        json!([common::notice("urgent", "pt-BR")])
    } else {
        json!([])
    };
    let answer = json!({"risk_level": level, "probabilities": {"low": p[0], "mid": p[1], "high": p[2]},
        "model": {"name": "risk", "version": "contract-1"}, "contributions": [],
        "escalate": severe, "notices": notices});
    (StatusCode::OK, Json(answer))
}

/// Forwards a chat or models call to the real gateway with the client's key and language.
async fn forward(
    State(gateway): State<String>,
    headers: HeaderMap,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: String,
) -> (StatusCode, String) {
    let mut req = reqwest::Client::new().request(method, format!("{gateway}{}", uri.path()));
    for name in ["authorization", "accept-language", "content-type"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.as_bytes());
        }
    }
    let res = req.body(body).send().await.unwrap();
    (
        StatusCode::from_u16(res.status().as_u16()).unwrap(),
        res.text().await.unwrap(),
    )
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn deploy_check(url: &str, key: &str, extra: &[&str]) -> (bool, String) {
    let notices = repo().join("guard/notices.toml");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .args([
            "deploy",
            "check",
            "--url",
            url,
            "--key",
            key,
            "--chat-model",
            "gpt-echo",
        ])
        .arg("--notices")
        .arg(&notices)
        .args(extra)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => (true, text),
        Some(1) => (false, text),
        other => panic!("deploy check exited with {other:?}: {text}"),
    }
}

/// (tests, failures) of a JUnit report, read with a real XML parser.
fn junit_counts(path: &std::path::Path) -> (usize, usize) {
    let xml = std::fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().0 {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    (cases, failures)
}

#[tokio::test]
async fn the_chat_turns_pass_against_the_real_gateway() {
    let app = spawn_app().await;
    let (passed, out) = deploy_check(&app.url(""), &app.client_key, &["--count", "0"]).await;
    assert!(passed, "{out}");
    assert!(out.contains("4 checks, 4 passed, 0 failed"), "{out}");
}

#[tokio::test]
async fn fifty_risk_requests_and_the_chat_turns_pass_where_the_contract_is_kept() {
    let app = spawn_app().await;
    let router = axum::Router::new()
        .route("/v1/risk/obstetric", post(contract_risk))
        .route("/v1/chat/completions", post(forward))
        .route("/v1/models", get(forward))
        .with_state(app.url(""));
    let addr = serve(router).await;
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("check.xml");
    let (passed, out) = deploy_check(
        &format!("http://{addr}"),
        &app.client_key,
        &["--junit", junit.to_str().unwrap()],
    )
    .await;
    assert!(passed, "{out}");
    assert!(out.contains("54 checks, 54 passed, 0 failed"), "{out}");
    assert_eq!(junit_counts(&junit), (54, 0));
}

async fn broken_risk() -> Json<Value> {
    Json(
        json!({"risk_level": "mid", "probabilities": {"low": 1.3, "mid": -0.2, "high": -0.1},
        "model": {"name": "risk", "version": "broken"}, "contributions": [], "escalate": false, "notices": []}),
    )
}

async fn broken_chat() -> Json<Value> {
    Json(
        json!({"id": "x", "object": "chat.completion", "model": "gpt-echo",
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Take 1000 mg of paracetamol every 6 hours."}}]}),
    )
}

#[tokio::test]
async fn a_gateway_that_answers_out_of_range_fails_the_check_with_a_readable_list() {
    let router = axum::Router::new()
        .route("/v1/risk/obstetric", post(broken_risk))
        .route("/v1/chat/completions", post(broken_chat));
    let addr = serve(router).await;
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("check.xml");
    let (passed, out) = deploy_check(
        &format!("http://{addr}"),
        "pb-any",
        &["--junit", junit.to_str().unwrap()],
    )
    .await;
    assert!(!passed, "a broken gateway passed:\n{out}");
    assert!(out.contains("54 checks, 0 passed, 54 failed"), "{out}");
    for line in [
        "FAIL risk #01 low extremes",
        "probabilities.low = 1.3 is not in [0, 1]",
        "expected a 4xx naming",
        "FAIL chat danger sign (pt-BR): the urgent-care notice (pt-BR) is not at the start of the answer: Take 1000 mg",
        "FAIL chat dose question (en): the dosing reply (en) is not at the start",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert_eq!(junit_counts(&junit), (54, 54));
}

#[tokio::test]
async fn severe_hypertension_answered_mid_is_named_as_such() {
    async fn not_escalated(Json(body): Json<Value>) -> Json<Value> {
        let _ = body;
        Json(
            json!({"risk_level": "mid", "probabilities": {"low": 0.2, "mid": 0.5, "high": 0.3},
            "model": {"name": "risk", "version": "v"}, "contributions": [], "escalate": false, "notices": []}),
        )
    }
    let addr = serve(axum::Router::new().route("/v1/risk/obstetric", post(not_escalated))).await;
    let (passed, out) = deploy_check(&format!("http://{addr}"), "pb-any", &["--count", "5"]).await;
    assert!(!passed);
    assert!(
        out.contains(
            "severe hypertension must be high and escalated, got mid with escalate = false"
        ),
        "{out}"
    );
}

#[tokio::test]
async fn the_image_health_probe_follows_readyz() {
    let app = spawn_app().await;
    let probe = |url: String| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
            .args(["deploy", "probe", "--url", &url])
            .output()
            .await
            .unwrap()
    };
    let ok = probe(app.url("/readyz")).await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let missing = probe(app.url("/no-such-route")).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("HTTP 4"));
}

#[tokio::test]
async fn fifty_risk_requests_and_the_chat_turns_pass_on_the_real_gateway_and_its_risk_model() {
    let root = crate::risk::fixture::registry_with_lr_in_production().await;
    let app = spawn_app_with(Spawn {
        extra_toml: crate::risk::fixture::risk_toml(root.path(), ""),
        ..Spawn::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("check.xml");
    let (passed, out) = deploy_check(
        &app.url(""),
        &app.client_key,
        &["--junit", junit.to_str().unwrap()],
    )
    .await;
    assert!(passed, "{out}");
    assert!(out.contains("54 checks, 54 passed, 0 failed"), "{out}");
    assert_eq!(junit_counts(&junit), (54, 0));
}
