//! `deploy/releases.json`: the last ten rollouts and rollbacks — image, risk model version,
//! prompt versions, who, when, the post-deploy check's result — so a rollback can name what it
//! returns to. `powerbirth deploy record` appends; the file is rewritten atomically (temporary
//! file, sync, rename) and keeps its ids increasing across the ones it drops.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::core::calendar::{DAY_MS, date_of_day, day_of};

/// How many releases the file keeps.
pub const KEEP: usize = 10;
const FORMAT: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Releases {
    pub format: u32,
    /// Oldest first, at most [`KEEP`].
    pub releases: Vec<Release>,
}

impl Default for Releases {
    fn default() -> Self {
        Releases {
            format: FORMAT,
            releases: Vec::new(),
        }
    }
}

/// One rollout or rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Increasing over the file's life (`rollback --to N` names it).
    pub id: u64,
    pub kind: ReleaseKind,
    /// `ghcr.io/owner/powerbirth:tag`.
    pub image: String,
    /// The risk model version baked into the image.
    pub model_version: String,
    /// Prompt id → the version its `production` label pointed at (else its newest).
    #[serde(default)]
    pub prompt_versions: BTreeMap<String, u32>,
    /// The Argo Rollouts (or Deployment) revision, when known: `rollback --to` undoes to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    pub who: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub check: CheckResult,
    /// A rollback's target release id and how long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    Rollout,
    Rollback,
}

/// The post-deploy check's verdict on the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Passed,
    Failed,
    Skipped,
}

impl Releases {
    /// Reads `path`; a missing file is an empty history, anything unreadable an error naming it.
    pub fn load(path: &Path) -> Result<Releases, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Releases::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let file: Releases = serde_json::from_str(&text)
            .map_err(|e| format!("{}:{}: {e}", path.display(), e.line()))?;
        if file.format != FORMAT {
            return Err(format!(
                "{}: format {} is not {FORMAT} (written by another version)",
                path.display(),
                file.format
            ));
        }
        Ok(file)
    }

    /// Appends `release` with the next id, dropping the oldest beyond [`KEEP`]; returns the id.
    pub fn push(&mut self, mut release: Release) -> u64 {
        release.id = self.releases.last().map_or(1, |r| r.id + 1);
        let id = release.id;
        self.releases.push(release);
        let extra = self.releases.len().saturating_sub(KEEP);
        self.releases.drain(..extra);
        id
    }

    /// The release with this id.
    pub fn get(&self, id: u64) -> Option<&Release> {
        self.releases.iter().find(|r| r.id == id)
    }

    /// Writes the file atomically (a reader never sees half of it).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        let mut text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        text.push('\n');
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(text.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// The `production` version of every prompt under `dir` (its newest version when unlabelled).
pub fn prompt_versions(dir: &Path) -> Result<BTreeMap<String, u32>, String> {
    let registry = crate::prompts::PromptRegistry::load(dir).map_err(|problems| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    Ok(registry
        .summaries()
        .into_iter()
        .filter_map(|s| {
            let newest = s.versions.last().map(|v| v.version);
            let version = s.labels.get("production").copied().or(newest)?;
            Some((s.id, version))
        })
        .collect())
}

/// Now as `2026-12-07T03:12:45Z`.
pub fn now_rfc3339() -> String {
    let ms = crate::core::now_ms();
    let s = ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date_of_day(day_of(ms)),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(image: &str) -> Release {
        Release {
            id: 0,
            kind: ReleaseKind::Rollout,
            image: image.into(),
            model_version: "m".into(),
            prompt_versions: BTreeMap::new(),
            revision: None,
            who: "ci".into(),
            at: now_rfc3339(),
            check: CheckResult::Passed,
            note: None,
        }
    }

    #[test]
    fn the_file_keeps_the_last_ten_with_increasing_ids() {
        let mut file = Releases::default();
        for i in 0..13 {
            file.push(release(&format!("img:{i}")));
        }
        assert_eq!(file.releases.len(), KEEP);
        assert_eq!(file.releases[0].id, 4);
        assert_eq!(file.releases[0].image, "img:3");
        assert_eq!(file.releases.last().unwrap().id, 13);
    }

    #[test]
    fn a_round_trip_through_the_file_is_lossless_and_a_bad_file_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy/releases.json");
        assert_eq!(Releases::load(&path).unwrap(), Releases::default());
        let mut file = Releases::default();
        file.push(release("img:1"));
        file.save(&path).unwrap();
        assert_eq!(Releases::load(&path).unwrap(), file);
        std::fs::write(&path, "{\n  \"format\": 1,\n  \"releases\": [x]\n}").unwrap();
        let err = Releases::load(&path).unwrap_err();
        assert!(err.contains("releases.json:3:"), "{err}");
    }

    #[test]
    fn now_is_utc_rfc3339() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
