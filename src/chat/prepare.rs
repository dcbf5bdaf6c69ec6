//! Preparing a turn: the request's model checked, the input guard's reading taken (in the
//! client's language, negotiated once), personal data redacted from every message, and the
//! prompt rendered when the request names one. From here on neither the upstream nor the log
//! sees the raw data.

use super::{Pipeline, guarded, outbound};
use crate::error::ApiError;
use crate::guard::{InputVerdict, Lang};
use crate::prompts;
use crate::wire::{ChatMessage, ChatRequest, Role};

/// A request ready for the providers: as the client sent it (what is logged) and, when it named a
/// prompt, with the rendered prompt messages in front (what the model sees).
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    pub request: ChatRequest,
    rendered: Option<ChatRequest>,
    pub prompt_ref: Option<String>,
    /// The input guard's reading of the turn's user messages, when it found anything.
    pub verdict: Option<InputVerdict>,
    /// The conversation's language, for the guard's safe texts.
    pub lang: Lang,
    /// The turn's request id (made here: it routes a turn without a conversation id).
    pub request_id: String,
    /// The release serving the turn.
    pub release: std::sync::Arc<str>,
}

impl Prepared {
    /// The request the upstream receives.
    pub fn upstream(&self) -> &ChatRequest {
        self.rendered.as_ref().unwrap_or(&self.request)
    }

    /// The request the upstream receives, by value (the as-sent one is dropped).
    pub fn into_upstream(self) -> ChatRequest {
        self.rendered.unwrap_or(self.request)
    }
}

/// The language hint for the guard: the prompt's own language when the request names one, else
/// the client's `Accept-Language`, negotiated (see [`guarded::negotiate_language`]).
fn guard_hint(request: &ChatRequest, accept_language: Option<&str>) -> Option<Lang> {
    match request.prompt.as_ref().and_then(|p| p.language.as_deref()) {
        Some(tag) => Lang::from_tag(tag),
        None => guarded::negotiate_language(accept_language),
    }
}

impl Pipeline {
    /// Resolves the request's model, reads the turn with the input guard (and the external
    /// moderator, when `[moderation]` names one), redacts personal data (CPF, cartão SUS, phones,
    /// e-mail) from every message, and renders the prompt, if it names one (language from the
    /// request, else `accept_language`, else the prompt's default). `moderate: false` skips the
    /// external moderator (a request a rate limit already refused must not cost a call).
    /// `key_id` (the API key's id) routes a prompt's default traffic by its canary; `None` (an
    /// eval case) renders the prompt as its files say.
    pub(super) async fn prepare(
        &self,
        mut request: ChatRequest,
        accept_language: Option<&str>,
        moderate: bool,
        key_id: Option<&str>,
    ) -> Result<Prepared, ApiError> {
        if self.providers.get(&request.model).is_none() {
            return Err(ApiError::ModelNotFound(request.model));
        }
        outbound::refuse_unguardable(&request)?;
        let (verdict, lang) = self.read_turn(&request, accept_language, moderate).await;
        let redact = |text: &str| self.guard.redact(text);
        request.redact_with(redact);
        outbound::redact_client_fields(&mut request, self.guard.allows_store(), &redact);
        let request_id = format!("req_{}", uuid::Uuid::new_v4().simple());
        let release = self.release.clone();
        let Some(selector) = &request.prompt else {
            return Ok(Prepared {
                request,
                rendered: None,
                prompt_ref: None,
                verdict,
                lang,
                request_id,
                release,
            });
        };
        let key = key_id.map(|k| routing_key(&request, k, &request_id));
        let overrides = self.canary.load();
        let routing = key.as_deref().map(|k| (&**overrides, k));
        let rendered = self
            .prompts
            .load()
            .render_routed(selector, accept_language, routing)?;
        Ok(Prepared {
            rendered: Some(with_prompt(&request, &rendered)),
            prompt_ref: Some(rendered.header_value()),
            request,
            verdict,
            lang,
            request_id,
            release,
        })
    }

    /// The input guard's reading of the turn's own user words (before redaction, so it can
    /// report PII too) when it found anything, and the conversation's language.
    async fn read_turn(
        &self,
        request: &ChatRequest,
        accept_language: Option<&str>,
        moderate: bool,
    ) -> (Option<InputVerdict>, Lang) {
        let joined = request
            .new_turn()
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| m.text())
            .collect::<Vec<_>>()
            .join("\n");
        if joined.is_empty() {
            return (None, Lang::PtBr);
        }
        let hint = guard_hint(request, accept_language);
        let (verdict, outcome) = if moderate {
            guarded::check_input(&self.guard, &self.moderator, &joined, hint).await
        } else {
            (
                self.guard
                    .check_input_async(&joined, hint.map(Lang::as_str))
                    .await,
                None,
            )
        };
        let lang = verdict.language;
        let verdict = (!verdict.categories.is_empty()).then_some(verdict);
        match outcome {
            Some(outcome) => (self.guard.apply_moderation(verdict, outcome, lang), lang),
            None => (verdict, lang),
        }
    }
}

/// What puts a turn in a prompt canary's bucket: the conversation as the store files it (the
/// client's id under its key), so every turn of a conversation sees the same version; without a
/// conversation id, the request id (each turn drawn anew: not sticky).
fn routing_key(request: &ChatRequest, key_id: &str, request_id: &str) -> String {
    match request.conversation_id() {
        Some(c) => crate::core::ConversationId::scoped(key_id, c)
            .stored()
            .to_owned(),
        None => request_id.to_owned(),
    }
}

/// The request with a rendered prompt's messages put before the client's ones.
fn with_prompt(request: &ChatRequest, rendered: &prompts::Rendered) -> ChatRequest {
    let role = |r: &str| match r {
        "assistant" => Role::Assistant,
        "user" => Role::User,
        _ => Role::System,
    };
    request.with_leading(
        rendered
            .messages
            .iter()
            .map(|m| ChatMessage::new(role(&m.role), m.content.clone())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(accept_language: &str) -> Option<Lang> {
        let req = ChatRequest::new("m", vec![ChatMessage::new(Role::User, "oi")]);
        guard_hint(&req, Some(accept_language))
    }

    #[test]
    fn the_guard_hint_follows_q_values_not_the_first_tag() {
        assert_eq!(hint("en;q=0.5, pt-BR;q=0.9"), Some(Lang::PtBr));
        assert_eq!(hint("fr-FR, en-US;q=0.7"), Some(Lang::En));
        assert_eq!(hint("en"), Some(Lang::En));
        assert_eq!(hint("de"), None);
        assert_eq!(hint("*"), None);
        assert_eq!(hint("en;q=0, pt"), Some(Lang::PtBr));
    }
}
