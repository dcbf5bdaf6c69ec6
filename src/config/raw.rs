//! The configuration file exactly as written (`deny_unknown_fields` everywhere), and its assembly
//! into [`super::Config`]. The sections owned by `config` itself (server, rate limit, Redis, auth)
//! are validated here; every other section is read and validated by the module that owns it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::{
    AuthConfig, Config, ConfigError, MetricsConfig, RateLimitConfig, RedisConfig, ServerConfig,
};
use crate::core::Secret;
use crate::guard::config::RawGuardConfig;
use crate::prompts::config::RawPromptsConfig;
use crate::providers::settings::{RawModel, validate_models};
use crate::store::config::{RawDatabaseConfig, RawWriterConfig};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    database: RawDatabaseConfig,
    #[serde(default)]
    models: Vec<RawModel>,
    #[serde(default)]
    ratelimit: RawRateLimit,
    redis: Option<RawRedis>,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    writer: RawWriterConfig,
    #[serde(default)]
    prompts: RawPromptsConfig,
    #[serde(default)]
    guard: RawGuardConfig,
    #[serde(default)]
    alerts: crate::metering::RawAlertsConfig,
    #[serde(default)]
    budgets: crate::metering::budget::RawBudgetsConfig,
    #[serde(default)]
    review: crate::review::RawReviewConfig,
    #[serde(default)]
    moderation: crate::guard::moderation::RawModerationConfig,
    #[serde(default)]
    eval: crate::eval::RawEvalConfig,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    ingest: crate::ingest::RawIngestConfig,
    #[serde(default)]
    risk: crate::ml::serve::RawRiskConfig,
    #[serde(default)]
    recommend: crate::ml::recommend::RawRecommendConfig,
    #[serde(default)]
    features: crate::features::RawFeaturesConfig,
    #[serde(default)]
    canary: crate::canary::RawCanaryConfig,
    #[serde(default)]
    drift: crate::ml::drift::config::RawDriftConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: String,
    max_body_bytes: usize,
    request_header_timeout_ms: u64,
    body_timeout_ms: u64,
    trusted_proxies: Vec<String>,
    shutdown_grace_s: u64,
    release: Option<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            request_header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            trusted_proxies: Vec::new(),
            shutdown_grace_s: 25,
            release: None,
        }
    }
}

/// Where per-key rate-limit state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBackend {
    /// In this process (one replica).
    #[default]
    Memory,
    /// Shared by every replica through Redis.
    Redis,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRateLimit {
    backend: RateLimitBackend,
    default_rpm: u32,
    /// Requests per minute per end user (the OpenAI `user` field, else the conversation id).
    per_user_rpm: Option<u32>,
    /// The environment variable holding the key of the end-user hash.
    user_hash_key_env: Option<String>,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        RawRateLimit {
            backend: RateLimitBackend::Memory,
            default_rpm: 600,
            per_user_rpm: None,
            user_hash_key_env: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedis {
    url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAuth {
    key_cache_ms: u64,
    bootstrap_admin_key: bool,
    bootstrap_key_file: Option<PathBuf>,
    key_cache_entries: usize,
    failed_per_minute: u32,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            key_cache_ms: 500,
            bootstrap_admin_key: true,
            bootstrap_key_file: None,
            key_cache_entries: 100_000,
            failed_per_minute: 30,
        }
    }
}

impl RawConfig {
    pub(super) fn deserialize_table(table: toml::Table) -> Result<RawConfig, toml::de::Error> {
        RawConfig::deserialize(toml::Value::Table(table))
    }

    /// Validates every section, in the file's order of concern, and assembles them. Each
    /// section's error names its key; this prefixes the file.
    pub(super) fn validate(
        self,
        source: &Path,
        vars: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let err = |msg: String| ConfigError(format!("{}: {msg}", source.display()));
        let base_dir = source.parent().unwrap_or(Path::new("."));
        let resolve = |path: PathBuf| resolve(base_dir, path);
        let server = self.server.validate(vars).map_err(err)?;
        let database = self.database.validate().map_err(err)?;
        let models = validate_models(self.models, &resolve, vars).map_err(err)?;
        let budgets = self.budgets.validate().map_err(err)?;
        let per_user = budgets.per_user_daily_usd.is_some();
        let (ratelimit, redis) =
            validate_limits(self.ratelimit, self.redis, per_user, vars).map_err(err)?;
        let writer = self.writer.validate(&database, &resolve).map_err(err)?;
        let alerts = self.alerts.validate().map_err(err)?;
        let review = self.review.validate().map_err(err)?;
        let moderation = self.moderation.validate(vars).map_err(err)?;
        let eval = self.eval.validate().map_err(err)?.resolved(&resolve);
        let recommend = self.recommend.validate(&resolve).map_err(err)?;
        let features = self.features.validate().map_err(err)?;
        Ok(Config {
            source: source.to_path_buf(),
            server,
            database,
            models,
            ratelimit,
            redis,
            auth: self.auth.validate(&resolve).map_err(err)?,
            metrics: self.metrics.validate(vars).map_err(err)?,
            writer,
            prompts: self.prompts.validate(&resolve),
            guard: self.guard.validate(&resolve),
            alerts,
            budgets,
            moderation,
            review,
            eval,
            ingest: self.ingest.validate().map_err(err)?.resolved(&resolve),
            risk: self.risk.validate(&resolve, vars).map_err(err)?,
            recommend,
            features,
            canary: self.canary.validate().map_err(err)?,
            drift: self.drift.validate(&resolve).map_err(err)?,
        })
    }
}

impl RawServer {
    fn validate(self, vars: &HashMap<String, String>) -> Result<ServerConfig, String> {
        let release = release(self.release, vars)?;
        let listen = SocketAddr::from_str(&self.listen)
            .map_err(|e| format!("[server] listen = {:?} is not an address: {e}", self.listen))?;
        if self.max_body_bytes == 0 {
            return Err("[server] max_body_bytes must be positive".into());
        }
        if self.request_header_timeout_ms == 0 || self.body_timeout_ms == 0 {
            return Err(
                "[server] request_header_timeout_ms and body_timeout_ms must be positive".into(),
            );
        }
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|net| parse_net(net))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServerConfig {
            listen,
            max_body_bytes: self.max_body_bytes,
            request_header_timeout: Duration::from_millis(self.request_header_timeout_ms),
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            trusted_proxies,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_s),
            release,
        })
    }
}

