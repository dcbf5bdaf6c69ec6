//! The local model speaking OpenAI: chat requests become generation jobs for
//! [`super::local::LocalModel`], and its tokens come back as `chat.completion` bodies or
//! `chat.completion.chunk` streams, exactly as an OpenAI upstream would send them.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::local::{ChatTurn, GenEvent, GenerateRequest, LocalError, LocalModel, LocalOptions};
use super::settings::LocalSettings;
use super::{ChunkStream, Completion, ProviderError, StreamChunk, StreamStart};
use crate::chat::types::{ChatRequest, Role, Usage};

/// A configured local model.
pub struct LocalProvider {
    model: LocalModel,
}

impl LocalProvider {
    /// Loads the GGUF (slow: call from a blocking thread).
    pub fn load(s: &LocalSettings) -> Result<LocalProvider, String> {
        if !s.path.exists() {
            return Err(format!(
                "the local model file {} does not exist; run `make models` to fetch it",
                s.path.display()
            ));
        }
        let opts = LocalOptions {
            workers: s.workers,
            queue: s.queue,
            default_max_tokens: s.max_tokens,
            context_tokens: s.context_tokens,
            ..LocalOptions::default()
        };
        let model =
            LocalModel::load(&s.path, opts).map_err(|e| format!("{}: {e}", s.path.display()))?;
        Ok(LocalProvider { model })
    }

    /// The loaded model (its tokenizer counts tokens for metering and evals).
    pub fn model(&self) -> &LocalModel {
        &self.model
    }

    fn start(
        &self,
        name: &str,
        req: &ChatRequest,
    ) -> Result<mpsc::Receiver<GenEvent>, ProviderError> {
        if req.extra.get("tools").is_some_and(|t| !t.is_null()) {
            return Err(ProviderError::Rejected {
                model: name.into(),
                status: 400,
                message: format!("The model `{name}` does not support tools."),
                param: Some("tools".into()),
            });
        }
        if req.n.is_some_and(|n| n > 1) {
            return Err(ProviderError::Rejected {
                model: name.into(),
                status: 400,
                message: format!("The model `{name}` answers with one choice only (n = 1)."),
                param: Some("n".into()),
            });
        }
        let job = GenerateRequest {
            messages: req
                .messages
                .iter()
                .map(|m| ChatTurn {
                    role: match m.role {
                        Role::Developer => "system".into(),
                        other => other.as_str().into(),
                    },
                    content: m.text(),
                })
                .collect(),
            max_tokens: req.max_output_tokens(),
            temperature: req.temperature.unwrap_or(1.0),
            top_p: req.top_p,
            seed: req.seed.map(|s| s as u64),
            stop: req.stop.as_ref().map(|s| s.to_vec()).unwrap_or_default(),
        };
        self.model.generate(job).map_err(|e| match e {
            LocalError::QueueFull => ProviderError::Overloaded { model: name.into() },
            LocalError::PromptTooLong { tokens, limit } => ProviderError::Rejected {
                model: name.into(),
                status: 400,
                message: format!(
                    "Your messages take {tokens} tokens, but this model has room for {limit} prompt tokens once the answer's max_tokens is reserved. Shorten the conversation or lower max_tokens."
                ),
                param: Some("messages".into()),
            },
            other => ProviderError::Protocol { model: name.into(), message: other.to_string() },
        })
    }

    pub async fn complete(
        &self,
        name: &str,
        req: &ChatRequest,
    ) -> Result<Completion, ProviderError> {
        let mut rx = self.start(name, req)?;
        let mut text = String::new();
        while let Some(event) = rx.recv().await {
            match event {
                GenEvent::Delta(t) => text.push_str(&t),
                GenEvent::Failed(message) => {
                    return Err(ProviderError::Protocol {
                        model: name.into(),
                        message,
                    });
                }
                GenEvent::Done {
                    finish_reason,
                    prompt_tokens,
                    completion_tokens,
                } => {
                    let usage = usage(prompt_tokens, completion_tokens);
                    let body = json!({
                        "id": completion_id(),
                        "object": "chat.completion",
                        "created": crate::store::now_ms() / 1000,
                        "model": name,
                        "choices": [{
                            "index": 0,
                            "message": {"role": "assistant", "content": text, "refusal": null},
                            "logprobs": null,
                            "finish_reason": finish_reason.as_str(),
                        }],
                        "usage": usage,
                        "system_fingerprint": null,
                    });
                    return Ok(Completion {
                        body: Bytes::from(body.to_string()),
                        text,
                        finish_reason: Some(finish_reason.as_str().into()),
                        usage: Some(usage),
                        served_by: name.into(),
                        upstream: Duration::ZERO,
                    });
                }
            }
        }
        Err(ProviderError::Protocol {
            model: name.into(),
            message: "generation stopped without an answer".into(),
        })
    }

