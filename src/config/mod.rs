//! Configuration: one TOML file plus `POWERBIRTH_SECTION__KEY` environment overrides, loaded raw
//! (`raw`), then validated into types that cannot be wrong (`Config`). A bad file never starts a
//! server: every error names the file, and the key or the line.

mod env;
mod raw;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;

pub use raw::{ProviderKind, RateLimitBackend};

/// A configuration problem, already phrased for the operator who has to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The validated configuration the whole service runs on.
#[derive(Debug, Clone)]
pub struct Config {
    /// File it was read from (for messages and relative paths).
    pub source: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub models: Vec<ModelConfig>,
    pub ratelimit: RateLimitConfig,
    pub redis: Option<RedisConfig>,
    pub auth: AuthConfig,
    pub writer: WriterConfig,
    pub prompts: PromptsConfig,
    pub guard: GuardConfig,
    /// `[alerts]`: the 24-hour cost-per-message alert.
    pub alerts: crate::metering::AlertsConfig,
    /// `[moderation]`: the external moderation provider, if any.
    pub moderation: crate::guard::moderation::ModerationSettings,
    /// `[review]`: nurse review batches and pages.
    pub review: crate::review::ReviewConfig,
    /// `[eval]`: the eval runner's model, judge, concurrency and paths.
    pub eval: crate::eval::EvalConfig,
}

/// Where the guard's data (lexicons, rules, notices) lives.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub dir: PathBuf,
}

/// Where the versioned prompt templates live.
#[derive(Debug, Clone)]
pub struct PromptsConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Request bodies above this many bytes are refused with 413.
    pub max_body_bytes: usize,
}

/// Owned by `store`; kept under its old name here.
pub use crate::store::DatabaseSettings as DatabaseConfig;

/// One model clients can name in `"model"`.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub name: String,
    pub provider: ProviderSettings,
    /// Models tried in order when this one fails (after its own retries).
    pub fallbacks: Vec<String>,
    pub price: Price,
}

/// Provider-specific settings; each variant holds only keys that make sense for it.
#[derive(Debug, Clone)]
pub enum ProviderSettings {
    Local(LocalSettings),
    OpenAi(OpenAiSettings),
}

#[derive(Debug, Clone)]
pub struct LocalSettings {
    pub path: PathBuf,
    pub workers: usize,
    pub queue: usize,
    pub max_tokens: u32,
    pub context_tokens: usize,
}

#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    pub api_base: String,
    /// The key itself, read from the variable named by `api_key_env`; never from the file.
    pub api_key: Option<Secret>,
    pub upstream_model: String,
    pub timeout: Duration,
    pub max_retries: u32,
    pub tokenizer: Option<PathBuf>,
}

/// USD per one million tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum Price {
    /// Declared explicitly free (local models).
    Free,
    PerMillion {
        input: Decimal,
        output: Decimal,
        cached_input: Option<Decimal>,
    },
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub backend: RateLimitBackend,
    /// Requests per minute for keys created without `--rpm`.
    pub default_rpm: u32,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// How long a looked-up key is trusted before the database is asked again. Keys created or
    /// revoked from the CLI take effect on a running server within this time.
    pub key_cache: Duration,
    /// Create and print one admin key on the first start with no keys at all.
    pub bootstrap_admin_key: bool,
}

/// Owned by `store`; kept under its old name here.
pub use crate::store::WriterSettings as WriterConfig;

/// Moved to `core`; re-exported for the modules that still import it from here.
pub use crate::core::Secret;

impl Config {
    /// Reads `path`, applies `POWERBIRTH_*__*` overrides from the process environment, validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::load_with_env(path, &vars)
    }

    /// As [`Config::load`], with the environment given explicitly (tests, tools).
    pub fn load_with_env(
        path: &Path,
        vars: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Self::from_toml_str(&text, path, vars)
    }

    /// Parses configuration text as if read from `source`.
    pub fn from_toml_str(
        text: &str,
        source: &Path,
        vars: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        // First pass on the text itself, so that errors carry the file's line and column.
        let _: raw::RawConfig =
            toml::from_str(text).map_err(|e| ConfigError(format!("{}: {e}", source.display())))?;
        let mut value: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError(format!("{}: {e}", source.display())))?;
        let applied = env::apply_overrides(&mut value, vars)?;
        let raw: raw::RawConfig = raw::RawConfig::deserialize_table(value).map_err(|e| {
            ConfigError(format!(
                "{} with environment overrides {}: {e}",
                source.display(),
                applied.join(", ")
            ))
        })?;
        raw.validate(source, vars)
    }

    /// The model named `name`, if configured.
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests;
