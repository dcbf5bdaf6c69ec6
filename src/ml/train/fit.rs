//! Fitting the two model kinds into the portable format (`ml::models`): linfa-logistic's
//! multinomial logistic regression on standardised features, and perpetual's gradient boosting
//! (one booster per class, log loss, one thread so the trees are the same on every run).

use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};
use perpetual::objective::Objective;
use perpetual::{Matrix, MultiOutputBooster};

use super::config::{ModelKind, ModelSection};
use crate::ml::models::Estimator;

/// Fitting failed (a degenerate fold, a solver error).
#[derive(Debug, thiserror::Error)]
#[error("fitting {kind}: {message}")]
pub struct FitError {
    pub kind: &'static str,
    pub message: String,
}

/// Fits `model` on `x` (one row per sample) and class indices `y` in `0..n_classes`.
pub fn fit(
    model: &ModelSection,
    x: &[Vec<f64>],
    y: &[usize],
    n_classes: usize,
    seed: u64,
) -> Result<Estimator, FitError> {
    match model.kind {
        ModelKind::LogisticRegression => fit_logistic(model, x, y, n_classes),
        ModelKind::GradientBoosting => fit_boosting(model, x, y, n_classes, seed),
    }
}

fn fit_logistic(
    model: &ModelSection,
    x: &[Vec<f64>],
    y: &[usize],
    n_classes: usize,
) -> Result<Estimator, FitError> {
    let error = |message: String| FitError {
        kind: "logistic_regression",
        message,
    };
    let d = x.first().map_or(0, Vec::len);
    let n = x.len() as f64;
    // StandardScaler: population standard deviation; a constant feature keeps scale 1.
    let mean: Vec<f64> = (0..d)
        .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let scale: Vec<f64> = (0..d)
        .map(|j| {
            let var = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
            if var > 0.0 { var.sqrt() } else { 1.0 }
        })
        .collect();
    let z = Array2::from_shape_fn((x.len(), d), |(i, j)| (x[i][j] - mean[j]) / scale[j]);
    let dataset = Dataset::new(z, Array1::from(y.to_vec()));
    let params = &model.logistic_regression;
    let fitted = MultiLogisticRegression::default()
        .alpha(params.alpha)
        .max_iterations(params.max_iterations)
        .fit(&dataset)
        .map_err(|e| error(e.to_string()))?;
    if fitted.classes() != (0..n_classes).collect::<Vec<_>>().as_slice() {
        return Err(error("a class is missing from the training rows".into()));
    }
    // linfa's params are features × classes; the portable format stores classes × features.
    let w = fitted.params();
    let coefficients = (0..n_classes)
        .map(|c| (0..d).map(|j| w[[j, c]]).collect())
        .collect();
    Ok(Estimator::LogisticRegression {
        mean,
        scale,
        coefficients,
        intercepts: fitted.intercept().to_vec(),
    })
}

fn fit_boosting(
    model: &ModelSection,
    x: &[Vec<f64>],
    y: &[usize],
    n_classes: usize,
    seed: u64,
) -> Result<Estimator, FitError> {
    let error = |message: String| FitError {
        kind: "gradient_boosting",
        message,
    };
    let params = &model.gradient_boosting;
    let d = x.first().map_or(0, Vec::len);
    // perpetual's Matrix is column-major.
    let columns: Vec<f64> = (0..d).flat_map(|j| x.iter().map(move |r| r[j])).collect();
    let one_hot: Vec<f64> = (0..n_classes)
        .flat_map(|c| y.iter().map(move |&l| f64::from(u8::from(l == c))))
        .collect();
    let mut booster = MultiOutputBooster::default()
        .set_n_boosters(n_classes)
        .set_objective(Objective::LogLoss)
        .set_budget(params.budget)
        .set_max_bin(params.max_bin)
        .set_num_threads(Some(1))
        .set_seed(seed)
        .set_iteration_limit(params.iteration_limit);
    booster
        .fit(
            &Matrix::new(&columns, x.len(), d),
            &Matrix::new(&one_hot, y.len(), n_classes),
            None,
            None,
        )
        .map_err(|e| error(e.to_string()))?;
    let booster = serde_json::to_value(&booster).map_err(|e| error(e.to_string()))?;
    Ok(Estimator::GradientBoosting { booster })
}
