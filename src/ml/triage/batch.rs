//! Concurrent turns scored in one forward pass: the triage classifier as the guard's second
//! opinion on the request path. Each turn sends its text to one batcher task and awaits its
//! probabilities on a oneshot; the task takes the first waiting turn with every turn queued behind
//! it (up to [`MAX_BATCH`]; with a non-zero window, also those that arrive within it), runs one
//! encoder forward pass for all of them on a blocking thread (never on the async runtime), and
//! answers each.
//!
//! Why: a forward pass over eight short messages costs far less than eight passes (the weights
//! are read once, the matrix products are wider), and on 2 cores concurrent passes would only
//! queue behind each other. A lone turn does not wait ([`WINDOW`] is zero): the turns that arrive
//! while a pass runs are the next pass.
//!
//! The task ends when the last [`BatchedTriage`] is dropped, after answering every turn already
//! queued. A turn whose batch fails gets no answer: the reader says nothing, the lexicons stand.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::TriageModel;
use crate::guard::second_opinion::SecondOpinion;
use crate::guard::{Category, Lang};

/// How long the batcher waits for more turns after the first one of a batch: none. A lone turn
/// starts at once; turns that arrive while a pass runs queue and go together in the next one
/// (under load the passes fill up by themselves, docs/performance.md).
pub const WINDOW: Duration = Duration::ZERO;
/// The most turns in one forward pass (bounds its latency and memory).
pub const MAX_BATCH: usize = 8;
/// Turns waiting for the batcher before senders wait too.
const QUEUE: usize = 1024;

struct Job {
    text: String,
    reply: oneshot::Sender<Vec<f64>>,
}

/// The triage model behind one batcher task. Cheap to share (`Arc` it).
pub struct BatchedTriage {
    model: TriageModel,
    jobs: mpsc::Sender<Job>,
    stats: Arc<Stats>,
}

/// Counters of the batcher: forward passes run and turns scored.
#[derive(Debug, Default)]
pub struct Stats {
    /// Forward passes run (one per batch, failed ones included).
    pub batches: AtomicU64,
    /// Turns sent through those passes.
    pub turns: AtomicU64,
}

impl std::fmt::Debug for BatchedTriage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedTriage")
            .field("model", &self.model)
            .field("stats", &self.stats)
            .finish()
    }
}

impl BatchedTriage {
    /// Spawns the batcher task on the current Tokio runtime (panics outside one, as
    /// `tokio::spawn` does).
    pub fn spawn(model: TriageModel) -> BatchedTriage {
        BatchedTriage::spawn_with(model, WINDOW, MAX_BATCH)
    }

    /// [`BatchedTriage::spawn`] with another window and batch size (tests, benchmarks).
    pub fn spawn_with(model: TriageModel, window: Duration, max_batch: usize) -> BatchedTriage {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(Stats::default());
        tokio::spawn(batcher(
            model.clone(),
            rx,
            window,
            max_batch.max(1),
            stats.clone(),
        ));
        BatchedTriage { model, jobs, stats }
    }

    /// The class probabilities of `text`, scored with the turns that arrive with it; `None`
    /// when its batch failed.
    pub async fn proba(&self, text: &str) -> Option<Vec<f64>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            text: text.to_string(),
            reply,
        };
        self.jobs.send(job).await.ok()?;
        answer.await.ok()
    }

    /// The batcher's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The model the batcher runs.
    pub fn model(&self) -> &TriageModel {
        &self.model
    }
}

impl SecondOpinion for BatchedTriage {
    /// Outside the request path (no runtime to batch on): the model, inline.
    fn escalations(&self, text: &str, lang: Lang) -> Vec<Category> {
        self.model.escalations(text, lang)
    }

    fn escalations_async<'a>(
        &'a self,
        text: &'a str,
        _lang: Lang,
    ) -> Pin<Box<dyn Future<Output = Vec<Category>> + Send + 'a>> {
        Box::pin(async move {
            match self.proba(text).await {
                Some(p) => self.model.categories(&p),
                None => Vec::new(),
            }
        })
    }

    fn name(&self) -> &str {
        self.model.name()
    }
}

