//! The registry on a real MLflow tracking server (installed by `scripts/install-mlflow.sh`, one
//! server per test run): `powerbirth models register | promote` with `MLFLOW_TRACKING_URI` set,
//! checked through MLflow's own REST API rather than through our client.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::ml::{mlflow_server, version_dir};

fn models(uri: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("models")
        .arg("--models-dir")
        .arg(dir)
        .args(args)
        .env("MLFLOW_TRACKING_URI", uri)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `GET /api/2.0/mlflow/<endpoint>` as JSON.
async fn api(uri: &str, endpoint: &str, query: &[(&str, &str)]) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{uri}/api/2.0/mlflow/{endpoint}"))
        .query(query)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{endpoint}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// A model name no other test of the run uses (they share one server).
fn unique_model() -> String {
    format!("risk-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

fn tag<'a>(tags: &'a Value, key: &str) -> Option<&'a str> {
    tags.as_array()?.iter().find(|t| t["key"] == key)?["value"].as_str()
}

#[tokio::test]
async fn register_logs_params_fold_metrics_tags_and_artifacts_and_creates_a_version() {
    let Some(uri) = mlflow_server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let model = unique_model();
    let dir = version_dir(tmp.path(), &model, "20261206-a1", 0.86);
    ok(&models(
        &uri,
        tmp.path(),
        &["register", &model, "--dir", dir.to_str().unwrap()],
    ));

    let versions = api(
        &uri,
        "model-versions/search",
        &[("filter", &format!("name='{model}'"))],
    )
    .await;
    let version = &versions["model_versions"][0];
    assert_eq!(version["version"], "1");
    assert_eq!(
        tag(&version["tags"], "powerbirth_version"),
        Some("20261206-a1")
    );
    let run_id = version["run_id"].as_str().unwrap();

    let run = api(&uri, "runs/get", &[("run_id", run_id)]).await["run"].clone();
    assert_eq!(run["info"]["status"], "FINISHED");
    assert_eq!(
        version["source"], run["info"]["artifact_uri"],
        "the run is the version's source"
    );
    assert_run_logged(&uri, run_id, &run).await;
    assert_artifacts(&uri, run_id, &run, &model, &dir).await;

    let again = models(
        &uri,
        tmp.path(),
        &["register", &model, "--dir", dir.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already registered"));
}

/// The run's params, tags, mean metric and per-fold metric history, as MLflow reports them.
async fn assert_run_logged(uri: &str, run_id: &str, run: &Value) {
    let params = &run["data"]["params"];
    assert_eq!(tag(params, "config.model.kind"), Some("logistic"));
    assert_eq!(tag(params, "config.cv.folds"), Some("3"));
    assert_eq!(tag(params, "seed"), Some("42"));
    assert_eq!(tag(params, "data_sha256"), Some("d4t4"));
    let tags = &run["data"]["tags"];
    assert_eq!(tag(tags, "git_sha"), Some("abc123"));
    assert_eq!(tag(tags, "data_sha256"), Some("d4t4"));
    assert!(tag(tags, "branch").is_some_and(|b| !b.is_empty()));
    let mean = run["data"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "cv_roc_auc_high_mean")
        .unwrap();
    assert_eq!(mean["value"].as_f64(), Some(0.86));

    let history = api(
        uri,
        "metrics/get-history",
        &[("run_id", run_id), ("metric_key", "cv_roc_auc_high")],
    )
    .await;
    let mut folds: Vec<(i64, f64)> = history["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["step"].as_i64().unwrap_or(0),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect();
    folds.sort_by_key(|f| f.0);
    assert_eq!(folds, [(0, 0.86 - 0.01), (1, 0.86), (2, 0.86 + 0.01)]);
}

/// The run's artifact list, and one file's bytes read back through the proxy.
async fn assert_artifacts(uri: &str, run_id: &str, run: &Value, model: &str, dir: &Path) {
    let listed = api(uri, "artifacts/list", &[("run_id", run_id)]).await;
    let mut files: Vec<&str> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    files.sort();
    let tarball = format!("{model}-20261206-a1.tar.gz");
    assert_eq!(
        files,
        ["metrics.json", "model.json", tarball.as_str(), "roc.svg"]
    );
    // The bytes came through the proxy intact.
    let root = run["info"]["artifact_uri"]
        .as_str()
        .unwrap()
        .trim_start_matches("mlflow-artifacts:/");
    let body = reqwest::get(format!(
        "{uri}/api/2.0/mlflow-artifacts/artifacts/{root}/model.json"
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    assert_eq!(
        body.as_ref(),
        std::fs::read(dir.join("model.json")).unwrap().as_slice()
    );
}

#[tokio::test]
async fn promotion_sets_the_alias_records_the_approval_refuses_a_worse_version_and_keeps_history() {
    let Some(uri) = mlflow_server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let model = unique_model();
    for (version, auc) in [("v1", 0.85), ("v2", 0.80), ("v3", 0.90)] {
        let dir = version_dir(tmp.path(), &model, version, auc);
        ok(&models(
            &uri,
            tmp.path(),
            &["register", &model, "--dir", dir.to_str().unwrap()],
        ));
    }
    let promote = |version: &str, who: &str| {
        models(
            &uri,
            tmp.path(),
            &[
                "promote",
                &model,
                "--version",
                version,
                "--approved-by",
                who,
                "--reason",
                "weekly review",
            ],
        )
    };
    let production = || async {
        api(
            &uri,
            "registered-models/alias",
            &[("name", &model), ("alias", "production")],
        )
        .await
    };

    ok(&promote("v1", "ana@example.org"));
    let prod = production().await;
    assert_eq!(prod["model_version"]["version"], "1");
    assert_eq!(
        tag(&prod["model_version"]["tags"], "approved_by"),
        Some("ana@example.org")
    );
    assert_eq!(
        tag(&prod["model_version"]["tags"], "approval_reason"),
        Some("weekly review")
    );

    let refused = promote("v2", "ana@example.org");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("below production"));
    assert_eq!(production().await["model_version"]["version"], "1");
    let v2 = api(
        &uri,
        "model-versions/get",
        &[("name", &model), ("version", "2")],
    )
    .await;
    assert_eq!(
        tag(&v2["model_version"]["tags"], "approved_by"),
        None,
        "a refusal records no approval"
    );

    // MLflow's own version number works as well as training's version string.
    ok(&promote("3", "bia@example.org"));
    assert_eq!(production().await["model_version"]["version"], "3");

    assert_history_tags(&uri, &model).await;

    let list = ok(&models(&uri, tmp.path(), &["list", &model]));
    let v3 = list.lines().find(|l| l.starts_with("v3")).unwrap();
    assert!(
        v3.contains("0.9000") && v3.contains("production") && v3.contains("bia@example.org"),
        "{list}"
    );
    let history = ok(&models(&uri, tmp.path(), &["history", &model]));
    assert_eq!(history.lines().count(), 3, "{history}");
}

/// The registered model's `promotion.NNNNNN` tags: v1 from none, then v3 from v1.
async fn assert_history_tags(uri: &str, model: &str) {
    let registered = api(uri, "registered-models/get", &[("name", model)]).await;
    let tags = &registered["registered_model"]["tags"];
    let entry = |key: &str| -> Value { serde_json::from_str(tag(tags, key).unwrap()).unwrap() };
    let (first, second) = (entry("promotion.000001"), entry("promotion.000002"));
    assert_eq!(
        (first["version"].as_str(), first["previous"].as_str()),
        (Some("v1"), None)
    );
    assert_eq!(
        (second["version"].as_str(), second["previous"].as_str()),
        (Some("v3"), Some("v1"))
    );
    assert_eq!(second["approved_by"], "bia@example.org");
    assert!(tag(tags, "promotion.000003").is_none());
}

#[tokio::test]
async fn mlflow_errors_keep_its_error_code_and_message() {
    let Some(uri) = mlflow_server() else { return };
    let client = powerbirth::ml::registry::MlflowClient::new(&uri).unwrap();
    let err = client
        .get_run("0123456789abcdef0123456789abcdef")
        .await
        .unwrap_err();
    match &err {
        powerbirth::ml::registry::MlflowError::Api {
            endpoint,
            status,
            code,
            message,
        } => {
            assert_eq!(
                (endpoint.as_str(), *status, code.as_str()),
                ("runs/get", 404, "RESOURCE_DOES_NOT_EXIST")
            );
            assert!(
                message.contains("0123456789abcdef0123456789abcdef"),
                "{message}"
            );
        }
        other => panic!("{other}"),
    }
    assert!(err.is_not_found());
    assert!(
        client
            .registered_model("no-such-model")
            .await
            .unwrap()
            .is_none()
    );
    let model = unique_model();
    client.create_registered_model(&model, "").await.unwrap();
    let none = client.version_by_alias(&model, "production").await.unwrap();
    assert!(none.is_none(), "an alias not set reads as none");
}

#[tokio::test]
async fn train_registers_its_version_with_mlflow_when_the_uri_is_set() {
    let Some(uri) = mlflow_server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("train")
        .arg("--out")
        .arg(tmp.path().join("risk"))
        .arg("--models-dir")
        .arg(tmp.path())
        .env("MLFLOW_TRACKING_URI", &uri)
        .output()
        .unwrap();
    let stdout = ok(&out);
    let line = stdout.lines().find(|l| l.starts_with("trained ")).unwrap();
    let version = line.rsplit(' ').next().unwrap();

    // The only test of the run that registers the shipped task's own name.
    let versions = api(&uri, "model-versions/search", &[("filter", "name='risk'")]).await;
    let found = versions["model_versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| tag(&v["tags"], "powerbirth_version") == Some(version));
    assert!(found, "{version} not in {versions}");
}
