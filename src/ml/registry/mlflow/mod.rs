//! The registry on an MLflow tracking server. Registering logs a run in the experiment
//! `powerbirth-<model>` (params: the flattened training config, seed and data hash; metrics:
//! `cv_<name>` per fold with the fold as step, `cv_<name>_mean` and `cv_<name>_sd`; tags:
//! `git_sha`, `branch`, `data_sha256`), uploads every artifact through the server's
//! `mlflow-artifacts` proxy, and creates a version of the registered model `<model>` with the
//! run's artifact URI as source. Promotion sets the `production` alias (aliases, not the
//! deprecated stages) and records the approval as model-version tags.
//!
//! MLflow keeps no history of aliases, so each promotion is also written as one registered-model
//! tag `promotion.NNNNNN` holding the [`Promotion`] as JSON: it lives in the same store as the
//! alias (one backup, visible in MLflow's UI), needs no artifact store (a registered model has
//! none), and one small tag per promotion stays far below MLflow's tag-size limit however long
//! the history grows.

mod client;
pub mod types;

use std::collections::BTreeMap;

pub use client::{MlflowClient, MlflowError};
use types::{Metric, ModelVersionRecord, Param, RegisteredModel, Tag};

use super::version_dir::VersionDir;
use super::{
    ModelVersion, PRODUCTION, Promotion, PromotionRequest, RegistryError, TAG_APPROVAL_REASON,
    TAG_APPROVED_AT, TAG_APPROVED_BY, TAG_VERSION, gate,
};

/// MLflow's limit of params per `runs/log-batch` call.
pub const LOG_BATCH_PARAMS: usize = 100;
/// The prefix of the registered-model tags that hold the promotion history.
pub const HISTORY_TAG_PREFIX: &str = "promotion.";

/// The registry on an MLflow server.
pub struct MlflowRegistry {
    client: MlflowClient,
}

impl MlflowRegistry {
    pub fn new(client: MlflowClient) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &MlflowClient {
        &self.client
    }

    /// The experiment runs of `model` are logged in.
    pub fn experiment_name(model: &str) -> String {
        format!("powerbirth-{model}")
    }

    /// Logs a run for the version directory and registers it as a new model version.
    pub async fn register(
        &self,
        model: &str,
        dir: &VersionDir,
    ) -> Result<ModelVersion, RegistryError> {
        if self.find(model, &dir.version).await?.is_some() {
            return Err(RegistryError::AlreadyRegistered {
                model: model.into(),
                version: dir.version.clone(),
            });
        }
        let run = self.log_run(model, dir).await?;
        if self.client.registered_model(model).await?.is_none() {
            let description =
                format!("PowerBirth {model} model (registered by `powerbirth models register`)");
            self.client
                .create_registered_model(model, &description)
                .await?;
        }
        let tags = [
            Tag::new(TAG_VERSION, &dir.version),
            Tag::new("git_sha", &dir.git_sha),
            Tag::new("data_sha256", &dir.data_sha256),
        ];
        let record = self
            .client
            .create_model_version(model, &run.artifact_uri, &run.run_id, &tags)
            .await?;
        Ok(view(record, dir.means()))
    }

    /// Creates (or reuses) the experiment, logs params, metrics and tags, uploads the
    /// artifacts, and finishes the run (`FAILED` if an upload broke).
    async fn log_run(
        &self,
        model: &str,
        dir: &VersionDir,
    ) -> Result<types::RunInfo, RegistryError> {
        let experiment = Self::experiment_name(model);
        let experiment_id = match self.client.experiment_by_name(&experiment).await? {
            Some(e) => e.experiment_id,
            None => self.client.create_experiment(&experiment).await?,
        };
        let now = crate::core::now_ms();
        let tags = [
            Tag::new("git_sha", &dir.git_sha),
            Tag::new("branch", current_branch()),
            Tag::new("data_sha256", &dir.data_sha256),
            Tag::new(TAG_VERSION, &dir.version),
        ];
        let run = self
            .client
            .create_run(&experiment_id, &dir.version, now, &tags)
            .await?;
        let logged = self.log_contents(&run, dir, now).await;
        let status = if logged.is_ok() { "FINISHED" } else { "FAILED" };
        self.client
            .finish_run(&run.run_id, status, crate::core::now_ms())
            .await?;
        logged.map(|()| run)
    }

    async fn log_contents(
        &self,
        run: &types::RunInfo,
        dir: &VersionDir,
        now: i64,
    ) -> Result<(), RegistryError> {
        let params: Vec<Param> = dir
            .flat_params()
            .into_iter()
            .map(|(key, value)| Param { key, value })
            .collect();
        let metrics = cv_metrics(dir, now);
        let mut params = params.chunks(LOG_BATCH_PARAMS);
        // Metrics go with the first batch of params (fewer than MLflow's 1000 per call).
        let first = params.next().unwrap_or(&[]);
        self.client
            .log_batch(&run.run_id, &metrics, first, &[])
            .await?;
        for chunk in params {
            self.client.log_batch(&run.run_id, &[], chunk, &[]).await?;
        }
        for (relative, path) in dir.artifact_files()? {
            let bytes = std::fs::read(&path).map_err(|e| RegistryError::io(&path, e))?;
            self.client
                .upload_artifact(&run.artifact_uri, &relative, bytes)
                .await?;
        }
        Ok(())
    }

