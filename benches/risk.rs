//! In-process risk inference (target ≤ 50 µs per answer, issue 16): the model's reading of one
//! woman (unit conversion + `predict_proba`), with the per-feature contributions, and the whole
//! answer (overrides, notice, JSON body) — for the logistic regression and the gradient-boosted
//! model fitted on the shipped data with the shipped hyper-parameters.
//! `cargo bench --bench risk -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use powerbirth::guard::{Guard, Lang};
use powerbirth::ml::models::{FORMAT, Feature, ModelFile, RiskModel};
use powerbirth::ml::serve::{Measurements, ServedModel, answer};
use powerbirth::ml::train;

fn rows() -> (Vec<Vec<f64>>, Vec<usize>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/maternal-health-risk/train.csv");
    let classes = ["low risk", "mid risk", "high risk"];
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let x = c[..6].iter().map(|v| v.parse().unwrap()).collect();
            (x, classes.iter().position(|k| *k == c[6]).unwrap())
        })
        .unzip()
}

fn served(kind_yaml: &str, version: &str) -> ServedModel {
    let (x, y) = rows();
    let section: train::config::ModelSection = serde_norway::from_str(kind_yaml).unwrap();
    let estimator = train::fit::fit(&section, &x, &y, 3, 42).unwrap();
    let f = |n: &str, u: &str| Feature {
        name: n.into(),
        unit: u.into(),
    };
    let file = ModelFile {
        format: FORMAT.into(),
        task: "risk".into(),
        classes: vec!["low risk".into(), "mid risk".into(), "high risk".into()],
        positive_class: "high risk".into(),
        features: vec![
            f("Age", "years"),
            f("SystolicBP", "mmHg"),
            f("DiastolicBP", "mmHg"),
            f("BS", "mmol/L"),
            f("BodyTemp", "°F"),
            f("HeartRate", "beats/min"),
        ],
        estimator,
    };
    ServedModel::new("risk", version, RiskModel::new(file).unwrap()).unwrap()
}

fn bench(c: &mut Criterion) {
    let guard = Guard::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("guard")).unwrap();
    let woman = Measurements {
        age_years: 29.0,
        systolic_bp_mmhg: 128.0,
        diastolic_bp_mmhg: 82.0,
        blood_glucose_mmol_l: 7.5,
        body_temperature_c: 36.9,
        heart_rate_bpm: 76.0,
        gestational_week: Some(30.0),
    };
    let models = [
        (
            "logistic_regression",
            served(
                "kind: logistic_regression\nlogistic_regression: {alpha: 1.0, max_iterations: 200}\n",
                "lr",
            ),
        ),
        (
            "gradient_boosting",
            served(
                "kind: gradient_boosting\ngradient_boosting: {budget: 1.0, max_bin: 255}\n",
                "gb",
            ),
        ),
    ];
    for (name, model) in &models {
        c.bench_function(&format!("risk score {name}"), |b| {
            b.iter(|| model.score(black_box(&woman)))
        });
        c.bench_function(&format!("risk score+contributions {name}"), |b| {
            b.iter(|| {
                let s = model.score(black_box(&woman));
                model.contributions(&s)
            })
        });
        c.bench_function(&format!("risk answer+json {name}"), |b| {
            b.iter(|| {
                let a = answer::assess(model, black_box(&woman), &guard, Lang::PtBr);
                serde_json::to_vec(&a.answer).unwrap()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
