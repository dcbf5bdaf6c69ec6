//! The `[guard]` configuration section: where the guard's data (lexicons, rules, notices) lives.
//! Read raw (`deny_unknown_fields`), then validated into [`GuardConfig`]; hooked into the file by
//! `src/config`.

use std::path::PathBuf;

use serde::Deserialize;

/// Where the guard's data lives.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub dir: PathBuf,
}

/// `[guard]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGuardConfig {
    dir: PathBuf,
}

impl Default for RawGuardConfig {
    fn default() -> Self {
        RawGuardConfig {
            dir: PathBuf::from("guard"),
        }
    }
}

impl RawGuardConfig {
    /// `resolve` turns the directory as written into the one to read (the configuration file's
    /// rule for relative paths).
    pub fn validate(self, resolve: &dyn Fn(PathBuf) -> PathBuf) -> GuardConfig {
        GuardConfig {
            dir: resolve(self.dir),
        }
    }
}
