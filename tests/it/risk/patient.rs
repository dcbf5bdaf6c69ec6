//! `{"patient_id"}`: the measurements come from the feature store, the request's own values
//! override them, and an unknown patient with no values is a 422 naming what is missing — on
//! both databases (the store's record; Redis is not needed).

use serde_json::{Value, json};

use super::{app_with_models, assess};
use crate::common::on_both_backends;

async fn stored_measurements_answer_and_the_request_overrides_them() {
    let (app, _root) = app_with_models("").await;
    let stored = json!({"age_years": 31, "systolic_bp_mmhg": 118, "diastolic_bp_mmhg": 76,
        "blood_glucose_mmol_l": 6.9, "body_temperature_c": 36.7, "heart_rate_bpm": 72,
        "measured_at_ms": 1_767_225_600_000_i64});
    let res = app
        .http
        .put(app.url("/v1/features/risk/p_risk_01"))
        .bearer_auth(&app.admin_key)
        .json(&stored)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let (status, _, answer) = assess(&app, &json!({"patient_id": "p_risk_01"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["escalate"], false);
    let systolic = |a: &Value| {
        a["contributions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["feature"] == "SystolicBP")
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(systolic(&answer), json!(118.0));

    let (status, _, overridden) = assess(
        &app,
        &json!({"patient_id": "p_risk_01", "systolic_bp_mmhg": 165}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(systolic(&overridden), json!(165.0));
    assert_eq!(
        (
            overridden["risk_level"].as_str(),
            overridden["escalate"].as_bool()
        ),
        (Some("high"), Some(true))
    );

    app.settle().await;
    let id = answer["prediction_id"].as_str().unwrap();
    let row = app.store.prediction(id).await.unwrap().unwrap();
    assert_eq!(row.patient_id.as_deref(), Some("p_risk_01"));

    let (status, _, missing) = assess(&app, &json!({"patient_id": "p_nobody"})).await;
    assert_eq!(status, 422);
    assert_eq!(missing["error"]["code"], "missing_field");
    assert_eq!(missing["error"]["param"], "age_years");
}
on_both_backends!(stored_measurements_answer_and_the_request_overrides_them);
