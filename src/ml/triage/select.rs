//! `[guard] triage_model`: a version folder as written, or a registry selector
//! (`triage@production`) looked up in the model registry the risk model uses (`[risk]
//! models_dir`'s `registry.json`, or MLflow when `[risk] mlflow_tracking_uri` /
//! `MLFLOW_TRACKING_URI` is set). From MLflow, the version's files are downloaded into a
//! temporary folder. A selector that names no version at start-up is an error saying how to make
//! one.
//!
//! A selector is followed while serving ([`ServedTriage`]): polled every `[risk]
//! reload_interval_s` and on `POST /admin/triage/reload`, the version it points at is loaded
//! off the request path and swapped in whole (`arc-swap`); a turn already being read finishes on
//! the version it started with, and a failed load leaves the current version serving.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;

use super::TriageError;
use super::batch::BatchedTriage;
use super::model::{LAYERS_FILE, TriageFile};
use crate::guard::config::{GuardConfig, TriageModelRef};
use crate::guard::second_opinion::SecondOpinion;
use crate::guard::{Category, Lang};
use crate::ml::registry::{ModelVersion, Registry};
use crate::ml::serve::RiskConfig;

/// The guard's second opinion at start-up: the triage classifier `[guard] triage_model` names,
/// loaded on the encoder it was trained on and behind the batcher, or none. The guard (tier 1)
/// only knows the `SecondOpinion` trait; the model lives here, and `app` plugs it in. Must run
/// inside Tokio (the batcher is a task). An error says the start-up stops, and why.
pub async fn second_opinion(
    guard: &GuardConfig,
    risk: &RiskConfig,
) -> anyhow::Result<Option<Arc<ServedTriage>>> {
    let Some(reference) = &guard.triage_model else {
        return Ok(None);
    };
    let not_starting = || {
        format!(
            "[guard] triage_model = {:?}: not starting",
            reference.to_string()
        )
    };
    let registry = match reference {
        TriageModelRef::Path(_) => None,
        TriageModelRef::Registry { .. } => Some(
            Registry::open(&risk.models_dir, risk.mlflow_tracking_uri.as_deref())
                .map_err(TriageError::from)
                .with_context(not_starting)?,
        ),
    };
    let served = ServedTriage {
        reference: reference.clone(),
        models_dir: risk.models_dir.clone(),
        encoder: guard.triage_encoder.clone(),
        current: ArcSwap::from_pointee(
            async {
                let dir = dir_of(reference, registry.as_ref(), &risk.models_dir).await?;
                load(dir, guard.triage_encoder.clone()).await
            }
            .await
            .with_context(not_starting)?,
        ),
        registry,
        reloading: tokio::sync::Mutex::new(()),
    };
    Ok(Some(Arc::new(served)))
}

/// The model in `dir` on `encoder`, read on a blocking thread, behind a new batcher.
async fn load(dir: PathBuf, encoder: PathBuf) -> Result<BatchedTriage, TriageError> {
    let model = tokio::task::spawn_blocking(move || {
        let model = super::TriageModel::load(&dir, &encoder);
        if let Ok(m) = &model {
            tracing::info!(version = %m.file.version, from = %dir.display(),
                "triage classifier installed as the guard's second opinion");
        }
        model
    })
    .await
    .map_err(|e| TriageError::Selector(format!("loading the triage model: {e}")))??;
    Ok(BatchedTriage::spawn(model))
}

/// The triage version the guard consults, swapped without a restart when its registry selector
/// moves. A folder reference never changes.
pub struct ServedTriage {
    reference: TriageModelRef,
    /// Opened once for a selector; `None` for a folder.
    registry: Option<Registry>,
    models_dir: PathBuf,
    encoder: PathBuf,
    current: ArcSwap<BatchedTriage>,
    /// One reload at a time (the poll and an admin's call must not load the same version twice).
    reloading: tokio::sync::Mutex<()>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// A new version serves from now on.
    Swapped { from: String, to: String },
    /// The selector still names the serving version (or the reference is a folder).
    Unchanged(String),
}

