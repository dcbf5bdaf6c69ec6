//! What a training run leaves behind, in `<out>/<version>/`: `model.json`, `metrics.json`,
//! `modelcard.yaml`, `dataset_report.json`, `reference.csv` (the features' training reference for
//! the drift monitor, at most 5,000 rows), `roc.svg`, `calibration.svg`, `confusion.svg`, and
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

/// Most rows the training reference keeps (`reference.csv`).
pub const REFERENCE_MAX_ROWS: usize = 5_000;

/// `reference.csv`: the training rows' features (in the model's units; no target, no id, no
/// other column), the reference the daily drift job compares served inputs with. Bounded to
/// [`REFERENCE_MAX_ROWS`] rows: above that, rows `⌊k·rows/5000⌋` for k = 0..5000, so the file
/// depends only on the data. Columns that are integers in the training file are written as
/// integers (so the drift monitor types them as Evidently would the training data); the others
/// with a decimal point (`98.0`).
pub fn reference_csv(names: &[&str], integer: &[bool], rows: &[Vec<f64>]) -> Vec<u8> {
    let mut out = names.join(",");
    out.push('\n');
    let keep = rows.len().min(REFERENCE_MAX_ROWS);
    for k in 0..keep {
        let row = &rows[k * rows.len() / keep];
        let cells: Vec<String> = row
            .iter()
            .zip(integer)
            .map(|(v, int)| {
                if *int && v.fract() == 0.0 && v.abs() < 1e15 {
                    format!("{}", *v as i64)
                } else {
                    format!("{v:?}")
                }
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_keeps_at_most_five_thousand_rows_spread_over_the_data() {
        let rows: Vec<Vec<f64>> = (0..12_000).map(|i| vec![i as f64, 0.5]).collect();
        let text = String::from_utf8(reference_csv(&["a", "b"], &[true, false], &rows)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + REFERENCE_MAX_ROWS);
        assert_eq!(lines[0], "a,b");
        assert_eq!(lines[1], "0,0.5");
        assert_eq!(lines[2], "2,0.5");
        assert_eq!(*lines.last().unwrap(), "11997,0.5");
    }

    #[test]
    fn a_small_reference_is_every_row_with_float_columns_kept_as_floats() {
        let rows = vec![vec![25.0, 98.0], vec![35.0, 98.6]];
        let text = reference_csv(&["Age", "BodyTemp"], &[true, false], &rows);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "Age,BodyTemp\n25,98.0\n35,98.6\n"
        );
    }
}
