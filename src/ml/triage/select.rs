//! `[guard] triage_model` resolved at start-up: a version folder as written, or a registry
//! selector (`triage@production`) looked up in the model registry the risk model uses (`[risk]
//! models_dir`'s `registry.json`, or MLflow when `[risk] mlflow_tracking_uri` /
//! `MLFLOW_TRACKING_URI` is set). From MLflow, the version's files are downloaded once into a
//! temporary folder. A selector that names no version is a start-up error saying how to make one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::TriageError;
use super::batch::BatchedTriage;
use super::model::{LAYERS_FILE, TriageFile};
use crate::guard::config::{GuardConfig, TriageModelRef};
use crate::guard::second_opinion::SecondOpinion;
use crate::ml::registry::{ModelVersion, Registry};
use crate::ml::serve::RiskConfig;

/// The guard's second opinion at start-up: the triage classifier `[guard] triage_model` names,
/// loaded on the encoder it was trained on and behind the batcher, or none. The guard (tier 1)
/// only knows the `SecondOpinion` trait; the model lives here, and `app` plugs it in. Must run
/// inside Tokio (the batcher is a task). An error says the start-up stops, and why.
pub async fn second_opinion(
    guard: &GuardConfig,
    risk: &RiskConfig,
) -> anyhow::Result<Option<Arc<dyn SecondOpinion>>> {
    let Some(reference) = &guard.triage_model else {
        return Ok(None);
    };
    let not_starting = || {
        format!(
            "[guard] triage_model = {:?}: not starting",
            reference.to_string()
        )
    };
    let dir = resolve(reference, risk).await.with_context(not_starting)?;
    let model = super::TriageModel::load(&dir, &guard.triage_encoder).with_context(not_starting)?;
    tracing::info!(version = %model.file.version, from = %dir.display(),
        "triage classifier installed as the guard's second opinion");
    Ok(Some(Arc::new(BatchedTriage::spawn(model))))
}

/// The version folder `reference` names.
pub async fn resolve(
    reference: &TriageModelRef,
    risk: &RiskConfig,
) -> Result<PathBuf, TriageError> {
    let (model, alias) = match reference {
        TriageModelRef::Path(p) => return Ok(p.clone()),
        TriageModelRef::Registry { model, alias } => (model, alias),
    };
    let registry = Registry::open(&risk.models_dir, risk.mlflow_tracking_uri.as_deref())?;
    let version = registry
        .versions(model)
        .await?
        .into_iter()
        .find(|v| v.aliases.iter().any(|a| a == alias))
        .ok_or_else(|| {
            TriageError::Selector(format!(
                "{model}@{alias}: no version of {model:?} is {alias:?} in the {}; train one \
                 (`powerbirth finetune run`), register it (`powerbirth models register {model} \
                 <version dir>`) and promote it (`powerbirth models promote {model} <version> \
                 --approved-by <email>`), or name a version folder",
                registry.describe()
            ))
        })?;
    tracing::info!(model, alias, version = %version.version, registry = %registry.describe(),
        "triage model resolved");
    match &registry {
        Registry::Local(_) => Ok(local_dir(&version.source, &risk.models_dir)),
        Registry::Mlflow(r) => download(r, &version).await,
    }
}

/// A local version folder: as registered when it exists from here, else relative to the
/// registry's parent folder (the repository root for `models/`), as the risk model's source.
fn local_dir(source: &str, models_dir: &Path) -> PathBuf {
    let dir = PathBuf::from(source);
    if dir.is_absolute() || dir.exists() {
        dir
    } else {
        models_dir.parent().unwrap_or(Path::new("")).join(dir)
    }
}

/// The files [`super::TriageModel::load`] reads, from the MLflow run's artifacts.
async fn download(
    registry: &crate::ml::registry::MlflowRegistry,
    version: &ModelVersion,
) -> Result<PathBuf, TriageError> {
    let dir = std::env::temp_dir().join(format!("powerbirth-triage-{}", version.version));
    std::fs::create_dir_all(&dir).map_err(|e| TriageError::io(&dir, e))?;
    let dir_ref = &dir;
    let get = |name: &'static str| async move {
        let bytes = registry
            .client()
            .download_artifact(&version.source, name)
            .await
            .map_err(|e| TriageError::Selector(format!("{}/{name}: {e}", version.source)))?;
        let path = dir_ref.join(name);
        std::fs::write(&path, &bytes).map_err(|e| TriageError::io(&path, e))?;
        Ok::<_, TriageError>(bytes)
    };
    let file = get("triage.json").await?;
    get("head.safetensors").await?;
    let file: TriageFile = serde_json::from_slice(&file)
        .map_err(|e| TriageError::Selector(format!("{}/triage.json: {e}", version.source)))?;
    if file.trained_layers > 0 {
        get(LAYERS_FILE).await?;
    }
    Ok(dir)
}
