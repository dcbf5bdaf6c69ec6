//! The figures of a trained version on a split: the escalation thresholds chosen on validation,
//! recall and precision at them, red-flag ROC AUC, and the test split's per-class, per-language
//! and confusion-matrix report that `metrics.json` carries.

use std::collections::BTreeMap;

use serde_json::json;

use super::prepare::Example;
use super::{CLASSES, ESCALATING};
use crate::ml::train::metrics::{argmax, confusion, f1_macro, roc_auc};

/// For each escalating class, the highest threshold keeping `target` recall on validation: the
/// probability of the ⌈target · n⌉-th most confident true example (0.5 when validation has none).
pub fn choose_thresholds(p: &[Vec<f64>], y: &[usize], target: f64) -> BTreeMap<String, f64> {
    ESCALATING
        .iter()
        .map(|&c| {
            let mut pos: Vec<f64> = p
                .iter()
                .zip(y)
                .filter(|(_, t)| **t == c)
                .map(|(p, _)| p[c])
                .collect();
            pos.sort_by(|a, b| b.total_cmp(a));
            let need = ((target * pos.len() as f64).ceil() as usize).max(1);
            let t = pos.get(need - 1).copied().unwrap_or(0.5);
            (CLASSES[c].to_string(), t)
        })
        .collect()
}

pub fn auc_of(p: &[Vec<f64>], y: &[usize], c: usize) -> Option<f64> {
    let truth: Vec<bool> = y.iter().map(|t| *t == c).collect();
    let score: Vec<f64> = p.iter().map(|p| p[c]).collect();
    roc_auc(&truth, &score)
}

/// Recall, precision and counts of each escalating class at its threshold.
pub fn escalation(p: &[Vec<f64>], y: &[usize], t: &BTreeMap<String, f64>) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for &c in &ESCALATING {
        let th = t.get(CLASSES[c]).copied().unwrap_or(0.5);
        let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
        for (p, &truth) in p.iter().zip(y) {
            match (p[c] >= th, truth == c) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fneg += 1,
                _ => {}
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        out.insert(
            CLASSES[c].into(),
            json!({"threshold": th, "recall": ratio(tp, tp + fneg), "precision": ratio(tp, tp + fp),
                   "true_positives": tp, "false_positives": fp, "false_negatives": fneg}),
        );
    }
    serde_json::Value::Object(out)
}

/// Test-split figures: per class (argmax), the confusion matrix, per language, escalation.
pub fn scores(
    p: &[Vec<f64>],
    y: &[usize],
    rows: &[Example],
    t: &BTreeMap<String, f64>,
) -> serde_json::Value {
    let predicted: Vec<usize> = p.iter().map(|p| argmax(p)).collect();
    let matrix = confusion(y, &predicted, CLASSES.len());
    let per_class: BTreeMap<&str, serde_json::Value> = CLASSES
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let tp = matrix[c][c] as f64;
            let support: usize = matrix[c].iter().sum();
            let predicted_c: usize = matrix.iter().map(|r| r[c]).sum();
            let precision = if predicted_c == 0 {
                0.0
            } else {
                tp / predicted_c as f64
            };
            let recall = if support == 0 {
                0.0
            } else {
                tp / support as f64
            };
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            (
                *name,
                json!({"precision": precision, "recall": recall, "f1": f1, "support": support}),
            )
        })
        .collect();
    let mut by_language = serde_json::Map::new();
    for lang in ["pt-BR", "en"] {
        let idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].lang == lang).collect();
        let yt: Vec<usize> = idx.iter().map(|&i| y[i]).collect();
        let yp: Vec<usize> = idx.iter().map(|&i| predicted[i]).collect();
        let pl: Vec<Vec<f64>> = idx.iter().map(|&i| p[i].clone()).collect();
        let accuracy =
            yt.iter().zip(&yp).filter(|(a, b)| a == b).count() as f64 / yt.len().max(1) as f64;
        by_language.insert(
            lang.into(),
            json!({"rows": idx.len(), "f1_macro": f1_macro(&yt, &yp), "accuracy": accuracy,
                   "escalation": escalation(&pl, &yt, t)}),
        );
    }
    json!({
        "f1_macro": f1_macro(y, &predicted),
        "per_class": per_class,
        "confusion": matrix,
        "by_language": by_language,
        "escalation": escalation(p, y, t),
    })
}
