//! The local file registry, `models/registry.json`, for machines without an MLflow server: the
//! same versions, metrics, tags, aliases and promotion history. Every change holds an exclusive
//! lock on `registry.json.lock` (an OS file lock, released if the process dies) for its
//! read-modify-write, and replaces the file atomically (write a temporary file, sync, rename),
//! so a reader never sees half a file and two promoters never lose each other's change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::version_dir::VersionDir;
use super::{
    ModelVersion, PRODUCTION, Promotion, PromotionRequest, RegistryError, TAG_APPROVAL_REASON,
    TAG_APPROVED_AT, TAG_APPROVED_BY, gate,
};

/// The file's format version; a newer file is refused rather than misread.
const FORMAT: u32 = 1;

/// `registry.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    format: u32,
    #[serde(default)]
    models: BTreeMap<String, ModelEntry>,
}

/// One model: its versions (oldest first), aliases and promotion history.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    #[serde(default)]
    versions: Vec<StoredVersion>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    history: Vec<Promotion>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredVersion {
    version: String,
    source: String,
    registered_at: String,
    metrics: BTreeMap<String, f64>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

impl ModelEntry {
    fn view(&self, v: &StoredVersion) -> ModelVersion {
        ModelVersion {
            version: v.version.clone(),
            registry_version: v.version.clone(),
            source: v.source.clone(),
            run_id: None,
            metrics: v.metrics.clone(),
            tags: v.tags.clone(),
            aliases: self
                .aliases
                .iter()
                .filter(|(_, target)| **target == v.version)
                .map(|(alias, _)| alias.clone())
                .collect(),
        }
    }
}

/// The registry in `<models_dir>/registry.json`.
pub struct LocalRegistry {
    path: PathBuf,
}

impl LocalRegistry {
    pub fn new(models_dir: &Path) -> Self {
        Self {
            path: models_dir.join("registry.json"),
        }
    }

    /// The registry file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the version with its mean CV metrics and its git SHA and data hash as tags.
    pub fn register(&self, model: &str, dir: &VersionDir) -> Result<ModelVersion, RegistryError> {
        self.update(|file| {
            let entry = file.models.entry(model.to_string()).or_default();
            if entry.versions.iter().any(|v| v.version == dir.version) {
                return Err(RegistryError::AlreadyRegistered {
                    model: model.into(),
                    version: dir.version.clone(),
                });
            }
            let tags = BTreeMap::from([
                ("git_sha".to_string(), dir.git_sha.clone()),
                ("data_sha256".to_string(), dir.data_sha256.clone()),
            ]);
            let stored = StoredVersion {
                version: dir.version.clone(),
                source: dir.dir.display().to_string(),
                registered_at: super::time::now(),
                metrics: dir.means(),
                tags,
            };
            let view = entry.view(&stored);
            entry.versions.push(stored);
            Ok(view)
        })
    }

    /// Every version of `model`, oldest first (none when the file or the model is absent).
    pub fn versions(&self, model: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        let file = self.read()?;
        Ok(file
            .models
            .get(model)
            .map(|e| e.versions.iter().map(|v| e.view(v)).collect())
            .unwrap_or_default())
    }

    /// Every promotion of `model`, oldest first.
    pub fn history(&self, model: &str) -> Result<Vec<Promotion>, RegistryError> {
        let mut file = self.read()?;
        Ok(file
            .models
            .remove(model)
            .map(|e| e.history)
            .unwrap_or_default())
    }

    /// Checks the gate, then in one write: the approval tags, the alias, the history entry.
    pub fn promote(
        &self,
        model: &str,
        request: &PromotionRequest,
    ) -> Result<Promotion, RegistryError> {
        self.update(|file| {
            let unknown = || RegistryError::UnknownVersion {
                model: model.into(),
                version: request.version.clone(),
            };
            let entry = file.models.get_mut(model).ok_or_else(unknown)?;
            let index = entry
                .versions
                .iter()
                .position(|v| v.version == request.version)
                .ok_or_else(unknown)?;
            let candidate = entry.view(&entry.versions[index]);
            let previous = entry.aliases.get(PRODUCTION).cloned();
            let production = previous.as_ref().and_then(|p| {
                let stored = entry.versions.iter().find(|v| &v.version == p)?;
                Some(entry.view(stored))
            });
            gate::check(&candidate, production.as_ref())?;
            let at = super::time::now();
            let tags = &mut entry.versions[index].tags;
            tags.insert(TAG_APPROVED_BY.into(), request.approver.as_str().into());
            tags.insert(TAG_APPROVED_AT.into(), at.clone());
            if let Some(reason) = &request.reason {
                tags.insert(TAG_APPROVAL_REASON.into(), reason.clone());
            }
            entry
                .aliases
                .insert(PRODUCTION.into(), request.version.clone());
            let promotion = Promotion {
                alias: PRODUCTION.into(),
                version: request.version.clone(),
                previous,
                approved_by: request.approver.as_str().into(),
                reason: request.reason.clone(),
                at,
            };
            entry.history.push(promotion.clone());
            Ok(promotion)
        })
    }

    fn read(&self) -> Result<RegistryFile, RegistryError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RegistryFile {
                    format: FORMAT,
                    ..Default::default()
                });
            }
            Err(e) => return Err(RegistryError::io(&self.path, e)),
        };
        let invalid = |message: String| RegistryError::Invalid {
            path: self.path.clone(),
            message,
        };
        let file: RegistryFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if file.format != FORMAT {
            return Err(invalid(format!(
                "format {} is not the format {FORMAT} this build reads",
                file.format
            )));
        }
        Ok(file)
    }

    /// Runs `change` on the file under the lock and writes the result only if it succeeded.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut RegistryFile) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| RegistryError::io(dir, e))?;
        let lock_path = self.path.with_extension("json.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| RegistryError::io(&lock_path, e))?;
        lock.lock().map_err(|e| RegistryError::io(&lock_path, e))?;
        let mut file = self.read()?;
        let out = change(&mut file)?;
        self.write(&file)?;
        // The lock is released when `lock` is dropped (or the process exits).
        Ok(out)
    }

    fn write(&self, file: &RegistryFile) -> Result<(), RegistryError> {
        let tmp = self
            .path
            .with_extension(format!("json.tmp-{}", std::process::id()));
        let mut text = serde_json::to_string_pretty(file).map_err(|e| RegistryError::Invalid {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        text.push('\n');
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
        written.map_err(|e| RegistryError::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| RegistryError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests;
