//! `POST /v1/risk/obstetric` as a client meets it: the answer and its model version, a 422 naming
//! each field a client can get wrong, °F and °C alike, the clinical override with the chat guard's
//! own urgent-care notice in the client's language, and a patient id with nothing stored.
//! The prediction log and outcomes are in `log`, the model swap under load in `swap`.

pub(crate) mod fixture;
pub(crate) mod log;
mod mlflow;
mod patient;
mod swap;

use serde_json::{Value, json};

use crate::common::{Spawn, TestApp, spawn_app_with};

/// A low-risk woman (a row of the shipped data, temperature in °C).
fn measurements() -> Value {
    json!({"age_years": 25, "systolic_bp_mmhg": 120, "diastolic_bp_mmhg": 80,
           "blood_glucose_mmol_l": 7.0, "body_temperature_c": 36.8, "heart_rate_bpm": 70})
}

/// An app serving the logistic regression (production) with the boosted model registered.
async fn app_with_models(extra: &str) -> (TestApp, tempfile::TempDir) {
    let root = fixture::registry_with_lr_in_production().await;
    let app = spawn_app_with(Spawn {
        extra_toml: fixture::risk_toml(root.path(), extra),
        // The swap test sends thousands of requests: the key's rate limit must not answer them.
        client_rpm: Some(10_000_000),
        ..Spawn::default()
    })
    .await;
    (app, root)
}

async fn assess(app: &TestApp, body: &Value) -> (u16, Option<String>, Value) {
    let res = app.post("/v1/risk/obstetric", body).await;
    let status = res.status().as_u16();
    let version = res
        .headers()
        .get("x-model-version")
        .map(|v| v.to_str().unwrap().to_string());
    (status, version, res.json().await.unwrap())
}

