//! Cross-validation of one config (per-fold metrics, out-of-fold curves) and the model card
//! rendered from its figures.

use super::artifacts::{CvMetrics, MetricsFile};
use super::config::TrainConfig;
use super::metrics::{self as m, CalibrationBin, Summary};
use super::{TrainError, cv, fit};
use crate::core::Progress;
use crate::ml::data::CheckReport;
use crate::ml::models::{FORMAT, Feature, ModelFile, RiskModel};

/// Everything cross-validation measured.
pub struct CvOutcome {
    pub metrics: CvMetrics,
    pub confusion: Vec<Vec<usize>>,
    pub fold_rows: Vec<usize>,
    pub distinct: usize,
    /// Out-of-fold ROC of the positive class, for the plot.
    pub roc_points: Vec<(f64, f64)>,
    pub oof_auc: f64,
    pub calibration: Vec<CalibrationBin>,
    pub oof_ece: f64,
}

/// Fits on k − 1 folds and scores the held-out one, k times (one `progress` step each).
/// Long because it reads as one fold loop: split, fit, score, collect the out-of-fold predictions.
pub fn cross_validate(
    config: &TrainConfig,
    x: &[Vec<f64>],
    y: &[usize],
    progress: &Progress,
) -> Result<CvOutcome, TrainError> {
    let k = config.cv.folds;
    let n_classes = config.target.classes.len();
    let positive = config.positive_index();
    let keys: Vec<Vec<u64>> = x
        .iter()
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect();
    let groups = cv::groups_of(&keys);
    let distinct = groups.iter().max().map_or(0, |g| g + 1);
    if distinct < k {
        return Err(TrainError::Validation(format!(
            "{distinct} distinct rows cannot fill {k} folds"
        )));
    }
    let folds = cv::grouped_stratified_folds(&groups, y, n_classes, k, config.cv.seed);
    let mut oof = vec![Vec::new(); x.len()];
    let mut per_fold: [Vec<f64>; 6] = Default::default();
    let mut fold_rows = Vec::with_capacity(k);
    for f in 0..k {
        progress.set_phase(format!("cross-validation fold {}/{k}", f + 1));
        let (train, test): (Vec<usize>, Vec<usize>) = (0..x.len()).partition(|&i| folds[i] != f);
        let pick = |idx: &[usize]| -> Vec<Vec<f64>> { idx.iter().map(|&i| x[i].clone()).collect() };
        let train_y: Vec<usize> = train.iter().map(|&i| y[i]).collect();
        let estimator = fit::fit(
            &config.model,
            &pick(&train),
            &train_y,
            n_classes,
            config.cv.seed,
        )?;
        let model = RiskModel::new(model_file(config, estimator))
            .map_err(|e| TrainError::Validation(e.to_string()))?;
        let proba = model
            .predict_proba(&pick(&test))
            .map_err(|e| TrainError::Validation(e.to_string()))?;
        let truth: Vec<usize> = test.iter().map(|&i| y[i]).collect();
        let scores = fold_scores(
            &truth,
            &proba,
            n_classes,
            positive,
            config.cv.calibration_bins,
        )
        .ok_or_else(|| TrainError::Validation(format!("fold {f} lacks a class")))?;
        for (values, s) in per_fold.iter_mut().zip(scores) {
            values.push(s);
        }
        for (&i, p) in test.iter().zip(proba) {
            oof[i] = p;
        }
        fold_rows.push(test.len());
        progress.inc(1);
    }
    let [auc, macro_auc, f1_macro, f1_high, brier, ece] = per_fold;
    let is_pos: Vec<bool> = y.iter().map(|&c| c == positive).collect();
    let p_pos: Vec<f64> = oof.iter().map(|p| p[positive]).collect();
    let predicted: Vec<usize> = oof.iter().map(|p| m::argmax(p)).collect();
    let (roc_points, oof_auc) = m::roc_curve(&is_pos, &p_pos).unwrap_or_default();
    let bins = config.cv.calibration_bins;
    Ok(CvOutcome {
        metrics: CvMetrics {
            roc_auc_high: Summary::of(auc),
            roc_auc_macro_ovr: Summary::of(macro_auc),
            f1_macro: Summary::of(f1_macro),
            f1_high: Summary::of(f1_high),
            brier: Summary::of(brier),
            ece: Summary::of(ece),
        },
        confusion: m::confusion(y, &predicted, n_classes),
        fold_rows,
        distinct,
        roc_points,
        oof_auc,
        calibration: m::calibration_bins(&is_pos, &p_pos, bins),
        oof_ece: m::ece(&is_pos, &p_pos, bins),
    })
}

