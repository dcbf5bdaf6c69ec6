//! Where the served model comes from: the registry's `production` version (the local
//! `registry.json` or MLflow), its `model.json` read from the version directory or downloaded
//! through MLflow's artifact proxy, parsed off the async runtime.

use std::path::{Path, PathBuf};

use super::config::RiskConfig;
use super::model::ServedModel;
use crate::ml::models::RiskModel;
use crate::ml::registry::{ModelVersion, Registry, RegistryError};

/// Why a model could not be loaded from the registry.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{path}: {message}")]
    Model { path: String, message: String },
}

/// The registry a served model is read from.
pub struct ModelSource {
    pub model: String,
    registry: Registry,
    /// Relative version directories are tried from here too (the local registry's parent).
    base: PathBuf,
}

impl ModelSource {
    pub fn new(config: &RiskConfig) -> Result<ModelSource, RegistryError> {
        let registry = Registry::open(&config.models_dir, config.mlflow_tracking_uri.as_deref())?;
        Ok(ModelSource {
            model: config.model.clone(),
            registry,
            base: config
                .models_dir
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        })
    }

    /// Where it is, for logs.
    pub fn describe(&self) -> String {
        self.registry.describe()
    }

    /// The version `production` points at now, if any.
    pub async fn production(&self) -> Result<Option<ModelVersion>, RegistryError> {
        self.registry.production(&self.model).await
    }

    /// Reads and prepares `version`'s `model.json`.
    pub async fn load(&self, version: &ModelVersion) -> Result<ServedModel, SourceError> {
        let (path, bytes) = match &self.registry {
            Registry::Local(_) => {
                let dir = self.version_dir(&version.source);
                let path = dir.join("model.json");
                let read = path.clone();
                let bytes = tokio::task::spawn_blocking(move || std::fs::read(&read))
                    .await
                    .map_err(|e| model_error(&path, e.to_string()))?
                    .map_err(|e| model_error(&path, e.to_string()))?;
                (path.display().to_string(), bytes)
            }
            Registry::Mlflow(r) => {
                let bytes = r
                    .client()
                    .download_artifact(&version.source, "model.json")
                    .await
                    .map_err(RegistryError::from)?;
                (format!("{}/model.json", version.source), bytes)
            }
        };
        let (name, v) = (self.model.clone(), version.version.clone());
        let parsed = tokio::task::spawn_blocking(move || {
            let text = String::from_utf8(bytes).map_err(|e| e.to_string())?;
            let model = RiskModel::from_json(&text).map_err(|e| e.to_string())?;
            ServedModel::new(&name, &v, model)
        })
        .await
        .map_err(|e| SourceError::Model {
            path: path.clone(),
            message: e.to_string(),
        })?;
        parsed.map_err(|message| SourceError::Model { path, message })
    }

    /// The bytes of `name` among `version`'s artifacts (a local version directory's file, or an
    /// MLflow run's artifact): the drift job reads `reference.csv` this way.
    pub async fn artifact(
        &self,
        version: &ModelVersion,
        name: &str,
    ) -> Result<Vec<u8>, SourceError> {
        match &self.registry {
            Registry::Local(_) => {
                let path = self.version_dir(&version.source).join(name);
                let read = path.clone();
                tokio::task::spawn_blocking(move || std::fs::read(&read))
                    .await
                    .map_err(|e| model_error(&path, e.to_string()))?
                    .map_err(|e| model_error(&path, e.to_string()))
            }
            Registry::Mlflow(r) => Ok(r
                .client()
                .download_artifact(&version.source, name)
                .await
                .map_err(RegistryError::from)?),
        }
    }

    /// A local version directory: as registered when it exists from here, else relative to the
    /// registry's parent folder (the repository root for `models/`).
    fn version_dir(&self, source: &str) -> PathBuf {
        let dir = PathBuf::from(source);
        if dir.is_absolute() || dir.exists() {
            dir
        } else {
            self.base.join(dir)
        }
    }
}

fn model_error(path: &Path, message: String) -> SourceError {
    SourceError::Model {
        path: path.display().to_string(),
        message,
    }
}
