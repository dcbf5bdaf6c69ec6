//! Resolution and rendering: a `PromptSelector` (id, version or label, language, persona,
//! variables) becomes the messages to put before the client's, plus the `PromptRef` and a
//! SHA-256 that identify exactly what was sent. No file IO and no template compilation happen
//! here: everything was compiled by `PromptRegistry::load`.

use crate::wire::PromptSelector;
use std::io;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::canary::CanaryOverrides;
use super::language::{self, Language};
use super::model::{Prompt, PromptRef, PromptVersion, Variant};
use super::variables::{self, Presence};
use super::{PromptProblem, PromptRegistry, templates};

/// The label used when a selector names neither a version nor a label.
pub const DEFAULT_LABEL: &str = "production";

/// A rendered prompt: the body of the render endpoint, and what the chat path prepends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub prompt_ref: PromptRef,
    pub language: String,
    pub persona: String,
    pub messages: Vec<RenderedMessage>,
    /// Hex SHA-256 of `messages` serialized as compact JSON (`[{"role":…,"content":…},…]`):
    /// equal hashes mean the model saw exactly the same prompt.
    pub sha256: String,
}

impl Rendered {
    /// The `x-prompt-ref` header value: `id@version;lang=…;persona=…`.
    pub fn header_value(&self) -> String {
        format!(
            "{};lang={};persona={}",
            self.prompt_ref, self.language, self.persona
        )
    }
}

/// One rendered chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// Why a selector could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// Unknown prompt, version, label, language or persona; the message says which and what
    /// exists (404 `prompt_not_found`).
    #[error("{0}")]
    NotFound(String),
    /// Every problem with the supplied variables: missing required, undeclared, wrong type, out
    /// of range, not in the enum (400 `invalid_prompt_variables`).
    #[error("invalid prompt variables: {}", .0.join("; "))]
    InvalidVariables(Vec<String>),
    /// The template failed while rendering valid variables: a prompt bug the load-time checks
    /// could not rule out (500; log it, never show it to the end user).
    #[error("prompt {prompt_ref} failed to render: {message}")]
    Template {
        prompt_ref: PromptRef,
        message: String,
    },
}

impl Prompt {
    /// The version a selector asks for: `version`, else `label`, else `production`.
    pub fn resolve_version(
        &self,
        version: Option<u32>,
        label: Option<&str>,
    ) -> Result<&PromptVersion, RenderError> {
        let id = &self.id;
        let by_label = |label: &str| {
            self.labels.get(label).copied().ok_or_else(|| {
                let known: Vec<&str> = self.labels.keys().map(String::as_str).collect();
                RenderError::NotFound(format!(
                    "prompt `{id}` has no label `{label}` (labels: {})",
                    list(&known)
                ))
            })
        };
        let number = match (version, label) {
            (Some(v), Some(l)) => {
                let pointed = by_label(l)?;
                if pointed != v {
                    return Err(RenderError::NotFound(format!(
                        "prompt `{id}` label `{l}` points at version {pointed}, not {v}"
                    )));
                }
                v
            }
            (Some(v), None) => v,
            (None, Some(l)) => by_label(l)?,
            (None, None) => by_label(DEFAULT_LABEL)?,
        };
        self.versions.get(&number).ok_or_else(|| {
            let known: Vec<String> = self.versions.keys().map(u32::to_string).collect();
            RenderError::NotFound(format!(
                "prompt `{id}` has no version {number} (versions: {})",
                known.join(", ")
            ))
        })
    }

    /// The variant for a language (explicit, else negotiated from `Accept-Language`, else the
    /// default) and a persona (explicit, else the default).
    pub fn resolve_variant<'a>(
        &'a self,
        version: &'a PromptVersion,
        language: Option<&str>,
        accept_language: Option<&str>,
        persona: Option<&str>,
    ) -> Result<&'a Variant, RenderError> {
        let available = &version.languages;
        let default = &self.default_language;
        let here = || PromptRef {
            id: self.id.clone(),
            version: version.number,
        };
        let chosen: &Language = match (language, accept_language) {
            (Some(requested), _) => language::best_match(requested, available, default)
                .ok_or_else(|| {
                    RenderError::NotFound(format!(
                        "prompt {} has no variant for language `{requested}` (languages: {})",
                        here(),
                        list(&available.iter().map(Language::as_str).collect::<Vec<_>>())
                    ))
                })?,
            (None, Some(header)) => {
                language::negotiate(header, available, default).unwrap_or(default)
            }
            (None, None) => default,
        };
        let persona = persona.unwrap_or(&self.default_persona);
        version.variant(chosen, persona).ok_or_else(|| {
            let personas: Vec<&str> = version
                .variants
                .iter()
                .filter(|v| &v.language == chosen)
                .map(|v| v.persona.as_str())
                .collect();
            RenderError::NotFound(format!(
                "prompt {} has no persona `{persona}` in `{chosen}` (personas: {})",
                here(),
                list(&personas)
            ))
        })
    }
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

