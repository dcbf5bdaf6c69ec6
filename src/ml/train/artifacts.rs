//! What a training run leaves behind, in `<out>/<version>/`: `model.json`, `metrics.json`,
//! `modelcard.yaml`, `dataset_report.json`, `roc.svg`, `calibration.svg`, `confusion.svg`, and
//! the same files packed as `<out>/<task>-<version>.tar.gz`. Every byte depends only on the
//! config, the data and the seed, except `metrics.json`'s `created_at` and `timings`; the
//! tarball has fixed modification times, owners and order (so it differs between runs only
//! through those two fields).

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::metrics::Summary;

/// `metrics.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricsFile {
    pub task: String,
    pub version: String,
    pub git_sha: String,
    pub data_sha256: String,
    pub config_sha256: String,
    pub seed: u64,
    pub model_kind: String,
    /// The config as written (paths relative to its file).
    pub config: TrainConfig,
    pub classes: Vec<String>,
    pub rows: usize,
    pub distinct_feature_vectors: usize,
    /// Rows in each held-out fold.
    pub fold_rows: Vec<usize>,
    pub cv: CvMetrics,
    /// Out-of-fold predictions, summed over folds: rows true class, columns predicted.
    pub confusion: Vec<Vec<usize>>,
    pub timings: Timings,
    /// UTC, RFC 3339; with `timings`, the only field that changes between identical runs.
    pub created_at: String,
}

/// Per-fold values and their mean ± sd, on rows each fold's model never saw.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CvMetrics {
    /// ROC AUC of the positive class (`high risk`) against the rest.
    pub roc_auc_high: Summary,
    pub roc_auc_macro_ovr: Summary,
    pub f1_macro: Summary,
    pub f1_high: Summary,
    /// Brier score of the positive class's probability.
    pub brier: Summary,
    /// Expected calibration error of the positive class's probability.
    pub ece: Summary,
}

/// Wall-clock seconds per stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub data_check_seconds: f64,
    pub cv_seconds: f64,
    pub final_fit_seconds: f64,
    pub total_seconds: f64,
}

/// Writes each `(name, bytes)` into `dir` and packs them as `tarball` (sorted, mtime 0, root-owned,
/// mode 0644, under a `<version>/` folder).
pub fn write_all(
    dir: &Path,
    tarball: &Path,
    version: &str,
    mut files: Vec<(&'static str, Vec<u8>)>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    files.sort_by(|a, b| a.0.cmp(b.0));
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes)?;
    }
    let gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (name, bytes) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        tar.append_data(&mut header, format!("{version}/{name}"), bytes.as_slice())?;
    }
    let bytes = tar.into_inner()?.finish()?;
    let tmp: PathBuf = tarball.with_extension("gz.partial");
    std::fs::File::create(&tmp)?.write_all(&bytes)?;
    std::fs::rename(tmp, tarball)
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let ms = crate::core::clock::now_ms();
    let day = crate::core::calendar::day_of(ms);
    let secs = (ms - crate::core::calendar::day_start_ms(day)) / 1000;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        crate::core::calendar::date_of_day(day),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The commit being trained from (`git rev-parse HEAD`), or `unknown` outside a checkout.
pub fn git_sha() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
