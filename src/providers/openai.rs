//! Any OpenAI-compatible chat-completions API over pooled HTTP connections (TCP_NODELAY, see
//! DESIGN.md). Bodies are forwarded as the client sent them, with the upstream model name put in;
//! streams are passed through chunk by chunk as they arrive. Every call has a timeout: to the
//! whole answer, or for streams to the first byte and then between chunks.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

use super::failover::FailureKind;
use super::settings::OpenAiSettings;
use super::sse::SseParser;
use super::{ChunkStream, Completion, ProviderError, StreamChunk, StreamStart};
use crate::core::Secret;
use crate::wire::{ChatRequest, Usage};

/// One OpenAI-compatible upstream.
pub struct OpenAiProvider {
    http: reqwest::Client,
    url: String,
    key: Option<Secret>,
    upstream_model: String,
    timeout: Duration,
    max_retries: u32,
    max_output_tokens: u32,
    limit_field: &'static str,
}

impl OpenAiProvider {
    pub fn new(http: reqwest::Client, s: &OpenAiSettings) -> Self {
        OpenAiProvider {
            http,
            url: format!("{}/chat/completions", s.api_base),
            key: s.api_key.clone(),
            upstream_model: s.upstream_model.clone(),
            timeout: s.timeout,
            max_retries: s.max_retries,
            max_output_tokens: s.max_output_tokens,
            limit_field: s.limit_field,
        }
    }

    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The body sent upstream: the client's request with the upstream model name; on streams,
    /// usage is always asked for, so tokens are known even when the client did not ask. The
    /// answer length goes in the one field this model takes (`limit_field`), whichever of
    /// `max_tokens` and `max_completion_tokens` the client used (the latter wins, as in
    /// OpenAI's API); a request with neither gets the model's `max_output_tokens`: the cap its
    /// budget reservation assumed.
    fn body(&self, name: &str, req: &ChatRequest, stream: bool) -> Result<Vec<u8>, ProviderError> {
        let mut v = serde_json::to_value(req).map_err(|e| ProviderError::Protocol {
            model: name.into(),
            message: e.to_string(),
        })?;
        v["model"] = Value::String(self.upstream_model.clone());
        if let Some(fields) = v.as_object_mut() {
            fields.remove("max_tokens");
            fields.remove("max_completion_tokens");
            let limit = req.max_output_tokens().unwrap_or(self.max_output_tokens);
            fields.insert(self.limit_field.into(), Value::from(limit));
        }
        if stream {
            v["stream"] = Value::Bool(true);
            v["stream_options"]["include_usage"] = Value::Bool(true);
        }
        serde_json::to_vec(&v).map_err(|e| ProviderError::Protocol {
            model: name.into(),
            message: e.to_string(),
        })
    }

    fn request(&self, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = &self.key {
            rb = rb.bearer_auth(key.expose());
        }
        rb
    }

    /// Sends the request and waits for the response headers, within the timeout.
    async fn send(
        &self,
        name: &str,
        body: Vec<u8>,
        whole: bool,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut rb = self.request(body);
        if whole {
            rb = rb.timeout(self.timeout);
        }
        let res = match tokio::time::timeout(self.timeout, rb.send()).await {
            Err(_) => {
                return Err(ProviderError::Timeout {
                    model: name.into(),
                    after: self.timeout,
                });
            }
            Ok(Err(e)) => return Err(transport_error(name, e, self.timeout)),
            Ok(Ok(res)) => res,
        };
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let text = tokio::time::timeout(self.timeout, res.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let message = parsed
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(300).collect());
        if matches!(status, 400 | 404 | 413 | 422) {
            let param = parsed
                .as_ref()
                .and_then(|v| v["error"]["param"].as_str())
                .map(str::to_string);
            if let Some(kind) = parsed.as_ref().and_then(refusal_kind) {
                return Err(ProviderError::Refused {
                    model: name.into(),
                    status,
                    kind,
                    message,
                    param,
                });
            }
            return Err(ProviderError::Rejected {
                model: name.into(),
                status,
                message,
                param,
            });
        }
        Err(ProviderError::Status {
            model: name.into(),
            status,
            message,
            retry_after,
        })
    }

