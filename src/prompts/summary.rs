//! The serializable shapes the prompt API serves: `GET /v1/prompts` (a list of
//! `PromptSummary`), `GET /v1/prompts/{id}` (one `PromptSummary`) and
//! `GET /v1/prompts/{id}/versions/{version}` (`VersionDetail`, with the templates).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::model::{Prompt, PromptRef, PromptVersion, Role};
use super::variables::{VariableKind, VariableSpec};

/// A prompt with its labels and versions (no templates).
#[derive(Debug, Clone, Serialize)]
pub struct PromptSummary {
    pub id: String,
    pub description: String,
    pub owner: String,
    pub default_language: String,
    pub default_persona: String,
    /// Label → version.
    pub labels: BTreeMap<String, u32>,
    /// Oldest first.
    pub versions: Vec<VersionSummary>,
}

/// One version: what it offers, without the templates.
#[derive(Debug, Clone, Serialize)]
pub struct VersionSummary {
    pub version: u32,
    /// `id@version`.
    pub prompt_ref: PromptRef,
    pub summary: String,
    /// Labels pointing at this version.
    pub labels: Vec<String>,
    pub languages: Vec<String>,
    pub personas: Vec<String>,
    pub variables: Vec<VariableSummary>,
}

/// A declared variable: `{"name", "type", "required", "default"?, "description"?, "min"?,
/// "max"?, "values"?, "max_length"?}`.
#[derive(Debug, Clone, Serialize)]
pub struct VariableSummary {
    pub name: String,
    #[serde(flatten)]
    pub kind: VariableKind,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One version with every variant's templates.
#[derive(Debug, Clone, Serialize)]
pub struct VersionDetail {
    pub id: String,
    #[serde(flatten)]
    pub version: VersionSummary,
    pub variants: Vec<VariantDetail>,
}

/// One language × persona variant and its message templates (unrendered tera source).
#[derive(Debug, Clone, Serialize)]
pub struct VariantDetail {
    pub language: String,
    pub persona: String,
    pub messages: Vec<MessageTemplateSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageTemplateSummary {
    pub role: Role,
    pub template: String,
}

impl From<&VariableSpec> for VariableSummary {
    fn from(spec: &VariableSpec) -> Self {
        VariableSummary {
            name: spec.name.clone(),
            kind: spec.kind.clone(),
            required: spec.is_required(),
            default: spec.default_value().cloned(),
            description: spec.description.clone(),
        }
    }
}

impl Prompt {
    /// The body of `GET /v1/prompts/{id}` (and one element of `GET /v1/prompts`).
    pub fn summary(&self) -> PromptSummary {
        PromptSummary {
            id: self.id.clone(),
            description: self.description.clone(),
            owner: self.owner.clone(),
            default_language: self.default_language.to_string(),
            default_persona: self.default_persona.clone(),
            labels: self.labels.clone(),
            versions: self.versions().map(|v| self.version_summary(v)).collect(),
        }
    }

    /// The body of `GET /v1/prompts/{id}/versions/{version}`; `None` for an unknown version.
    pub fn version_detail(&self, number: u32) -> Option<VersionDetail> {
        let version = self.version(number)?;
        Some(VersionDetail {
            id: self.id.clone(),
            version: self.version_summary(version),
            variants: version
                .variants()
                .iter()
                .map(|v| VariantDetail {
                    language: v.language.to_string(),
                    persona: v.persona.clone(),
                    messages: v
                        .messages
                        .iter()
                        .map(|m| MessageTemplateSummary {
                            role: m.role,
                            template: m.template.clone(),
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    fn version_summary(&self, v: &PromptVersion) -> VersionSummary {
        VersionSummary {
            version: v.number,
            prompt_ref: PromptRef {
                id: self.id.clone(),
                version: v.number,
            },
            summary: v.summary.clone(),
            labels: self.labels_of(v.number).map(str::to_owned).collect(),
            languages: v.languages().iter().map(ToString::to_string).collect(),
            personas: v.personas().into_iter().map(str::to_owned).collect(),
            variables: v.variables().iter().map(VariableSummary::from).collect(),
        }
    }
}
