//! The `[prompts]` configuration section: where the versioned prompt templates live. Read raw
//! (`deny_unknown_fields`), then validated into [`PromptsConfig`]; hooked into the file by
//! `src/config`.

use std::path::PathBuf;

use serde::Deserialize;

/// Where the versioned prompt templates live.
#[derive(Debug, Clone)]
pub struct PromptsConfig {
    pub dir: PathBuf,
}

/// `[prompts]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPromptsConfig {
    dir: PathBuf,
}

impl Default for RawPromptsConfig {
    fn default() -> Self {
        RawPromptsConfig {
            dir: PathBuf::from("prompts"),
        }
    }
}

impl RawPromptsConfig {
    /// `resolve` turns the directory as written into the one to read (the configuration file's
    /// rule for relative paths).
    pub fn validate(self, resolve: &dyn Fn(PathBuf) -> PathBuf) -> PromptsConfig {
        PromptsConfig {
            dir: resolve(self.dir),
        }
    }
}
