//! Upstream answers that attack the output guard and the gateway's parsing: several choices,
//! text in every field a client reads, malformed JSON, long plain streams, doses split at chosen
//! boundaries. The mock upstream serves them by upstream model name (see [`reply`]).

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A dose the output guard must never let through.
pub const DOSE: &str = "Pode tomar 500 mg de dipirona de 6 em 6 horas.";

/// A dose whose anchor ("Tome") sits behind forty separators the checker does not count (more
/// than twice the 16 whitespace words a window of words would keep).
pub const DASHES: &str =
    "Tome - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - 500 mg.";

/// A plain answer without numbers, units or medicines, in 25 words.
pub const PLAIN: &str = "Descanse, beba água ao longo do dia, coma frutas e verduras, caminhe quando \
    puder e converse com sua equipe de saúde sobre o que sentir.";

/// The scripted answer for `model`, if it names one:
/// - `two-choices`: choice 0 plain, choice 1 a dose (streamed interleaved, word by word);
/// - `fields`: plain content, a dose in `refusal`, `reasoning_content` and a tool call's
///   arguments;
/// - `bad-message`: a choice whose `message` (streamed: `delta`) is a string;
/// - `plain-25`: [`PLAIN`], streamed in 25 chunks;
/// - `dashes`: [`DASHES`], streamed word by word;
/// - `split-<seed>`: [`DOSE`] streamed in chunks cut at pseudo-random places.
pub fn reply(model: &str, body: &Value) -> Option<Response> {
    let stream = body["stream"] == true;
    let chunks: Vec<Value> = match model {
        "two-choices" if !stream => {
            return Some(completion(json!([
                {"index": 0, "message": {"role": "assistant", "content": "Descanse."}, "finish_reason": "stop"},
                {"index": 1, "message": {"role": "assistant", "content": DOSE}, "finish_reason": "stop"},
            ])));
        }
        "two-choices" => interleaved(&["Descanse e beba água.", DOSE]),
        "fields" if !stream => {
            return Some(completion(
                json!([{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": "Descanse.", "refusal": DOSE,
                    "reasoning_content": DOSE,
                    "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "note", "arguments": json!({"text": DOSE}).to_string()}}]
                }}]),
            ));
        }
        "fields" => vec![
            delta(0, json!({"role": "assistant", "content": "Descanse."})),
            delta(0, json!({"refusal": DOSE})),
            delta(0, json!({"reasoning_content": DOSE})),
            delta(
                0,
                json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "note", "arguments": json!({"text": DOSE}).to_string()}}]}),
            ),
            finish(0),
        ],
        "bad-message" if !stream => {
            return Some(completion(
                json!([{"index": 0, "message": "oops", "finish_reason": "stop"}]),
            ));
        }
        "bad-message" => vec![
            delta(0, json!({"role": "assistant", "content": "Descanse"})),
            json!({"choices": [{"index": 0, "delta": "oops", "finish_reason": "stop"}]}),
        ],
        "dashes" => {
            let mut c = vec![delta(0, json!({"role": "assistant", "content": ""}))];
            c.extend(
                DASHES
                    .split_inclusive(' ')
                    .map(|w| delta(0, json!({"content": w}))),
            );
            c.push(finish(0));
            c
        }
        "plain-25" => {
            let mut c = vec![delta(0, json!({"role": "assistant", "content": ""}))];
            c.extend(
                PLAIN
                    .split_inclusive(' ')
                    .map(|w| delta(0, json!({"content": w}))),
            );
            c.push(finish(0));
            c
        }
        _ => match model
            .strip_prefix("split-")
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(seed) => split(DOSE, seed),
            None => return None,
        },
    };
    Some(sse(&chunks))
}

fn completion(choices: Value) -> Response {
    axum::Json(json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 1, "model": "m",
        "choices": choices,
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    }))
    .into_response()
}

fn chunk(choices: Value) -> Value {
    json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1,
           "model": "m", "choices": choices})
}

fn delta(index: u64, delta: Value) -> Value {
    chunk(json!([{"index": index, "delta": delta, "finish_reason": null}]))
}

fn finish(index: u64) -> Value {
    chunk(json!([{"index": index, "delta": {}, "finish_reason": "stop"}]))
}

/// Several answers streamed word by word, one choice after the other in turn.
fn interleaved(answers: &[&str]) -> Vec<Value> {
    let words: Vec<Vec<&str>> = answers
        .iter()
        .map(|a| a.split_inclusive(' ').collect())
        .collect();
    let longest = words.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..longest {
        for (index, w) in words.iter().enumerate() {
            if let Some(word) = w.get(i) {
                out.push(delta(index as u64, json!({"content": word})));
            }
        }
    }
    out.extend((0..answers.len()).map(|i| finish(i as u64)));
    out
}

/// `text` cut at pseudo-random character boundaries chosen by `seed` (a small LCG: the same
/// seed, the same cuts).
fn split(text: &str, seed: u64) -> Vec<Value> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = vec![delta(0, json!({"role": "assistant", "content": ""}))];
    let mut at = 0;
    while at < text.len() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut end = (at + 1 + (state >> 33) as usize % 6).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(delta(0, json!({"content": &text[at..end]})));
        at = end;
    }
    out.push(finish(0));
    out
}

fn sse(chunks: &[Value]) -> Response {
    let mut out = String::new();
    for c in chunks {
        out.push_str(&format!("data: {c}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], out).into_response()
}

/// The `[[models]]` entries (`gpt-<answer>`) that name these answers, for `Spawn::extra_toml`.
pub fn models_toml() -> String {
    let api_base = "{api_base}";
    ["two-choices", "fields", "bad-message", "plain-25", "dashes", "split-1", "split-2", "split-3", "split-4", "split-5"]
        .iter()
        .map(|m| {
            format!(
                "[[models]]\nname = \"gpt-{m}\"\nprovider = \"openai\"\napi_base = \"{api_base}\"\nupstream_model = \"{m}\"\ntimeout_ms = 2000\nmax_retries = 0\n[models.price]\ninput = \"0.15\"\noutput = \"0.60\"\n\n"
            )
        })
        .collect()
}
