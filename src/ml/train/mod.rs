//! Training (`powerbirth train --config FILE [--out DIR]`): check the data with its suite, build
//! the feature matrix, cross-validate with grouped stratified folds, fit the final model on every
//! row, and write the artifacts (see [`artifacts`]). [`run`] is the one entry; the registry's
//! bootstrap calls it too.

pub mod artifacts;
pub mod config;
pub mod cv;
pub mod fit;
pub mod metrics;
pub mod plots;

mod evaluate;

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

pub use artifacts::{CvMetrics, MetricsFile, Timings};
pub use config::{ConfigError, TrainConfig};

use crate::core::Progress;
use crate::ml::data::{self, CheckReport, Suite, Table, Values};
use crate::ml::models::{Estimator, FORMAT, RiskModel, canonical_json};

/// What a finished run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// `<first 12 hex of SHA-256(config bytes ‖ data bytes ‖ model format)>`: the same inputs give
    /// the same version (and the same artifact bytes).
    pub version: String,
    /// `<out>/<version>/`.
    pub dir: PathBuf,
    /// `<out>/<task>-<version>.tar.gz`.
    pub tarball: PathBuf,
    /// Mean cross-validated ROC AUC of the positive class against the rest.
    pub cv_roc_auc_high: f64,
    pub metrics: MetricsFile,
}

/// Why training stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Suite(#[from] data::SuiteError),
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error(
        "data check failed ({failed} error expectation(s)); run `powerbirth data check` for the table"
    )]
    DataCheck {
        failed: usize,
        report: Box<CheckReport>,
    },
    #[error("{path}: {message}")]
    Table { path: PathBuf, message: String },
    #[error(transparent)]
    Fit(#[from] fit::FitError),
    #[error("cross-validation: {0}")]
    Validation(String),
    #[error("model card template {path}: {message}")]
    ModelCard { path: PathBuf, message: String },
    #[error("writing artifacts to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Trains the model `config` describes and writes its artifacts under `out`, showing nothing.
pub fn run(config_path: &Path, out: &Path) -> Result<TrainOutcome, TrainError> {
    run_with(config_path, out, &Progress::hidden())
}

/// [`run`], reporting its steps to `progress`: the data check, each cross-validation fold, the
/// final fit (k + 2 steps; the artifacts are written after the last). Long because it reads as
/// the run's steps in order.
pub fn run_with(
    config_path: &Path,
    out: &Path,
    progress: &Progress,
) -> Result<TrainOutcome, TrainError> {
    let started = Instant::now();
    let (config, config_bytes) = TrainConfig::load(config_path)?;
    progress.set_total(config.cv.folds as u64 + 2);
    progress.set_phase("data check");
    let as_written = TrainConfig::parse(&String::from_utf8_lossy(&config_bytes), config_path)?;

    let suite = Suite::load(&config.data.suite)?;
    let table = data::read_table(&config.data.path)?;
    let data_bytes = std::fs::read(&config.data.path).map_err(|source| data::DataError::Io {
        path: config.data.path.clone(),
        source,
    })?;
    let data_sha256 = hex::encode(Sha256::digest(&data_bytes));
    let report = data::run_suite(
        &suite,
        &table,
        &display_name(&config.data.path),
        &data_sha256,
    );
    if !report.success {
        return Err(TrainError::DataCheck {
            failed: report.failed_errors,
            report: Box::new(report),
        });
    }
    let data_check_seconds = started.elapsed().as_secs_f64();
    progress.inc(1);

    let (x, y) = matrix(&config, &table)?;
    let cv_started = Instant::now();
    let cv = evaluate::cross_validate(&config, &x, &y, progress)?;
    let cv_seconds = cv_started.elapsed().as_secs_f64();
    progress.set_phase("final fit on every row");
    let fit_started = Instant::now();
    let estimator = fit::fit(
        &config.model,
        &x,
        &y,
        config.target.classes.len(),
        config.cv.seed,
    )?;
    let final_fit_seconds = fit_started.elapsed().as_secs_f64();
    progress.inc(1);
    progress.set_phase("writing artifacts");

    let version = version_of(&config_bytes, &data_bytes);
    let metrics = MetricsFile {
        task: config.task.clone(),
        version: version.clone(),
        git_sha: artifacts::git_sha(),
        data_sha256: data_sha256.clone(),
        config_sha256: hex::encode(Sha256::digest(&config_bytes)),
        seed: config.cv.seed,
        model_kind: kind_name(&estimator).into(),
        config: as_written,
        classes: config.target.classes.clone(),
        rows: x.len(),
        distinct_feature_vectors: cv.distinct,
        fold_rows: cv.fold_rows.clone(),
        cv: cv.metrics.clone(),
        confusion: cv.confusion.clone(),
        timings: Timings {
            data_check_seconds,
            cv_seconds,
            final_fit_seconds,
            total_seconds: started.elapsed().as_secs_f64(),
        },
        created_at: artifacts::utc_now(),
    };
    let evidence = Evidence {
        report: &report,
        cv: &cv,
        reference: reference(&config, &table, &x)?,
    };
    write(&config, out, &version, estimator, metrics, evidence)
}

/// What the artifacts show besides the model and its metrics.
struct Evidence<'a> {
    report: &'a CheckReport,
    cv: &'a evaluate::CvOutcome,
    /// `reference.csv` (see [`artifacts::reference_csv`]).
    reference: Vec<u8>,
}