    /// Starts generation and waits for the first event, so that a failure before any text can
    /// still fall back to another model.
    pub async fn stream(
        &self,
        name: &str,
        req: &ChatRequest,
    ) -> Result<StreamStart, ProviderError> {
        let mut rx = self.start(name, req)?;
        let first = rx.recv().await;
        if let Some(GenEvent::Failed(message)) = &first {
            return Err(ProviderError::Protocol {
                model: name.into(),
                message: message.clone(),
            });
        }
        let head = ChunkMaker {
            id: completion_id(),
            created: crate::store::now_ms() / 1000,
            model: name.into(),
        };
        let role_chunk = head.chunk(
            json!({"role": "assistant", "content": ""}),
            None,
            String::new(),
        );
        let state = (rx, first, head, false);
        let rest = futures_util::stream::unfold(
            state,
            |(mut rx, mut pending, head, done)| async move {
                if done {
                    return None;
                }
                let event = match pending.take() {
                    Some(e) => Some(e),
                    None => rx.recv().await,
                };
                let item = match event {
                    None => Err(ProviderError::Protocol {
                        model: head.model.clone(),
                        message: "generation stopped".into(),
                    }),
                    Some(GenEvent::Delta(t)) => {
                        Ok(vec![head.chunk(json!({"content": t}), None, t)])
                    }
                    Some(GenEvent::Failed(message)) => Err(ProviderError::Protocol {
                        model: head.model.clone(),
                        message,
                    }),
                    Some(GenEvent::Done {
                        finish_reason,
                        prompt_tokens,
                        completion_tokens,
                    }) => {
                        let last =
                            head.chunk(json!({}), Some(finish_reason.as_str()), String::new());
                        let u = usage(prompt_tokens, completion_tokens);
                        let usage_chunk = StreamChunk {
                        data: json!({
                            "id": head.id, "object": "chat.completion.chunk", "created": head.created,
                            "model": head.model, "choices": [], "usage": u,
                        })
                        .to_string(),
                        text: String::new(),
                        finish_reason: None,
                            has_role: false,
                        usage: Some(u),
                    };
                        return Some((
                            futures_util::stream::iter(vec![Ok(last), Ok(usage_chunk)]),
                            (rx, None, head, true),
                        ));
                    }
                };
                let finished = item.is_err();
                let items: Vec<Result<StreamChunk, ProviderError>> = match item {
                    Ok(v) => v.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                };
                Some((
                    futures_util::stream::iter(items),
                    (rx, None, head, finished),
                ))
            },
        );
        use futures_util::StreamExt;
        let chunks: ChunkStream =
            Box::pin(futures_util::stream::iter(vec![Ok(role_chunk)]).chain(rest.flatten()));
        Ok(StreamStart {
            served_by: name.into(),
            upstream: Duration::ZERO,
            chunks,
        })
    }
}

/// Builds the chunks of one streamed answer (same id and timestamp on each, as OpenAI does).
struct ChunkMaker {
    id: String,
    created: i64,
    model: String,
}

impl ChunkMaker {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>, text: String) -> StreamChunk {
        let data = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        StreamChunk {
            has_role: !data["choices"][0]["delta"]["role"].is_null(),
            data: data.to_string(),
            text,
            finish_reason: finish_reason.map(str::to_string),
            usage: None,
        }
    }
}

fn usage(prompt: u32, completion: u32) -> Usage {
    Usage {
        prompt_tokens: prompt.into(),
        completion_tokens: completion.into(),
        total_tokens: u64::from(prompt) + u64::from(completion),
        ..Usage::default()
    }
}

fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}
