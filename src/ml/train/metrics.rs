//! Classification metrics with scikit-learn's definitions (checked against its output to 1e-9
//! by `tests/it/ml_train.rs` on fixtures from `scripts/ml-reference.py`): ROC AUC as the
//! trapezoid under the ROC curve with tied scores taken together (`roc_auc_score`), F1 with 0
//! for a class never predicted nor present (`f1_score`, `zero_division=0`), the Brier score
//! (`brier_score_loss`), plus the expected calibration error over equal-width bins and the
//! confusion matrix (rows true, columns predicted).

use serde::Serialize;

pub use crate::stats::{roc_auc, roc_curve};

/// Macro one-vs-rest AUC over `n_classes` (`roc_auc_score(multi_class="ovr", average="macro")`);
/// `proba` has one row per sample.
pub fn roc_auc_macro_ovr(labels: &[usize], proba: &[Vec<f64>], n_classes: usize) -> Option<f64> {
    let mut sum = 0.0;
    for c in 0..n_classes {
        let y: Vec<bool> = labels.iter().map(|&l| l == c).collect();
        let s: Vec<f64> = proba.iter().map(|p| p[c]).collect();
        sum += roc_auc(&y, &s)?;
    }
    Some(sum / n_classes as f64)
}

/// F1 of the positive class (`f1_score` binary; 0 when there are no true or predicted positives).
pub fn f1_binary(truth: &[bool], predicted: &[bool]) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (&t, &p) in truth.iter().zip(predicted) {
        match (t, p) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => {}
        }
    }
    let denominator = 2 * tp + fp + fn_;
    if denominator == 0 {
        0.0
    } else {
        2.0 * tp as f64 / denominator as f64
    }
}

/// Macro F1 over the labels present in `truth` or `predicted` (scikit-learn's default labels).
pub fn f1_macro(truth: &[usize], predicted: &[usize]) -> f64 {
    let mut labels: Vec<usize> = truth.iter().chain(predicted).copied().collect();
    labels.sort_unstable();
    labels.dedup();
    let sum: f64 = labels
        .iter()
        .map(|&c| {
            let t: Vec<bool> = truth.iter().map(|&y| y == c).collect();
            let p: Vec<bool> = predicted.iter().map(|&y| y == c).collect();
            f1_binary(&t, &p)
        })
        .sum();
    sum / labels.len().max(1) as f64
}

/// Mean squared difference between the positive-class probability and the outcome.
pub fn brier(positive: &[bool], p: &[f64]) -> f64 {
    let sum: f64 = positive
        .iter()
        .zip(p)
        .map(|(&y, &p)| (p - f64::from(u8::from(y))).powi(2))
        .sum();
    sum / positive.len().max(1) as f64
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// `bins` equal-width bins over [0, 1] of the positive-class probability (1.0 falls in the last);
/// empty bins are left out.
pub fn calibration_bins(positive: &[bool], p: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (&y, &p) in positive.iter().zip(p) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sums[b].0 += 1;
        sums[b].1 += p;
        sums[b].2 += usize::from(y);
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(b, &(count, psum, hits))| CalibrationBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            count,
            mean_predicted: psum / count as f64,
            observed_rate: hits as f64 / count as f64,
        })
        .collect()
}

/// Expected calibration error: the bins' |mean predicted − observed rate|, weighted by size.
pub fn ece(positive: &[bool], p: &[f64], bins: usize) -> f64 {
    let n = positive.len().max(1) as f64;
    calibration_bins(positive, p, bins)
        .iter()
        .map(|b| b.count as f64 / n * (b.mean_predicted - b.observed_rate).abs())
        .sum()
}

/// Index of the largest probability (the first on a tie, as numpy's `argmax`).
pub fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best
}

/// Counts with rows = true class, columns = predicted class.
pub fn confusion(truth: &[usize], predicted: &[usize], n_classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; n_classes]; n_classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        m[t][p] += 1;
    }
    m
}

/// Mean and sample standard deviation (n − 1) of per-fold values, and the values.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub sd: f64,
    pub folds: Vec<f64>,
}

impl Summary {
    pub fn of(folds: Vec<f64>) -> Summary {
        let n = folds.len() as f64;
        let mean = folds.iter().sum::<f64>() / n.max(1.0);
        let var = folds.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        Summary {
            mean,
            sd: var.sqrt(),
            folds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tied_scores_count_half_in_the_auc() {
        assert_eq!(roc_auc(&[true, false], &[0.5, 0.5]), Some(0.5));
        assert_eq!(roc_auc(&[true, false, true], &[0.9, 0.1, 0.4]), Some(1.0));
        assert_eq!(roc_auc(&[true, true], &[0.9, 0.1]), None);
    }

    #[test]
    fn a_perfectly_calibrated_bin_has_no_error() {
        let y = [true, false, true, false];
        assert!(ece(&y, &[0.5, 0.5, 0.5, 0.5], 10) < 1e-12);
        assert!((ece(&y, &[1.0, 1.0, 1.0, 1.0], 10) - 0.5).abs() < 1e-12);
    }
}