impl std::fmt::Debug for ServedTriage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedTriage")
            .field("reference", &self.reference.to_string())
            .field("version", &self.version())
            .finish()
    }
}

impl ServedTriage {
    /// The training version serving now.
    pub fn version(&self) -> String {
        self.current.load().model().file.version.clone()
    }

    /// Looks the selector up now and swaps in the version it names if it moved. An error (the
    /// registry unreachable, the alias gone, a version that does not load) leaves the serving
    /// version in place.
    pub async fn reload(&self) -> Result<Swap, TriageError> {
        let _one = self.reloading.lock().await;
        let serving = self.version();
        let (TriageModelRef::Registry { model, alias }, Some(registry)) =
            (&self.reference, &self.registry)
        else {
            return Ok(Swap::Unchanged(serving));
        };
        let version = lookup(registry, model, alias).await?;
        if version.version == serving {
            return Ok(Swap::Unchanged(serving));
        }
        let dir = fetch(registry, &version, &self.models_dir).await?;
        let next = load(dir, self.encoder.clone()).await?;
        self.current.store(Arc::new(next));
        tracing::info!(from = %serving, to = %version.version, selector = %self.reference,
            "triage classifier swapped");
        Ok(Swap::Swapped {
            from: serving,
            to: version.version,
        })
    }

    /// [`ServedTriage::reload`], logging the outcome (the poll).
    pub async fn reload_logged(&self) {
        match self.reload().await {
            Ok(Swap::Swapped { .. }) | Ok(Swap::Unchanged(_)) => {}
            Err(e) => tracing::error!(error = %e,
                "triage model reload failed; the current version keeps serving"),
        }
    }

    /// Whether the reference can move (a registry selector), so polling it means something.
    pub fn follows_registry(&self) -> bool {
        self.registry.is_some()
    }
}

impl SecondOpinion for ServedTriage {
    fn escalations(&self, text: &str, lang: Lang) -> Vec<Category> {
        self.current.load().escalations(text, lang)
    }

    fn escalations_async<'a>(
        &'a self,
        text: &'a str,
        lang: Lang,
    ) -> Pin<Box<dyn Future<Output = Vec<Category>> + Send + 'a>> {
        // The turn keeps the version it started on, even if a reload swaps it meanwhile.
        let batcher = self.current.load_full();
        Box::pin(async move { batcher.escalations_async(text, lang).await })
    }

    fn name(&self) -> &str {
        "triage"
    }
}

/// The version folder `reference` names.
pub async fn resolve(
    reference: &TriageModelRef,
    risk: &RiskConfig,
) -> Result<PathBuf, TriageError> {
    if let TriageModelRef::Path(p) = reference {
        return Ok(p.clone());
    }
    let registry = Registry::open(&risk.models_dir, risk.mlflow_tracking_uri.as_deref())?;
    dir_of(reference, Some(&registry), &risk.models_dir).await
}

/// The version folder `reference` names, looked up in `registry` for a selector.
async fn dir_of(
    reference: &TriageModelRef,
    registry: Option<&Registry>,
    models_dir: &Path,
) -> Result<PathBuf, TriageError> {
    match (reference, registry) {
        (TriageModelRef::Path(p), _) => Ok(p.clone()),
        (TriageModelRef::Registry { model, alias }, Some(registry)) => {
            let version = lookup(registry, model, alias).await?;
            fetch(registry, &version, models_dir).await
        }
        (TriageModelRef::Registry { model, alias }, None) => Err(TriageError::Selector(format!(
            "{model}@{alias}: no registry is open"
        ))),
    }
}

/// The version `model@alias` points at in `registry`.
async fn lookup(
    registry: &Registry,
    model: &str,
    alias: &str,
) -> Result<ModelVersion, TriageError> {
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
    Ok(version)
}

/// The folder holding `version`'s files: its local folder, or a download from MLflow.
async fn fetch(
    registry: &Registry,
    version: &ModelVersion,
    models_dir: &Path,
) -> Result<PathBuf, TriageError> {
    match registry {
        Registry::Local(_) => Ok(local_dir(&version.source, models_dir)),
        Registry::Mlflow(r) => download(r, version).await,
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
