//! Reading one `[[cases]]` table of a set into a [`Case`]: its id, conversation, variables
//! (over `[defaults]`) and assertions. Problems are phrased without the `file: case id:` prefix,
//! which the set loader adds.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Case, RawDefaults};
use crate::eval::assertions::{Check, CheckContext};
use crate::wire::{ChatMessage, Role};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    id: String,
    #[serde(default)]
    required: bool,
    language: Option<String>,
    persona: Option<String>,
    #[serde(default)]
    vars: toml::Table,
    input: Option<String>,
    messages: Option<Vec<RawMessage>>,
    reference: Option<String>,
    source: Option<String>,
    max_tokens: Option<u32>,
    #[serde(default)]
    assert: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    role: String,
    content: String,
}

/// Reads one case; problems are phrased without the `file: case id:` prefix.
pub(super) fn parse_case(
    table: toml::Table,
    defaults: &RawDefaults,
    ctx: &CheckContext<'_>,
    problems: &mut Vec<String>,
    seen: &mut HashSet<String>,
) -> Option<Case> {
    let raw = match RawCase::deserialize(toml::Value::Table(table)) {
        Ok(r) => r,
        Err(e) => {
            problems.push(e.message().to_string());
            return None;
        }
    };
    check_id(&raw.id, seen, problems);
    let messages = messages(raw.input, raw.messages, problems);
    let vars = merged_vars(&defaults.vars, &raw.vars, problems);
    let checks = parse_checks(&raw.assert, ctx, problems);
    let reference = raw.reference.filter(|r| !r.trim().is_empty());
    if reference.is_none()
        && let Some(c) = checks.iter().find(|c| c.needs_reference())
    {
        problems.push(format!(
            "assertion `{}` compares with a `reference`, and the case has none",
            c.type_name()
        ));
    }
    let max_tokens = raw.max_tokens.or(defaults.max_tokens);
    if max_tokens == Some(0) {
        problems.push("max_tokens must be at least 1".into());
    }
    Some(Case {
        id: raw.id,
        required: raw.required,
        language: raw.language.or_else(|| defaults.language.clone()),
        persona: raw.persona.or_else(|| defaults.persona.clone()),
        vars,
        messages,
        reference,
        source: raw.source,
        max_tokens,
        checks,
    })
}

/// Ids are unique in a file and safe in file names and reports.
fn check_id(id: &str, seen: &mut HashSet<String>, problems: &mut Vec<String>) {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        problems.push(format!(
            "id `{id}` must be lowercase letters, digits, `-` and `_`"
        ));
    }
    if !seen.insert(id.to_string()) {
        problems.push("duplicate case id (ids are unique in a file)".into());
    }
}

/// The client's messages: `input` as one user message, or `messages` as given.
fn messages(
    input: Option<String>,
    list: Option<Vec<RawMessage>>,
    problems: &mut Vec<String>,
) -> Vec<ChatMessage> {
    let messages = match (input, list) {
        (Some(_), Some(_)) => {
            problems.push("give `input` or `messages`, not both".into());
            Vec::new()
        }
        (None, None) => {
            problems.push("missing `input` (or `messages`)".into());
            Vec::new()
        }
        (Some(input), None) => vec![ChatMessage::new(Role::User, input)],
        (None, Some(list)) => conversation(list, problems),
    };
    if messages.last().is_some_and(|m| m.text().trim().is_empty()) {
        problems.push("the last user message is empty".into());
    }
    messages
}

/// `[defaults] vars` with the case's own on top, as JSON values for the renderer.
fn merged_vars(
    defaults: &toml::Table,
    own: &toml::Table,
    problems: &mut Vec<String>,
) -> Map<String, Value> {
    let mut vars = Map::new();
    for (k, v) in defaults.iter().chain(own.iter()) {
        match serde_json::to_value(v) {
            Ok(v) => {
                vars.insert(k.clone(), v);
            }
            Err(e) => problems.push(format!("vars: `{k}`: {e}")),
        }
    }
    vars
}

fn parse_checks(
    tables: &[toml::Table],
    ctx: &CheckContext<'_>,
    problems: &mut Vec<String>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    if tables.is_empty() {
        problems.push("no assertions (`assert = [ … ]`)".into());
    }
    for (i, a) in tables.iter().enumerate() {
        match Check::parse(a, ctx) {
            Ok(c) => checks.push(c),
            Err(e) => problems.push(format!("assert #{}: {e}", i + 1)),
        }
    }
    checks
}

fn conversation(list: Vec<RawMessage>, problems: &mut Vec<String>) -> Vec<ChatMessage> {
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.into_iter().enumerate() {
        let role = match m.role.as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                problems.push(format!(
                    "messages #{}: role `{other}` is not system, user or assistant",
                    i + 1
                ));
                continue;
            }
        };
        out.push(ChatMessage::new(role, m.content));
    }
    match out.last() {
        None => problems.push("`messages` is empty".into()),
        Some(m) if m.role != Role::User => {
            problems.push("the last message of `messages` must be from the user".into());
        }
        Some(_) => {}
    }
    out
}