    /// Every version of `model` (oldest first) with its run's mean CV metrics and its aliases.
    pub async fn versions(&self, model: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        let Some(registered) = self.client.registered_model(model).await? else {
            return Ok(Vec::new());
        };
        let mut records = self.client.model_versions(model).await?;
        records.sort_by_key(|r| r.version.parse::<u64>().unwrap_or(u64::MAX));
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let metrics = self.run_means(&record.run_id).await?;
            let mut v = view(record, metrics);
            v.aliases = aliases_of(&registered, &v.registry_version);
            out.push(v);
        }
        Ok(out)
    }

    async fn run_means(&self, run_id: &str) -> Result<BTreeMap<String, f64>, RegistryError> {
        if run_id.is_empty() {
            return Ok(BTreeMap::new());
        }
        let run = self.client.get_run(run_id).await?;
        Ok(run
            .data
            .metrics
            .into_iter()
            .filter_map(|m| {
                let name = m
                    .key
                    .strip_prefix("cv_")?
                    .strip_suffix("_mean")?
                    .to_string();
                Some((name, m.value))
            })
            .collect())
    }

    /// The version named by our version string or by MLflow's number.
    async fn find(
        &self,
        model: &str,
        version: &str,
    ) -> Result<Option<ModelVersion>, RegistryError> {
        Ok(self
            .versions(model)
            .await?
            .into_iter()
            .find(|v| v.version == version || v.registry_version == version))
    }

    /// The gate, then: approval tags on the version, the alias, the history tag.
    pub async fn promote(
        &self,
        model: &str,
        request: &PromotionRequest,
    ) -> Result<Promotion, RegistryError> {
        let versions = self.versions(model).await?;
        let candidate = versions
            .iter()
            .find(|v| v.version == request.version || v.registry_version == request.version)
            .ok_or_else(|| RegistryError::UnknownVersion {
                model: model.into(),
                version: request.version.clone(),
            })?;
        let production = versions
            .iter()
            .find(|v| v.aliases.iter().any(|a| a == PRODUCTION));
        gate::check(candidate, production)?;
        let at = super::time::now();
        let number = &candidate.registry_version;
        let set = |key: &'static str, value: String| async move {
            self.client
                .set_model_version_tag(model, number, key, &value)
                .await
        };
        set(TAG_APPROVED_BY, request.approver.as_str().into()).await?;
        set(TAG_APPROVED_AT, at.clone()).await?;
        if let Some(reason) = &request.reason {
            set(TAG_APPROVAL_REASON, reason.clone()).await?;
        }
        self.client.set_alias(model, PRODUCTION, number).await?;
        let promotion = Promotion {
            alias: PRODUCTION.into(),
            version: candidate.version.clone(),
            previous: production.map(|p| p.version.clone()),
            approved_by: request.approver.as_str().into(),
            reason: request.reason.clone(),
            at,
        };
        let next = self.history(model).await?.len() + 1;
        let value = serde_json::to_string(&promotion).unwrap_or_default();
        self.client
            .set_registered_model_tag(model, &format!("{HISTORY_TAG_PREFIX}{next:06}"), &value)
            .await?;
        Ok(promotion)
    }

    /// Every promotion, oldest first, from the `promotion.NNNNNN` tags.
    pub async fn history(&self, model: &str) -> Result<Vec<Promotion>, RegistryError> {
        let Some(registered) = self.client.registered_model(model).await? else {
            return Ok(Vec::new());
        };
        let mut tags: Vec<Tag> = registered
            .tags
            .into_iter()
            .filter(|t| t.key.starts_with(HISTORY_TAG_PREFIX))
            .collect();
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        tags.iter()
            .map(|t| {
                serde_json::from_str(&t.value).map_err(|e| RegistryError::Invalid {
                    path: format!("MLflow registered model {model:?}, tag {}", t.key).into(),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// Per-fold values (`step` = fold number), mean and sd of every CV metric.
fn cv_metrics(dir: &VersionDir, timestamp: i64) -> Vec<Metric> {
    let metric = |key: String, value: f64, step: i64| Metric {
        key,
        value,
        timestamp,
        step,
    };
    let mut out = Vec::new();
    for (name, m) in &dir.cv {
        for (fold, value) in m.folds.iter().enumerate() {
            out.push(metric(format!("cv_{name}"), *value, fold as i64));
        }
        out.push(metric(format!("cv_{name}_mean"), m.mean, 0));
        out.push(metric(format!("cv_{name}_sd"), m.sd, 0));
    }
    out
}

fn view(record: ModelVersionRecord, metrics: BTreeMap<String, f64>) -> ModelVersion {
    let tags: BTreeMap<String, String> =
        record.tags.into_iter().map(|t| (t.key, t.value)).collect();
    ModelVersion {
        version: tags
            .get(TAG_VERSION)
            .cloned()
            .unwrap_or_else(|| record.version.clone()),
        registry_version: record.version,
        source: record.source,
        run_id: Some(record.run_id).filter(|r| !r.is_empty()),
        metrics,
        tags,
        aliases: record.aliases,
    }
}

fn aliases_of(model: &RegisteredModel, version: &str) -> Vec<String> {
    model
        .aliases
        .iter()
        .filter(|a| a.version == version)
        .map(|a| a.alias.clone())
        .collect()
}

/// The git branch being registered from: `GITHUB_HEAD_REF`/`GITHUB_REF_NAME` in CI, else
/// `git rev-parse --abbrev-ref HEAD`, else `unknown`.
fn current_branch() -> String {
    let from_env = ["GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    from_env
        .or_else(|| {
            let out = std::process::Command::new("git")
                .args(["rev-parse", "--abbrev-ref", "HEAD"])
                .output()
                .ok()?;
            let name = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && !name.is_empty()).then_some(name)
        })
        .unwrap_or_else(|| "unknown".into())
}
