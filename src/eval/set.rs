//! Eval sets: finding the files, reading them, and checking them against the prompt registry and
//! the rubrics before any model is called. The format is documented in `docs/evals.md`; a file
//! is one set, its `[[cases]]` each a conversation with assertions on the answer.
//!
//! Loading collects every problem of every file, each as `file: case <id>: reason` (or
//! `file:line: reason` for TOML syntax), so an author fixes them all in one go.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

mod discover;
mod prompt;

pub use discover::{discover, peek_prompt};

use super::assertions::{Check, CheckContext};
use super::judge::Rubrics;
use crate::prompts::{Language, PromptRegistry, PromptSelector};
use crate::wire::{ChatMessage, Role};
use prompt::check_against_prompt;

/// One eval set file, checked.
#[derive(Debug, Clone)]
pub struct EvalSet {
    pub path: PathBuf,
    pub prompt: Option<PromptTarget>,
    pub description: Option<String>,
    /// `[tolerances]`: metric key → allowed drop of its mean.
    pub tolerances: BTreeMap<String, f64>,
    pub cases: Vec<Case>,
}

/// The prompt version a set evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTarget {
    pub id: String,
    pub version: Option<u32>,
    pub label: Option<String>,
}

/// One case: a conversation, how to render the prompt for it, and what the answer must satisfy.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub required: bool,
    /// Case, else `[defaults]`; `None` leaves it to the prompt's default.
    pub language: Option<String>,
    pub persona: Option<String>,
    /// `[defaults] vars` with the case's own on top.
    pub vars: Map<String, Value>,
    /// The client's messages (`input` becomes one user message); the last is the user's.
    pub messages: Vec<ChatMessage>,
    pub reference: Option<String>,
    pub source: Option<String>,
    /// Case, else `[defaults]`; `None` takes `[eval] max_tokens`.
    pub max_tokens: Option<u32>,
    pub checks: Vec<Check>,
}

impl EvalSet {
    /// The file as shown in messages and results.
    pub fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// The prompt selector a case's request carries; `None` for raw chat sets.
    pub fn selector(&self, case: &Case) -> Option<PromptSelector> {
        self.prompt.as_ref().map(|p| PromptSelector {
            id: p.id.clone(),
            version: p.version,
            label: p.label.clone(),
            language: case.language.clone(),
            persona: case.persona.clone(),
            variables: case.vars.clone(),
        })
    }

    /// Whether any case has a check for which `pred` holds.
    pub fn uses(&self, pred: impl Fn(&Check) -> bool) -> bool {
        self.cases.iter().any(|c| c.checks.iter().any(&pred))
    }
}

/// What a set is checked against.
pub struct LoadContext<'a> {
    pub prompts: &'a PromptRegistry,
    pub rubrics: &'a Rubrics,
}

/// Loads and checks every file; either all sets, or every problem of every file.
pub fn load_sets(paths: &[PathBuf], ctx: &LoadContext<'_>) -> Result<Vec<EvalSet>, Vec<String>> {
    let mut sets = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match load_set(path, ctx) {
            Ok(set) => sets.push(set),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(sets)
    } else {
        Err(problems)
    }
}

/// Loads and checks one file.
pub fn load_set(path: &Path, ctx: &LoadContext<'_>) -> Result<EvalSet, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    parse_set(path, &text, ctx)
}

/// `file:line: message` for a TOML error.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let message = e.message();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{}:{line}: {message}", path.display())
        }
        None => format!("{}: {message}", path.display()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    prompt: Option<String>,
    label: Option<String>,
    version: Option<u32>,
    description: Option<String>,
    languages: Option<Vec<String>>,
    personas: Option<Vec<String>>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    tolerances: BTreeMap<String, f64>,
    #[serde(default)]
    cases: Vec<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    language: Option<String>,
    persona: Option<String>,
    #[serde(default)]
    vars: toml::Table,
    max_tokens: Option<u32>,
}

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

