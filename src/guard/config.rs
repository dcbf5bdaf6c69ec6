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
}

/// `[guard]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGuardConfig {
    dir: PathBuf,
    allow_store: bool,
}

impl Default for RawGuardConfig {
    fn default() -> Self {
        RawGuardConfig {
            dir: PathBuf::from("guard"),
            allow_store: false,
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
        }
    }
}
