//! The `[guard]` configuration section: where the guard's data (lexicons, rules, notices) lives,
//! and whether a client's `store: true` may reach the upstream.
//! Read raw (`deny_unknown_fields`), then validated into [`GuardConfig`]; hooked into the file by
//! `src/config`.

use std::path::PathBuf;

use serde::Deserialize;

/// Where the guard's data lives, and what it lets through.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub dir: PathBuf,
    /// Forward a client's `"store": true` (the provider keeps the exchange). Off by default: the
    /// exchange may hold a pregnant woman's health data.
    pub allow_store: bool,
    /// The triage classifier installed as the second opinion (a trained version folder,
    /// `models/triage/<version>`), if any; `app` loads it (issue #19).
    pub triage_model: Option<PathBuf>,
    /// The encoder that version was trained on (`models/base/all-minilm-l6-v2`).
    pub triage_encoder: PathBuf,
}

/// `[guard]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGuardConfig {
    dir: PathBuf,
    allow_store: bool,
    triage_model: Option<PathBuf>,
    triage_encoder: PathBuf,
}

impl Default for RawGuardConfig {
    fn default() -> Self {
        RawGuardConfig {
            dir: PathBuf::from("guard"),
            allow_store: false,
            triage_model: None,
            triage_encoder: PathBuf::from("models/base/all-minilm-l6-v2"),
        }
    }
}

impl RawGuardConfig {
    /// `resolve` turns the directory as written into the one to read (the configuration file's
    /// rule for relative paths).
    pub fn validate(self, resolve: &dyn Fn(PathBuf) -> PathBuf) -> GuardConfig {
        GuardConfig {
            dir: resolve(self.dir),
            allow_store: self.allow_store,
            triage_model: self
                .triage_model
                .filter(|p| !p.as_os_str().is_empty())
                .map(resolve),
            triage_encoder: resolve(self.triage_encoder),
        }
    }
}
