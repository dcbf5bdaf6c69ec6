//! The configuration file exactly as written (`deny_unknown_fields` everywhere), and its assembly
//! into [`super::Config`]. The sections owned by `config` itself (server, rate limit, Redis, auth)
//! are validated here; every other section is read and validated by the module that owns it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::{AuthConfig, Config, ConfigError, RateLimitConfig, RedisConfig, ServerConfig};
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
    review: crate::review::RawReviewConfig,
    #[serde(default)]
    moderation: crate::guard::moderation::RawModerationConfig,
    #[serde(default)]
    eval: crate::eval::RawEvalConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: String,
    max_body_bytes: usize,
    shutdown_grace_s: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            shutdown_grace_s: 25,
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
}

impl Default for RawRateLimit {
    fn default() -> Self {
        RawRateLimit {
            backend: RateLimitBackend::Memory,
            default_rpm: 600,
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
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            key_cache_ms: 500,
            bootstrap_admin_key: true,
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
        let server = self.server.validate().map_err(err)?;
        let database = self.database.validate().map_err(err)?;
        let models = validate_models(self.models, &resolve, vars).map_err(err)?;
        let (ratelimit, redis) = validate_limits(self.ratelimit, self.redis).map_err(err)?;
        let writer = self.writer.validate(&database, &resolve).map_err(err)?;
        let alerts = self.alerts.validate().map_err(err)?;
        let review = self.review.validate().map_err(err)?;
        let moderation = self.moderation.validate(vars).map_err(err)?;
        let eval = self.eval.validate().map_err(err)?.resolved(&resolve);
        Ok(Config {
            source: source.to_path_buf(),
            server,
            database,
            models,
            ratelimit,
            redis,
            auth: self.auth.validate(),
            writer,
            prompts: self.prompts.validate(&resolve),
            guard: self.guard.validate(&resolve),
            alerts,
            moderation,
            review,
            eval,
        })
    }
}

impl RawServer {
    fn validate(self) -> Result<ServerConfig, String> {
        let listen = SocketAddr::from_str(&self.listen)
            .map_err(|e| format!("[server] listen = {:?} is not an address: {e}", self.listen))?;
        if self.max_body_bytes == 0 {
            return Err("[server] max_body_bytes must be positive".into());
        }
        Ok(ServerConfig {
            listen,
            max_body_bytes: self.max_body_bytes,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_s),
        })
    }
}

/// `[ratelimit]` and `[redis]` together: the Redis backend needs the Redis URL.
fn validate_limits(
    ratelimit: RawRateLimit,
    redis: Option<RawRedis>,
) -> Result<(RateLimitConfig, Option<RedisConfig>), String> {
    let redis = redis.map(|r| RedisConfig { url: r.url });
    if ratelimit.backend == RateLimitBackend::Redis && redis.is_none() {
        return Err("[ratelimit] backend = \"redis\" needs a [redis] url".into());
    }
    if ratelimit.default_rpm == 0 {
        return Err("[ratelimit] default_rpm must be at least 1".into());
    }
    let ratelimit = RateLimitConfig {
        backend: ratelimit.backend,
        default_rpm: ratelimit.default_rpm,
    };
    Ok((ratelimit, redis))
}

impl RawAuth {
    fn validate(self) -> AuthConfig {
        AuthConfig {
            key_cache: Duration::from_millis(self.key_cache_ms),
            bootstrap_admin_key: self.bootstrap_admin_key,
        }
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
