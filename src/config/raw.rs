//! The configuration file exactly as written (`deny_unknown_fields` everywhere), and its
//! validation into [`super::Config`].

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{
    AuthConfig, Config, ConfigError, DatabaseConfig, GuardConfig, LocalSettings, ModelConfig,
    OpenAiSettings, Price, PromptsConfig, ProviderSettings, RateLimitConfig, RedisConfig, Secret,
    ServerConfig, WriterConfig,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    models: Vec<RawModel>,
    #[serde(default)]
    ratelimit: RawRateLimit,
    redis: Option<RawRedis>,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    writer: RawWriter,
    #[serde(default)]
    prompts: RawPrompts,
    #[serde(default)]
    guard: RawGuard,
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
struct RawPrompts {
    dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGuard {
    dir: PathBuf,
}

impl Default for RawGuard {
    fn default() -> Self {
        RawGuard {
            dir: PathBuf::from("guard"),
        }
    }
}

impl Default for RawPrompts {
    fn default() -> Self {
        RawPrompts {
            dir: PathBuf::from("prompts"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: String,
    max_body_bytes: usize,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDatabase {
    url: String,
    max_connections: u32,
}

impl Default for RawDatabase {
    fn default() -> Self {
        RawDatabase {
            url: "sqlite://powerbirth.db".into(),
            max_connections: 8,
        }
    }
}

/// Which kind of upstream serves a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The candle GGUF model in this process.
    Local,
    /// Any OpenAI-compatible HTTP API.
    OpenAi,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    provider: ProviderKind,
    // local
    path: Option<PathBuf>,
    workers: Option<usize>,
    queue: Option<usize>,
    max_tokens: Option<u32>,
    context_tokens: Option<usize>,
    // openai
    api_base: Option<String>,
    api_key_env: Option<String>,
    upstream_model: Option<String>,
    timeout_ms: Option<u64>,
    max_retries: Option<u32>,
    tokenizer: Option<PathBuf>,
    // both
    #[serde(default)]
    fallbacks: Vec<String>,
    price: Option<RawPrice>,
}

/// `price = "free"` or a table of decimal strings.
#[derive(Debug)]
enum RawPrice {
    Free,
    Table(RawPriceTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPriceTable {
    input: String,
    output: String,
    cached_input: Option<String>,
}

impl<'de> Deserialize<'de> for RawPrice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PriceVisitor;
        impl<'de> Visitor<'de> for PriceVisitor {
            type Value = RawPrice;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#""free" or a table { input = "0.15", output = "0.60" }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPrice, E> {
                if v == "free" {
                    Ok(RawPrice::Free)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<RawPrice, M::Error> {
                RawPriceTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawPrice::Table)
            }
        }
        d.deserialize_any(PriceVisitor)
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWriter {
    queue: usize,
    batch: usize,
    flush_ms: u64,
}

impl Default for RawWriter {
    fn default() -> Self {
        RawWriter {
            queue: 16_384,
            batch: 512,
            flush_ms: 20,
        }
    }
}

impl RawConfig {
    pub(super) fn deserialize_table(table: toml::Table) -> Result<RawConfig, toml::de::Error> {
        RawConfig::deserialize(toml::Value::Table(table))
    }

    pub(super) fn validate(
        self,
        source: &Path,
        vars: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let err = |msg: String| ConfigError(format!("{}: {msg}", source.display()));
        let listen = SocketAddr::from_str(&self.server.listen).map_err(|e| {
            err(format!(
                "[server] listen = {:?} is not an address: {e}",
                self.server.listen
            ))
        })?;
        if self.server.max_body_bytes == 0 {
            return Err(err("[server] max_body_bytes must be positive".into()));
        }
        let url = self.database.url.trim().to_string();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(err(format!(
                "[database] url must start with sqlite:, postgres:// or postgresql://, got {url:?}"
            )));
        }
        let base_dir = source.parent().unwrap_or(Path::new("."));
        let mut models = Vec::with_capacity(self.models.len());
        let mut names = HashSet::new();
        for (i, m) in self.models.into_iter().enumerate() {
            let at = format!("[[models]] #{} ({:?})", i + 1, m.name);
            if m.name.trim().is_empty() {
                return Err(err(format!("{at}: name must not be empty")));
            }
            if !names.insert(m.name.clone()) {
                return Err(err(format!("{at}: the name {:?} is used twice", m.name)));
            }
            models.push(m.validate(&at, base_dir, vars).map_err(err)?);
        }
        for m in &models {
            for f in &m.fallbacks {
                if f == &m.name {
                    return Err(err(format!("model {:?} lists itself in fallbacks", m.name)));
                }
                if !names.contains(f) {
                    return Err(err(format!(
                        "model {:?}: fallback {f:?} is not a configured model",
                        m.name
                    )));
                }
            }
        }
        let redis = self.redis.map(|r| RedisConfig { url: r.url });
        if self.ratelimit.backend == RateLimitBackend::Redis && redis.is_none() {
            return Err(err(
                "[ratelimit] backend = \"redis\" needs a [redis] url".into()
            ));
        }
        if self.ratelimit.default_rpm == 0 {
            return Err(err("[ratelimit] default_rpm must be at least 1".into()));
        }
        if self.writer.queue == 0 || self.writer.batch == 0 {
            return Err(err("[writer] queue and batch must be positive".into()));
        }
        let alerts = self.alerts.validate().map_err(err)?;
        let review = self.review.validate().map_err(err)?;
        let moderation = self.moderation.validate(vars).map_err(err)?;
        let eval = self.eval.validate().map_err(err)?.resolved(source);
        Ok(Config {
            moderation,
            alerts,
            review,
            eval,
            source: source.to_path_buf(),
            server: ServerConfig {
                listen,
                max_body_bytes: self.server.max_body_bytes,
            },
            database: DatabaseConfig {
                url,
                max_connections: self.database.max_connections.max(1),
            },
            models,
            ratelimit: RateLimitConfig {
                backend: self.ratelimit.backend,
                default_rpm: self.ratelimit.default_rpm,
            },
            redis,
            auth: AuthConfig {
                key_cache: Duration::from_millis(self.auth.key_cache_ms),
                bootstrap_admin_key: self.auth.bootstrap_admin_key,
            },
            guard: GuardConfig {
                dir: resolve(base_dir, self.guard.dir),
            },
            prompts: PromptsConfig {
                dir: resolve(base_dir, self.prompts.dir),
            },
            writer: WriterConfig {
                queue: self.writer.queue,
                batch: self.writer.batch,
                flush: Duration::from_millis(self.writer.flush_ms.max(1)),
            },
        })
    }
}

impl RawModel {
    fn validate(
        self,
        at: &str,
        base_dir: &Path,
        vars: &HashMap<String, String>,
    ) -> Result<ModelConfig, String> {
        let misplaced = |keys: &[(&str, bool)], provider: &str| -> Result<(), String> {
            match keys.iter().find(|(_, set)| *set) {
                Some((key, _)) => Err(format!(
                    "{at}: key `{key}` does not apply to provider = \"{provider}\""
                )),
                None => Ok(()),
            }
        };
        let provider = match self.provider {
            ProviderKind::Local => {
                misplaced(
                    &[
                        ("api_base", self.api_base.is_some()),
                        ("api_key_env", self.api_key_env.is_some()),
                        ("upstream_model", self.upstream_model.is_some()),
                        ("timeout_ms", self.timeout_ms.is_some()),
                        ("max_retries", self.max_retries.is_some()),
                        ("tokenizer", self.tokenizer.is_some()),
                    ],
                    "local",
                )?;
                let path = self.path.ok_or_else(|| {
                    format!("{at}: provider = \"local\" needs `path` to a GGUF file")
                })?;
                let workers = self.workers.unwrap_or(1);
                let queue = self.queue.unwrap_or(8);
                if workers == 0 || queue == 0 {
                    return Err(format!("{at}: workers and queue must be at least 1"));
                }
                ProviderSettings::Local(LocalSettings {
                    path: resolve(base_dir, path),
                    workers,
                    queue,
                    max_tokens: self.max_tokens.unwrap_or(256),
                    context_tokens: self.context_tokens.unwrap_or(2048),
                })
            }
            ProviderKind::OpenAi => {
                misplaced(
                    &[
                        ("path", self.path.is_some()),
                        ("workers", self.workers.is_some()),
                        ("queue", self.queue.is_some()),
                        ("max_tokens", self.max_tokens.is_some()),
                        ("context_tokens", self.context_tokens.is_some()),
                    ],
                    "openai",
                )?;
                let api_base = self
                    .api_base
                    .ok_or_else(|| format!("{at}: provider = \"openai\" needs `api_base`"))?;
                if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
                    return Err(format!(
                        "{at}: api_base {api_base:?} must start with http:// or https://"
                    ));
                }
                let api_key = match &self.api_key_env {
                    None => None,
                    Some(var) => match vars.get(var) {
                        Some(v) if !v.is_empty() => Some(Secret::new(v.clone())),
                        _ => {
                            return Err(format!(
                                "{at}: api_key_env = {var:?} but that environment variable is not set"
                            ));
                        }
                    },
                };
                let timeout_ms = self.timeout_ms.unwrap_or(30_000);
                if timeout_ms == 0 {
                    return Err(format!("{at}: timeout_ms must be positive"));
                }
                ProviderSettings::OpenAi(OpenAiSettings {
                    api_base: api_base.trim_end_matches('/').to_string(),
                    api_key,
                    upstream_model: self.upstream_model.unwrap_or_else(|| self.name.clone()),
                    timeout: Duration::from_millis(timeout_ms),
                    max_retries: self.max_retries.unwrap_or(2),
                    tokenizer: self.tokenizer.map(|p| resolve(base_dir, p)),
                })
            }
        };
        let price = match self.price {
            None => {
                return Err(format!(
                    "{at}: no price; give [models.price] input/output in USD per 1M tokens, or price = \"free\""
                ));
            }
            Some(RawPrice::Free) => Price::Free,
            Some(RawPrice::Table(t)) => Price::PerMillion {
                input: parse_price(at, "input", &t.input)?,
                output: parse_price(at, "output", &t.output)?,
                cached_input: t
                    .cached_input
                    .map(|c| parse_price(at, "cached_input", &c))
                    .transpose()?,
            },
        };
        Ok(ModelConfig {
            name: self.name,
            provider,
            fallbacks: self.fallbacks,
            price,
        })
    }
}

fn parse_price(at: &str, key: &str, text: &str) -> Result<Decimal, String> {
    let value = Decimal::from_str(text.trim())
        .map_err(|_| format!("{at}: price.{key} = {text:?} is not a decimal number"))?;
    if value.is_sign_negative() {
        return Err(format!("{at}: price.{key} = {text:?} is negative"));
    }
    Ok(value)
}

/// Relative model paths are read from the working directory when they exist there (the shipped
/// config is run from the repository root), else relative to the config file.
fn resolve(base_dir: &Path, path: PathBuf) -> PathBuf {
    if path.is_absolute() || path.exists() {
        path
    } else {
        base_dir.join(path)
    }
}
