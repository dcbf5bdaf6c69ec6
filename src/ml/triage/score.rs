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
/// With a `budget`, never below the lowest threshold at which the class escalates at most that
/// share of validation's benign messages ([`budget_floor`]): where the two conflict the budget
/// wins, and the recall reached is what `metrics.json` reports.
pub fn choose_thresholds(
    p: &[Vec<f64>],
    y: &[usize],
    target: f64,
    budget: Option<f64>,
) -> BTreeMap<String, f64> {
    ESCALATING
        .iter()
        .map(|&c| {
            let mut pos = scores_of(p, y, c, c);
            pos.sort_by(|a, b| b.total_cmp(a));
            let need = ((target * pos.len() as f64).ceil() as usize).max(1);
            let recall_t = pos.get(need - 1).copied().unwrap_or(0.5);
            let t = match budget {
                Some(b) => recall_t.max(budget_floor(p, y, c, b)),
                None => recall_t,
            };
            (CLASSES[c].to_string(), t)
        })
        .collect()
}

/// The lowest threshold at which class `c` escalates at most `budget` (a share) of the benign
/// validation messages: just above the benign score ranked ⌊budget · n⌋ + 1 (0 when the budget
/// covers them all).
pub fn budget_floor(p: &[Vec<f64>], y: &[usize], c: usize, budget: f64) -> f64 {
    let mut benign = scores_of(p, y, super::BENIGN, c);
    benign.sort_by(|a, b| b.total_cmp(a));
    let allowed = (budget * benign.len() as f64).floor() as usize;
    benign.get(allowed).map_or(0.0, |v| v.next_up())
}

/// Class `c`'s probability for every example whose true class is `truth`.
fn scores_of(p: &[Vec<f64>], y: &[usize], truth: usize, c: usize) -> Vec<f64> {
    p.iter()
        .zip(y)
        .filter(|(_, t)| **t == truth)
        .map(|(p, _)| p[c])
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Probabilities with only the red-flag column set; the other columns do not matter here.
    fn rows(red: &[f64]) -> Vec<Vec<f64>> {
        red.iter().map(|&r| vec![r, 0.0, 0.0, 1.0 - r]).collect()
    }

    #[test]
    fn the_recall_target_picks_the_least_confident_red_flag_it_must_keep() {
        // Four red flags (class 0) and four benign (class 3).
        let p = rows(&[0.9, 0.8, 0.6, 0.05, 0.7, 0.3, 0.2, 0.1]);
        let y = [0, 0, 0, 0, 3, 3, 3, 3];
        let t = choose_thresholds(&p, &y, 0.99, None);
        assert_eq!(t["red_flag"], 0.05, "all four kept: the lowest one");
        let t = choose_thresholds(&p, &y, 0.75, None);
        assert_eq!(t["red_flag"], 0.6, "three of four");
    }

    #[test]
    fn a_false_escalation_budget_raises_the_threshold_above_the_benign_it_would_escalate() {
        let p = rows(&[0.9, 0.8, 0.6, 0.05, 0.7, 0.3, 0.2, 0.1]);
        let y = [0, 0, 0, 0, 3, 3, 3, 3];
        // Budget 1/4: one benign (0.7) may escalate, the second (0.3) may not.
        let t = choose_thresholds(&p, &y, 0.99, Some(0.25));
        assert_eq!(t["red_flag"], 0.3_f64.next_up());
        let at = escalation(&p, &y, &t);
        assert_eq!(at["red_flag"]["false_positives"], 1);
        assert_eq!(
            at["red_flag"]["recall"], 0.75,
            "the budget wins over the target"
        );
        // A budget the recall target already keeps changes nothing.
        let t = choose_thresholds(&p, &y, 0.75, Some(0.5));
        assert_eq!(t["red_flag"], 0.6);
        // No benign may escalate: above the most confident one.
        let t = choose_thresholds(&p, &y, 0.99, Some(0.0));
        assert_eq!(t["red_flag"], 0.7_f64.next_up());
        // Everything may: the recall target alone.
        assert_eq!(choose_thresholds(&p, &y, 0.99, Some(1.0))["red_flag"], 0.05);
    }
}
