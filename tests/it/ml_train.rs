//! `powerbirth train` on the shipped data: every artifact is written, the cross-validated AUC is
//! the one `docs/model-performance.md` reports, the same config gives the same bytes, the model
//! loads back and predicts the same probabilities, the metrics equal scikit-learn's, and config
//! mistakes name their line.

use std::path::{Path, PathBuf};
use std::process::Command;

use powerbirth::ml::models::{self, RiskModel};
use powerbirth::ml::train::{self, metrics as m};

use crate::ml_data::{DATA, repo};

const CONFIG: &str = "training/configs/risk.yaml";
/// The figure documented in docs/model-performance.md (grouped 5-fold CV, seed 42).
const DOCUMENTED_AUC_HIGH: &str = "0.9541";
const ARTIFACTS: [&str; 8] = [
    "calibration.svg",
    "confusion.svg",
    "dataset_report.json",
    "metrics.json",
    "model.json",
    "modelcard.yaml",
    "reference.csv",
    "roc.svg",
];

#[test]
fn training_the_shipped_config_writes_every_artifact_and_reaches_the_documented_auc() {
    let out = tempfile::tempdir().unwrap();
    let outcome = train::run(&repo(CONFIG), out.path()).unwrap();
    for name in ARTIFACTS {
        assert!(outcome.dir.join(name).is_file(), "{name} missing");
    }
    assert!(
        outcome
            .tarball
            .ends_with(format!("risk-{}.tar.gz", outcome.version))
    );
    assert_eq!(
        tar_names(&outcome.tarball),
        ARTIFACTS.map(|n| format!("{}/{n}", outcome.version))
    );

    assert_eq!(
        format!("{:.4}", outcome.cv_roc_auc_high),
        DOCUMENTED_AUC_HIGH
    );
    let metrics: serde_json::Value = read_json(&outcome.dir.join("metrics.json"));
    assert_eq!(
        metrics["cv"]["roc_auc_high"]["folds"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    for key in ["roc_auc_macro_ovr", "f1_macro", "f1_high", "brier", "ece"] {
        assert!(metrics["cv"][key]["mean"].is_f64(), "{key}");
    }
    assert_eq!(metrics["seed"], 42);
    assert_eq!(metrics["rows"], 785);
    let confusion_total: u64 = metrics["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(confusion_total, 785);

    let card: serde_json::Value =
        serde_norway::from_slice(&std::fs::read(outcome.dir.join("modelcard.yaml")).unwrap())
            .unwrap();
    assert!(
        card["limits"][0]
            .as_str()
            .unwrap()
            .contains("not validated on Brazilian women")
    );
    assert!(card["never_use_for"].as_array().unwrap().len() >= 3);
    assert!(
        std::fs::read_to_string(outcome.dir.join("roc.svg"))
            .unwrap()
            .starts_with("<svg")
    );
    // The drift monitor's reference: the features only, every training row (785 ≤ 5,000),
    // integer columns as integers.
    let reference = std::fs::read_to_string(outcome.dir.join("reference.csv")).unwrap();
    let lines: Vec<&str> = reference.lines().collect();
    assert_eq!(lines[0], "Age,SystolicBP,DiastolicBP,BS,BodyTemp,HeartRate");
    assert_eq!(lines.len(), 1 + 785);
    assert_eq!(lines[1], "25,130,80,15.0,98.0,86");
}

#[test]
fn the_same_config_and_seed_give_the_same_artifact_bytes() {
    let config = fast_config();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = train::run(config.path(), a.path()).unwrap();
    let second = train::run(config.path(), b.path()).unwrap();
    assert_eq!(first.version, second.version);
    for name in ARTIFACTS.iter().filter(|n| **n != "metrics.json") {
        assert!(
            std::fs::read(first.dir.join(name)).unwrap()
                == std::fs::read(second.dir.join(name)).unwrap(),
            "{name} differs"
        );
    }
    let strip = |dir: &Path| {
        let mut v = read_json(&dir.join("metrics.json"));
        let o = v.as_object_mut().unwrap();
        o.remove("created_at").unwrap();
        o.remove("timings").unwrap();
        v
    };
    assert_eq!(strip(&first.dir), strip(&second.dir));
}

#[test]
fn a_trained_model_loads_back_and_predicts_the_same_probabilities() {
    let config = fast_config();
    let out = tempfile::tempdir().unwrap();
    let outcome = train::run(config.path(), out.path()).unwrap();
    let model = models::load(&outcome.dir.join("model.json")).unwrap();
    let rows = [
        vec![25.0, 130.0, 80.0, 15.0, 98.0, 86.0],
        vec![22.0, 100.0, 65.0, 6.9, 98.0, 70.0],
    ];
    let p = model.predict_proba(&rows).unwrap();
    let again = RiskModel::from_json(std::str::from_utf8(&model.to_json()).unwrap()).unwrap();
    assert_eq!(again.predict_proba(&rows).unwrap(), p);
    assert_eq!(
        model.to_json(),
        std::fs::read(outcome.dir.join("model.json")).unwrap()
    );
    for row in &p {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    let high = model.positive_index();
    assert!(p[0][high] > p[1][high], "{p:?}");
    assert!(model.predict_proba(&[vec![1.0]]).is_err());
}

#[test]
fn logistic_regression_round_trips_through_its_json() {
    let (x, y) = shipped_rows();
    let section: train::config::ModelSection = serde_norway::from_str(
        "kind: logistic_regression\nlogistic_regression: {alpha: 1.0, max_iterations: 100}\n",
    )
    .unwrap();
    let estimator = train::fit::fit(&section, &x, &y, 3, 1).unwrap();
    let file = models::ModelFile {
        format: models::FORMAT.into(),
        task: "risk".into(),
        classes: vec!["low risk".into(), "mid risk".into(), "high risk".into()],
        positive_class: "high risk".into(),
        features: (0..6)
            .map(|i| models::Feature {
                name: format!("f{i}"),
                unit: "u".into(),
            })
            .collect(),
        estimator,
    };
    let model = RiskModel::new(file).unwrap();
    let loaded = RiskModel::from_json(std::str::from_utf8(&model.to_json()).unwrap()).unwrap();
    assert_eq!(
        model.predict_proba(&x).unwrap(),
        loaded.predict_proba(&x).unwrap()
    );
    let auc = m::roc_auc(
        &y.iter().map(|&c| c == 2).collect::<Vec<_>>(),
        &model
            .predict_proba(&x)
            .unwrap()
            .iter()
            .map(|p| p[2])
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(auc > 0.8, "in-sample AUC {auc}");
}

#[test]
fn an_unknown_config_key_is_refused_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo(CONFIG)).unwrap().replace(
        "    max_bin: 255\n",
        "    max_bin: 255\n    learning_rate: 0.1\n",
    );
    let line = text
        .lines()
        .position(|l| l.contains("learning_rate"))
        .unwrap()
        + 1;
    let config = dir.path().join("risk.yaml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("train")
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(dir.path().join("models"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains(&format!("risk.yaml:{line}:")) && stderr.contains("learning_rate"),
        "{stderr}"
    );
}

#[test]
fn metrics_equal_scikit_learn_on_the_reference_fixtures() {
    let dir = repo("tests/fixtures/ml");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = read_json(&entry.unwrap().path());
        let name = case["name"].as_str().unwrap().to_string();
        let y: Vec<usize> = case["y_true"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let pred: Vec<usize> = case["y_pred"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let e = &case["expected"];
        let close = |key: &str, got: f64| {
            let want = e[key].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-9,
                "{name} {key}: {got} vs scikit-learn {want}"
            );
        };
        if let Some(scores) = case["y_score"].as_array() {
            let s: Vec<f64> = scores.iter().map(|v| v.as_f64().unwrap()).collect();
            let pos: Vec<bool> = y.iter().map(|&c| c == 1).collect();
            let pred_pos: Vec<bool> = pred.iter().map(|&c| c == 1).collect();
            close("roc_auc", m::roc_auc(&pos, &s).unwrap());
            close("f1_positive", m::f1_binary(&pos, &pred_pos));
            close("f1_macro", m::f1_macro(&y, &pred));
            close("brier", m::brier(&pos, &s));
        } else {
            let proba: Vec<Vec<f64>> = case["proba"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect()
                })
                .collect();
            assert_eq!(
                proba.iter().map(|p| m::argmax(p)).collect::<Vec<_>>(),
                pred,
                "{name}: argmax"
            );
            let pos: Vec<bool> = y.iter().map(|&c| c == 2).collect();
            let p2: Vec<f64> = proba.iter().map(|p| p[2]).collect();
            close(
                "roc_auc_macro_ovr",
                m::roc_auc_macro_ovr(&y, &proba, 3).unwrap(),
            );
            close("roc_auc_class2_vs_rest", m::roc_auc(&pos, &p2).unwrap());
            close("f1_macro", m::f1_macro(&y, &pred));
            close(
                "f1_class2",
                m::f1_binary(&pos, &pred.iter().map(|&c| c == 2).collect::<Vec<_>>()),
            );
            close("brier_class2", m::brier(&pos, &p2));
            let want: Vec<Vec<usize>> = serde_json::from_value(e["confusion"].clone()).unwrap();
            assert_eq!(m::confusion(&y, &pred, 3), want, "{name}: confusion");
        }
        seen += 1;
    }
    assert_eq!(seen, 4, "fixtures in {}", dir.display());
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn tar_names(path: &Path) -> Vec<String> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    let mut archive = tar::Archive::new(gz);
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

/// The shipped config with absolute paths and a capped booster, in a temporary folder.
struct TempConfig(#[allow(dead_code)] tempfile::TempDir, PathBuf);

impl TempConfig {
    fn path(&self) -> &Path {
        &self.1
    }
}

fn fast_config() -> TempConfig {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo(CONFIG))
        .unwrap()
        .replace(
            "../../data/",
            &format!("{}/data/", env!("CARGO_MANIFEST_DIR")),
        )
        .replace(
            "../modelcard.yaml.tera",
            &repo("training/modelcard.yaml.tera").display().to_string(),
        )
        .replace(
            "    max_bin: 255\n",
            "    max_bin: 64\n    iteration_limit: 30\n",
        )
        .replace("folds: 5", "folds: 3");
    let path = dir.path().join("fast.yaml");
    std::fs::write(&path, text).unwrap();
    TempConfig(dir, path)
}

fn shipped_rows() -> (Vec<Vec<f64>>, Vec<usize>) {
    let text = std::fs::read_to_string(repo(DATA)).unwrap();
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
