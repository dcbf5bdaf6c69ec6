//! ROC AUC with scikit-learn's definition (`roc_auc_score` for a binary target): the trapezoid
//! under the ROC curve with tied scores taken together. Moved here from `ml::train::metrics`
//! (which re-exports it) so the monitors and `powerbirth stats auc` share the one checked copy.

/// ROC curve points `(false positive rate, true positive rate)` from (0,0) to (1,1), one per
/// distinct score, and the area under it. `None` when either class is absent.
pub fn roc_curve(positive: &[bool], score: &[f64]) -> Option<(Vec<(f64, f64)>, f64)> {
    let p = positive.iter().filter(|&&y| y).count();
    let n = positive.len() - p;
    if p == 0 || n == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut points = vec![(0.0, 0.0)];
    let mut area2 = 0.0; // twice the area, in counts (tp × fp units)
    let mut i = 0;
    while i < order.len() {
        let (tp0, fp0) = (tp, fp);
        let s = score[order[i]];
        // All rows tied at this score move the curve together (one diagonal step).
        while i < order.len() && score[order[i]] == s {
            if positive[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        area2 += (fp - fp0) as f64 * (tp + tp0) as f64;
        points.push((fp as f64 / n as f64, tp as f64 / p as f64));
    }
    Some((points, area2 / 2.0 / (p as f64 * n as f64)))
}

/// scikit-learn's `roc_auc_score` for a binary target.
pub fn roc_auc(positive: &[bool], score: &[f64]) -> Option<f64> {
    roc_curve(positive, score).map(|(_, auc)| auc)
}
