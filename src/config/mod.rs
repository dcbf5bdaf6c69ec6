//! Configuration: one TOML file plus `POWERBIRTH_SECTION__KEY` environment overrides, loaded raw
//! (`raw`), then validated into types that cannot be wrong (`Config`). A bad file never starts a
//! server: every error names the file, and the key or the line.
//!
//! `config` reads the file, applies the overrides and assembles the sections; it owns only the
//! server, rate-limit, Redis and auth sections. Every other section (models, database, writer,
//! prompts, guard, moderation, alerts, review, eval) is read and validated by the module that
//! owns it, so those modules never import `config`.

mod env;
mod raw;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use raw::RateLimitBackend;

use crate::guard::config::GuardConfig;
use crate::prompts::config::PromptsConfig;
use crate::providers::settings::ModelConfig;
use crate::store::config::{DatabaseConfig, WriterConfig};

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
    /// `[budgets]`: daily budgets per end user.
    pub budgets: crate::metering::budget::BudgetsConfig,
    /// `[moderation]`: the external moderation provider, if any.
    pub moderation: crate::guard::moderation::ModerationSettings,
    /// `[review]`: nurse review batches and pages.
    pub review: crate::review::ReviewConfig,
    /// `[eval]`: the eval runner's model, judge, concurrency and paths.
    pub eval: crate::eval::EvalConfig,
    /// `[metrics]`: who may read `/metrics`.
    pub metrics: MetricsConfig,
    /// `[ingest]`: the event stream, the Parquet sink, the pseudonym key's variable.
    pub ingest: crate::ingest::IngestConfig,
    /// `[risk]`: the served risk model's registry, reload poll and quality job.
    pub risk: crate::ml::serve::RiskConfig,
    /// `[recommend]`: the content catalogue, the embedding cache, the daily refresh.
    pub recommend: crate::ml::recommend::RecommendConfig,
    /// `[features]`: the feature store's online copy.
    pub features: crate::features::FeaturesConfig,
    /// `[canary]`: the prompt canary gate's schedule, window and significance level.
    pub canary: crate::canary::CanaryConfig,
    /// `[drift]`: the daily drift job's schedule, windows and report folder.
    pub drift: crate::ml::drift::config::DriftConfig,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Request bodies above this many bytes are refused with 413.
    pub max_body_bytes: usize,
    /// A connection that has not sent a whole request head within this time is closed
    /// (slow-loris clients holding connections open).
    pub request_header_timeout: Duration,
    /// A request body not fully received within this time (from its first byte being awaited)
    /// is answered 408.
    pub body_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (the load balancer or ingress). From any other
    /// peer the header is ignored and the peer address is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// After SIGTERM, how long in-flight requests and the log drain may take in all (under
    /// Kubernetes' default 30 s grace period).
    pub shutdown_grace: Duration,
    /// The release this process serves (`x-powerbirth-release`, logged with every message).
    pub release: String,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub backend: RateLimitBackend,
    /// Requests per minute for keys created without `--rpm`.
    pub default_rpm: u32,
    /// Requests per minute per end user of a key (`None`: no per-user limit).
    pub per_user_rpm: Option<u32>,
    /// The key of the end-user hash (`user_hash_key_env`); a random one per start when unset
    /// (allowed only without Redis, where no other replica needs the same ids).
    pub user_hash_key: crate::core::Secret,
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
    /// Where the bootstrap key is written (mode 0600) instead of stderr.
    pub bootstrap_key_file: Option<PathBuf>,
    /// The key cache holds at most this many keys (known and unknown).
    pub key_cache_entries: usize,
    /// Failed authentications allowed per client address and minute; past that the address is
    /// answered 429 without asking the database.
    pub failed_per_minute: u32,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default)]
pub struct MetricsConfig {
    /// The bearer token `/metrics` requires (read from the variable `token_env` names); `None`
    /// leaves `/metrics` open, as for a scraper inside the cluster network.
    pub token: Option<crate::core::Secret>,
}

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