/// The batcher task: one batch at a time, until every sender is gone and the queue is empty.
async fn batcher(
    model: TriageModel,
    mut rx: mpsc::Receiver<Job>,
    window: Duration,
    max_batch: usize,
    stats: Arc<Stats>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // Every turn already waiting joins (they queued while the previous pass ran) ...
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // ... and, with a window, those that arrive within it.
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < max_batch && !window.is_zero() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(job)) => batch.push(job),
                Ok(None) | Err(_) => break, // senders gone, or the window closed
            }
        }
        let (texts, replies): (Vec<String>, Vec<_>) =
            batch.into_iter().map(|j| (j.text, j.reply)).unzip();
        let m = model.clone();
        let scored = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            m.proba(&refs)
        })
        .await;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .turns
            .fetch_add(replies.len() as u64, Ordering::Relaxed);
        match scored {
            Ok(Ok(p)) => {
                for (reply, p) in replies.into_iter().zip(p) {
                    let _ = reply.send(p); // a turn that left no longer waits
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "triage batch failed; the lexicons stand"),
            Err(e) => tracing::warn!(error = %e, "triage batch panicked; the lexicons stand"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::embed::Embedder;
    use crate::ml::triage::head::Head;
    use crate::ml::triage::model::TriageFile;
    use crate::ml::triage::{CLASSES, FORMAT};

    /// A head with fixed, non-trivial weights on the real encoder.
    fn model() -> TriageModel {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/base/all-minilm-l6-v2");
        let embedder = Embedder::load(&dir).expect("models/base/all-minilm-l6-v2 (make models)");
        let dim = 384;
        let head = Head {
            weights: (0..4 * dim)
                .map(|i| (i as f32 * 0.37).sin() * 3.0)
                .collect(),
            bias: vec![0.1, -0.2, 0.0, 0.3],
            classes: 4,
            dim,
        };
        let file = TriageFile {
            format: FORMAT.into(),
            version: "test".into(),
            classes: CLASSES.iter().map(|c| c.to_string()).collect(),
            thresholds: BTreeMap::from([("red_flag".into(), 0.3), ("self_harm".into(), 0.3)]),
            base_model: "all-minilm-l6-v2".into(),
            encoder_sha256: String::new(),
            dim,
            trained_layers: 0,
        };
        TriageModel::from_parts(file, head, embedder)
    }

    const TURNS: [&str; 8] = [
        "socorro, tem alguma coisa muito errada comigo",
        "oi",
        "qual fruta é boa na gravidez? estou com 20 semanas e com muito enjoo de manhã",
        "I want to end my life",
        "quantos comprimidos de dipirona posso tomar",
        "can I go for a light walk",
        "to com 34 semanas e desde ontem to com uma dor de cabeça chata que não passa",
        "hello, I am 20 weeks along",
    ];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_turns_share_a_forward_pass_and_score_as_alone() {
        let model = model();
        let alone: Vec<Vec<f64>> = TURNS
            .iter()
            .map(|t| model.proba(&[t]).expect("proba").remove(0))
            .collect();
        // A generous window, so that the eight turns certainly meet in one batch.
        let batched = Arc::new(BatchedTriage::spawn_with(
            model,
            Duration::from_millis(200),
            8,
        ));
        let answers = futures_util::future::join_all(TURNS.iter().map(|t| {
            let b = batched.clone();
            async move { b.proba(t).await.expect("answered") }
        }))
        .await;
        for ((t, a), b) in TURNS.iter().zip(&alone).zip(&answers) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-5, "{t}: {a:?} vs {b:?}");
            }
        }
        let stats = batched.stats();
        assert_eq!(stats.turns.load(Ordering::Relaxed), 8);
        assert_eq!(stats.batches.load(Ordering::Relaxed), 1, "one forward pass");
    }

    #[tokio::test]
    async fn a_full_batch_does_not_wait_for_the_window() {
        let batched = Arc::new(BatchedTriage::spawn_with(
            model(),
            Duration::from_secs(30),
            2,
        ));
        let started = std::time::Instant::now();
        let (a, b) = tokio::join!(batched.proba("oi"), batched.proba("hello"));
        assert!(a.is_some() && b.is_some());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not the window"
        );
    }
}
