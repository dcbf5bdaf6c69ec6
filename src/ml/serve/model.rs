//! A risk model ready to serve: the portable model, the map from its features (in its own units:
//! the training data's `BS` is mmol/L, `BodyTemp` °F) to the endpoint's measurements, its classes
//! as risk levels, and the per-feature contributions of an answer.
//!
//! Contributions, per estimator:
//! - logistic regression: coefficient × standardised value, `w[k][j] · (x_j − mean_j) / scale_j`,
//!   for the predicted class `k` — exactly that feature's share of the class's logit (the
//!   intercept is left out);
//! - gradient boosting: perpetual's own per-feature contributions
//!   (`ContributionsMethod::Weight`, Saabas-style: each split on the path adds the change of node
//!   weight to the feature it splits on) of the predicted class's booster, on that booster's
//!   log-odds scale (its bias left out). Cheap (one walk down each tree, like prediction) and
//!   exact in the sense that they add up, with the bias, to the booster's raw output; they are
//!   not SHAP values.

use std::sync::Arc;

use perpetual::{Matrix, MultiOutputBooster};
use serde::Serialize;

use super::input::{Measurements, celsius_to_fahrenheit};
use crate::ml::models::{Estimator, RiskModel};

/// A risk level the endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    Mid,
    High,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Low, Level::Mid, Level::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Mid => "mid",
            Level::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// A model class label (`low risk`, `mid risk`, `high risk`) by its first word.
    fn of_class(label: &str) -> Option<Level> {
        Self::parse(
            label
                .split_whitespace()
                .next()?
                .to_ascii_lowercase()
                .as_str(),
        )
    }
}

/// Which measurement feeds a model feature, and how its unit converts.
#[derive(Debug, Clone, Copy)]
enum Input {
    Age,
    Systolic,
    Diastolic,
    /// Blood glucose; `true` when the model reads mg/dL.
    Glucose {
        mg_dl: bool,
    },
    /// Body temperature; `true` when the model reads °F.
    Temperature {
        fahrenheit: bool,
    },
    HeartRate,
}

impl Input {
    fn of(name: &str, unit: &str) -> Result<Input, String> {
        let unit_is = |u: &str| unit.eq_ignore_ascii_case(u);
        Ok(match name {
            "Age" => Input::Age,
            "SystolicBP" => Input::Systolic,
            "DiastolicBP" => Input::Diastolic,
            "BS" if unit_is("mmol/L") => Input::Glucose { mg_dl: false },
            "BS" if unit_is("mg/dL") => Input::Glucose { mg_dl: true },
            "BodyTemp" if unit_is("°F") => Input::Temperature { fahrenheit: true },
            "BodyTemp" if unit_is("°C") => Input::Temperature { fahrenheit: false },
            "HeartRate" => Input::HeartRate,
            _ => {
                return Err(format!(
                    "the endpoint cannot feed feature {name:?} in {unit:?}"
                ));
            }
        })
    }

    fn value(self, m: &Measurements) -> f64 {
        match self {
            Input::Age => m.age_years,
            Input::Systolic => m.systolic_bp_mmhg,
            Input::Diastolic => m.diastolic_bp_mmhg,
            Input::Glucose { mg_dl: false } => m.blood_glucose_mmol_l,
            // mmol/L → mg/dL for glucose (molar mass 180.16 g/mol).
            Input::Glucose { mg_dl: true } => m.blood_glucose_mmol_l * 18.016,
            Input::Temperature { fahrenheit: true } => celsius_to_fahrenheit(m.body_temperature_c),
            Input::Temperature { fahrenheit: false } => m.body_temperature_c,
            Input::HeartRate => m.heart_rate_bpm,
        }
    }
}

/// One feature's share of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    /// The model's feature name (`SystolicBP`).
    pub feature: String,
    /// The value the model read, in `unit`.
    pub value: f64,
    pub unit: String,
    /// Its contribution to the predicted class's score (see the module's doc).
    pub effect: f64,
}

