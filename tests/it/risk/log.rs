//! The prediction log and model quality over time, on both databases: every answer is a row in
//! `predictions`; `POST /v1/risk/outcomes` records what happened (404 for an unknown prediction,
//! 422 for a bad field); the quality job's AUC and macro F1 per model version, as published in
//! `/metrics`, equal the training metrics (`ml::train::metrics`, scikit-learn's) on the same data.

use std::time::Duration;

use powerbirth::ml::train::metrics::{argmax, f1_macro, roc_auc};
use serde_json::{Value, json};

use super::{app_with_models, fixture};
use crate::common::{TestApp, on_both_backends};

/// Shipped rows as requests (temperature sent in °F, as the data has it) with their labels.
pub(crate) fn labelled_requests(n: usize) -> Vec<(Value, &'static str)> {
    let (x, y) = fixture::shipped_rows();
    let labels = ["low", "mid", "high"];
    // Every 13th row: a spread of the three classes.
    (0..x.len())
        .step_by(13)
        .filter(|&i| x[i][1] < 160.0 && x[i][2] < 110.0 && x[i][2] < x[i][1])
        .take(n)
        .map(|i| {
            let r = &x[i];
            let body = json!({"age_years": r[0].clamp(10.0, 60.0), "systolic_bp_mmhg": r[1],
                "diastolic_bp_mmhg": r[2], "blood_glucose_mmol_l": r[3],
                "body_temperature_f": r[4], "heart_rate_bpm": r[5].clamp(30.0, 220.0)});
            (body, labels[y[i]])
        })
        .collect()
}

async fn predictions_outcomes_and_weekly_quality() {
    let (app, _root) = app_with_models("quality_interval_s = 1").await;
    let mut answers = Vec::new();
    let mut release = String::new();
    for (body, label) in labelled_requests(30) {
        let res = app.post("/v1/risk/obstetric", &body).await;
        assert_eq!(res.status(), 200);
        release = res.headers()["x-powerbirth-release"]
            .to_str()
            .unwrap()
            .to_string();
        answers.push((res.json::<Value>().await.unwrap(), label));
    }
    app.settle().await;
    each_answer_is_a_logged_row(&app, &answers[0].0, &release).await;
    outcomes_are_recorded_and_bad_ones_refused(&app, &answers).await;
    the_quality_gauges_equal_the_training_metrics(&app, &answers).await;
}
on_both_backends!(predictions_outcomes_and_weekly_quality);

/// Each answer is a row with what the model read, its probabilities and version.
async fn each_answer_is_a_logged_row(app: &TestApp, first: &Value, release: &str) {
    let id = first["prediction_id"].as_str().unwrap();
    let row = app
        .store
        .prediction(id)
        .await
        .unwrap()
        .expect("the prediction is logged");
    assert_eq!(
        (row.model_name.as_str(), row.model_version.as_str()),
        ("risk", fixture::LR)
    );
    assert_eq!(row.risk_level, first["risk_level"].as_str().unwrap());
    assert_eq!(
        serde_json::from_str::<Value>(&row.probabilities).unwrap(),
        first["probabilities"]
    );
    let features: Value = serde_json::from_str(&row.features).unwrap();
    assert!(
        features["BodyTemp"].as_f64().unwrap() > 90.0,
        "°F as the model reads it: {features}"
    );
    assert_eq!(row.patient_id, None);
    assert!(row.latency_ms >= 0.0);
    assert_eq!(
        row.release.as_deref(),
        Some(release),
        "the row names the release that answered (x-powerbirth-release)"
    );
}

/// Outcomes: recorded; an unknown prediction is 404; a bad outcome 422.
async fn outcomes_are_recorded_and_bad_ones_refused(app: &TestApp, answers: &[(Value, &str)]) {
    let id = answers[0].0["prediction_id"].as_str().unwrap();
    for (answer, label) in answers {
        let res = app
            .post(
                "/v1/risk/outcomes",
                &json!({"prediction_id": answer["prediction_id"], "outcome": label}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        app.store.outcome(id).await.unwrap().as_deref(),
        Some(answers[0].1)
    );
    let res = app
        .post(
            "/v1/risk/outcomes",
            &json!({"prediction_id": "nope", "outcome": "low"}),
        )
        .await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["param"], "prediction_id");
    for (bad, param) in [
        (json!({"prediction_id": id, "outcome": "severe"}), "outcome"),
        (json!({"prediction_id": id}), "outcome"),
        (
            json!({"prediction_id": id, "outcome": "low", "note": 1}),
            "note",
        ),
    ] {
        let res = app.post("/v1/risk/outcomes", &bad).await;
        assert_eq!(res.status(), 422);
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["param"], param);
    }
}

/// The job's figures are the training metrics on the same predictions and outcomes.
async fn the_quality_gauges_equal_the_training_metrics(app: &TestApp, answers: &[(Value, &str)]) {
    let levels = ["low", "mid", "high"];
    let truth: Vec<usize> = answers
        .iter()
        .map(|(_, l)| levels.iter().position(|x| x == l).unwrap())
        .collect();
    let proba: Vec<Vec<f64>> = answers
        .iter()
        .map(|(a, _)| {
            levels
                .iter()
                .map(|k| a["probabilities"][k].as_f64().unwrap())
                .collect()
        })
        .collect();
    let auc = roc_auc(
        &truth.iter().map(|&t| t == 2).collect::<Vec<_>>(),
        &proba.iter().map(|p| p[2]).collect::<Vec<_>>(),
    )
    .unwrap();
    let f1 = f1_macro(&truth, &proba.iter().map(|p| argmax(p)).collect::<Vec<_>>());
    let labels = format!("model=\"risk\",version=\"{}\",window=\"7d\"", fixture::LR);
    let (mut got_auc, mut got_f1) = (None, None);
    for _ in 0..50 {
        let text = app.metrics_text().await;
        got_auc = gauge(&text, &format!("powerbirth_model_auc{{{labels}}}"));
        got_f1 = gauge(&text, &format!("powerbirth_model_f1{{{labels}}}"));
        if got_auc.is_some_and(|a| (a - auc).abs() < 1e-12) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        (got_auc.unwrap() - auc).abs() < 1e-12,
        "{got_auc:?} vs {auc}"
    );
    assert!((got_f1.unwrap() - f1).abs() < 1e-12, "{got_f1:?} vs {f1}");
    let text = app.metrics_text().await;
    assert!(
        text.contains("powerbirth_risk_request_duration_seconds_count{model_version=\""),
        "{text}"
    );
    assert!(
        text.contains("powerbirth_risk_predictions_total{risk_level=\""),
        "{text}"
    );
}

fn gauge(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
}
