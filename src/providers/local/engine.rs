//! The generation workers: dedicated threads that run the model for queued jobs.
//!
//! A forward pass is tens to hundreds of milliseconds of pure CPU work, so it must never run on the
//! async runtime's threads. Each worker owns its model state (the KV cache lives inside
//! `ModelWeights`) and takes jobs from one bounded queue shared by all workers.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver as JobReceiver;
use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::ModelWeights;
use tokenizers::Tokenizer;
use tokio::sync::mpsc::Sender;

use super::prefix::{self, PrefixCache};
use super::stream::{Advance, DeltaBuffer};
use super::{FinishReason, GenEvent, LocalError};

/// One generation request, tokenized and validated, waiting for a worker.
pub(super) struct Job {
    pub(super) prompt_ids: Vec<u32>,
    pub(super) max_tokens: u32,
    pub(super) sampling: Sampling,
    pub(super) seed: u64,
    pub(super) stop: Vec<String>,
    pub(super) events: Sender<GenEvent>,
}

/// What every worker reads and nothing writes (besides the counter).
pub(super) struct Shared {
    /// Weights as loaded, with an empty KV cache: each job starts from a clone of them.
    pub(super) weights: ModelWeights,
    pub(super) tokenizer: Arc<Tokenizer>,
    /// Token ids that end the assistant's turn (`<|im_end|>`, `<|endoftext|>`, the GGUF's EOS).
    pub(super) end_ids: Vec<u32>,
    /// Tokens sampled by all workers since load; tests read it to prove a cancelled job stopped.
    pub(super) generated: AtomicU64,
    /// `<|im_start|>`, where prompts split for the prefix cache.
    pub(super) im_start: u32,
    /// Model states after the shared beginning of recent prompts.
    pub(super) prefixes: PrefixCache,
    /// Prompt tokens read from a cached prefix instead of computed; tests read it.
    pub(super) prefix_hits: AtomicU64,
}

/// Starts `count` workers taking jobs from `queue`. They exit when every sender is dropped,
/// i.e. when the last `LocalModel` handle goes away.
pub(super) fn spawn_workers(
    count: usize,
    shared: Arc<Shared>,
    queue: JobReceiver<Job>,
) -> Result<(), LocalError> {
    // `std::sync::mpsc::Receiver` cannot be shared; the mutex hands each job to one idle worker.
    let queue = Arc::new(Mutex::new(queue));
    for index in 0..count {
        let shared = Arc::clone(&shared);
        let queue = Arc::clone(&queue);
        std::thread::Builder::new()
            .name(format!("local-llm-{index}"))
            .spawn(move || worker_loop(&shared, &queue))
            .map_err(|e| LocalError::Load(format!("cannot start generation worker: {e}")))?;
    }
    Ok(())
}

fn worker_loop(shared: &Shared, queue: &Mutex<JobReceiver<Job>>) {
    loop {
        // A poisoned lock only means another worker panicked while waiting: the queue is intact.
        let next = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok(job) = next else { return };
        let events = job.events.clone();
        // Defence in depth: a panic inside candle must cost one request, not a worker.
        if catch_unwind(AssertUnwindSafe(|| run_job(shared, job))).is_err() {
            tracing::error!("local generation panicked");
            let _ = events.try_send(GenEvent::Failed("internal error in local model".into()));
        }
    }
}

/// Runs one job to its end, sending exactly one `Done` or `Failed` unless the client left.
fn run_job(shared: &Shared, job: Job) {
    if job.events.is_closed() {
        return; // The client went away while the job was queued.
    }
    let started = std::time::Instant::now();
    match generate(shared, &job) {
        Ok(Some(done)) => {
            if let GenEvent::Done {
                prompt_tokens,
                completion_tokens,
                ..
            } = &done
            {
                tracing::debug!(
                    prompt_tokens,
                    completion_tokens,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "local generation done"
                );
            }
            let _ = job.events.try_send(done);
        }
        Ok(None) => tracing::debug!("local generation cancelled: receiver dropped"),
        Err(e) => {
            tracing::warn!(error = %e, "local generation failed");
            let _ = job.events.try_send(GenEvent::Failed(e.to_string()));
        }
    }
}

