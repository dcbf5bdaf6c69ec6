//! The models clients can name, as configured: each `[[models]]` entry's provider settings,
//! fallbacks and price. Read raw (the provider's keys as a serde-tagged enum, each variant
//! `deny_unknown_fields`), then validated here into [`ModelConfig`]s; `crate::config` only hooks
//! the list into the file.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

// `Secret` is moving to `crate::core::secret`; this line follows it.
use super::failover::{CooldownPolicy, FailureKind, FallbackOn};
use crate::core::Secret;

/// One model clients can name in `"model"`.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub name: String,
    pub provider: ProviderSettings,
    /// Models tried in order when this one fails (after its own retries).
    pub fallbacks: Vec<String>,
    pub price: Price,
    /// The failures of this model that move a request on to its next fallback.
    pub fallback_on: FallbackOn,
    /// Models tried after `fallbacks` for an escalated turn only (a danger sign or self-harm):
    /// typically the local model, the last resort when every remote one is down.
    pub escalated_fallbacks: Vec<String>,
    /// When to stop calling this model for a while after repeated failures.
    pub cooldown: CooldownPolicy,
}

/// Provider-specific settings; each variant holds only keys that make sense for it.
#[derive(Debug, Clone)]
pub enum ProviderSettings {
    Local(LocalSettings),
    OpenAi(OpenAiSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    pub path: PathBuf,
    pub workers: usize,
    /// Sequences one worker decodes together (`batch`, default 4).
    pub batch: usize,
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
    /// The answer length sent upstream when the client sets none, and the one its budget
    /// reservation assumes: so an answer never costs more than was reserved.
    pub max_output_tokens: u32,
    /// The field the answer length goes upstream in (`limit_field`): `max_tokens`, or
    /// `max_completion_tokens` for OpenAI's reasoning models, which refuse `max_tokens`.
    pub limit_field: &'static str,
}

/// The fields `limit_field` may name: OpenAI's two spellings of the answer-length limit.
pub const LIMIT_FIELDS: [&str; 2] = ["max_tokens", "max_completion_tokens"];

/// `max_output_tokens` of an OpenAI-compatible model when its entry gives none.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4096;

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

/// One `[[models]]` entry exactly as written: the keys every model has, and its provider's own.
#[derive(Debug)]
pub struct RawModel {
    name: String,
    fallbacks: Vec<String>,
    price: Option<RawPrice>,
    fallback_on: Option<Vec<String>>,
    escalated_fallbacks: Vec<String>,
    cooldown_after: u32,
    cooldown_ms: Option<u64>,
    provider: RawProviderSettings,
}

/// What serde reads of a `[[models]]` entry; see [`RawModel`]'s `Deserialize` for why it is not
/// read directly.
#[derive(Debug, Deserialize)]
struct RawModelFields {
    name: String,
    #[serde(default)]
    fallbacks: Vec<String>,
    price: Option<RawPrice>,
    fallback_on: Option<Vec<String>>,
    #[serde(default)]
    escalated_fallbacks: Vec<String>,
    #[serde(default)]
    cooldown_after: u32,
    cooldown_ms: Option<u64>,
    /// Every key not above: `provider` picks the variant, and the variant's
    /// `deny_unknown_fields` refuses the rest (this is why `RawModelFields` itself cannot).
    #[serde(flatten)]
    provider: RawProviderSettings,
}

/// A model's provider and the keys that belong to it, tagged by `provider` (TensorZero's
/// pattern): a key of another provider is an unknown field of this one, refused by serde.
#[derive(Debug, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum RawProviderSettings {
    /// The candle GGUF model in this process.
    Local(RawLocalSettings),
    /// Any OpenAI-compatible HTTP API.
    OpenAi(RawOpenAiSettings),
}

/// `provider = "local"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLocalSettings {
    path: Option<PathBuf>,
    workers: usize,
    batch: usize,
    queue: usize,
    max_tokens: u32,
    context_tokens: usize,
}

impl Default for RawLocalSettings {
    fn default() -> Self {
        RawLocalSettings {
            path: None,
            workers: 1,
            batch: 4,
            queue: 8,
            max_tokens: 256,
            context_tokens: 2048,
        }
    }
}

/// `provider = "openai"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOpenAiSettings {
    api_base: Option<String>,
    api_key_env: Option<String>,
    upstream_model: Option<String>,
    timeout_ms: u64,
    max_retries: u32,
    tokenizer: Option<PathBuf>,
    max_output_tokens: u32,
    limit_field: String,
}

impl Default for RawOpenAiSettings {
    fn default() -> Self {
        RawOpenAiSettings {
            api_base: None,
            api_key_env: None,
            upstream_model: None,
            timeout_ms: 30_000,
            max_retries: 2,
            tokenizer: None,
            max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            limit_field: LIMIT_FIELDS[0].into(),
        }
    }
}

