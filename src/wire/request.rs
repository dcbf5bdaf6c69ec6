//! `POST /v1/chat/completions` as clients send it, as far as the gateway needs to read it. Fields
//! it does not interpret (tools, response_format, logit_bias, …) are kept in `extra` and passed
//! through untouched, so any OpenAI client works.
//! Reference: <https://platform.openai.com/docs/api-reference/chat/create>.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::message::{ChatMessage, Content, Role};
use super::prompt::PromptSelector;

/// `POST /v1/chat/completions` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Gateway-side tags; `conversation_id` groups messages. Not forwarded upstream: it only
    /// identifies the conversation to us, and less data leaving is better.
    #[serde(default, skip_serializing)]
    pub metadata: Option<HashMap<String, String>>,
    /// A versioned prompt to render before the client's messages (a PowerBirth extension that
    /// OpenAI SDKs send as an extra body field). Never forwarded upstream.
    #[serde(default, skip_serializing)]
    pub prompt: Option<PromptSelector>,
    /// Everything else (tools, tool_choice, response_format, …), passed through as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `stop`: one string or up to four.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// A request the gateway refuses (a 400 `invalid_request_error`), naming the field when it can.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub message: String,
    pub param: Option<String>,
}

impl RequestError {
    fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        RequestError {
            message: message.into(),
            param: Some(param.into()),
        }
    }
}

/// Longest accepted `metadata.conversation_id`.
const MAX_CONVERSATION_ID: usize = 128;

