//! Model quality over time (issue 18): for every model version, the predictions whose outcome was
//! recorded in the window, scored with the training metrics (`ml::train::metrics`, equal to
//! scikit-learn's): ROC AUC of P(high) against the other outcomes, and macro F1 of the model's
//! arg-max class against the outcome (the model's own reading, so a clinical override does not
//! flatter or blame it). Published as `powerbirth_model_auc{model,version,window}` and
//! `powerbirth_model_f1{…}`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::model::Level;
use crate::metrics::{ModelQualityLabels, RiskMetrics};
use crate::ml::train::metrics::{argmax, f1_macro, roc_auc};
use crate::store::predictions::LabelledPrediction;
use crate::store::{DbError, Store};

/// One model version's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityFigure {
    pub model: String,
    pub version: String,
    /// Predictions with an outcome in the window.
    pub count: usize,
    /// `None` when the outcomes are all high or all not high (AUC is undefined).
    pub auc: Option<f64>,
    pub f1_macro: f64,
}

/// (truth, predicted, P(high)) of one model version.
type Group = (Vec<usize>, Vec<usize>, Vec<f64>);

/// The figures per model version (sorted by model, then version). Rows whose probabilities or
/// outcome cannot be read are left out.
pub fn figures(rows: &[LabelledPrediction]) -> Vec<QualityFigure> {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for r in rows {
        let Some(outcome) = Level::parse(&r.outcome) else {
            continue;
        };
        let Ok(p) = serde_json::from_str::<serde_json::Value>(&r.probabilities) else {
            continue;
        };
        let Some(p) = Level::ALL
            .iter()
            .map(|l| p[l.as_str()].as_f64())
            .collect::<Option<Vec<f64>>>()
        else {
            continue;
        };
        let g = groups
            .entry((r.model_name.clone(), r.model_version.clone()))
            .or_default();
        g.0.push(outcome as usize);
        g.1.push(argmax(&p));
        g.2.push(p[Level::High as usize]);
    }
    groups
        .into_iter()
        .map(|((model, version), (truth, predicted, score))| {
            let positive: Vec<bool> = truth.iter().map(|&t| t == Level::High as usize).collect();
            QualityFigure {
                model,
                version,
                count: truth.len(),
                auc: roc_auc(&positive, &score),
                f1_macro: f1_macro(&truth, &predicted),
            }
        })
        .collect()
}

/// The window's label, `7d` for seven days.
pub fn window_label(window: Duration) -> String {
    format!("{}d", window.as_secs() / 86_400)
}

/// Computes the figures over outcomes recorded in the last `window` and sets the gauges.
pub async fn run(
    store: &Store,
    metrics: &RiskMetrics,
    window: Duration,
) -> Result<Vec<QualityFigure>, DbError> {
    let since = crate::core::now_ms() - window.as_millis() as i64;
    let rows = store.labelled_predictions(since).await?;
    let figures = figures(&rows);
    for f in &figures {
        let labels = ModelQualityLabels {
            model: f.model.clone(),
            version: f.version.clone(),
            window: window_label(window),
        };
        if let Some(auc) = f.auc {
            metrics.auc.get_or_create(&labels).set(auc);
        }
        metrics.f1.get_or_create(&labels).set(f.f1_macro);
    }
    Ok(figures)
}

/// [`run`], logging the outcome (the periodic job).
pub async fn run_logged(store: &Store, metrics: &RiskMetrics, window: Duration) {
    match run(store, metrics, window).await {
        Ok(figures) => {
            for f in figures {
                tracing::info!(model = %f.model, version = %f.version, count = f.count,
                    auc = ?f.auc, f1_macro = f.f1_macro, "risk model quality over recorded outcomes");
            }
        }
        Err(e) => tracing::error!(error = %e, "the risk quality job could not read the outcomes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: &str, high: f64, outcome: &str) -> LabelledPrediction {
        let rest = (1.0 - high) / 2.0;
        LabelledPrediction {
            model_name: "risk".into(),
            model_version: version.into(),
            probabilities: format!("{{\"low\":{rest},\"mid\":{rest},\"high\":{high}}}"),
            risk_level: "low".into(),
            outcome: outcome.into(),
        }
    }

    #[test]
    fn each_version_is_scored_on_its_own_predictions() {
        let rows = [
            row("a", 0.9, "high"),
            row("a", 0.1, "low"),
            row("b", 0.9, "low"),
            row("b", 0.1, "high"),
            row("b", 0.2, "mid"),
        ];
        let f = figures(&rows);
        assert_eq!((f[0].version.as_str(), f[0].auc), ("a", Some(1.0)));
        assert_eq!(
            (f[1].version.as_str(), f[1].auc, f[1].count),
            ("b", Some(0.0), 3)
        );
    }

    #[test]
    fn one_outcome_class_has_no_auc() {
        assert_eq!(figures(&[row("a", 0.9, "high")])[0].auc, None);
    }
}
