//! Real risk models for the endpoint's tests: a logistic regression and a small gradient-boosted
//! model fitted once per test run on the shipped data (the training crate's own `fit`), written as
//! trained version directories, registered in a local registry and promoted as an operator would.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use powerbirth::ml::models::{FORMAT, Feature, ModelFile, RiskModel};
use powerbirth::ml::registry::{Approver, PromotionRequest, Registry};
use powerbirth::ml::train;

pub const LR: &str = "lr0000000001";
pub const GB: &str = "gb0000000002";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The shipped training rows (model units: BS mmol/L, BodyTemp °F) and class indices.
pub fn shipped_rows() -> (Vec<Vec<f64>>, Vec<usize>) {
    let text = std::fs::read_to_string(repo("data/maternal-health-risk/train.csv")).unwrap();
    let classes = ["low risk", "mid risk", "high risk"];
    text.lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let x = cells[..6].iter().map(|c| c.parse().unwrap()).collect();
            (x, classes.iter().position(|c| *c == cells[6]).unwrap())
        })
        .unzip()
}

fn model_json(kind_yaml: &str) -> String {
    let (x, y) = shipped_rows();
    let section: train::config::ModelSection = serde_norway::from_str(kind_yaml).unwrap();
    let estimator = train::fit::fit(&section, &x, &y, 3, 7).unwrap();
    let unit = |n: &str, u: &str| Feature {
        name: n.into(),
        unit: u.into(),
    };
    let file = ModelFile {
        format: FORMAT.into(),
        task: "risk".into(),
        classes: vec!["low risk".into(), "mid risk".into(), "high risk".into()],
        positive_class: "high risk".into(),
        features: vec![
            unit("Age", "years"),
            unit("SystolicBP", "mmHg"),
            unit("DiastolicBP", "mmHg"),
            unit("BS", "mmol/L"),
            unit("BodyTemp", "°F"),
            unit("HeartRate", "beats/min"),
        ],
        estimator,
    };
    String::from_utf8(RiskModel::new(file).unwrap().to_json()).unwrap()
}

/// The two fitted models' `model.json` text, fitted once per run.
pub fn models() -> &'static (String, String) {
    static MODELS: OnceLock<(String, String)> = OnceLock::new();
    MODELS.get_or_init(|| {
        (
            model_json("kind: logistic_regression\nlogistic_regression: {alpha: 1.0, max_iterations: 100}\n"),
            model_json("kind: gradient_boosting\ngradient_boosting: {budget: 0.5, max_bin: 64, iteration_limit: 20}\n"),
        )
    })
}

/// `root/risk/<version>/` with a real `model.json`, registered in `root/registry.json`.
pub async fn register(root: &Path, version: &str, model_json: &str, auc: f64) {
    let dir = crate::common::ml::version_dir(root, "risk", version, auc);
    std::fs::write(dir.join("model.json"), model_json).unwrap();
    Registry::open(root, None)
        .unwrap()
        .register("risk", &dir)
        .await
        .unwrap();
}

/// Moves `production` to `version` (approved by a person).
pub async fn promote(root: &Path, version: &str) {
    let request = PromotionRequest {
        version: version.into(),
        approver: Approver::parse("ana@example.org").unwrap(),
        reason: None,
    };
    Registry::open(root, None)
        .unwrap()
        .promote("risk", &request)
        .await
        .unwrap();
}

/// A registry with the logistic regression in production and the boosted model registered
/// (with a higher AUC, so the gate lets it be promoted later).
pub async fn registry_with_lr_in_production() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let (lr, gb) = models();
    register(root.path(), LR, lr, 0.86).await;
    register(root.path(), GB, gb, 0.90).await;
    promote(root.path(), LR).await;
    root
}

/// `[risk]` pointing at `root`, with polling off unless `extra` says otherwise.
pub fn risk_toml(root: &Path, extra: &str) -> String {
    format!("\n[risk]\nmodels_dir = \"{}\"\n{extra}\n", root.display())
}
