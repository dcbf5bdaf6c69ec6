//! The `[moderation]` configuration section: read raw (`deny_unknown_fields`), then validated
//! into [`ModerationSettings`]. Keys come from environment variables named in the file, never
//! from the file itself.
//!
//! ```toml
//! [moderation]
//! provider = "azure"            # "azure" | "openai" | "none" (default)
//! endpoint = "https://my-resource.cognitiveservices.azure.com"   # azure
//! api_key_env = "AZURE_CONTENT_SAFETY_KEY"
//! timeout_ms = 2000
//! on_error = "fail_open"        # or "fail_closed"
//! [moderation.thresholds]       # azure severities 1-7 from which a category is flagged
//! hate = 4
//! self_harm = 2
//! sexual = 4
//! violence = 4
//! ```

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::{AzureThresholds, ModerationProvider, ModerationSettings, OnError};
use crate::core::Secret;

/// `[moderation]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawModerationConfig {
    provider: String,
    /// Azure resource endpoint.
    endpoint: Option<String>,
    /// OpenAI-compatible base URL (`https://api.openai.com/v1`).
    api_base: Option<String>,
    api_key_env: Option<String>,
    /// OpenAI moderation model.
    model: Option<String>,
    thresholds: Option<RawThresholds>,
    timeout_ms: u64,
    on_error: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    hate: Option<u8>,
    self_harm: Option<u8>,
    sexual: Option<u8>,
    violence: Option<u8>,
}

impl Default for RawModerationConfig {
    fn default() -> Self {
        RawModerationConfig {
            provider: "none".into(),
            endpoint: None,
            api_base: None,
            api_key_env: None,
            model: None,
            thresholds: None,
            timeout_ms: 2_000,
            on_error: "fail_open".into(),
        }
    }
}

fn http_url(key: &str, v: &str) -> Result<String, String> {
    let v = v.trim();
    if !(v.starts_with("http://") || v.starts_with("https://")) {
        return Err(format!(
            "[moderation] {key} = {v:?} must start with http:// or https://"
        ));
    }
    Ok(v.trim_end_matches('/').to_string())
}

impl RawModerationConfig {
    /// Validates the section; `vars` is the environment the key is read from. Errors name the
    /// key, to be prefixed with the file by the caller.
    pub fn validate(self, vars: &HashMap<String, String>) -> Result<ModerationSettings, String> {
        if self.timeout_ms == 0 {
            return Err("[moderation] timeout_ms must be positive".into());
        }
        let on_error = on_error(&self.on_error)?;
        let key = api_key(self.api_key_env.as_deref(), vars)?;
        let timeout = Duration::from_millis(self.timeout_ms);
        let provider = match self.provider.as_str() {
            "none" => self.no_provider()?,
            "azure" => self.azure(key)?,
            "openai" => self.openai(key)?,
            other => {
                return Err(format!(
                    "[moderation] provider = {other:?}: expected \"azure\", \"openai\" or \"none\""
                ));
            }
        };
        Ok(ModerationSettings {
            provider,
            timeout,
            on_error,
        })
    }

    fn no_provider(self) -> Result<ModerationProvider, String> {
        refuse(
            &[
                ("endpoint", self.endpoint.is_some()),
                ("api_base", self.api_base.is_some()),
                ("api_key_env", self.api_key_env.is_some()),
                ("model", self.model.is_some()),
                ("thresholds", self.thresholds.is_some()),
            ],
            "none",
        )?;
        Ok(ModerationProvider::None)
    }

    fn azure(self, key: Option<Secret>) -> Result<ModerationProvider, String> {
        refuse(
            &[
                ("api_base", self.api_base.is_some()),
                ("model", self.model.is_some()),
            ],
            "azure",
        )?;
        let endpoint = self
            .endpoint
            .as_deref()
            .ok_or("[moderation] provider = \"azure\" needs `endpoint`")?;
        let key = key.ok_or("[moderation] provider = \"azure\" needs `api_key_env`")?;
        let thresholds = self.thresholds.unwrap_or_default().validate()?;
        Ok(ModerationProvider::Azure {
            endpoint: http_url("endpoint", endpoint)?,
            key,
            thresholds,
        })
    }

    fn openai(self, key: Option<Secret>) -> Result<ModerationProvider, String> {
        refuse(
            &[
                ("endpoint", self.endpoint.is_some()),
                ("thresholds", self.thresholds.is_some()),
            ],
            "openai",
        )?;
        let api_base = self
            .api_base
            .as_deref()
            .ok_or("[moderation] provider = \"openai\" needs `api_base`")?;
        Ok(ModerationProvider::OpenAi {
            api_base: http_url("api_base", api_base)?,
            key,
            model: self
                .model
                .unwrap_or_else(|| "omni-moderation-latest".into()),
        })
    }
}

impl RawThresholds {
    /// Azure's defaults for the categories left out; each severity must be 1 to 7.
    fn validate(self) -> Result<AzureThresholds, String> {
        let thresholds = AzureThresholds {
            hate: self.hate.unwrap_or(4),
            self_harm: self.self_harm.unwrap_or(2),
            sexual: self.sexual.unwrap_or(4),
            violence: self.violence.unwrap_or(4),
        };
        for (name, v) in [
            ("hate", thresholds.hate),
            ("self_harm", thresholds.self_harm),
            ("sexual", thresholds.sexual),
            ("violence", thresholds.violence),
        ] {
            if !(1..=7).contains(&v) {
                return Err(format!(
                    "[moderation.thresholds] {name} = {v}: Azure severities run from 1 to 7 (0 would flag everything)"
                ));
            }
        }
        Ok(thresholds)
    }
}

fn on_error(text: &str) -> Result<OnError, String> {
    match text {
        "fail_open" => Ok(OnError::FailOpen),
        "fail_closed" => Ok(OnError::FailClosed),
        other => Err(format!(
            "[moderation] on_error = {other:?}: expected \"fail_open\" or \"fail_closed\""
        )),
    }
}

/// The key from the variable `api_key_env` names, which must be set when named.
fn api_key(var: Option<&str>, vars: &HashMap<String, String>) -> Result<Option<Secret>, String> {
    let Some(var) = var else { return Ok(None) };
    match vars.get(var) {
        Some(v) if !v.is_empty() => Ok(Some(Secret::new(v.clone()))),
        _ => Err(format!(
            "[moderation] api_key_env = {var:?} but that environment variable is not set"
        )),
    }
}

/// Refuses the first key set in `keys`: it belongs to another provider.
fn refuse(keys: &[(&str, bool)], provider: &str) -> Result<(), String> {
    match keys.iter().find(|(_, set)| *set) {
        Some((k, _)) => Err(format!(
            "[moderation] `{k}` does not apply to provider = \"{provider}\""
        )),
        None => Ok(()),
    }
}