/// `[server] release`, else the `POWERBIRTH_RELEASE` environment variable (what a deploy sets),
/// else the crate's version: a short token safe in a header and a log column.
fn release(configured: Option<String>, vars: &HashMap<String, String>) -> Result<String, String> {
    let release = configured
        .or_else(|| vars.get("POWERBIRTH_RELEASE").cloned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
    let ok = release.len() <= 64
        && release
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+:/@".contains(&b));
    if ok {
        Ok(release)
    } else {
        Err(format!(
            "[server] release = {release:?}: at most 64 letters, digits and `._-+:/@`"
        ))
    }
}

/// `[ratelimit]` and `[redis]` together: the Redis backend needs the Redis URL; per-user limits
/// (`per_user_budget`: `[budgets] per_user_daily_usd` is set) shared through Redis need a hash
/// key every replica knows.
fn validate_limits(
    ratelimit: RawRateLimit,
    redis: Option<RawRedis>,
    per_user_budget: bool,
    vars: &HashMap<String, String>,
) -> Result<(RateLimitConfig, Option<RedisConfig>), String> {
    let redis = redis.map(|r| RedisConfig { url: r.url });
    if ratelimit.backend == RateLimitBackend::Redis && redis.is_none() {
        return Err("[ratelimit] backend = \"redis\" needs a [redis] url".into());
    }
    if ratelimit.default_rpm == 0 {
        return Err("[ratelimit] default_rpm must be at least 1".into());
    }
    if ratelimit.per_user_rpm == Some(0) {
        return Err(
            "[ratelimit] per_user_rpm must be at least 1 (leave it out for no limit)".into(),
        );
    }
    let user_hash_key = match &ratelimit.user_hash_key_env {
        None => None,
        Some(var) => match vars.get(var) {
            Some(v) if !v.is_empty() => Some(Secret::new(v.clone())),
            _ => {
                return Err(format!(
                    "[ratelimit] user_hash_key_env = {var:?} but that environment variable is not set"
                ));
            }
        },
    };
    let per_user = ratelimit.per_user_rpm.is_some() || per_user_budget;
    if per_user && redis.is_some() && user_hash_key.is_none() {
        return Err(
            "per-user limits shared through [redis] need [ratelimit] user_hash_key_env: \
             every replica must hash an end user to the same id"
                .into(),
        );
    }
    // One replica alone may hash with a key of its own: nothing outlives the process.
    let user_hash_key =
        user_hash_key.unwrap_or_else(|| Secret::new(hex::encode(rand::random::<[u8; 32]>())));
    let ratelimit = RateLimitConfig {
        backend: ratelimit.backend,
        default_rpm: ratelimit.default_rpm,
        per_user_rpm: ratelimit.per_user_rpm,
        user_hash_key,
    };
    Ok((ratelimit, redis))
}

/// A `[server] trusted_proxies` entry: a CIDR block, or one address (a /32 or /128).
fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!(
                "[server] trusted_proxies: {text:?} is not an address or CIDR block (e.g. \"10.0.0.0/8\")"
            )
        })
}

impl RawAuth {
    fn validate(self, resolve: &impl Fn(PathBuf) -> PathBuf) -> Result<AuthConfig, String> {
        if self.key_cache_entries == 0 || self.failed_per_minute == 0 {
            return Err("[auth] key_cache_entries and failed_per_minute must be positive".into());
        }
        Ok(AuthConfig {
            key_cache: Duration::from_millis(self.key_cache_ms),
            bootstrap_admin_key: self.bootstrap_admin_key,
            bootstrap_key_file: self.bootstrap_key_file.map(resolve),
            key_cache_entries: self.key_cache_entries,
            failed_per_minute: self.failed_per_minute,
        })
    }
}

/// `[metrics]`: who may read `/metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMetrics {
    token_env: Option<String>,
}

impl RawMetrics {
    /// Reads the token from the variable `token_env` names; a named but unset (or empty)
    /// variable is an error, so a typo never leaves `/metrics` open by accident.
    fn validate(self, vars: &HashMap<String, String>) -> Result<MetricsConfig, String> {
        let token = match &self.token_env {
            None => None,
            Some(var) => match vars.get(var).filter(|v| !v.trim().is_empty()) {
                Some(v) => Some(crate::core::Secret::new(v.trim().to_string())),
                None => {
                    return Err(format!(
                        "[metrics] token_env = {var:?}, but that environment variable is not set"
                    ));
                }
            },
        };
        Ok(MetricsConfig { token })
    }
}

/// Relative paths are read from the working directory when they exist there (the shipped config
/// is run from the repository root), else relative to the config file.
fn resolve(base_dir: &Path, path: PathBuf) -> PathBuf {
    if path.is_absolute() || path.exists() {
        path
    } else {
        base_dir.join(path)
    }
}
