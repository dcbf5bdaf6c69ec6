//! `powerbirth features materialize`: ingested partitions checked, then the latest measurements
//! and the engagement per topic written to the feature store under the pseudonym, incrementally;
//! a day whose measurements fail an `error` expectation stops the run and says why.

use std::process::Output;

use powerbirth::core::Secret;
use powerbirth::features::{FeatureMetrics, FeatureStore, FeaturesConfig};
use powerbirth::ingest::Anonymizer;
use powerbirth::store::Store;
use serde_json::json;

use super::{Harness, KEY, event};

fn materialize(h: &Harness, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(&h.config)
        .args(["features", "materialize"])
        .args(args)
        .output()
        .unwrap()
}

/// Two patients' measurements over two days and one's content views over three weeks; the
/// configuration pointed at the shipped expectation suites.
fn seed(h: &Harness) {
    let expectations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/expectations");
    let text = std::fs::read_to_string(&h.config).unwrap()
        + &format!("expectations_dir = \"{}\"\n", expectations.display());
    std::fs::write(&h.config, text).unwrap();
    for (patient, at, payload) in [
        (
            "ana",
            "2026-12-06T10:00:00Z",
            json!({"systolic_bp_mmhg": 120, "heart_rate_bpm": 80}),
        ),
        (
            "ana",
            "2026-12-07T09:00:00Z",
            json!({"systolic_bp_mmhg": 145}),
        ),
        (
            "bia",
            "2026-12-07T11:00:00Z",
            json!({"diastolic_bp_mmhg": 95, "gestational_week": 30}),
        ),
    ] {
        h.add(&event("measurement", patient, at, payload));
    }
    for (at, id) in [
        ("2026-12-07T08:00:00Z", "nutricao/ferro"),
        ("2026-12-05T08:00:00Z", "nutricao/agua"),
        ("2026-11-20T08:00:00Z", "sono/posicao"),
    ] {
        h.add(&event(
            "content_view",
            "bia",
            at,
            json!({"content_id": id, "seconds": 30, "completed": true}),
        ));
    }
}

#[tokio::test]
async fn ingested_days_become_features_incrementally_and_a_failing_day_stops_with_its_reason() {
    let Some(h) = Harness::new("") else { return };
    seed(&h);
    assert!(h.ingest("c1", &["--once"]).status.success());

    let out = materialize(&h, &["--from", "2026-12-06", "--to", "2026-12-07"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = materialize(&h, &["--to", "2026-12-07"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to materialise"));

    let db_url = format!("sqlite://{}", h.dir.path().join("db.sqlite").display());
    let db = Store::connect(&db_url, 1).await.unwrap();
    let store = FeatureStore::with_metrics(
        db,
        None,
        FeaturesConfig::default(),
        FeatureMetrics::default(),
    );
    let a = Anonymizer::new(Secret::new(KEY.into()));
    let ana = store
        .risk(&a.pseudonym("ana"))
        .await
        .unwrap()
        .expect("ana's features");
    assert_eq!(ana.values.systolic_bp_mmhg, Some(145.0), "the latest");
    assert_eq!(
        ana.values.heart_rate_bpm,
        Some(80.0),
        "kept from the day before"
    );
    let bia = store
        .engagement(&a.pseudonym("bia"))
        .await
        .unwrap()
        .expect("bia's engagement");
    assert_eq!(bia.values.views_7d.get("nutricao"), Some(&2));
    assert_eq!(bia.values.views_30d.get("sono"), Some(&1));
    assert_eq!(bia.values.gestational_week, Some(30));
    assert!(
        store.risk("ana").await.unwrap().is_none(),
        "never the raw id"
    );

    // A systolic pressure of 280 passes the schema (physical bounds) but not the suite.
    h.add(&event(
        "measurement",
        "ana",
        "2026-12-08T10:00:00Z",
        json!({"systolic_bp_mmhg": 280}),
    ));
    assert!(h.ingest("c1", &["--once"]).status.success());
    let failed = materialize(&h, &["--to", "2026-12-08"]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("measurement/date=2026-12-08 fails its checks"),
        "{stderr}"
    );
    assert!(stderr.contains("systolic_bp_mmhg"), "{stderr}");
    let ana = store.risk(&a.pseudonym("ana")).await.unwrap().unwrap();
    assert_eq!(
        ana.values.systolic_bp_mmhg,
        Some(145.0),
        "the failing day wrote nothing"
    );
}

/// The end of the pipeline: what ingestion materialised is what `/v1/risk/obstetric` reads for
/// that pseudonym. Ana's stored systolic pressure and heart rate (from two ingested days) fill
/// what the request leaves out; the answer equals one where every value is sent.
#[tokio::test]
async fn materialised_features_are_served_by_the_risk_endpoint_by_pseudonym() {
    let Some(h) = Harness::new("") else { return };
    seed(&h);
    assert!(h.ingest("c1", &["--once"]).status.success());
    let out = materialize(&h, &["--from", "2026-12-06", "--to", "2026-12-07"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let root = crate::risk::fixture::registry_with_lr_in_production().await;
    let app = crate::common::spawn_app_with(crate::common::Spawn {
        extra_toml: crate::risk::fixture::risk_toml(root.path(), ""),
        db_url: Some(format!(
            "sqlite://{}",
            h.dir.path().join("db.sqlite").display()
        )),
        ..crate::common::Spawn::default()
    })
    .await;
    let ana = Anonymizer::new(Secret::new(KEY.into())).pseudonym("ana");
    let rest = json!({"age_years": 31, "diastolic_bp_mmhg": 85, "blood_glucose_mmol_l": 6.5,
                      "body_temperature_c": 36.8});
    let mut by_id = rest.clone();
    by_id["patient_id"] = json!(ana);
    let mut sent = rest.clone();
    sent["systolic_bp_mmhg"] = json!(145);
    sent["heart_rate_bpm"] = json!(80);

    let stored = app.post("/v1/risk/obstetric", &by_id).await;
    assert_eq!(stored.status(), 200);
    let stored: serde_json::Value = stored.json().await.unwrap();
    let full: serde_json::Value = app
        .post("/v1/risk/obstetric", &sent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["probabilities"], full["probabilities"], "{stored}");
    assert_eq!(stored["risk_level"], full["risk_level"]);

    // The raw id is not a key of the store: her measurements are missing, named.
    let mut raw = rest.clone();
    raw["patient_id"] = json!("ana");
    let missing = app.post("/v1/risk/obstetric", &raw).await;
    assert_eq!(missing.status(), 422);
    let body = missing.text().await.unwrap();
    assert!(body.contains("systolic_bp_mmhg"), "{body}");
}
