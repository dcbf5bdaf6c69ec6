//! The in-process chat model: a small GGUF model (SmolLM2) run on the CPU with candle, so the
//! gateway can answer, count tokens and score text without any upstream provider.
//!
//! This module owns loading the GGUF (weights, tokenizer and chat template from one file), the
//! bounded job queue in front of the generation threads, and the streaming of generated text.
//! Requests are tokenized and checked on the caller's thread so an over-long prompt or a full
//! queue is refused at once; the heavy work runs on dedicated threads (see [`engine`]).

mod chat;
mod engine;
mod kv;
mod linear;
mod llama;
mod perplexity;
mod prefix;
mod stream;
mod tokenizer;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, mpsc};

use candle_core::quantized::gguf_file;
use candle_transformers::generation::Sampling;
use tokio::sync::mpsc::{Receiver, channel};

use chat::ChatMl;
use engine::{Job, Shared};
use llama::{MAX_SEQ_LEN, Model};
use prefix::PrefixCache;

/// A loaded local model: cheap to clone, shared by every request handler.
///
/// Dropping the last clone closes the queue, and the worker threads exit once their current job
/// ends.
#[derive(Clone)]
pub struct LocalModel {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Encodes message text with special-token markers read as plain text (see `chat`).
    plain: tokenizers::Tokenizer,
    chat: ChatMl,
    options: LocalOptions,
    queue: SyncSender<Job>,
}

/// How the local model is run; validated by [`LocalModel::load`].
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Generation threads. One worker already uses every core: each weight product is spread
    /// over a process-wide pool that serialises concurrent callers, so more workers interleave
    /// batches without adding throughput.
    pub workers: usize,
    /// Sequences one worker decodes together, one forward pass per step for all of them (each
    /// weight is read once per step, however many requests are in flight). 1 decodes one
    /// request at a time.
    pub batch: usize,
    /// Jobs that may wait for a worker; past it `generate` answers `QueueFull` instead of
    /// letting latency grow without bound. 0 accepts a job only when a worker is idle.
    pub queue: usize,
    /// Completion length when a request sets no `max_tokens`.
    pub default_max_tokens: u32,
    /// Prompt plus completion tokens one request may use (the KV cache's length).
    pub context_tokens: usize,
    /// Model states kept after the shared beginning of recent prompts (system prompt, examples,
    /// history), so a long versioned prompt is read once; ~32 MB each for a 700-token prefix.
    pub prefix_cache: usize,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            batch: 4,
            queue: 8,
            default_max_tokens: 256,
            context_tokens: 2048,
            prefix_cache: 4,
        }
    }
}

/// One message of the conversation, in OpenAI's shape.
#[derive(Debug, Clone)]
pub struct ChatTurn {
    /// `system`, `user`, `assistant` or `tool`, written into the ChatML frame as given.
    pub role: String,
    /// The message text; chat markers typed in it are kept as plain text.
    pub content: String,
}

/// A chat completion request for the local model.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// The conversation; SmolLM2's default system prompt is added when it has none first.
    pub messages: Vec<ChatTurn>,
    /// Completion token limit; `None` takes [`LocalOptions::default_max_tokens`].
    pub max_tokens: Option<u32>,
    /// 0 decodes greedily (deterministic); above 0 samples. Must be finite and not negative.
    pub temperature: f64,
    /// Nucleus sampling mass in `[0, 1]`; `None` or 1 samples from the whole distribution.
    pub top_p: Option<f64>,
    /// Seeds sampling so a request can be replayed; `None` draws a random seed.
    pub seed: Option<u64>,
    /// Generation stops before the first of these strings, which is not part of the output.
    pub stop: Vec<String>,
}

/// What a generation sends back, in order: `Delta`s, then exactly one `Done` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum GenEvent {
    /// The next piece of the answer; always whole UTF-8 characters.
    Delta(String),
    /// The answer is complete.
    Done {
        /// Why generation ended.
        finish_reason: FinishReason,
        /// Tokens of the rendered chat prompt.
        prompt_tokens: u32,
        /// Tokens the model sampled, counting the end-of-turn token when it ended the answer.
        completion_tokens: u32,
    },
    /// Generation could not run or broke off; the text says why.
    Failed(String),
}

