//! The streaming output guard over every choice and text field of a streamed answer: one
//! [`StreamGuard`] window per choice index (`n > 1` never mixes two answers in one window) and
//! per field — `content`, `refusal`, `reasoning_content`, each tool call's `arguments`. Each
//! upstream chunk comes out carrying only the text its windows released; a violation in a
//! choice ends that choice with the safe text (`finish_reason: "content_filter"`), or the whole
//! stream when the client asked for one answer.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::guard::{Guard, Lang, StreamGuard, Violation};

/// Which text of a choice a window reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Content,
    Refusal,
    Reasoning,
    /// A tool call's `function.arguments`, by the call's `index`.
    ToolArgs(u64),
}

impl Field {
    const PLAIN: [(Field, &'static str); 3] = [
        (Field::Content, "content"),
        (Field::Refusal, "refusal"),
        (Field::Reasoning, "reasoning_content"),
    ];
}

/// What to send for one upstream chunk.
pub(super) enum Screened {
    /// The chunk as it came: everything in it was released unchanged.
    AsIs,
    /// This chunk instead (the released text only, a stopped choice ended).
    Rewritten(String),
    /// Nothing: all of its text is held back.
    Skip,
    /// One answer asked for and it broke the rules: end the stream with this safe text.
    Stop(String),
}

/// The windows of one streamed answer.
pub(super) struct ChoiceWindows {
    guard: Guard,
    lang: Lang,
    /// The client asked for several answers: a violation ends only its choice.
    several: bool,
    windows: BTreeMap<(u64, Field), StreamGuard>,
    stopped: BTreeSet<u64>,
}

impl ChoiceWindows {
    pub(super) fn new(guard: Guard, lang: Lang, several: bool) -> ChoiceWindows {
        ChoiceWindows {
            guard,
            lang,
            several,
            windows: BTreeMap::new(),
            stopped: BTreeSet::new(),
        }
    }

    /// One upstream chunk (`data`, already shape-checked by the provider) through the windows.
    /// Also returns the first choice's released `content`, for the log.
    pub(super) fn screen(&mut self, data: &str) -> (Screened, String) {
        let Ok(mut v) = serde_json::from_str::<Value>(data) else {
            return (Screened::AsIs, String::new());
        };
        let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
            return (Screened::AsIs, String::new());
        };
        let (mut changed, mut payload, mut logged) = (false, false, String::new());
        let mut kept = Vec::with_capacity(choices.len());
        for (pos, mut choice) in std::mem::take(choices).into_iter().enumerate() {
            let Some(obj) = choice.as_object_mut() else {
                kept.push(choice);
                continue;
            };
            let index = obj
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            if self.stopped.contains(&index) {
                changed = true;
                continue;
            }
            match self.screen_choice(index, obj) {
                Ok(c) => {
                    changed |= c.changed;
                    payload |= c.payload;
                    if index == 0 {
                        logged.push_str(&c.content);
                    }
                    kept.push(choice);
                }
                Err(v) if !self.several => return (Screened::Stop(v.safe_text), logged),
                Err(v) => {
                    self.stop_choice(index);
                    if index == 0 {
                        logged.push_str(&format!("\n\n{}", v.safe_text));
                    }
                    kept.push(filtered_choice(index, &v.safe_text));
                    (changed, payload) = (true, true);
                }
            }
        }
        v["choices"] = Value::Array(kept);
        let screened = match (changed, payload) {
            (false, _) => Screened::AsIs,
            (true, true) => Screened::Rewritten(v.to_string()),
            (true, false) if v.get("usage").is_some_and(|u| !u.is_null()) => {
                Screened::Rewritten(v.to_string())
            }
            (true, false) => Screened::Skip,
        };
        (screened, logged)
    }

    /// The end of the upstream stream without a finish chunk: the choices (`{"index", "delta",
    /// "finish_reason": null}`) carrying what the windows still held, and the first choice's
    /// released content for the log; `Err(safe text)` when that broke the rules of the one
    /// answer asked for.
    pub(super) fn finish_all(&mut self) -> Result<(Vec<Value>, String), String> {
        let mut deltas: BTreeMap<u64, Map<String, Value>> = BTreeMap::new();
        let mut filtered: BTreeMap<u64, String> = BTreeMap::new();
        let mut logged = String::new();
        for ((index, field), w) in &mut self.windows {
            if filtered.contains_key(index) {
                continue;
            }
            match w.finish() {
                Ok(rest) if rest.is_empty() => {}
                Ok(rest) => {
                    if (*index, *field) == (0, Field::Content) {
                        logged.push_str(&rest);
                    }
                    append(deltas.entry(*index).or_default(), *field, &rest);
                }
                Err(v) if !self.several => return Err(v.safe_text),
                Err(v) => {
                    filtered.insert(*index, v.safe_text);
                }
            }
        }
        let mut choices = Vec::new();
        for (index, delta) in deltas {
            if !filtered.contains_key(&index) {
                choices.push(json!({"index": index, "delta": delta, "finish_reason": null}));
            }
        }
        for (index, safe) in filtered {
            if index == 0 {
                logged.push_str(&format!("\n\n{safe}"));
            }
            choices.push(filtered_choice(index, &safe));
        }
        Ok((choices, logged))
    }