impl<'de> Deserialize<'de> for RawModel {
    /// Read through a table first, so that an error (a key of another provider, most often) can
    /// name the model and its provider: serde's own message names only the key. The error is
    /// raised inside the visitor so that the file's deserializer still points at the entry.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ModelVisitor;
        impl<'de> Visitor<'de> for ModelVisitor {
            type Value = RawModel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a [[models]] table")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<RawModel, M::Error> {
                let table = toml::Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                RawModel::from_table(table).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(ModelVisitor)
    }
}

impl RawModel {
    /// The entry's keys as serde reads them; an error names the model and its provider.
    fn from_table(table: toml::Table) -> Result<RawModel, String> {
        let text = |key: &str| {
            table
                .get(key)
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
        };
        let (name, provider) = (text("name"), text("provider"));
        let fields = RawModelFields::deserialize(toml::Value::Table(table)).map_err(|e| {
            let model = name.map_or("a model".to_owned(), |n| format!("model {n:?}"));
            let provider = provider.map_or(String::new(), |p| format!(" (provider = {p:?})"));
            format!("{model}{provider}: {}", e.message())
        })?;
        Ok(RawModel {
            name: fields.name,
            fallbacks: fields.fallbacks,
            price: fields.price,
            fallback_on: fields.fallback_on,
            escalated_fallbacks: fields.escalated_fallbacks,
            cooldown_after: fields.cooldown_after,
            cooldown_ms: fields.cooldown_ms,
            provider: fields.provider,
        })
    }
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
        for f in m.fallbacks.iter().chain(&m.escalated_fallbacks) {
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
        let provider = match self.provider {
            RawProviderSettings::Local(l) => ProviderSettings::Local(l.validate(at, resolve)?),
            RawProviderSettings::OpenAi(o) => {
                ProviderSettings::OpenAi(o.validate(at, &self.name, resolve, vars)?)
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
        let fallback_on = match self.fallback_on {
            None => FallbackOn::default(),
            Some(names) => FallbackOn(
                names
                    .iter()
                    .map(|n| {
                        FailureKind::parse(n).ok_or_else(|| {
                            let known: Vec<_> = FailureKind::ALL.map(FailureKind::as_str).to_vec();
                            format!("{at}: fallback_on has {n:?}; known: {}", known.join(", "))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let cooldown = match (self.cooldown_after, self.cooldown_ms) {
            (_, Some(0)) => return Err(format!("{at}: cooldown_ms must be positive")),
            (0, Some(_)) => {
                return Err(format!(
                    "{at}: cooldown_ms needs cooldown_after (failures) too"
                ));
            }
            (after, ms) => CooldownPolicy {
                after,
                duration: Duration::from_millis(ms.unwrap_or(30_000)),
            },
        };
        Ok(ModelConfig {
            name: self.name,
            provider,
            fallbacks: self.fallbacks,
            price,
            fallback_on,
            escalated_fallbacks: self.escalated_fallbacks,
            cooldown,
        })
    }
}

impl RawLocalSettings {
    fn validate(
        self,
        at: &str,
        resolve: &dyn Fn(PathBuf) -> PathBuf,
    ) -> Result<LocalSettings, String> {
        let path = self
            .path
            .ok_or_else(|| format!("{at}: provider = \"local\" needs `path` to a GGUF file"))?;
        if self.workers == 0 || self.queue == 0 || self.batch == 0 {
            return Err(format!("{at}: workers, batch and queue must be at least 1"));
        }
        Ok(LocalSettings {
            path: resolve(path),
            workers: self.workers,
            batch: self.batch,
            queue: self.queue,
            max_tokens: self.max_tokens,
            context_tokens: self.context_tokens,
        })
    }
}

impl RawOpenAiSettings {
    /// `name` is the model's, the upstream model when `upstream_model` is left out.
    fn validate(
        self,
        at: &str,
        name: &str,
        resolve: &dyn Fn(PathBuf) -> PathBuf,
        vars: &HashMap<String, String>,
    ) -> Result<OpenAiSettings, String> {
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
        if self.timeout_ms == 0 {
            return Err(format!("{at}: timeout_ms must be positive"));
        }
        if self.max_output_tokens == 0 {
            return Err(format!("{at}: max_output_tokens must be positive"));
        }
        let Some(limit_field) = LIMIT_FIELDS.into_iter().find(|f| *f == self.limit_field) else {
            return Err(format!(
                "{at}: limit_field = {:?} must be \"max_tokens\" or \"max_completion_tokens\"",
                self.limit_field
            ));
        };
        Ok(OpenAiSettings {
            api_base: api_base.trim_end_matches('/').to_string(),
            api_key,
            upstream_model: self.upstream_model.unwrap_or_else(|| name.to_owned()),
            timeout: Duration::from_millis(self.timeout_ms),
            max_retries: self.max_retries,
            tokenizer: self.tokenizer.map(resolve),
            max_output_tokens: self.max_output_tokens,
            limit_field,
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
