//! A trained version as training leaves it: `models/<task>/<version>/` with `metrics.json`
//! (version, git SHA, data hash, seed, config, cross-validated metrics) and the other artifacts,
//! plus the sibling package `<task>-<version>.tar.gz`. The registry reads only `metrics.json`;
//! the rest is uploaded as it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::RegistryError;

/// One cross-validated metric: per-fold values, their mean and standard deviation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CvMetric {
    pub mean: f64,
    #[serde(default)]
    pub sd: f64,
    #[serde(default)]
    pub folds: Vec<f64>,
}

/// The parts of `metrics.json` the registry uses (other fields are left to training).
#[derive(Debug, Clone, Deserialize)]
struct MetricsFile {
    task: String,
    version: String,
    git_sha: String,
    data_sha256: String,
    #[serde(default)]
    seed: serde_json::Value,
    #[serde(default)]
    config: serde_json::Value,
    cv: BTreeMap<String, CvMetric>,
}

/// A version directory, read and checked.
#[derive(Debug, Clone)]
pub struct VersionDir {
    pub dir: PathBuf,
    pub task: String,
    pub version: String,
    pub git_sha: String,
    pub data_sha256: String,
    pub seed: serde_json::Value,
    /// The training config as training recorded it.
    pub config: serde_json::Value,
    pub cv: BTreeMap<String, CvMetric>,
}

impl VersionDir {
    /// Reads `dir/metrics.json`; a missing field or a version that is not the directory's name
    /// is an error naming the file.
    pub fn read(dir: &Path) -> Result<Self, RegistryError> {
        let path = dir.join("metrics.json");
        let text = std::fs::read_to_string(&path).map_err(|e| RegistryError::io(&path, e))?;
        let invalid = |message: String| RegistryError::Invalid {
            path: path.clone(),
            message,
        };
        let file: MetricsFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if file.version != name {
            return Err(invalid(format!(
                "version {:?} is not the directory's name {name:?}",
                file.version
            )));
        }
        if !file.cv.contains_key(super::GATE_METRIC) {
            return Err(invalid(format!("cv.{} is missing", super::GATE_METRIC)));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            task: file.task,
            version: file.version,
            git_sha: file.git_sha,
            data_sha256: file.data_sha256,
            seed: file.seed,
            config: file.config,
            cv: file.cv,
        })
    }

    /// Mean of every CV metric, by name.
    pub fn means(&self) -> BTreeMap<String, f64> {
        self.cv.iter().map(|(k, m)| (k.clone(), m.mean)).collect()
    }

    /// The package training wrote beside the directory, if it is there.
    pub fn tarball(&self) -> Option<PathBuf> {
        let name = format!("{}-{}.tar.gz", self.task, self.version);
        let path = self.dir.parent()?.join(name);
        path.is_file().then_some(path)
    }

    /// The files to upload: every file of the directory (sorted, sub-directories included, as
    /// paths relative to it) and the package.
    pub fn artifact_files(&self) -> Result<Vec<(String, PathBuf)>, RegistryError> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(|e| RegistryError::io(&d, e))? {
                let path = entry.map_err(|e| RegistryError::io(&d, e))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.dir) {
                    let rel = rel.to_string_lossy().replace('\\', "/");
                    out.push((rel, path));
                }
            }
        }
        out.sort();
        if let Some(tar) = self.tarball() {
            let name = tar.file_name().unwrap_or_default().to_string_lossy().into();
            out.push((name, tar));
        }
        Ok(out)
    }

    /// The training config flattened to `config.a.b = value` pairs (MLflow params are flat).
    pub fn flat_params(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("seed".to_string(), scalar(&self.seed)),
            ("data_sha256".to_string(), self.data_sha256.clone()),
        ];
        flatten("config", &self.config, &mut out);
        out
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::Null => {}
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A version directory as training writes it, small enough to build in a test.

    use std::path::{Path, PathBuf};

    /// Writes `root/<task>/<version>/` with `metrics.json` (gate metric `auc`) and two
    /// artifacts, plus the package beside it; returns the directory.
    pub(crate) fn version_dir(root: &Path, task: &str, version: &str, auc: f64) -> PathBuf {
        let dir = root.join(task).join(version);
        std::fs::create_dir_all(&dir).unwrap();
        let metrics = serde_json::json!({
            "task": task, "version": version, "git_sha": "abc123", "data_sha256": "d4t4",
            "seed": 42, "config": {"model": {"kind": "logistic", "c": 1.0}, "folds": 5},
            "cv": {
                "roc_auc_high": {"mean": auc, "sd": 0.01, "folds": [auc - 0.01, auc, auc + 0.01]},
                "f1_macro": {"mean": 0.7, "sd": 0.02, "folds": [0.68, 0.7, 0.72]},
                "brier": {"mean": 0.1, "sd": 0.0, "folds": [0.1, 0.1, 0.1]}
            },
            "confusion": [[1, 0], [0, 1]], "timings": {"fit_ms": 3}, "created_at": "2026-12-06T00:00:00Z"
        });
        std::fs::write(dir.join("metrics.json"), metrics.to_string()).unwrap();
        std::fs::write(dir.join("model.json"), "{\"kind\":\"logistic\"}").unwrap();
        std::fs::write(dir.join("roc.svg"), "<svg/>").unwrap();
        std::fs::write(
            root.join(task).join(format!("{task}-{version}.tar.gz")),
            b"tar",
        )
        .unwrap();
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_directory_gives_its_means_params_and_every_artifact_with_the_package() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = fixture::version_dir(tmp.path(), "risk", "v1", 0.9);
        let v = VersionDir::read(&dir).unwrap();
        assert_eq!(v.means()["roc_auc_high"], 0.9);
        let files: Vec<String> = v
            .artifact_files()
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(
            files,
            ["metrics.json", "model.json", "roc.svg", "risk-v1.tar.gz"]
        );
        let params = v.flat_params();
        assert!(params.contains(&("config.model.kind".into(), "logistic".into())));
        assert!(params.contains(&("seed".into(), "42".into())));
    }

    #[test]
    fn a_metrics_file_naming_another_version_is_refused_with_its_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = fixture::version_dir(tmp.path(), "risk", "v1", 0.9);
        let renamed = tmp.path().join("risk/v2");
        std::fs::rename(&dir, &renamed).unwrap();
        let err = VersionDir::read(&renamed).unwrap_err().to_string();
        assert!(
            err.contains("metrics.json") && err.contains("\"v1\""),
            "{err}"
        );
    }
}
