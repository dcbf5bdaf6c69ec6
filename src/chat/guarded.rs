//! What the input guard's decision does to an answer: a blocked turn gets the safe reply with no
//! model call (as a normal completion or stream, so any OpenAI client shows it); an escalated
//! turn gets the urgent-care or crisis notice before the model's answer. Both report the guard's
//! reading under `"powerbirth": {"guard": …}`.

use bytes::Bytes;
use serde_json::{Value, json};

use super::SseBody;
use crate::guard::moderation::ModerationOutcome;
use crate::guard::{Decision, InputVerdict};
use crate::metering::UsdCost;

/// The guard's reading as the client and the log see it: categories, actions and decision
/// (rule ids only in the log, never the matched text).
pub(crate) fn report(v: &InputVerdict) -> Value {
    let decision = match v.decision {
        Decision::Pass => "pass",
        Decision::Escalate { .. } => "escalate",
        Decision::Block { .. } => "block",
    };
    let mut r = json!({
        "categories": v.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "actions": v.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "decision": decision,
        "urgent": v.is_urgent(),
    });
    if let Some(m) = &v.moderation {
        r["moderation"] = moderation_report(m);
    }
    r
}

/// The external moderator's answer as the client and the log see it.
pub(crate) fn moderation_report(m: &ModerationOutcome) -> Value {
    match m {
        ModerationOutcome::Clear => json!({"status": "clear"}),
        ModerationOutcome::Flagged { categories } => {
            json!({"status": "flagged", "categories": categories})
        }
        ModerationOutcome::Unavailable { fail_open, reason } => json!({
            "status": "unavailable",
            "on_error": if *fail_open { "fail_open" } else { "fail_closed" },
            "reason": reason,
        }),
    }
}

/// The log's copy: the report plus the ids of the rules that fired.
pub(super) fn log_entry(v: &InputVerdict) -> String {
    let mut r = report(v);
    r["matched"] = json!(v.matched);
    r.to_string()
}

/// A `chat.completion` carrying the guard's safe reply (no model was called).
pub(super) fn blocked_completion(
    id: &str,
    created: i64,
    model: &str,
    reply: &str,
    guard: &Value,
) -> Bytes {
    Bytes::from(
        json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply, "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "powerbirth": {"guard": guard, "cost_usd": "0"},
        })
        .to_string(),
    )
}

fn chunk(id: &str, created: i64, model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
           "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
}

/// The first streamed chunk of an escalated answer: the notice, then a blank line.
pub(super) fn notice_chunk(
    id: &str,
    created: i64,
    model: &str,
    notice: &str,
    guard: &Value,
) -> String {
    let mut c = chunk(
        id,
        created,
        model,
        json!({"role": "assistant", "content": format!("{notice}\n\n")}),
        None,
    );
    c["powerbirth"] = json!({ "guard": guard });
    c.to_string()
}

/// The stream of a blocked turn: the reply in one chunk, the stop, the (zero) cost, `[DONE]`.
pub(super) fn blocked_stream(
    id: &str,
    created: i64,
    model: &str,
    reply: &str,
    guard: &Value,
) -> SseBody {
    let mut first = chunk(
        id,
        created,
        model,
        json!({"role": "assistant", "content": reply}),
        None,
    );
    first["powerbirth"] = json!({ "guard": guard });
    let stop = chunk(id, created, model, json!({}), Some("stop"));
    let cost = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                      "choices": [], "powerbirth": {"cost_usd": UsdCost::ZERO.to_string()}});
    let mut out = String::new();
    for c in [first, stop, cost] {
        out.push_str("data: ");
        out.push_str(&c.to_string());
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    Box::pin(futures_util::stream::iter([Ok(Bytes::from(out))]))
}

/// An upstream `chat.completion` as the user must see it: the answer replaced when the output
/// guard says so (`finish_reason: "content_filter"` when `filtered`), the escalation notice put
/// before it, and the guard's report added. Returns the new body and the text as shown.
pub(super) fn rewrite(
    body: &[u8],
    answer: Option<&str>,
    filtered: bool,
    notice: Option<&str>,
    guard: Option<&Value>,
) -> Option<(Bytes, String)> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let choice = &mut v["choices"][0];
    let original = choice["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let answer = answer.map_or(original, str::to_string);
    let shown = match notice {
        Some(n) if answer.is_empty() => n.to_string(),
        Some(n) => format!("{n}\n\n{answer}"),
        None => answer,
    };
    choice["message"]["content"] = Value::String(shown.clone());
    if filtered {
        choice["finish_reason"] = Value::String("content_filter".into());
    }
    if let Some(g) = guard {
        v["powerbirth"] = json!({ "guard": g });
    }
    Some((Bytes::from(v.to_string()), shown))
}

/// A streamed chunk with its delta text replaced by what the output guard released.
pub(super) fn with_delta_text(data: &str, text: &str) -> String {
    match serde_json::from_str::<Value>(data) {
        Ok(mut v) => {
            v["choices"][0]["delta"]["content"] = Value::String(text.to_string());
            v.to_string()
        }
        Err(_) => data.to_string(),
    }
}

/// The chunks that end a stream the output guard stopped: the safe text, then
/// `finish_reason: "content_filter"`.
pub(super) fn filtered_chunks(id: &str, created: i64, model: &str, safe_text: &str) -> [String; 2] {
    [
        chunk(
            id,
            created,
            model,
            json!({"content": format!("\n\n{safe_text}")}),
            None,
        )
        .to_string(),
        chunk(id, created, model, json!({}), Some("content_filter")).to_string(),
    ]
}