/// Why a generation ended, with OpenAI's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its turn or a stop string appeared.
    Stop,
    /// `max_tokens` was reached.
    Length,
}

impl FinishReason {
    /// The `finish_reason` string of OpenAI's chat completion API.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// Why the local model refused a request or could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Every worker is busy and the queue is full; the HTTP layer answers 503 so clients retry.
    #[error("the local model is busy: its request queue is full")]
    QueueFull,
    /// The prompt leaves no room for the requested completion in the context window.
    #[error("the prompt has {tokens} tokens but only {limit} fit beside max_tokens in the context")]
    PromptTooLong {
        /// Tokens of the rendered chat prompt.
        tokens: usize,
        /// `context_tokens - max_tokens`.
        limit: usize,
    },
    /// The model file is missing, unreadable or not a supported ChatML llama model.
    #[error("cannot load the local model: {0}")]
    Load(String),
    /// [`LocalModel::perplexity`] could not score the text (empty, too long, or the forward
    /// pass failed); the text says why.
    #[error("cannot score the text with the local model: {0}")]
    Scoring(String),
}

impl LocalModel {
    /// Reads the GGUF once (weights, tokenizer, chat template), then starts the workers.
    ///
    /// Slow (hundreds of milliseconds): call it at start-up, never on the request path.
    pub fn load(path: &Path, opts: LocalOptions) -> Result<LocalModel, LocalError> {
        let file = File::open(path)
            .map_err(|e| LocalError::Load(format!("cannot open {}: {e}", path.display())))?;
        let mut reader = BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| LocalError::Load(format!("{} is not GGUF: {e}", path.display())))?;

        let full = tokenizer::from_gguf(&content.metadata)?;
        let template = tokenizer::string(&content.metadata, "tokenizer.chat_template")?;
        let chat = ChatMl::from_template(template, &full)?;
        let trained_context = content
            .metadata
            .get("llama.context_length")
            .and_then(|v| v.to_u32().ok())
            .map_or(MAX_SEQ_LEN, |n| n as usize);
        validate(&opts, trained_context.min(MAX_SEQ_LEN))?;

        // The turn ends at `<|im_end|>`; `<|endoftext|>` and the GGUF's EOS also end it, since a
        // small model sometimes emits them instead.
        let mut end_ids = vec![chat.im_end()];
        end_ids.extend(full.token_to_id("<|endoftext|>"));
        end_ids.extend(
            content
                .metadata
                .get("tokenizer.ggml.eos_token_id")
                .and_then(|v| v.to_u32().ok()),
        );
        end_ids.sort_unstable();
        end_ids.dedup();