impl PromptRegistry {
    /// Resolves version|label, language and persona (see `PromptSelector`), checks the
    /// variables and renders. Costs a few microseconds: no IO, no compilation.
    pub fn render(
        &self,
        sel: &PromptSelector,
        accept_language: Option<&str>,
    ) -> Result<Rendered, RenderError> {
        self.render_routed(sel, accept_language, None)
    }

    /// [`Self::render`] for a chat turn: a selector that names no version, and no label or
    /// `production`, is routed by the prompt's canary and the gate's overrides (`routing`: the
    /// overrides and the turn's routing key, see [`super::canary`]).
    pub fn render_routed(
        &self,
        sel: &PromptSelector,
        accept_language: Option<&str>,
        routing: Option<(&CanaryOverrides, &str)>,
    ) -> Result<Rendered, RenderError> {
        let prompt = self
            .get(&sel.id)
            .ok_or_else(|| RenderError::NotFound(format!("unknown prompt `{}`", sel.id)))?;
        let routed = match (sel.version, routing) {
            (None, Some((overrides, key))) => {
                prompt.routed_version(sel.label.as_deref(), overrides, key)
            }
            _ => None,
        };
        let version = match routed {
            Some(v) => prompt.resolve_version(Some(v), None)?,
            None => prompt.resolve_version(sel.version, sel.label.as_deref())?,
        };
        let variant = prompt.resolve_variant(
            version,
            sel.language.as_deref(),
            accept_language,
            sel.persona.as_deref(),
        )?;
        let ctx = variables::context(&version.variables, &sel.variables)
            .map_err(RenderError::InvalidVariables)?;
        let prompt_ref = PromptRef {
            id: prompt.id.clone(),
            version: version.number,
        };
        let messages =
            self.render_variant(variant, &ctx)
                .map_err(|(_, message)| RenderError::Template {
                    prompt_ref: prompt_ref.clone(),
                    message,
                })?;
        let sha256 = messages_sha256(&messages);
        Ok(Rendered {
            prompt_ref,
            language: variant.language.as_str().to_owned(),
            persona: variant.persona.clone(),
            messages,
            sha256,
        })
    }

    /// Renders each message; on failure, the failing message's index and tera's explanation.
    fn render_variant(
        &self,
        variant: &Variant,
        ctx: &tera::Context,
    ) -> Result<Vec<RenderedMessage>, (usize, String)> {
        let mut out = Vec::with_capacity(variant.messages.len());
        for (i, m) in variant.messages.iter().enumerate() {
            let mut content = self
                .tera
                .render(&m.tera_name, ctx)
                .map_err(|e| (i, templates::error_chain(&e)))?;
            trim_in_place(&mut content);
            out.push(RenderedMessage {
                role: m.role.as_str().to_owned(),
                content,
            });
        }
        Ok(out)
    }

    /// Renders every variant with generated valid variables three ways (only what is required,
    /// all at their low values, all at their high values), so a template that reads an optional
    /// variable without `{% if %}`, or compares one that may be absent, fails at load and not
    /// on a user's request.
    pub(crate) fn smoke_render(&self) -> Vec<PromptProblem> {
        let mut problems = Vec::new();
        for prompt in self.prompts() {
            for version in prompt.versions() {
                let contexts = [
                    ("only the required variables", sample_context(version, None)),
                    (
                        "every variable at its low sample",
                        sample_context(version, Some(true)),
                    ),
                    (
                        "every variable at its high sample",
                        sample_context(version, Some(false)),
                    ),
                ];
                for variant in &version.variants {
                    for (which, ctx) in &contexts {
                        if let Err((i, message)) = self.render_variant(variant, ctx) {
                            let line = variant.messages.get(i).map(|m| m.line);
                            let message =
                                format!("template fails to render with {which}: {message}");
                            problems.push(PromptProblem::new(&variant.path, line, message));
                            break;
                        }
                    }
                }
            }
        }
        problems
    }
}

/// `all`: `None` = only required variables (and defaults); `Some(low)` = every variable.
fn sample_context(version: &PromptVersion, all: Option<bool>) -> tera::Context {
    let mut ctx = tera::Context::new();
    for spec in &version.variables {
        match (&spec.presence, all) {
            (_, Some(low)) => ctx.insert(spec.name.as_str(), &spec.sample(low)),
            (Presence::Required, None) => ctx.insert(spec.name.as_str(), &spec.sample(true)),
            (Presence::Default(v), None) => ctx.insert(spec.name.as_str(), v),
            (Presence::Optional, None) => {}
        }
    }
    ctx
}

/// Removes leading and trailing whitespace without reallocating: `'''` strings and `{% if %}`
/// lines leave newlines at the ends that carry no meaning (and would change the hash).
fn trim_in_place(s: &mut String) {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    if start > 0 {
        s.drain(..start);
    }
}

fn messages_sha256(messages: &[RenderedMessage]) -> String {
    struct HashWriter(Sha256);
    impl io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(Sha256::new());
    // Serializing strings into a writer that never fails cannot fail.
    serde_json::to_writer(&mut w, messages).expect("messages serialize");
    hex::encode(w.0.finalize())
}
