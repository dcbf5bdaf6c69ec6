//! Every `chat.completion` and `chat.completion.chunk` the gateway makes (the local model's
//! answers, the guard's safe replies and notices, the stream's tail and cost chunks), and the SSE
//! framing they travel in. Built as `serde_json::Value`s, so keys come out sorted: the bytes are
//! the ones clients and tests have always seen.

use bytes::Bytes;
use serde_json::{Value, json};

use super::usage::Usage;

/// Who made an answer up: the model's answers carry `system_fingerprint: null`, as OpenAI's do;
/// the gateway's own (a block, a notice) do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Model,
    Gateway,
}

/// What a chunk's `delta` carries.
#[derive(Debug, Clone, Copy)]
pub enum Delta<'a> {
    /// The answer's first chunk: the role, and text.
    First(&'a str),
    /// More text.
    Text(&'a str),
    /// Nothing (the chunk that carries the finish reason).
    Empty,
}

impl Delta<'_> {
    fn to_value(self) -> Value {
        match self {
            Delta::First(text) => json!({"role": "assistant", "content": text}),
            Delta::Text(text) => json!({ "content": text }),
            Delta::Empty => json!({}),
        }
    }
}

/// The fields every completion and every chunk of one answer share (same id and timestamp on
/// each chunk, as OpenAI does).
#[derive(Debug, Clone)]
pub struct Head {
    pub id: String,
    /// Epoch seconds.
    pub created: i64,
    pub model: String,
}

impl Head {
    pub fn new(id: impl Into<String>, created: i64, model: impl Into<String>) -> Head {
        Head {
            id: id.into(),
            created,
            model: model.into(),
        }
    }

    /// A `chat.completion` with one assistant message.
    pub fn completion(
        &self,
        author: Author,
        content: &str,
        finish_reason: &str,
        usage: &Usage,
    ) -> Value {
        let mut v = json!({
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null},
                         "logprobs": null, "finish_reason": finish_reason}],
            "usage": usage,
        });
        if author == Author::Model {
            v["system_fingerprint"] = Value::Null;
        }
        v
    }

    /// A `chat.completion.chunk` with one choice.
    pub fn chunk(&self, author: Author, delta: Delta<'_>, finish_reason: Option<&str>) -> Value {
        let mut v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta.to_value(), "logprobs": null, "finish_reason": finish_reason}],
        });
        if author == Author::Model {
            v["system_fingerprint"] = Value::Null;
        }
        v
    }

    /// The text the output guard held back until an upstream stream ended without a finish
    /// chunk (no `logprobs` key: the shape this chunk has always had).
    pub fn tail_chunk(&self, text: &str) -> Value {
        json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}],
        })
    }

    /// A chunk without choices: the stream's last one, carrying usage or the gateway's extension.
    pub fn choiceless_chunk(&self, usage: Option<&Usage>) -> Value {
        let mut v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [],
        });
        if let Some(u) = usage {
            v["usage"] = json!(u);
        }
        v
    }
}

/// `value` with the gateway's extension object (`"powerbirth": {"guard": …, "cost_usd": …}`),
/// replacing any there was.
pub fn with_extension(mut value: Value, guard: Option<&Value>, cost_usd: Option<&str>) -> Value {
    let mut ext = json!({});
    if let Some(g) = guard {
        ext["guard"] = g.clone();
    }
    if let Some(c) = cost_usd {
        ext["cost_usd"] = Value::String(c.to_string());
    }
    value["powerbirth"] = ext;
    value
}

/// A streamed chunk with its delta text replaced (by what the output guard released).
pub fn with_delta_text(data: &str, text: &str) -> String {
    match serde_json::from_str::<Value>(data) {
        Ok(mut v) => {
            // Checked access: an upstream chunk of an odd shape must not panic the stream.
            if let Some(delta) = v
                .pointer_mut("/choices/0/delta")
                .and_then(Value::as_object_mut)
            {
                delta.insert("content".into(), Value::String(text.to_string()));
            }
            v.to_string()
        }
        Err(_) => data.to_string(),
    }
}

/// A new completion id, in OpenAI's shape.
pub fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

/// One SSE event carrying `data`.
pub fn sse_frame(data: &str) -> Bytes {
    let mut b = String::with_capacity(data.len() + 8);
    b.push_str("data: ");
    b.push_str(data);
    b.push_str("\n\n");
    Bytes::from(b)
}

/// The event that ends every stream.
pub const SSE_DONE: &[u8] = b"data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_s_answers_carry_a_null_fingerprint_and_the_gateway_s_do_not() {
        let head = Head::new("id", 1, "m");
        let usage = Usage::default();
        let model = head.completion(Author::Model, "hi", "stop", &usage);
        assert!(model.get("system_fingerprint").is_some_and(Value::is_null));
        let gateway = head.completion(Author::Gateway, "hi", "stop", &usage);
        assert!(gateway.get("system_fingerprint").is_none());
        assert_eq!(
            head.chunk(Author::Gateway, Delta::Empty, Some("stop"))
                .to_string(),
            r#"{"choices":[{"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":1,"id":"id","model":"m","object":"chat.completion.chunk"}"#
        );
    }

    #[test]
    fn the_extension_holds_what_is_given() {
        let v = with_extension(json!({}), None, Some("0"));
        assert_eq!(v.to_string(), r#"{"powerbirth":{"cost_usd":"0"}}"#);
    }
}