    fn window(&mut self, index: u64, field: Field) -> &mut StreamGuard {
        let (guard, lang) = (&self.guard, self.lang);
        self.windows
            .entry((index, field))
            .or_insert_with(|| guard.stream_guard(lang))
    }

    fn stop_choice(&mut self, index: u64) {
        self.stopped.insert(index);
        self.windows.retain(|(i, _), _| *i != index);
    }

    /// One choice's delta through its windows, in place.
    fn screen_choice(
        &mut self,
        index: u64,
        choice: &mut Map<String, Value>,
    ) -> Result<ChoiceScreen, Violation> {
        let mut out = ChoiceScreen::default();
        let finish = choice.get("finish_reason").is_some_and(|f| !f.is_null());
        let mut delta = match choice.remove("delta") {
            Some(Value::Object(d)) => d,
            _ => Map::new(),
        };
        for (field, key) in Field::PLAIN {
            if let Some(Value::String(text)) = delta.get_mut(key) {
                let released = self.window(index, field).push(text)?;
                out.note(text, &released, field == Field::Content);
                *text = released;
            }
        }
        let calls = delta.get_mut("tool_calls").and_then(Value::as_array_mut);
        for (pos, call) in calls.into_iter().flatten().enumerate() {
            let k = call
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            out.payload = true; // a tool call's id and name are no free text: they go out
            if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                let released = self.window(index, Field::ToolArgs(k)).push(args)?;
                out.note(args, &released, false);
                *args = released;
            }
        }
        if finish {
            out.payload = true;
            let fields: Vec<Field> = self
                .windows
                .keys()
                .filter(|(i, _)| *i == index)
                .map(|(_, f)| *f)
                .collect();
            for field in fields {
                let rest = self.window(index, field).finish()?;
                if !rest.is_empty() {
                    if field == Field::Content {
                        out.content.push_str(&rest);
                    }
                    append(&mut delta, field, &rest);
                    out.changed = true;
                }
            }
        }
        out.payload |= delta.contains_key("role");
        choice.insert("delta".into(), Value::Object(delta));
        Ok(out)
    }
}

/// What screening one choice did.
#[derive(Default)]
struct ChoiceScreen {
    changed: bool,
    /// It still carries something the client needs (text, a role, a tool call, a finish).
    payload: bool,
    /// Released `content`, for the log.
    content: String,
}

impl ChoiceScreen {
    fn note(&mut self, original: &str, released: &str, is_content: bool) {
        self.changed |= released != original;
        self.payload |= !released.is_empty();
        if is_content {
            self.content.push_str(released);
        }
    }
}

/// `rest` added to a delta's field (for tool arguments, as a call of its own index).
fn append(delta: &mut Map<String, Value>, field: Field, rest: &str) {
    let key = match field {
        Field::Content => "content",
        Field::Refusal => "refusal",
        Field::Reasoning => "reasoning_content",
        Field::ToolArgs(k) => {
            let calls = delta.entry("tool_calls").or_insert_with(|| json!([]));
            let Some(calls) = calls.as_array_mut() else {
                return;
            };
            let found = calls
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .find(|c| c.get("index").and_then(Value::as_u64) == Some(k));
            let Some(call) = found else {
                calls.push(json!({"index": k, "function": {"arguments": rest}}));
                return;
            };
            let function = call.entry("function").or_insert_with(|| json!({}));
            if let Some(function) = function.as_object_mut() {
                let old = function
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let joined = format!("{old}{rest}");
                function.insert("arguments".into(), Value::String(joined));
            }
            return;
        }
    };
    let old = delta.get(key).and_then(Value::as_str).unwrap_or("");
    let joined = format!("{old}{rest}");
    delta.insert(key.into(), Value::String(joined));
}

/// A choice ended by the guard: its safe text, `finish_reason: "content_filter"`.
fn filtered_choice(index: u64, safe_text: &str) -> Value {
    json!({"index": index, "delta": {"content": format!("\n\n{safe_text}")},
           "logprobs": null, "finish_reason": "content_filter"})
}
