//! The guard's promise tried as an attacker would, through the real chat endpoint (issue #13):
//! a trailing assistant message, several choices and other text fields, invisible characters and
//! odd separators, personal data in other request fields, malformed upstream JSON; and streaming
//! that releases plain text at once while never letting a dose through.

mod choices;
mod malformed;
mod outbound;
mod separators;
mod streaming;
mod turn_text;

use serde_json::Value;

use crate::common::{Spawn, TestApp, scripted, spawn_app_with};

/// A gateway whose models include the scripted upstream answers (`gpt-two-choices`, …).
async fn app() -> TestApp {
    app_with("").await
}

async fn app_with(extra: &str) -> TestApp {
    let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    spawn_app_with(Spawn {
        extra_toml: format!(
            "{}[prompts]\ndir = \"{}\"\n{extra}",
            scripted::models_toml(),
            prompts.display()
        ),
        ..Spawn::default()
    })
    .await
}

/// Every `data:` payload of an SSE stream, parsed (not `[DONE]`).
fn events(sse: &str) -> Vec<Value> {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// The text a stream gave choice `index`.
fn choice_text(sse: &str, index: u64) -> String {
    events(sse)
        .iter()
        .flat_map(|e| e["choices"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["index"].as_u64() == Some(index))
        .filter_map(|c| c["delta"]["content"].as_str().map(str::to_string))
        .collect()
}
