//! Base models: `models/base/<name>/` holds a model fetched by `make models` and its
//! `modelcard.yaml` manifest (source and revision, licence, languages, size, known limitations,
//! SHA-256 of each file). `powerbirth models base sync <name>` verifies the files against the
//! manifest; `--update` records a newly installed version. The descriptive part of the manifest
//! comes from the committed `training/base/<name>.yaml`; the hashes and size from the files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{TriageError, sha256_hex};

/// The manifest file inside a base model folder.
pub const MANIFEST: &str = "modelcard.yaml";

/// What a person writes about a base model (`training/base/<name>.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseCard {
    pub source: String,
    pub revision: String,
    pub licence: String,
    pub languages: Vec<String>,
    pub limitations: Vec<String>,
}

/// `modelcard.yaml`: the card plus what the files are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    #[serde(flatten)]
    pub card: BaseCard,
    pub size_bytes: u64,
    /// File name → SHA-256.
    pub files: BTreeMap<String, String>,
}

/// What `sync` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Sync {
    /// No manifest was there; one was written.
    Written,
    /// Every file matches the manifest.
    Verified,
    /// Files differ and `update` was given: the manifest now describes them (names of the
    /// changed files).
    Updated(Vec<String>),
}

/// Verifies (or writes, or with `update` refreshes) `dir/modelcard.yaml` from the files of
/// `dir` and the card `card_path`. Differing files without `update` are an error naming them.
pub fn sync(name: &str, dir: &Path, card_path: &Path, update: bool) -> Result<Sync, TriageError> {
    let text = std::fs::read_to_string(card_path).map_err(|e| TriageError::io(card_path, e))?;
    let card: BaseCard =
        serde_norway::from_str(&text).map_err(|e| TriageError::data(card_path, e.to_string()))?;
    let (files, size_bytes) = hash_files(dir)?;
    let now = Manifest {
        name: name.to_string(),
        card,
        size_bytes,
        files,
    };
    let path = dir.join(MANIFEST);
    let outcome = match std::fs::read_to_string(&path) {
        Err(_) => Sync::Written,
        Ok(old) => {
            let old: Manifest = serde_norway::from_str(&old)
                .map_err(|e| TriageError::data(&path, e.to_string()))?;
            let changed: Vec<String> = now
                .files
                .iter()
                .filter(|(f, h)| old.files.get(*f) != Some(h))
                .map(|(f, _)| f.clone())
                .chain(
                    old.files
                        .keys()
                        .filter(|f| !now.files.contains_key(*f))
                        .cloned(),
                )
                .collect();
            if changed.is_empty() && old == now {
                return Ok(Sync::Verified);
            }
            if !changed.is_empty() && !update {
                return Err(TriageError::data(
                    &path,
                    format!(
                        "files differ from the manifest: {} (pass --update if a new version \
                         was installed on purpose)",
                        changed.join(", ")
                    ),
                ));
            }
            Sync::Updated(changed)
        }
    };
    let yaml =
        serde_norway::to_string(&now).map_err(|e| TriageError::data(&path, e.to_string()))?;
    std::fs::write(&path, yaml).map_err(|e| TriageError::io(&path, e))?;
    Ok(outcome)
}

/// SHA-256 of every regular file of `dir` (following symlinks, not recursing), the manifest
/// excluded, and their total size.
fn hash_files(dir: &Path) -> Result<(BTreeMap<String, String>, u64), TriageError> {
    let mut files = BTreeMap::new();
    let mut size = 0;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| TriageError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != MANIFEST))
        .collect();
    paths.sort();
    for p in paths {
        let bytes = std::fs::read(&p).map_err(|e| TriageError::io(&p, e))?;
        size += bytes.len() as u64;
        let name = p
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into());
        files.insert(name, sha256_hex(&bytes));
    }
    if files.is_empty() {
        return Err(TriageError::data(dir, "no files: run `make models` first"));
    }
    Ok((files, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_writes_then_verifies_then_refuses_a_changed_file_unless_updating() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("m");
        std::fs::create_dir(&dir).expect("dir");
        std::fs::write(dir.join("model.safetensors"), b"weights v1").expect("write");
        let card = tmp.path().join("card.yaml");
        std::fs::write(
            &card,
            "source: pypi:x==1\nrevision: '1'\nlicence: Apache-2.0\nlanguages: [en]\n\
             limitations: [english only]\n",
        )
        .expect("write");
        assert_eq!(sync("m", &dir, &card, false).expect("sync"), Sync::Written);
        assert_eq!(sync("m", &dir, &card, false).expect("sync"), Sync::Verified);
        std::fs::write(dir.join("model.safetensors"), b"weights v2").expect("write");
        let err = sync("m", &dir, &card, false).expect_err("changed");
        assert!(err.to_string().contains("model.safetensors"), "{err}");
        assert_eq!(
            sync("m", &dir, &card, true).expect("update"),
            Sync::Updated(vec!["model.safetensors".into()])
        );
        assert_eq!(sync("m", &dir, &card, false).expect("sync"), Sync::Verified);
    }
}
