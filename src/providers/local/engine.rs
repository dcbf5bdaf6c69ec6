//! The generation workers: dedicated threads that run the model for queued jobs.
//!
//! A forward pass is milliseconds to seconds of pure CPU work, so it must never run on the async
//! runtime's threads. Each worker decodes up to `batch` sequences *together*: one forward pass per
//! step reads every weight once for all of them ([`Model::decode_batch`]), which is where the
//! throughput of concurrent requests comes from (decoding is bound by reading the weights, and
//! candle's pool already spreads each product over every core). A newly admitted job's prompt is
//! read between two steps, then it joins the batch. Batched and one-at-a-time decoding give the
//! same logits bit for bit (`tests::speed`), so a request's answer does not depend on what else
//! was running.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver as JobReceiver, TryRecvError};
use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use tokenizers::Tokenizer;
use tokio::sync::mpsc::Sender;

use super::llama::Model;
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

/// What every worker reads and nothing writes (besides the counters and the prefix cache).
pub(super) struct Shared {
    /// Weights as loaded, with an empty KV cache: each job starts from a clone of them.
    pub(super) weights: Model,
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
    /// Sequences one worker decodes together (at least 1).
    pub(super) batch: usize,
    /// Decode steps that ran more than one sequence in one pass; tests read it.
    pub(super) batched_steps: AtomicU64,
}

/// Starts `count` workers taking jobs from `queue`. They exit when every sender is dropped,
/// i.e. when the last `LocalModel` handle goes away, and their sequences are done.
pub(super) fn spawn_workers(
    count: usize,
    shared: Arc<Shared>,
    queue: JobReceiver<Job>,
) -> Result<(), LocalError> {
    // `std::sync::mpsc::Receiver` cannot be shared; the mutex hands each job to one worker.
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

/// A job being decoded.
struct Sequence {
    job: Job,
    model: Model,
    sampler: LogitsProcessor,
    buffer: DeltaBuffer,
    completion: Vec<u32>,
    /// The last sampled token: the input of this sequence's next step.
    next: u32,
}

fn worker_loop(shared: &Shared, queue: &Mutex<JobReceiver<Job>>) {
    let mut active: Vec<Sequence> = Vec::with_capacity(shared.batch);
    loop {
        while active.len() < shared.batch {
            // A poisoned lock only means another worker panicked while waiting: the queue is
            // intact. An idle worker waits for work; a busy one only looks.
            let queue = queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let next = if active.is_empty() {
                queue.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                queue.try_recv()
            };
            drop(queue);
            match next {
                Ok(job) => active.extend(guarded(&job.events.clone(), || start(shared, job))),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) if active.is_empty() => return,
                Err(TryRecvError::Disconnected) => break,
            }
        }
        let stepped = catch_unwind(AssertUnwindSafe(|| step(shared, &mut active)));
        if stepped.is_err() {
            // Defence in depth: a panic inside candle must cost the requests of this batch, not
            // the worker. Sequences that already ended left `active` (a panicking `retain_mut`
            // keeps the rest), so none gets `Failed` after its `Done`.
            tracing::error!("local generation panicked");
            for seq in &active {
                let _ = seq
                    .job
                    .events
                    .try_send(GenEvent::Failed("internal error in local model".into()));
            }
            active.clear();
        }
    }
}

/// Runs `f`, turning a panic into a `Failed` event for its job.
fn guarded(events: &Sender<GenEvent>, f: impl FnOnce() -> Option<Sequence>) -> Option<Sequence> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!("local generation panicked");
        let _ = events.try_send(GenEvent::Failed("internal error in local model".into()));
        None
    })
}

/// Reads a job's prompt and samples its first token; `None` when the job is already over
/// (client gone, `max_tokens` 0, a one-token answer, or an error, each reported).
fn start(shared: &Shared, job: Job) -> Option<Sequence> {
    if job.events.is_closed() {
        return None; // The client went away while the job was queued.
    }
    if job.max_tokens == 0 {
        let _ = job.events.try_send(done(&job, FinishReason::Length, 0));
        return None;
    }
    let (model, logits) = match read_prompt(shared, &job.prompt_ids) {
        Ok(read) => read,
        Err(e) => return fail(&job, &e),
    };
    let mut seq = Sequence {
        sampler: LogitsProcessor::from_sampling(job.seed, job.sampling.clone()),
        buffer: DeltaBuffer::new(&job.stop),
        completion: Vec::with_capacity(job.max_tokens as usize),
        next: 0,
        model,
        job,
    };
    match advance(shared, &mut seq, &logits) {
        Ok(true) => Some(seq),
        Ok(false) => None,
        Err(e) => fail(&seq.job, &e),
    }
}

