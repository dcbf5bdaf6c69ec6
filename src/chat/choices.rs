//! The output guard over a whole `chat.completion`: every choice (`n > 1`), and in each every
//! text field the client will read — `content`, `refusal`, `reasoning_content`, and the
//! arguments of `tool_calls` (and the legacy `function_call`). A violation in any field replaces
//! that choice's answer with the safe text (`finish_reason: "content_filter"`, its other text
//! fields and tool calls dropped); personal data is redacted field by field; an escalated turn's
//! notice goes before every choice's answer.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::guard::{Guard, Lang, OutputVerdict};
use crate::wire::with_extension;

/// The plain text fields of a message.
const TEXT_FIELDS: [&str; 3] = ["content", "refusal", "reasoning_content"];

/// A completion as the user must see it.
pub(super) struct Checked {
    pub body: Bytes,
    /// The first choice's answer as shown (its tool calls as JSON when it has no text), for the log.
    pub text: String,
    /// Whether the first choice was replaced by the safe text.
    pub filtered: bool,
}

/// Every choice of `body` through the output guard, the notice put first, the guard's report
/// added. `None` when the body is not a JSON object (the provider checks the shape before).
pub(super) fn check_completion(
    guard: &Guard,
    lang: Lang,
    body: &[u8],
    notice: Option<&str>,
    report: Option<&Value>,
) -> Option<Checked> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    v.as_object()?;
    let mut changed = report.is_some();
    let mut first = None;
    if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
        for (i, choice) in choices.iter_mut().enumerate() {
            let Some(choice) = choice.as_object_mut() else {
                continue;
            };
            let (c, filtered) = check_choice(guard, lang, choice, notice);
            changed |= c;
            if i == 0 {
                first = Some((shown_text(choice), filtered));
            }
        }
    }
    let (text, filtered) = first.unwrap_or_default();
    if report.is_some() {
        v = with_extension(v, report, None);
    }
    let body = if changed {
        Bytes::from(v.to_string())
    } else {
        Bytes::copy_from_slice(body)
    };
    Some(Checked {
        body,
        text,
        filtered,
    })
}

/// One choice checked in place; returns (anything changed, replaced by the safe text).
fn check_choice(
    guard: &Guard,
    lang: Lang,
    choice: &mut Map<String, Value>,
    notice: Option<&str>,
) -> (bool, bool) {
    let Some(message) = choice.get_mut("message").and_then(Value::as_object_mut) else {
        return (false, false);
    };
    let mut changed = false;
    let mut replaced = None;
    for_each_text(message, &mut |text: &mut String| {
        if replaced.is_some() {
            return;
        }
        match guard.check_output_verdict(text, lang) {
            OutputVerdict::Pass => {}
            OutputVerdict::Redact(r) => {
                *text = r;
                changed = true;
            }
            OutputVerdict::Replace { text: safe, .. } => replaced = Some(safe),
        }
    });
    if let Some(safe) = &replaced {
        message.insert("content".into(), Value::String(safe.clone()));
        for f in [
            "refusal",
            "reasoning_content",
            "tool_calls",
            "function_call",
        ] {
            message.remove(f);
        }
        choice.insert("finish_reason".into(), "content_filter".into());
        changed = true;
    }
    if let Some(n) = notice {
        let Some(message) = choice.get_mut("message").and_then(Value::as_object_mut) else {
            return (changed, replaced.is_some());
        };
        let answer = message.get("content").and_then(Value::as_str).unwrap_or("");
        let shown = if answer.is_empty() {
            n.to_string()
        } else {
            format!("{n}\n\n{answer}")
        };
        message.insert("content".into(), Value::String(shown));
        changed = true;
    }
    (changed, replaced.is_some())
}

/// Calls `f` on every text field of a message: the plain ones, then each tool call's (and the
/// legacy function call's) `arguments`.
fn for_each_text(message: &mut Map<String, Value>, f: &mut impl FnMut(&mut String)) {
    for field in TEXT_FIELDS {
        if let Some(Value::String(t)) = message.get_mut(field) {
            f(t);
        }
    }
    let calls = message.get_mut("tool_calls").and_then(Value::as_array_mut);
    for call in calls.into_iter().flatten() {
        if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
            f(args);
        }
    }
    let legacy = message.get_mut("function_call");
    if let Some(Value::String(args)) = legacy.and_then(|c| c.get_mut("arguments")) {
        f(args);
    }
}

/// The first choice's answer for the log: its text, else its tool calls as JSON.
fn shown_text(choice: &Map<String, Value>) -> String {
    let message = &choice.get("message").cloned().unwrap_or_default();
    match message.get("content").and_then(Value::as_str) {
        Some(t) => t.to_string(),
        None => match message.get("tool_calls") {
            Some(calls) if !calls.is_null() => calls.to_string(),
            _ => String::new(),
        },
    }
}