    pub async fn complete(
        &self,
        name: &str,
        req: &ChatRequest,
    ) -> Result<Completion, ProviderError> {
        let body = self.body(name, req, false)?;
        let res = self.send(name, body, true).await?;
        let bytes: Bytes = res
            .bytes()
            .await
            .map_err(|e| transport_error(name, e, self.timeout))?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| ProviderError::Protocol {
            model: name.into(),
            message: format!("answer is not JSON: {e}"),
        })?;
        if let Err(message) = answer_shape(&v) {
            return Err(ProviderError::Protocol {
                model: name.into(),
                message,
            });
        }
        let choice = &v["choices"][0];
        let message = &choice["message"];
        let text = match message["content"].as_str() {
            Some(t) => t.to_string(),
            None if !message["tool_calls"].is_null() => message["tool_calls"].to_string(),
            None => String::new(),
        };
        Ok(Completion {
            text,
            finish_reason: choice["finish_reason"].as_str().map(str::to_string),
            usage: serde_json::from_value(v["usage"].clone()).ok(),
            body: bytes,
            served_by: name.to_string(),
            upstream: Duration::ZERO,
        })
    }

    pub async fn stream(
        &self,
        name: &str,
        req: &ChatRequest,
    ) -> Result<StreamStart, ProviderError> {
        let body = self.body(name, req, true)?;
        let res = self.send(name, body, false).await?;
        let model = name.to_string();
        let idle = self.timeout;
        let state = StreamState {
            bytes: Box::pin(res.bytes_stream()),
            parser: SseParser::default(),
            pending: Default::default(),
            done: false,
        };
        let chunks: ChunkStream = Box::pin(futures_util::stream::unfold(state, move |mut st| {
            let model = model.clone();
            async move {
                loop {
                    if let Some(data) = st.pending.pop_front() {
                        if data.trim() == "[DONE]" {
                            st.done = true;
                            st.pending.clear();
                            continue;
                        }
                        return Some((parse_chunk(&model, data), st));
                    }
                    if st.done {
                        return None;
                    }
                    match tokio::time::timeout(idle, st.bytes.next()).await {
                        Err(_) => {
                            st.done = true;
                            return Some((
                                Err(ProviderError::Timeout {
                                    model: model.clone(),
                                    after: idle,
                                }),
                                st,
                            ));
                        }
                        Ok(None) => st.done = true,
                        Ok(Some(Err(e))) => {
                            st.done = true;
                            return Some((Err(transport_error(&model, e, idle)), st));
                        }
                        Ok(Some(Ok(b))) => st.pending.extend(st.parser.feed(&b)),
                    }
                }
            }
        }));
        Ok(StreamStart {
            served_by: name.to_string(),
            upstream: Duration::ZERO,
            chunks,
        })
    }
}

struct StreamState {
    bytes: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    parser: SseParser,
    pending: std::collections::VecDeque<String>,
    done: bool,
}