/// The training reference of the features, typed as in the training file.
fn reference(config: &TrainConfig, table: &Table, x: &[Vec<f64>]) -> Result<Vec<u8>, TrainError> {
    let integer_columns = crate::ml::drift::load::integer_columns(&config.data.path, table)?;
    let names: Vec<&str> = config.features.iter().map(|f| f.name.as_str()).collect();
    let integer: Vec<bool> = names.iter().map(|n| integer_columns.contains(*n)).collect();
    Ok(artifacts::reference_csv(&names, &integer, x))
}

fn write(
    config: &TrainConfig,
    out: &Path,
    version: &str,
    estimator: Estimator,
    metrics: MetricsFile,
    evidence: Evidence<'_>,
) -> Result<TrainOutcome, TrainError> {
    let Evidence {
        report,
        cv,
        reference,
    } = evidence;
    let model = evaluate::model_file(config, estimator);
    let card = evaluate::model_card(config, &metrics, report).map_err(|message| {
        TrainError::ModelCard {
            path: config.model_card.clone(),
            message,
        }
    })?;
    let positive = &config.target.positive;
    let files = vec![
        ("model.json", canonical_json(&model)),
        ("metrics.json", canonical_json(&metrics)),
        ("modelcard.yaml", card.into_bytes()),
        ("dataset_report.json", canonical_json(report)),
        ("reference.csv", reference),
        (
            "roc.svg",
            plots::roc_svg(&cv.roc_points, cv.oof_auc, positive).into_bytes(),
        ),
        (
            "calibration.svg",
            plots::calibration_svg(&cv.calibration, cv.oof_ece, positive).into_bytes(),
        ),
        (
            "confusion.svg",
            plots::confusion_svg(&cv.confusion, &config.target.classes).into_bytes(),
        ),
    ];
    let dir = out.join(version);
    let tarball = out.join(format!("{}-{version}.tar.gz", config.task));
    artifacts::write_all(&dir, &tarball, version, files).map_err(|source| TrainError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(TrainOutcome {
        version: version.to_string(),
        dir,
        tarball,
        cv_roc_auc_high: metrics.cv.roc_auc_high.mean,
        metrics,
    })
}

/// The features as rows of numbers and the target as class indices; a null, non-numeric feature
/// or an unknown label is an error naming the row (1-based, after the header).
fn matrix(config: &TrainConfig, table: &Table) -> Result<(Vec<Vec<f64>>, Vec<usize>), TrainError> {
    let fail = |message: String| TrainError::Table {
        path: config.data.path.clone(),
        message,
    };
    let mut columns = Vec::new();
    for f in &config.features {
        match table.column(&f.name).map(|c| &c.values) {
            Some(Values::Number(v)) => columns.push(v),
            Some(_) => return Err(fail(format!("feature {} is not numeric", f.name))),
            None => return Err(fail(format!("feature {} is missing", f.name))),
        }
    }
    let target = table
        .column(&config.target.column)
        .ok_or_else(|| fail(format!("target {} is missing", config.target.column)))?;
    let mut x = Vec::with_capacity(table.rows);
    let mut y = Vec::with_capacity(table.rows);
    for i in 0..table.rows {
        let row: Option<Vec<f64>> = columns.iter().map(|c| c[i]).collect();
        let row = row.ok_or_else(|| fail(format!("row {}: a feature is empty", i + 1)))?;
        let label = target.values.key(i).unwrap_or_default();
        let class = config
            .target
            .classes
            .iter()
            .position(|c| *c == label)
            .ok_or_else(|| {
                fail(format!(
                    "row {}: label {label:?} is not one of target.classes",
                    i + 1
                ))
            })?;
        x.push(row);
        y.push(class);
    }
    Ok((x, y))
}

fn version_of(config: &[u8], data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(config);
    h.update(data);
    h.update(FORMAT.as_bytes());
    hex::encode(h.finalize())[..12].to_string()
}

fn kind_name(e: &Estimator) -> &'static str {
    match e {
        Estimator::LogisticRegression { .. } => "logistic_regression",
        Estimator::GradientBoosting { .. } => "gradient_boosting",
    }
}

/// The path as shown in reports: its file name, so a report does not depend on where it ran.
fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// Loads a trained model back (for the registry and serving).
pub fn load_model(dir: &Path) -> Result<RiskModel, crate::ml::models::ModelError> {
    crate::ml::models::load(&dir.join("model.json"))
}
