//! The models clients can name, as configured: each `[[models]]` entry's provider settings,
//! fallbacks and price. Read raw (`deny_unknown_fields`), then validated here into
//! [`ModelConfig`]s; `crate::config` only hooks the list into the file.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

// `Secret` is moving to `crate::core::secret`; this line follows it.
use crate::config::Secret;

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

/// Which kind of upstream serves a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The candle GGUF model in this process.
    Local,
    /// Any OpenAI-compatible HTTP API.
    OpenAi,
}

/// One `[[models]]` entry exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
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

/// Validates every `[[models]]` entry, then each fallback against the names. `resolve` turns a
/// path as written into the one to open; `vars` is the environment API keys are read from.
/// Errors name the model and the key, to be prefixed with the file by the caller.
pub fn validate_models(
    raw: Vec<RawModel>,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    vars: &HashMap<String, String>,
) -> Result<Vec<ModelConfig>, String> {
    let mut models = Vec::with_capacity(raw.len());
    let mut names = HashSet::new();
    for (i, m) in raw.into_iter().enumerate() {
        let at = format!("[[models]] #{} ({:?})", i + 1, m.name);
        if m.name.trim().is_empty() {
            return Err(format!("{at}: name must not be empty"));
        }
        if !names.insert(m.name.clone()) {
            return Err(format!("{at}: the name {:?} is used twice", m.name));
        }
        models.push(m.validate(&at, resolve, vars)?);
    }
    for m in &models {
        for f in &m.fallbacks {
            if f == &m.name {
                return Err(format!("model {:?} lists itself in fallbacks", m.name));
            }
            if !names.contains(f) {
                return Err(format!(
                    "model {:?}: fallback {f:?} is not a configured model",
                    m.name
                ));
            }
        }
    }
    Ok(models)
}

impl RawModel {
    fn validate(
        self,
        at: &str,
        resolve: &dyn Fn(PathBuf) -> PathBuf,
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
                    path: resolve(path),
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
                    tokenizer: self.tokenizer.map(resolve),
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