impl ChatRequest {
    /// Parses a request body; a wrong field is a 400 that names it.
    pub fn parse(body: &[u8]) -> Result<ChatRequest, RequestError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let req: ChatRequest = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                RequestError {
                    message: format!("We could not parse the JSON body of your request: {inner}"),
                    param: None,
                }
            } else if path == "." {
                RequestError {
                    message: format!("Invalid request body: {inner}"),
                    param: None,
                }
            } else {
                RequestError::invalid(path.clone(), format!("Invalid value for '{path}': {inner}"))
            }
        })?;
        req.validate()?;
        Ok(req)
    }

    /// Checks what serde cannot: ranges, counts, and the combinations OpenAI refuses.
    fn validate(&self) -> Result<(), RequestError> {
        self.validate_messages()?;
        self.validate_sampling()?;
        self.validate_options()?;
        self.validate_conversation_id()
    }

    fn validate_messages(&self) -> Result<(), RequestError> {
        if self.model.trim().is_empty() {
            return Err(RequestError::invalid("model", "'model' must not be empty"));
        }
        let Some(last) = self.messages.len().checked_sub(1) else {
            return Err(RequestError::invalid(
                "messages",
                "'messages' must contain at least one message",
            ));
        };
        // The message being answered must say something (history may hold empty assistant
        // messages, as tool-call turns do).
        if self.messages[last].role == Role::User && self.messages[last].is_empty() {
            return Err(RequestError::invalid(
                format!("messages[{last}].content"),
                "The last user message is empty: there is nothing to answer.",
            ));
        }
        Ok(())
    }

    fn validate_sampling(&self) -> Result<(), RequestError> {
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(RequestError::invalid(
                "temperature",
                format!("{t} is not in [0, 2]"),
            ));
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(RequestError::invalid(
                "top_p",
                format!("{p} is not in (0, 1]"),
            ));
        }
        for (field, value) in [
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
        ] {
            if value == Some(0) {
                return Err(RequestError::invalid(
                    field,
                    format!("'{field}' must be at least 1"),
                ));
            }
        }
        Ok(())
    }

    fn validate_options(&self) -> Result<(), RequestError> {
        if let Some(n) = self.n
            && (n == 0 || n > 16)
        {
            return Err(RequestError::invalid("n", "'n' must be between 1 and 16"));
        }
        if let Some(Stop::Many(v)) = &self.stop
            && v.len() > 4
        {
            return Err(RequestError::invalid(
                "stop",
                "'stop' takes at most 4 sequences",
            ));
        }
        if self.stream_options.is_some() && !self.is_stream() {
            return Err(RequestError::invalid(
                "stream_options",
                "'stream_options' is only allowed when 'stream' is true",
            ));
        }
        Ok(())
    }

    fn validate_conversation_id(&self) -> Result<(), RequestError> {
        let Some(id) = self.conversation_id() else {
            return Ok(());
        };
        let ok = !id.is_empty()
            && id.len() <= MAX_CONVERSATION_ID
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if ok {
            Ok(())
        } else {
            Err(RequestError::invalid(
                "metadata.conversation_id",
                "conversation_id must be 1-128 characters of letters, digits, '-', '_', '.' or ':'",
            ))
        }
    }

    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// The answer length the client asked for (`max_completion_tokens` wins, as in OpenAI's API).
    pub fn max_output_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// The client-supplied conversation id, if any.
    pub fn conversation_id(&self) -> Option<&str> {
        self.metadata
            .as_ref()?
            .get("conversation_id")
            .map(String::as_str)
    }

    /// Did the client ask for the final usage chunk on a stream?
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }

    /// Rewrites the text of every message (string content and text parts), and the `user` field
    /// (a frontend may put an e-mail there), with `redact`, which returns `Some(new text)` when
    /// something had to go. Returns whether anything changed.
    pub fn redact_with(&mut self, redact: impl Fn(&str) -> Option<String>) -> bool {
        let mut changed = false;
        if let Some(u) = &mut self.user
            && let Some(r) = redact(u)
        {
            *u = r;
            changed = true;
        }
        for m in &mut self.messages {
            match &mut m.content {
                Some(Content::Text(t)) => {
                    if let Some(r) = redact(t) {
                        *t = r;
                        changed = true;
                    }
                }
                Some(Content::Parts(parts)) => {
                    for part in parts {
                        if let Some(Value::String(t)) = part.get_mut("text")
                            && let Some(r) = redact(t)
                        {
                            *t = r;
                            changed = true;
                        }
                    }
                }
                None => {}
            }
        }
        changed
    }

    /// This request with `messages` put before the client's ones (a rendered prompt).
    pub fn with_leading(&self, messages: impl IntoIterator<Item = ChatMessage>) -> ChatRequest {
        let mut out = self.clone();
        let mut all: Vec<ChatMessage> = messages.into_iter().collect();
        all.extend(out.messages);
        out.messages = all;
        out
    }

    /// The messages new in this turn: those after the last assistant message (the client resends
    /// the whole history on every request; storing it each time would duplicate it). When
    /// nothing after it is the user's (the request ends with an assistant prefill or a tool
    /// result), the turn reaches back to the user messages before it, up to the previous
    /// assistant message: a trailing assistant or tool message must never hide the user's words
    /// from the input guard or the log. Holds a user message whenever the request does.
    pub fn new_turn(&self) -> &[ChatMessage] {
        let after = |end: usize| {
            self.messages[..end]
                .iter()
                .rposition(|m| m.role == Role::Assistant)
                .map_or(0, |i| i + 1)
        };
        let start = after(self.messages.len());
        if self.messages[start..].iter().any(|m| m.role == Role::User) {
            return &self.messages[start..];
        }
        match self.messages.iter().rposition(|m| m.role == Role::User) {
            Some(last_user) => &self.messages[after(last_user)..],
            None => &self.messages[start..],
        }
    }

    /// A plain request for `model` (no sampling options, nothing to pass through).
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            model: model.into(),
            messages,
            stream: None,
            stream_options: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            max_completion_tokens: None,
            stop: None,
            seed: None,
            n: None,
            user: None,
            metadata: None,
            prompt: None,
            extra: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ChatRequest, RequestError> {
        ChatRequest::parse(v.to_string().as_bytes())
    }

    fn param_of(e: RequestError) -> Option<String> {
        e.param
    }

    #[test]
    fn a_wrong_field_type_is_named_in_param() {
        let e = parse(serde_json::json!({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}))
            .unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("temperature"));
        let e =
            parse(serde_json::json!({"model":"m","messages":[{"role":"robot","content":"hi"}]}))
                .unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("messages[0].role"));
    }

    #[test]
    fn malformed_json_is_a_400_without_param() {
        let e = ChatRequest::parse(b"{\"model\": ").unwrap_err();
        assert_eq!(param_of(e), None);
    }

    #[test]
    fn out_of_range_sampling_values_are_refused() {
        let e = parse(
            serde_json::json!({"model":"m","messages":[{"role":"user","content":"x"}],"top_p":0}),
        )
        .unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("top_p"));
    }

    #[test]
    fn unknown_fields_pass_through_and_metadata_does_not() {
        let req = parse(serde_json::json!({
            "model":"m","messages":[{"role":"user","content":"x"}],
            "tools":[{"type":"function","function":{"name":"f"}}],
            "metadata":{"conversation_id":"c-1"}
        }))
        .unwrap();
        assert_eq!(req.conversation_id(), Some("c-1"));
        let out = serde_json::to_value(&req).unwrap();
        assert!(out.get("tools").is_some());
        assert!(out.get("metadata").is_none());
    }

    #[test]
    fn the_new_turn_is_what_follows_the_last_assistant_message() {
        let req = parse(serde_json::json!({"model":"m","messages":[
            {"role":"system","content":"s"},{"role":"user","content":"a"},
            {"role":"assistant","content":"b"},{"role":"user","content":[{"type":"text","text":"c"}]}
        ]}))
        .unwrap();
        let turn = req.new_turn();
        assert_eq!(turn.len(), 1);
        assert_eq!(turn[0].text(), "c");
    }

    #[test]
    fn a_trailing_assistant_or_tool_message_does_not_hide_the_user_s_words() {
        let req = parse(serde_json::json!({"model":"m","messages":[
            {"role":"user","content":"a"},{"role":"assistant","content":"b"},
            {"role":"user","content":"c"},{"role":"user","content":"d"},
            {"role":"assistant","content":""},{"role":"tool","content":"t","tool_call_id":"x"}
        ]}))
        .unwrap();
        let texts: Vec<String> = req.new_turn().iter().map(ChatMessage::text).collect();
        assert_eq!(texts, ["c", "d", "", "t"]);
        let only_assistant = parse(serde_json::json!({"model":"m","messages":[
            {"role":"system","content":"s"},{"role":"assistant","content":"b"}
        ]}))
        .unwrap();
        assert!(only_assistant.new_turn().is_empty());
    }
}
