//! The served model read from a real MLflow registry: `production` is an alias there and
//! `model.json` comes through the server's artifact proxy; moving the alias and reloading swaps
//! the model. Uses the test run's MLflow server (`common::ml::mlflow_server`).

use powerbirth::ml::registry::{Approver, PromotionRequest, Registry};
use serde_json::{Value, json};

use super::{fixture, measurements};
use crate::common::ml::{mlflow_server, version_dir};
use crate::common::{Spawn, spawn_app_with};

#[tokio::test]
async fn the_production_alias_on_mlflow_is_served_and_its_move_is_reloaded() {
    let Some(uri) = mlflow_server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let model = format!("risk-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let registry = Registry::open(tmp.path(), Some(&uri)).unwrap();
    let (lr, gb) = fixture::models();
    for (version, json, auc) in [(fixture::LR, lr, 0.86), (fixture::GB, gb, 0.9)] {
        let dir = version_dir(tmp.path(), &model, version, auc);
        std::fs::write(dir.join("model.json"), json).unwrap();
        registry.register(&model, &dir).await.unwrap();
    }
    let promote = |version: &str| PromotionRequest {
        version: version.into(),
        approver: Approver::parse("ana@example.org").unwrap(),
        reason: None,
    };
    registry
        .promote(&model, &promote(fixture::LR))
        .await
        .unwrap();
    let app = spawn_app_with(Spawn {
        extra_toml: format!(
            "\n[risk]\nmodel = \"{model}\"\nmlflow_tracking_uri = \"{uri}\"\nreload_interval_s = 0\n"
        ),
        ..Spawn::default()
    })
    .await;
    let res = app.post("/v1/risk/obstetric", &measurements()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-model-version"], fixture::LR);

    registry
        .promote(&model, &promote(fixture::GB))
        .await
        .unwrap();
    let res = app
        .http
        .post(app.url("/admin/models/reload"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "swapped", "from": fixture::LR, "version": fixture::GB})
    );
    let res = app.post("/v1/risk/obstetric", &measurements()).await;
    assert_eq!(res.headers()["x-model-version"], fixture::GB);
}