/// AUC (positive vs rest), macro OvR AUC, F1 macro, F1 positive, Brier, ECE on one fold.
fn fold_scores(
    truth: &[usize],
    proba: &[Vec<f64>],
    n_classes: usize,
    positive: usize,
    bins: usize,
) -> Option<[f64; 6]> {
    let is_pos: Vec<bool> = truth.iter().map(|&c| c == positive).collect();
    let p_pos: Vec<f64> = proba.iter().map(|p| p[positive]).collect();
    let predicted: Vec<usize> = proba.iter().map(|p| m::argmax(p)).collect();
    let predicted_pos: Vec<bool> = predicted.iter().map(|&c| c == positive).collect();
    Some([
        m::roc_auc(&is_pos, &p_pos)?,
        m::roc_auc_macro_ovr(truth, proba, n_classes)?,
        m::f1_macro(truth, &predicted),
        m::f1_binary(&is_pos, &predicted_pos),
        m::brier(&is_pos, &p_pos),
        m::ece(&is_pos, &p_pos, bins),
    ])
}

/// The portable model file of a fitted estimator: the config's task, classes and features.
pub(super) fn model_file(
    config: &TrainConfig,
    estimator: crate::ml::models::Estimator,
) -> ModelFile {
    ModelFile {
        format: FORMAT.into(),
        task: config.task.clone(),
        classes: config.target.classes.clone(),
        positive_class: config.target.positive.clone(),
        features: config
            .features
            .iter()
            .map(|f| Feature {
                name: f.name.clone(),
                unit: f.unit.clone(),
            })
            .collect(),
        estimator,
    }
}

/// `modelcard.yaml` from the config's template and the run's figures.
pub fn model_card(
    config: &TrainConfig,
    metrics: &MetricsFile,
    report: &CheckReport,
) -> Result<String, String> {
    let template = std::fs::read_to_string(&config.model_card).map_err(|e| e.to_string())?;
    let conflicts = report
        .expectations
        .iter()
        .find(|e| e.expectation_type == "expect_identical_features_to_have_one_label")
        .map_or_else(|| "not checked".to_string(), |e| e.summary.clone());
    let mut ctx = tera::Context::new();
    ctx.insert("task", &metrics.task);
    ctx.insert("version", &metrics.version);
    ctx.insert("model_kind", &metrics.model_kind);
    ctx.insert("git_sha", &metrics.git_sha);
    ctx.insert("classes", &metrics.classes);
    ctx.insert("positive", &config.target.positive);
    ctx.insert("data_sha256", &metrics.data_sha256);
    ctx.insert("rows", &metrics.rows);
    ctx.insert("distinct", &metrics.distinct_feature_vectors);
    ctx.insert("features", &config.features);
    ctx.insert("folds", &config.cv.folds);
    ctx.insert("auc", &metrics.cv.roc_auc_high);
    ctx.insert("macro", &metrics.cv.roc_auc_macro_ovr);
    ctx.insert("f1_macro", &metrics.cv.f1_macro);
    ctx.insert("f1_high", &metrics.cv.f1_high);
    ctx.insert("brier", &metrics.cv.brier);
    ctx.insert("ece", &metrics.cv.ece);
    ctx.insert("conflicts", &conflicts);
    let mut out = tera::Tera::one_off(&template, &ctx, false).map_err(|e| format!("{e:?}"))?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}