#[tokio::test]
async fn a_measured_woman_gets_a_level_probabilities_contributions_and_the_model_version() {
    let (app, _root) = app_with_models("").await;
    let (status, version, body) = assess(&app, &measurements()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(version.as_deref(), Some(fixture::LR));
    assert_eq!(
        body["model"],
        json!({"name": "risk", "version": fixture::LR})
    );
    let p = &body["probabilities"];
    let sum: f64 = ["low", "mid", "high"]
        .iter()
        .map(|k| p[k].as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-9, "{p}");
    assert_eq!(body["risk_level"], "low", "{body}");
    assert_eq!(body["escalate"], false);
    assert_eq!(body["notices"], json!([]));
    let contributions = body["contributions"].as_array().unwrap();
    assert_eq!(contributions.len(), 6);
    // The model reads °F: 36.8 °C is 98.24 °F.
    let temp = contributions
        .iter()
        .find(|c| c["feature"] == "BodyTemp")
        .unwrap();
    assert!(
        (temp["value"].as_f64().unwrap() - 98.24).abs() < 1e-9,
        "{temp}"
    );
    assert!(uuid::Uuid::parse_str(body["prediction_id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn every_implausible_value_is_a_422_naming_the_field_and_its_range() {
    let (app, _root) = app_with_models("").await;
    let cases = [
        ("age_years", json!(9), "10–60"),
        ("systolic_bp_mmhg", json!(261), "60–260"),
        ("diastolic_bp_mmhg", json!(29), "30–160"),
        ("blood_glucose_mmol_l", json!(41), "1–40"),
        ("body_temperature_c", json!(44), "34–43"),
        ("body_temperature_f", json!(90), "93.2–109.4"),
        ("heart_rate_bpm", json!(250), "30–220"),
        ("gestational_week", json!(50), "1–45"),
        ("age_years", json!("twenty"), "10 and 60"),
    ];
    for (field, value, range) in cases {
        let mut body = measurements();
        if field == "body_temperature_f" {
            body.as_object_mut().unwrap().remove("body_temperature_c");
        }
        body[field] = value;
        let (status, version, answer) = assess(&app, &body).await;
        assert_eq!(status, 422, "{field}: {answer}");
        assert_eq!(version.as_deref(), Some(fixture::LR), "{field}");
        let e = &answer["error"];
        assert_eq!(
            (e["param"].as_str(), e["code"].as_str()),
            (Some(field), Some("invalid_field"))
        );
        assert_eq!(e["type"], "invalid_request_error");
        assert!(
            e["message"].as_str().unwrap().contains(range),
            "{field}: {e}"
        );
    }
}

#[tokio::test]
async fn unknown_missing_and_contradictory_fields_are_422s_by_name_never_500s() {
    let (app, _root) = app_with_models("").await;
    let mut unknown = measurements();
    unknown["bmi"] = json!(22);
    let mut missing = measurements();
    missing.as_object_mut().unwrap().remove("heart_rate_bpm");
    let mut both = measurements();
    both["body_temperature_f"] = json!(98.6);
    let mut reversed = measurements();
    reversed["diastolic_bp_mmhg"] = json!(125);
    for (body, param, code) in [
        (unknown, "bmi", "invalid_field"),
        (missing, "heart_rate_bpm", "missing_field"),
        (both, "body_temperature_f", "invalid_field"),
        (reversed, "diastolic_bp_mmhg", "invalid_field"),
        (json!({"patient_id": 7}), "patient_id", "invalid_field"),
    ] {
        let (status, _, answer) = assess(&app, &body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(
            (
                answer["error"]["param"].as_str(),
                answer["error"]["code"].as_str()
            ),
            (Some(param), Some(code))
        );
    }
    let (status, _, _) = assess(&app, &json!([1, 2])).await;
    assert_eq!(status, 422);
    let res = app
        .http
        .post(app.url("/v1/risk/obstetric"))
        .bearer_auth(&app.client_key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn fahrenheit_and_celsius_give_the_same_answer() {
    let (app, _root) = app_with_models("").await;
    let (_, _, celsius) = assess(&app, &measurements()).await;
    let mut f = measurements();
    f.as_object_mut().unwrap().remove("body_temperature_c");
    f["body_temperature_f"] = json!(98.24);
    let (status, _, fahrenheit) = assess(&app, &f).await;
    assert_eq!(status, 200);
    for k in ["low", "mid", "high"] {
        let (a, b) = (
            celsius["probabilities"][k].as_f64().unwrap(),
            fahrenheit["probabilities"][k].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-9, "{k}: {a} vs {b}");
    }
}

#[tokio::test]
async fn severe_hypertension_is_high_and_escalates_with_the_guards_notice_in_her_language() {
    let (app, _root) = app_with_models("").await;
    let guard = powerbirth::guard::Guard::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/guard"
    )))
    .unwrap();
    let urgent = powerbirth::guard::NoticeKind::Urgent;
    let mut body = measurements();
    body["systolic_bp_mmhg"] = json!(165);
    for (accept, lang) in [
        (None, powerbirth::guard::Lang::PtBr),
        (Some("en-US,en;q=0.9"), powerbirth::guard::Lang::En),
        (Some("pt-BR,en;q=0.5"), powerbirth::guard::Lang::PtBr),
    ] {
        let mut req = app
            .http
            .post(app.url("/v1/risk/obstetric"))
            .bearer_auth(&app.client_key)
            .json(&body);
        if let Some(a) = accept {
            req = req.header("accept-language", a);
        }
        let answer: Value = req.send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["risk_level"], "high", "{answer}");
        assert_eq!(answer["escalate"], true);
        assert_eq!(answer["override"], "severe_hypertension");
        assert_eq!(answer["notices"][0]["language"], lang.as_str());
        assert_eq!(
            answer["notices"][0]["text"],
            guard.notice(urgent, lang),
            "{accept:?}"
        );
    }
    // Diastolic alone is enough, and the model's own probabilities are still reported.
    let mut body = measurements();
    body["systolic_bp_mmhg"] = json!(150);
    body["diastolic_bp_mmhg"] = json!(110);
    let (_, _, answer) = assess(&app, &body).await;
    assert_eq!(
        (answer["risk_level"].as_str(), answer["escalate"].as_bool()),
        (Some("high"), Some(true))
    );
    assert!(answer["probabilities"]["high"].as_f64().unwrap() < 1.0);
}

#[tokio::test]
async fn a_patient_id_with_nothing_stored_is_a_422_naming_the_missing_measurements() {
    let (app, _root) = app_with_models("").await;
    let (status, _, answer) =
        assess(&app, &json!({"patient_id": "p-unknown", "age_years": 30})).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "missing_field");
    assert_eq!(answer["error"]["param"], "systolic_bp_mmhg");
    let message = answer["error"]["message"].as_str().unwrap();
    for f in [
        "systolic_bp_mmhg",
        "diastolic_bp_mmhg",
        "blood_glucose_mmol_l",
        "body_temperature_c",
        "heart_rate_bpm",
    ] {
        assert!(message.contains(f), "{message}");
    }
    assert!(!message.contains("age_years"), "{message}");
}

#[tokio::test]
async fn without_a_production_model_the_endpoint_answers_503_and_the_rest_serves() {
    let empty = tempfile::tempdir().unwrap();
    let app = spawn_app_with(Spawn {
        extra_toml: fixture::risk_toml(empty.path(), ""),
        ..Spawn::default()
    })
    .await;
    let (status, version, answer) = assess(&app, &measurements()).await;
    assert_eq!((status, version), (503, None), "{answer}");
    assert_eq!(answer["error"]["code"], "model_not_loaded");
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn the_risk_routes_need_a_key_and_the_reload_an_admin_key() {
    let (app, _root) = app_with_models("").await;
    let res = app
        .http
        .post(app.url("/v1/risk/obstetric"))
        .json(&measurements())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["x-model-version"],
        fixture::LR,
        "a refusal names the model served too"
    );
    let res = app.post("/admin/models/reload", &json!({})).await;
    assert_eq!(res.status(), 403);
    let res = app
        .http
        .post(app.url("/admin/models/reload"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"status": "unchanged", "version": fixture::LR}));
}
