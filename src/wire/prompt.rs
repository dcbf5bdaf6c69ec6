//! The chat request's `"prompt"` extension (a PowerBirth field that OpenAI SDKs send as an extra
//! body field), also the body of `POST /v1/prompts/{id}/render`. Resolving it is `prompts`' job.

use serde::Deserialize;
use serde_json::{Map, Value};

/// What a request asks for: the body of `POST /v1/prompts/{id}/render` (with `id` from the
/// path) and the chat request's `"prompt"` field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSelector {
    pub id: String,
    /// An exact version; with `label` as well, the label must point at it.
    #[serde(default)]
    pub version: Option<u32>,
    /// A label (`production`, `staging`, …); `production` when neither is given.
    #[serde(default)]
    pub label: Option<String>,
    /// A BCP 47 tag; `pt` finds `pt-BR`, `en-US` finds `en`. Unknown → `NotFound`.
    #[serde(default)]
    pub language: Option<String>,
    /// Unknown for the chosen language → `NotFound`.
    #[serde(default)]
    pub persona: Option<String>,
    #[serde(default)]
    pub variables: Map<String, Value>,
}

impl PromptSelector {
    /// A selector for the `production` version of `id` with defaults everywhere.
    pub fn new(id: impl Into<String>) -> Self {
        PromptSelector {
            id: id.into(),
            ..Self::default()
        }
    }
}
