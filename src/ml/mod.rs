//! The ML half's shared training code: data checks, training with honest validation, the
//! portable model format and the model registry. No HTTP and no database here.
//!
//! - [`data`]: CSV/Parquet into a [`data::Table`]; expectation suites (Great Expectations'
//!   names) run into a dataset report (`powerbirth data check`).
//! - [`train`]: YAML training configs, grouped stratified cross-validation, metrics equal to
//!   scikit-learn's, plots, artifacts (`powerbirth train`).
//! - [`models`]: the portable model file (`model.json`): load and `predict_proba` without
//!   retraining.
//! - [`recommend`]: the content recommender (`GET /v1/recommendations`), its daily refresh and
//!   recall@5 job, `eval recommend` and the synthetic engagement generator.
//! - [`registry`]: MLflow (when `MLFLOW_TRACKING_URI` is set) or `models/registry.json`; the
//!   promotion gate (beats production and approved by a person) and its history.
//!
//! # Interface for the registry and serving (stable)
//!
//! [`train::run`]`(config, out) -> Result<`[`train::TrainOutcome`]`, `[`train::TrainError`]`>`
//! trains `config` and writes `out/<version>/` holding `model.json`, `metrics.json`,
//! `modelcard.yaml`, `dataset_report.json`, `reference.csv` (the features' training reference
//! for the drift job), `roc.svg`, `calibration.svg`, `confusion.svg`, and
//! `out/<task>-<version>.tar.gz` with the same files under `<version>/`. The outcome carries
//! `version`, `dir`, `tarball`, `cv_roc_auc_high` (the promotion gate's figure) and the parsed
//! `metrics`.
//!
//! `version` is the first 12 hex digits of SHA-256(config file bytes ‖ data file bytes ‖
//! [`models::FORMAT`]): the same config and data give the same version and the same bytes.
//!
//! `metrics.json` ([`train::MetricsFile`]): `task`, `version`, `git_sha`, `data_sha256`,
//! `config_sha256`, `seed`, `model_kind`, `config` (as written), `classes`, `rows`,
//! `distinct_feature_vectors`, `fold_rows`, `cv.{roc_auc_high, roc_auc_macro_ovr, f1_macro,
//! f1_high, brier, ece}` each `{mean, sd, folds: [..]}`, `confusion` (rows true class, columns
//! predicted, classes in `classes` order), `timings.{data_check_seconds, cv_seconds,
//! final_fit_seconds, total_seconds}`, `created_at` (UTC RFC 3339). Only `created_at` and
//! `timings` differ between identical runs.
//!
//! A model is loaded with [`models::load`]`(path to model.json)` and scored with
//! [`models::RiskModel::predict_proba`] (features in `model.file.features` order).

pub mod data;
pub mod drift;
pub mod models;
pub mod recommend;
pub mod registry;
pub mod serve;
pub mod train;
pub mod triage;
