//! The start-up model: on a fresh machine `serve` must answer risk requests with no set-up, so
//! when the registry has no `production` version of the risk model, start-up trains the shipped
//! config (seconds), registers the result and promotes it with the approver `bootstrap`. The
//! gate still applies (there is no production to beat), and the promotion is in the history
//! like any other, so an operator sees that no person approved it.
//!
//! Training is passed in as a function (`crate::ml::train::run` in `serve`), which keeps this
//! module free of the trainer and lets its tests use a version directory made on the spot.

use std::path::{Path, PathBuf};

use super::{Approver, ModelVersion, Promotion, PromotionRequest, Registry, RegistryError};

/// The error a training function returns.
pub type TrainError = Box<dyn std::error::Error + Send + Sync>;

/// What [`ensure_production`] found or did.
#[derive(Debug)]
pub enum Bootstrap {
    /// A production version existed; nothing was trained.
    Existing(ModelVersion),
    /// None existed: this version was trained, registered and promoted.
    Trained(Promotion),
}

/// Why the start-up model could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("training {config} for the start-up model failed: {source}")]
    Train { config: PathBuf, source: TrainError },
    #[error("the training task for the start-up model did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The shipped training config the start-up risk model is trained from (relative to the
/// repository root, where `make run` runs).
pub const RISK_TRAINING_CONFIG: &str = "training/configs/risk.yaml";

/// Ensures `model` has a production version: if none, runs `train(config, models_dir)` (which
/// returns the version directory it wrote) on a blocking thread, registers and promotes it.
pub async fn ensure_production<F>(
    model: &str,
    config: &Path,
    models_dir: &Path,
    registry: &Registry,
    train: F,
) -> Result<Bootstrap, BootstrapError>
where
    F: FnOnce(&Path, &Path) -> Result<PathBuf, TrainError> + Send + 'static,
{
    if let Some(v) = registry.production(model).await? {
        tracing::info!(model, version = %v.version, registry = %registry.describe(), "production model found");
        return Ok(Bootstrap::Existing(v));
    }
    tracing::info!(model, config = %config.display(), registry = %registry.describe(),
        "no production model: training the shipped config");
    let (cfg, out) = (config.to_path_buf(), models_dir.to_path_buf());
    let dir = tokio::task::spawn_blocking(move || train(&cfg, &out))
        .await?
        .map_err(|source| BootstrapError::Train {
            config: config.to_path_buf(),
            source,
        })?;
    let version = registry.register(model, &dir).await?;
    let request = PromotionRequest {
        version: version.version.clone(),
        approver: Approver::bootstrap(),
        reason: Some("bootstrap: no production version at start-up".into()),
    };
    let promotion = registry.promote(model, &request).await?;
    tracing::warn!(model, version = %promotion.version, approved_by = Approver::BOOTSTRAP,
        "start-up model promoted to production without a person's approval");
    Ok(Bootstrap::Trained(promotion))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::registry::version_dir::fixture::version_dir;

    #[tokio::test]
    async fn a_machine_without_production_trains_registers_and_promotes_as_bootstrap() {
        let tmp = tempfile::tempdir().unwrap();
        let registry = Registry::open(tmp.path(), None).unwrap();
        let config = tmp.path().join("risk.yaml");
        let outcome = ensure_production("risk", &config, tmp.path(), &registry, |_, out| {
            Ok(version_dir(out, "risk", "boot1", 0.86))
        })
        .await
        .unwrap();
        let Bootstrap::Trained(p) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            (p.version.as_str(), p.approved_by.as_str()),
            ("boot1", "bootstrap")
        );
        let production = registry.production("risk").await.unwrap().unwrap();
        assert_eq!(production.approved_by(), Some("bootstrap"));
        assert_eq!(registry.history("risk").await.unwrap(), vec![p]);
    }

    #[tokio::test]
    async fn a_machine_with_production_trains_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let registry = Registry::open(tmp.path(), None).unwrap();
        let dir = version_dir(tmp.path(), "risk", "v1", 0.9);
        registry.register("risk", &dir).await.unwrap();
        let request = PromotionRequest {
            version: "v1".into(),
            approver: Approver::parse("ana@example.org").unwrap(),
            reason: None,
        };
        registry.promote("risk", &request).await.unwrap();
        let outcome = ensure_production("risk", &dir, tmp.path(), &registry, |_, _| {
            Err("the trainer must not run".into())
        })
        .await
        .unwrap();
        assert!(matches!(outcome, Bootstrap::Existing(v) if v.version == "v1"));
    }

    #[tokio::test]
    async fn a_failed_training_names_the_config() {
        let tmp = tempfile::tempdir().unwrap();
        let registry = Registry::open(tmp.path(), None).unwrap();
        let config = tmp.path().join("risk.yaml");
        let err = ensure_production("risk", &config, tmp.path(), &registry, |_, _| {
            Err("no data".into())
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("risk.yaml") && err.contains("no data"),
            "{err}"
        );
    }
}