/// Reads what the gateway needs from one chunk; the chunk itself is forwarded unchanged.
fn parse_chunk(model: &str, data: String) -> Result<StreamChunk, ProviderError> {
    let v: Value = serde_json::from_str(&data).map_err(|e| ProviderError::Protocol {
        model: model.into(),
        message: format!("stream chunk is not JSON: {e}"),
    })?;
    if let Some(err) = v.get("error") {
        return Err(ProviderError::Protocol {
            model: model.into(),
            message: err["message"]
                .as_str()
                .unwrap_or("error in stream")
                .to_string(),
        });
    }
    if let Err(message) = chunk_shape(&v) {
        return Err(ProviderError::Protocol {
            model: model.into(),
            message,
        });
    }
    let choice = &v["choices"][0];
    let text = choice["delta"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let finish_reason = choice["finish_reason"].as_str().map(str::to_string);
    let usage: Option<Usage> = match v.get("usage") {
        Some(u) if !u.is_null() => serde_json::from_value(u.clone()).ok(),
        _ => None,
    };
    let has_role = !choice["delta"]["role"].is_null();
    Ok(StreamChunk {
        data,
        text,
        finish_reason,
        usage,
        has_role,
    })
}

/// What the gateway reads of an answer, checked before anything reads it: a non-empty `choices`
/// array of objects, each with a `message` object whose text fields are strings or null. An
/// answer of another shape is a protocol error (a 502), never a guess.
fn answer_shape(v: &Value) -> Result<(), String> {
    let choices = match v.get("choices").and_then(Value::as_array) {
        Some(c) if !c.is_empty() => c,
        _ => return Err("answer has no choices".into()),
    };
    for (i, c) in choices.iter().enumerate() {
        match c.get("message") {
            Some(m) if m.is_object() => {
                texts_shape(m).map_err(|f| format!("choices[{i}].message.{f}"))?
            }
            _ => return Err(format!("answer's choices[{i}] has no message object")),
        }
    }
    Ok(())
}

/// As [`answer_shape`] for a stream chunk: `choices`, when present, is an array of objects whose
/// `delta` (when present) is an object with string or null text fields.
fn chunk_shape(v: &Value) -> Result<(), String> {
    if !v.is_object() {
        return Err("stream chunk is not a JSON object".into());
    }
    let Some(choices) = v.get("choices").filter(|c| !c.is_null()) else {
        return Ok(());
    };
    let Some(choices) = choices.as_array() else {
        return Err("stream chunk's choices is not an array".into());
    };
    for (i, c) in choices.iter().enumerate() {
        if !c.is_object() {
            return Err(format!("stream chunk's choices[{i}] is not an object"));
        }
        match c.get("delta") {
            None | Some(Value::Null) => {}
            Some(d) if d.is_object() => {
                texts_shape(d).map_err(|f| format!("stream chunk's choices[{i}].delta.{f}"))?
            }
            Some(_) => {
                return Err(format!(
                    "stream chunk's choices[{i}].delta is not an object"
                ));
            }
        }
    }
    Ok(())
}

/// The text fields the output guard reads must be strings (or absent, or null).
fn texts_shape(m: &Value) -> Result<(), String> {
    for f in ["content", "refusal", "reasoning_content"] {
        if m.get(f).is_some_and(|t| !t.is_null() && !t.is_string()) {
            return Err(format!("{f} is not a string"));
        }
    }
    match m.get("tool_calls") {
        None | Some(Value::Null) | Some(Value::Array(_)) => Ok(()),
        Some(_) => Err("tool_calls is not an array".into()),
    }
}

fn transport_error(model: &str, e: reqwest::Error, timeout: Duration) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout {
            model: model.into(),
            after: timeout,
        }
    } else {
        ProviderError::Connect {
            model: model.into(),
            message: root_cause(&e),
        }
    }
}

/// The innermost error message (reqwest's own is "error sending request" for everything).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A 400 caused by the provider's policy or limits rather than the request's shape, by the OpenAI
/// error `code` (Azure OpenAI answers its content filter the same way; some servers put the code
/// in `type`).
fn refusal_kind(body: &Value) -> Option<FailureKind> {
    let e = &body["error"];
    [e["code"].as_str(), e["type"].as_str()]
        .into_iter()
        .flatten()
        .find_map(|c| match c {
            "content_filter" | "content_policy_violation" => Some(FailureKind::ContentFilter),
            "context_length_exceeded" => Some(FailureKind::ContextLength),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_400_is_a_refusal_only_with_openais_filter_or_context_code() {
        let body = |code: &str| serde_json::json!({"error": {"message": "m", "code": code}});
        assert_eq!(
            refusal_kind(&body("content_filter")),
            Some(FailureKind::ContentFilter)
        );
        assert_eq!(
            refusal_kind(&body("context_length_exceeded")),
            Some(FailureKind::ContextLength)
        );
        assert_eq!(refusal_kind(&body("invalid_value")), None);
        assert_eq!(refusal_kind(&serde_json::json!({"error": {}})), None);
    }
}