/// One decode step for every active sequence; finished and abandoned ones leave the batch.
fn step(shared: &Shared, active: &mut Vec<Sequence>) {
    if active.is_empty() {
        return;
    }
    let logits = if let [seq] = active.as_mut_slice() {
        let at = seq.job.prompt_ids.len() + seq.completion.len() - 1;
        Tensor::new(&[seq.next], &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .and_then(|input| seq.model.forward(&input, at))
            .map(|l| vec![l])
    } else {
        shared.batched_steps.fetch_add(1, Ordering::Relaxed);
        let tokens: Vec<u32> = active.iter().map(|s| s.next).collect();
        let mut models: Vec<&mut Model> = active.iter_mut().map(|s| &mut s.model).collect();
        Model::decode_batch(&mut models, &tokens)
    };
    let logits = match logits {
        Ok(logits) => logits,
        Err(e) => {
            for seq in active.drain(..) {
                fail(&seq.job, &e);
            }
            return;
        }
    };
    let mut index = 0;
    active.retain_mut(|seq| {
        let keep = match advance(shared, seq, &logits[index]) {
            Ok(keep) => keep,
            Err(e) => fail(&seq.job, &e).is_some(),
        };
        index += 1;
        keep
    });
}

/// Samples the next token from `logits` and sends what it settles. True while the sequence goes
/// on; false once it ended (its `Done` sent) or its client left.
fn advance(shared: &Shared, seq: &mut Sequence, logits: &Tensor) -> candle_core::Result<bool> {
    let next = seq.sampler.sample(&logits.squeeze(0)?)?;
    seq.completion.push(next);
    shared.generated.fetch_add(1, Ordering::Relaxed);
    // Special tokens are skipped, so the end-of-turn token itself never shows up as text.
    let decoded = shared
        .tokenizer
        .decode(&seq.completion, true)
        .map_err(candle_core::Error::wrap)?;
    let at_end = shared.end_ids.contains(&next);
    let at_limit = seq.completion.len() >= seq.job.max_tokens as usize;
    // At the end nothing more can complete a held-back tail, so all of it is released.
    let piece = if at_end || at_limit {
        seq.buffer.finish(decoded)
    } else {
        seq.buffer.advance(decoded)
    };
    let finish_reason = match (&piece, at_end, at_limit) {
        (Advance::Stop(_), _, _) | (_, true, _) => Some(FinishReason::Stop),
        (_, _, true) => Some(FinishReason::Length),
        _ => None,
    };
    if !send_piece(&seq.job, piece) {
        tracing::debug!("local generation cancelled: receiver dropped");
        return Ok(false);
    }
    if let Some(reason) = finish_reason {
        tracing::debug!(
            prompt_tokens = seq.job.prompt_ids.len(),
            completion_tokens = seq.completion.len(),
            "local generation done"
        );
        let _ = seq
            .job
            .events
            .try_send(done(&seq.job, reason, seq.completion.len()));
        return Ok(false);
    }
    seq.next = next;
    // Checked before every forward pass so a client that left stops costing CPU at once.
    Ok(!seq.job.events.is_closed())
}

fn done(job: &Job, finish_reason: FinishReason, completion_tokens: usize) -> GenEvent {
    GenEvent::Done {
        finish_reason,
        prompt_tokens: job.prompt_ids.len() as u32,
        completion_tokens: completion_tokens as u32,
    }
}

fn fail(job: &Job, e: &candle_core::Error) -> Option<Sequence> {
    tracing::warn!(error = %e, "local generation failed");
    let _ = job.events.try_send(GenEvent::Failed(e.to_string()));
    None
}

/// Reads the prompt: the model state after it and the logits of its last token. A prompt with a
/// shared beginning (see [`super::prefix`]) is read in two steps, the first from the cache when
/// it is there.
fn read_prompt(shared: &Shared, ids: &[u32]) -> candle_core::Result<(Model, Tensor)> {
    let tensor = |ids: &[u32]| Tensor::new(ids, &Device::Cpu)?.unsqueeze(0);
    let Some(at) = prefix::split(ids, shared.im_start) else {
        // A fresh clone (a few `Arc` bumps) rather than clearing a cache: it also drops the
        // attention masks a model caches per prompt length, which would otherwise pile up.
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

/// Sends the text of `piece` if there is any; false when the receiver is gone.
fn send_piece(job: &Job, piece: Advance) -> bool {
    let (Advance::Continue(piece) | Advance::Stop(piece)) = piece;
    if piece.is_empty() {
        return !job.events.is_closed();
    }
    // The channel holds `max_tokens + 2` events, so it is never full: the worker never waits on a
    // slow reader, and the only error left is a closed receiver.
    job.events.try_send(GenEvent::Delta(piece)).is_ok()
}
