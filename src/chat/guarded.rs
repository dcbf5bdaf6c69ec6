//! What the input guard's decision does to an answer: a blocked turn gets the safe reply with no
//! model call (as a normal completion or stream, so any OpenAI client shows it); an escalated
//! turn gets the urgent-care or crisis notice before the model's answer. Both report the guard's
//! reading under `"powerbirth": {"guard": …}`.

use bytes::Bytes;
use serde_json::{Value, json};

use super::SseBody;
use crate::core::UsdCost;
use crate::guard::moderation::{ModerationOutcome, Moderator};
use crate::guard::{Decision, Guard, InputVerdict, Lang};
use crate::prompts::Language;
use crate::wire::{Author, Delta, Head, SSE_DONE, Usage, sse_frame, with_extension};

/// The input guard's steps, shared by a chat turn and `/v1/moderations`: our classifier reads
/// `text` (`hint` breaking language ties), then, when `[moderation]` names a provider, the
/// provider reads it with personal data redacted (it never leaves the gateway, not even to the
/// moderation provider). Returns the classifier's verdict and the provider's answer, if asked;
/// each caller folds them its own way (a chat turn drops a clear answer, the moderation API
/// reports it).
pub(crate) async fn check_input(
    guard: &Guard,
    moderator: &Moderator,
    text: &str,
    hint: Option<Lang>,
) -> (InputVerdict, Option<ModerationOutcome>) {
    let verdict = guard.check_input_async(text, hint.map(Lang::as_str)).await;
    if !moderator.is_enabled() {
        return (verdict, None);
    }
    let redacted = verdict.redacted.as_deref().unwrap_or(text);
    let outcome = moderator.check(redacted).await;
    (verdict, Some(outcome))
}

/// The guard language a client prefers, by `Accept-Language` q-values (RFC 9110 §12.5.4): the
/// same negotiation that picks a prompt's variant, so a turn is guarded in the language its
/// prompt is rendered in. `None` when the header names neither guard language (`*` names none:
/// it negotiates to `und`, BCP 47's "undetermined").
pub(crate) fn negotiate_language(accept_language: Option<&str>) -> Option<Lang> {
    let parse = |t| Language::parse(t).expect("a valid tag");
    let available = [parse("pt-BR"), parse("en")];
    let undetermined = parse("und");
    let chosen = crate::prompts::negotiate(accept_language?, &available, &undetermined)?;
    Lang::from_tag(chosen.as_str())
}

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
    // Which second reader added a category, if one did (the triage classifier, issue #19).
    let mut readers: Vec<&str> = v
        .matched
        .iter()
        .filter_map(|m| m.strip_prefix("second_opinion:"))
        .filter_map(|m| m.split(':').next())
        .collect();
    readers.dedup();
    if !readers.is_empty() {
        r["second_opinion"] = json!(readers);
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
pub(super) fn blocked_completion(head: &Head, reply: &str, guard: &Value) -> Bytes {
    let body = head.completion(Author::Gateway, reply, "stop", &Usage::default());
    let zero = UsdCost::ZERO.to_string();
    Bytes::from(with_extension(body, Some(guard), Some(&zero)).to_string())
}

/// The first streamed chunk of an escalated answer: the notice, then a blank line.
pub(super) fn notice_chunk(head: &Head, notice: &str, guard: &Value) -> String {
    let text = format!("{notice}\n\n");
    let chunk = head.chunk(Author::Gateway, Delta::First(&text), None);
    with_extension(chunk, Some(guard), None).to_string()
}

/// The stream of a blocked turn: the reply in one chunk, the stop, the (zero) cost, `[DONE]`.
pub(super) fn blocked_stream(head: &Head, reply: &str, guard: &Value) -> SseBody {
    let first = head.chunk(Author::Gateway, Delta::First(reply), None);
    let first = with_extension(first, Some(guard), None);
    let stop = head.chunk(Author::Gateway, Delta::Empty, Some("stop"));
    let zero = UsdCost::ZERO.to_string();
    let cost = with_extension(head.choiceless_chunk(None), None, Some(&zero));
    let mut out = Vec::new();
    for c in [first, stop, cost] {
        out.extend_from_slice(&sse_frame(&c.to_string()));
    }
    out.extend_from_slice(SSE_DONE);
    Box::pin(futures_util::stream::iter([Ok(Bytes::from(out))]))
}

/// The chunks that end a stream the output guard stopped: the safe text, then
/// `finish_reason: "content_filter"`.
pub(super) fn filtered_chunks(head: &Head, safe_text: &str) -> [String; 2] {
    let text = format!("\n\n{safe_text}");
    [
        head.chunk(Author::Gateway, Delta::Text(&text), None)
            .to_string(),
        head.chunk(Author::Gateway, Delta::Empty, Some("content_filter"))
            .to_string(),
    ]
}