/// Parses and checks a set's text as if read from `path`.
pub fn parse_set(path: &Path, text: &str, ctx: &LoadContext<'_>) -> Result<EvalSet, Vec<String>> {
    let file = path.display().to_string();
    let raw: RawSet = toml::from_str(text).map_err(|e| vec![toml_error(path, text, &e)])?;
    let mut problems = Vec::new();
    let at_file = |msg: String| format!("{file}: {msg}");

    let prompt = match &raw.prompt {
        None => {
            for (key, given) in [
                ("label", raw.label.is_some()),
                ("version", raw.version.is_some()),
                ("personas", raw.personas.is_some()),
                ("[defaults] persona", raw.defaults.persona.is_some()),
                ("[defaults] vars", !raw.defaults.vars.is_empty()),
            ] {
                if given {
                    problems.push(at_file(format!(
                        "`{key}` needs a `prompt` (a set without one sends raw chat cases)"
                    )));
                }
            }
            None
        }
        Some(id) => match ctx.prompts.get(id) {
            None => {
                let known: Vec<&str> = ctx.prompts.prompts().map(|p| p.id()).collect();
                problems.push(at_file(format!(
                    "unknown prompt `{id}` (prompts: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
                None
            }
            Some(p) => match p.resolve_version(raw.version, raw.label.as_deref()) {
                Ok(_) => Some(PromptTarget {
                    id: id.clone(),
                    version: raw.version,
                    label: raw.label.clone(),
                }),
                Err(e) => {
                    problems.push(at_file(e.to_string()));
                    None
                }
            },
        },
    };
    let languages = parse_languages(raw.languages.as_deref(), &mut problems, &file);
    for name in raw.tolerances.keys() {
        if !super::assertions::is_metric_key(name, ctx.rubrics) {
            problems.push(at_file(format!(
                "[tolerances] `{name}` is not a metric (use an assertion type that scores, `judge:<rubric>` or `pass_rate`)"
            )));
        }
    }
    if let Some((name, v)) = raw
        .tolerances
        .iter()
        .find(|(_, v)| !v.is_finite() || **v < 0.0)
    {
        problems.push(at_file(format!(
            "[tolerances] `{name}` must be a number ≥ 0, not {v}"
        )));
    }
    if raw.cases.is_empty() {
        problems.push(at_file("no [[cases]]".into()));
    }

    let check_ctx = CheckContext {
        rubrics: ctx.rubrics,
    };
    let mut seen = HashSet::new();
    let mut cases = Vec::new();
    for (i, table) in raw.cases.into_iter().enumerate() {
        let label = match table.get("id").and_then(toml::Value::as_str) {
            Some(id) => id.to_string(),
            None => format!("#{}", i + 1),
        };
        let mut case_problems = Vec::new();
        let case = parse_case(
            table,
            &raw.defaults,
            &check_ctx,
            &mut case_problems,
            &mut seen,
        );
        if let (Some(case), Some(target)) = (&case, &prompt) {
            check_against_prompt(
                ctx.prompts,
                target,
                case,
                languages.as_deref(),
                raw.personas.as_deref(),
                &mut case_problems,
            );
        } else if let (Some(case), None, Some(langs)) = (&case, &raw.prompt, &languages)
            && let Some(l) = &case.language
        {
            check_language_listed(l, langs, &mut case_problems);
        }
        problems.extend(
            case_problems
                .into_iter()
                .map(|p| format!("{file}: case {label}: {p}")),
        );
        if let Some(case) = case {
            cases.push(case);
        }
    }
    if problems.is_empty() {
        Ok(EvalSet {
            path: path.to_path_buf(),
            prompt,
            description: raw.description,
            tolerances: raw.tolerances,
            cases,
        })
    } else {
        Err(problems)
    }
}

fn parse_languages(
    given: Option<&[String]>,
    problems: &mut Vec<String>,
    file: &str,
) -> Option<Vec<Language>> {
    let given = given?;
    let mut out = Vec::new();
    for tag in given {
        match Language::parse(tag) {
            Ok(l) => out.push(l),
            Err(e) => problems.push(format!("{file}: languages: {e}")),
        }
    }
    Some(out)
}

fn check_language_listed(tag: &str, listed: &[Language], problems: &mut Vec<String>) {
    let ok = Language::parse(tag).is_ok_and(|l| listed.contains(&l));
    if !ok {
        let names: Vec<&str> = listed.iter().map(Language::as_str).collect();
        problems.push(format!(
            "language `{tag}` is not one the set covers ({})",
            names.join(", ")
        ));
    }
}

/// Reads one case; problems are phrased without the `file: case id:` prefix.
fn parse_case(
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
    if raw.id.is_empty()
        || !raw
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        problems.push(format!(
            "id `{}` must be lowercase letters, digits, `-` and `_`",
            raw.id
        ));
    }
    if !seen.insert(raw.id.clone()) {
        problems.push("duplicate case id (ids are unique in a file)".into());
    }
    let messages = match (raw.input, raw.messages) {
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
    let mut vars: Map<String, Value> = Map::new();
    for (k, v) in defaults.vars.iter().chain(raw.vars.iter()) {
        match serde_json::to_value(v) {
            Ok(v) => {
                vars.insert(k.clone(), v);
            }
            Err(e) => problems.push(format!("vars: `{k}`: {e}")),
        }
    }
    let mut checks = Vec::new();
    if raw.assert.is_empty() {
        problems.push("no assertions (`assert = [ … ]`)".into());
    }
    for (i, a) in raw.assert.iter().enumerate() {
        match Check::parse(a, ctx) {
            Ok(c) => checks.push(c),
            Err(e) => problems.push(format!("assert #{}: {e}", i + 1)),
        }
    }
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

#[cfg(test)]
mod tests;