        let weights = Model::from_gguf(content, &mut reader)
            .map_err(|e| LocalError::Load(format!("cannot read weights: {e}")))?;
        let plain = tokenizer::plain_text(&full);
        let shared = Arc::new(Shared {
            weights,
            tokenizer: Arc::new(full),
            end_ids,
            generated: AtomicU64::new(0),
            im_start: chat.im_start(),
            prefixes: PrefixCache::new(opts.prefix_cache),
            prefix_hits: AtomicU64::new(0),
            batch: opts.batch,
            batched_steps: AtomicU64::new(0),
        });
        let (queue, jobs) = mpsc::sync_channel(opts.queue);
        engine::spawn_workers(opts.workers, Arc::clone(&shared), jobs)?;
        Ok(LocalModel {
            inner: Arc::new(Inner {
                shared,
                plain,
                chat,
                options: opts,
                queue,
            }),
        })
    }

    /// The model's tokenizer, special tokens included (`<|im_start|>` encodes to one id).
    pub fn tokenizer(&self) -> &tokenizers::Tokenizer {
        &self.inner.shared.tokenizer
    }

    /// Tokens `text` takes as message content: chat markers in it count as plain text, the way
    /// the prompt builder feeds them to the model.
    pub fn count_tokens(&self, text: &str) -> usize {
        match self.inner.plain.encode(text, false) {
            Ok(encoding) => encoding.len(),
            Err(e) => {
                // Cannot happen with byte-level BPE; the byte count is a safe upper bound.
                tracing::warn!(error = %e, "cannot tokenize text; counting bytes instead");
                text.len()
            }
        }
    }

    /// The token ids of `messages` rendered as the chat prompt the model reads (what
    /// `GenEvent::Done::prompt_tokens` counts); the benchmark hands them to llama.cpp.
    pub fn prompt_ids(&self, messages: &[ChatTurn]) -> Result<Vec<u32>, LocalError> {
        let inner = &*self.inner;
        inner
            .chat
            .prompt_ids(&inner.plain, messages)
            .map_err(|e| LocalError::Scoring(format!("cannot tokenize the prompt: {e}")))
    }

    /// Enqueue without blocking: QueueFull when the bounded queue is full (the HTTP layer answers 503).
    ///
    /// The prompt is rendered and measured here, so `PromptTooLong` is also immediate. Invalid
    /// sampling parameters come back as a single [`GenEvent::Failed`] on the receiver. Dropping
    /// the receiver cancels the generation.
    pub fn generate(&self, req: GenerateRequest) -> Result<Receiver<GenEvent>, LocalError> {
        let inner = &*self.inner;
        let max_tokens = req.max_tokens.unwrap_or(inner.options.default_max_tokens);
        let sampling = match sampling(req.temperature, req.top_p) {
            Ok(sampling) => sampling,
            Err(message) => return Ok(failed(message)),
        };
        let prompt_ids = match inner.chat.prompt_ids(&inner.plain, &req.messages) {
            Ok(ids) => ids,
            Err(e) => return Ok(failed(format!("cannot tokenize the prompt: {e}"))),
        };
        let limit = inner
            .options
            .context_tokens
            .saturating_sub(max_tokens as usize);
        if prompt_ids.len() > limit {
            return Err(LocalError::PromptTooLong {
                tokens: prompt_ids.len(),
                limit,
            });
        }

        // Room for one event per token plus the last one, so a worker never waits on a reader.
        let (events, receiver) = channel(max_tokens as usize + 2);
        let job = Job {
            prompt_ids,
            max_tokens,
            sampling,
            seed: req.seed.unwrap_or_else(rand::random),
            stop: req.stop,
            events,
        };
        match inner.queue.try_send(job) {
            Ok(()) => Ok(receiver),
            Err(TrySendError::Full(_)) => Err(LocalError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Ok(failed("the local model has stopped".into())),
        }
    }
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

fn validate(opts: &LocalOptions, max_context: usize) -> Result<(), LocalError> {
    let invalid = |message: String| Err(LocalError::Load(message));
    if opts.batch == 0 {
        return invalid("batch must be at least 1".into());
    }
    if opts.workers == 0 {
        return invalid("workers must be at least 1".into());
    }
    if opts.context_tokens > max_context {
        return invalid(format!(
            "context_tokens {} exceeds the model's {max_context}",
            opts.context_tokens
        ));
    }
    if opts.default_max_tokens == 0 || opts.default_max_tokens as usize >= opts.context_tokens {
        return invalid(format!(
            "default_max_tokens {} must be between 1 and context_tokens {}",
            opts.default_max_tokens, opts.context_tokens
        ));
    }
    Ok(())
}

/// Maps OpenAI's sampling parameters onto candle's: temperature 0 (or `top_p` 0, a nucleus of
/// one token) is greedy argmax, so it is exactly reproducible.
fn sampling(temperature: f64, top_p: Option<f64>) -> Result<Sampling, String> {
    if !temperature.is_finite() || temperature < 0.0 {
        return Err(format!(
            "temperature must be a finite number >= 0, got {temperature}"
        ));
    }
    if let Some(p) = top_p
        && !(0.0..=1.0).contains(&p)
    {
        return Err(format!("top_p must be between 0 and 1, got {p}"));
    }
    Ok(match top_p {
        _ if temperature == 0.0 => Sampling::ArgMax,
        Some(0.0) => Sampling::ArgMax,
        Some(p) if p < 1.0 => Sampling::TopP { p, temperature },
        _ => Sampling::All { temperature },
    })
}

/// A receiver that yields one `Failed` and ends: how request errors found before queuing reach
/// the client through the same path as errors found while generating.
fn failed(message: String) -> Receiver<GenEvent> {
    let (events, receiver) = channel(1);
    let _ = events.try_send(GenEvent::Failed(message));
    receiver
}