/// The decode loop. `Ok(None)` means the receiver was dropped and generation stopped early.
fn generate(shared: &Shared, job: &Job) -> candle_core::Result<Option<GenEvent>> {
    let prompt_tokens = job.prompt_ids.len();
    let done = |finish_reason, completion_tokens: usize| {
        Some(GenEvent::Done {
            finish_reason,
            prompt_tokens: prompt_tokens as u32,
            completion_tokens: completion_tokens as u32,
        })
    };
    if job.max_tokens == 0 {
        return Ok(done(FinishReason::Length, 0));
    }
    let (mut model, mut logits) = read_prompt(shared, &job.prompt_ids)?;
    let mut sampler = LogitsProcessor::from_sampling(job.seed, job.sampling.clone());
    let mut buffer = DeltaBuffer::new(&job.stop);
    let mut completion: Vec<u32> = Vec::with_capacity(job.max_tokens as usize);
    loop {
        let next = sampler.sample(&logits.squeeze(0)?)?;
        completion.push(next);
        shared.generated.fetch_add(1, Ordering::Relaxed);
        // Special tokens are skipped, so the end-of-turn token itself never shows up as text.
        let decoded = shared
            .tokenizer
            .decode(&completion, true)
            .map_err(candle_core::Error::wrap)?;

        let at_end = shared.end_ids.contains(&next);
        let at_limit = completion.len() >= job.max_tokens as usize;
        // At the end nothing more can complete a held-back tail, so all of it is released.
        let advance = if at_end || at_limit {
            buffer.finish(decoded)
        } else {
            buffer.advance(decoded)
        };
        let finish_reason = match (&advance, at_end, at_limit) {
            (Advance::Stop(_), _, _) | (_, true, _) => Some(FinishReason::Stop),
            (_, _, true) => Some(FinishReason::Length),
            _ => None,
        };
        if !send_piece(job, advance) {
            return Ok(None);
        }
        if let Some(reason) = finish_reason {
            return Ok(done(reason, completion.len()));
        }
        // Checked before every forward pass so a client that left stops costing CPU at once.
        if job.events.is_closed() {
            return Ok(None);
        }
        let input = Tensor::new(&[next], &Device::Cpu)?.unsqueeze(0)?;
        logits = model.forward(&input, prompt_tokens + completion.len() - 1)?;
    }
}

/// Reads the prompt: the model state after it and the logits of its last token. A prompt with a
/// shared beginning (see [`super::prefix`]) is read in two steps, the first from the cache when
/// it is there.
fn read_prompt(shared: &Shared, ids: &[u32]) -> candle_core::Result<(ModelWeights, Tensor)> {
    let tensor = |ids: &[u32]| Tensor::new(ids, &Device::Cpu)?.unsqueeze(0);
    let Some(at) = prefix::split(ids, shared.im_start) else {
        // A fresh clone (a few `Arc` bumps) rather than `clear_kv_cache()`: it also drops the
        // attention masks `ModelWeights` caches per prompt length, which would otherwise pile up.
        let mut model = shared.weights.clone();
        let logits = model.forward(&tensor(ids)?, 0)?;
        return Ok((model, logits));
    };
    let (head, tail) = ids.split_at(at);
    let mut model = match shared.prefixes.get(head) {
        Some(state) => {
            shared
                .prefix_hits
                .fetch_add(head.len() as u64, Ordering::Relaxed);
            state
        }
        None => {
            let mut model = shared.weights.clone();
            model.forward(&tensor(head)?, 0)?;
            shared.prefixes.put(head.to_vec(), model.clone());
            model
        }
    };
    let logits = model.forward(&tensor(tail)?, at)?;
    Ok((model, logits))
}

/// Sends the text of `advance` if there is any; false when the receiver is gone.
fn send_piece(job: &Job, advance: Advance) -> bool {
    let (Advance::Continue(piece) | Advance::Stop(piece)) = advance;
    if piece.is_empty() {
        return !job.events.is_closed();
    }
    // The channel holds `max_tokens + 2` events, so it is never full: the worker never waits on a
    // slow reader, and the only error left is a closed receiver.
    job.events.try_send(GenEvent::Delta(piece)).is_ok()
}