/// The model's reading of one woman's measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The model's inputs, in its feature order and units.
    pub row: Vec<f64>,
    /// Probabilities in `Level` order (low, mid, high).
    pub probabilities: [f64; 3],
    /// The arg-max level.
    pub level: Level,
}

/// A model the endpoint serves, with its registry identity.
pub struct ServedModel {
    pub name: String,
    /// Training's version string.
    pub version: String,
    /// `x-model-version`, prepared once.
    pub header: axum::http::HeaderValue,
    pub model: RiskModel,
    inputs: Vec<Input>,
    /// For each level, its column in the model's probability rows.
    columns: [usize; 3],
    booster: Option<Arc<MultiOutputBooster>>,
}

impl ServedModel {
    /// Checks that every feature can be fed and every level is a class.
    pub fn new(name: &str, version: &str, model: RiskModel) -> Result<ServedModel, String> {
        let inputs = model
            .file
            .features
            .iter()
            .map(|f| Input::of(&f.name, &f.unit))
            .collect::<Result<Vec<_>, _>>()?;
        let mut columns = [usize::MAX; 3];
        for (i, class) in model.file.classes.iter().enumerate() {
            let level = Level::of_class(class)
                .ok_or_else(|| format!("class {class:?} is not a low/mid/high risk level"))?;
            columns[level as usize] = i;
        }
        if columns.contains(&usize::MAX) || model.file.classes.len() != 3 {
            return Err("the model's classes must be exactly low, mid and high risk".into());
        }
        let booster = match &model.file.estimator {
            Estimator::GradientBoosting { booster } => Some(Arc::new(
                serde_json::from_value(booster.clone()).map_err(|e| format!("booster: {e}"))?,
            )),
            Estimator::LogisticRegression { .. } => None,
        };
        let header = axum::http::HeaderValue::from_str(version)
            .map_err(|_| format!("version {version:?} is not a header value"))?;
        Ok(ServedModel {
            name: name.to_string(),
            version: version.to_string(),
            header,
            model,
            inputs,
            columns,
            booster,
        })
    }

    /// Probabilities and the arg-max level for one woman.
    pub fn score(&self, m: &Measurements) -> Scored {
        let row: Vec<f64> = self.inputs.iter().map(|i| i.value(m)).collect();
        let p = self
            .model
            .predict_proba(std::slice::from_ref(&row))
            .ok()
            .and_then(|mut rows| rows.pop())
            .unwrap_or_else(|| vec![f64::NAN; 3]);
        let probabilities = self.columns.map(|c| p.get(c).copied().unwrap_or(f64::NAN));
        let level = Level::ALL[crate::ml::train::metrics::argmax(&probabilities)];
        Scored {
            row,
            probabilities,
            level,
        }
    }

    /// Each feature's contribution to `scored.level`, largest effect first.
    pub fn contributions(&self, scored: &Scored) -> Vec<Contribution> {
        let class = self.columns[scored.level as usize];
        let d = scored.row.len();
        let effects: Vec<f64> = match (&self.model.file.estimator, &self.booster) {
            (
                Estimator::LogisticRegression {
                    mean,
                    scale,
                    coefficients,
                    ..
                },
                _,
            ) => (0..d)
                .map(|j| coefficients[class][j] * (scored.row[j] - mean[j]) / scale[j])
                .collect(),
            (Estimator::GradientBoosting { .. }, Some(b)) => {
                let matrix = Matrix::new(&scored.row, 1, d);
                let c = b.boosters[class].predict_contributions(
                    &matrix,
                    perpetual::ContributionsMethod::Weight,
                    false,
                );
                c.into_iter().take(d).collect()
            }
            (Estimator::GradientBoosting { .. }, None) => vec![0.0; d],
        };
        let mut out: Vec<Contribution> = self
            .model
            .file
            .features
            .iter()
            .zip(&scored.row)
            .zip(effects)
            .map(|((f, &value), effect)| Contribution {
                feature: f.name.clone(),
                value,
                unit: f.unit.clone(),
                effect,
            })
            .collect();
        out.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()));
        out
    }
}
