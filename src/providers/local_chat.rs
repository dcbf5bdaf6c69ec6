//! The local model speaking OpenAI: chat requests become generation jobs for
//! [`super::local::LocalModel`], and its tokens come back as `chat.completion` bodies or
//! `chat.completion.chunk` streams, exactly as an OpenAI upstream would send them.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::local::{ChatTurn, GenEvent, GenerateRequest, LocalError, LocalModel, LocalOptions};
use super::settings::LocalSettings;
use super::{ChunkStream, Completion, ProviderError, StreamChunk, StreamStart};
use crate::wire::{Author, ChatRequest, Delta, Head, Role, Usage, completion_id};

/// Local models already loaded, by file and settings: [`super::Providers::build`] takes a model
/// from here instead of reading its GGUF again. A server builds its providers once and passes an
/// empty one; the test suite passes one shared value to every app it starts, so the model is
/// loaded once per test run (loading it is the slow part of starting an app). Nothing global:
/// whoever builds providers owns the value.
#[derive(Clone, Default)]
pub struct LocalModels {
    loaded: std::sync::Arc<std::sync::Mutex<Vec<(LocalSettings, LocalModel)>>>,
}

impl LocalModels {
    /// The model for `s`, loaded now (slow: call from a blocking thread) unless already here.
    fn get_or_load(&self, s: &LocalSettings) -> Result<LocalModel, String> {
        // Held while loading, so two apps starting at once load the file once.
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, model)) = loaded.iter().find(|(settings, _)| settings == s) {
            return Ok(model.clone());
        }
        let opts = LocalOptions {
            workers: s.workers,
            batch: s.batch,
            queue: s.queue,
            default_max_tokens: s.max_tokens,
            context_tokens: s.context_tokens,
            ..LocalOptions::default()
        };
        let model =
            LocalModel::load(&s.path, opts).map_err(|e| format!("{}: {e}", s.path.display()))?;
        loaded.push((s.clone(), model.clone()));
        Ok(model)
    }
}

/// A configured local model.
pub struct LocalProvider {
    model: LocalModel,
}

impl LocalProvider {
    /// Loads the GGUF (slow: call from a blocking thread), or takes the model `loaded` already
    /// holds for the same file and settings.
    pub fn load(s: &LocalSettings, loaded: &LocalModels) -> Result<LocalProvider, String> {
        if !s.path.exists() {
            return Err(format!(
                "the local model file {} does not exist; run `make models` to fetch it",
                s.path.display()
            ));
        }
        Ok(LocalProvider {
            model: loaded.get_or_load(s)?,
        })
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
                    let usage = Usage::of(prompt_tokens.into(), completion_tokens.into());
                    let head = Head::new(completion_id(), crate::core::now_ms() / 1000, name);
                    let body =
                        head.completion(Author::Model, &text, finish_reason.as_str(), &usage);
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
        let head = Head::new(completion_id(), crate::core::now_ms() / 1000, name);
        let role_chunk = model_chunk(&head, Delta::First(""), None, String::new());
        let rest = futures_util::stream::unfold(
            Generation {
                rx,
                pending: first,
                head,
                done: false,
            },
            |mut g| async move {
                if g.done {
                    return None;
                }
                let items = g.next_items().await;
                Some((futures_util::stream::iter(items), g))
            },
        );
        let chunks: ChunkStream =
            Box::pin(futures_util::stream::iter(vec![Ok(role_chunk)]).chain(rest.flatten()));
        Ok(StreamStart {
            served_by: name.into(),
            upstream: Duration::ZERO,
            chunks,
        })
    }
}

/// A streamed generation on its way out as chunks.
struct Generation {
    rx: mpsc::Receiver<GenEvent>,
    /// The first event, read before the stream started (to fall back on an early failure).
    pending: Option<GenEvent>,
    head: Head,
    done: bool,
}

impl Generation {
    /// The chunks the next event makes: text, or the finish and usage chunks, or an error
    /// (after which the stream ends).
    async fn next_items(&mut self) -> Vec<Result<StreamChunk, ProviderError>> {
        let event = match self.pending.take() {
            Some(e) => Some(e),
            None => self.rx.recv().await,
        };
        let failed = |message: String| ProviderError::Protocol {
            model: self.head.model.clone(),
            message,
        };
        match event {
            Some(GenEvent::Delta(t)) => {
                vec![Ok(model_chunk(
                    &self.head,
                    Delta::Text(&t),
                    None,
                    t.clone(),
                ))]
            }
            Some(GenEvent::Done {
                finish_reason,
                prompt_tokens,
                completion_tokens,
            }) => {
                self.done = true;
                let last = model_chunk(
                    &self.head,
                    Delta::Empty,
                    Some(finish_reason.as_str()),
                    String::new(),
                );
                let u = Usage::of(prompt_tokens.into(), completion_tokens.into());
                let usage_chunk = StreamChunk {
                    data: self.head.choiceless_chunk(Some(&u)).to_string(),
                    text: String::new(),
                    finish_reason: None,
                    has_role: false,
                    usage: Some(u),
                };
                vec![Ok(last), Ok(usage_chunk)]
            }
            Some(GenEvent::Failed(message)) => {
                self.done = true;
                vec![Err(failed(message))]
            }
            None => {
                self.done = true;
                vec![Err(failed("generation stopped".into()))]
            }
        }
    }
}

/// One chunk of the model's answer.
fn model_chunk(
    head: &Head,
    delta: Delta<'_>,
    finish_reason: Option<&str>,
    text: String,
) -> StreamChunk {
    StreamChunk {
        has_role: matches!(delta, Delta::First(_)),
        data: head.chunk(Author::Model, delta, finish_reason).to_string(),
        text,
        finish_reason: finish_reason.map(str::to_string),
        usage: None,
    }
}
