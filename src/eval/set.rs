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

mod case;
mod discover;
mod prompt;

pub use discover::{discover, peek_prompt};

use super::assertions::{Check, CheckContext};
use super::judge::Rubrics;
use crate::prompts::{Language, PromptRegistry};
use crate::wire::ChatMessage;
use crate::wire::PromptSelector;
use case::parse_case;
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

/// Parses and checks a set's text as if read from `path`.
pub fn parse_set(path: &Path, text: &str, ctx: &LoadContext<'_>) -> Result<EvalSet, Vec<String>> {
    let file = path.display().to_string();
    let mut raw: RawSet = toml::from_str(text).map_err(|e| vec![toml_error(path, text, &e)])?;
    let mut problems = Vec::new();
    let prompt = prompt_target(&raw, ctx.prompts, &mut problems, &file);
    let languages = parse_languages(raw.languages.as_deref(), &mut problems, &file);
    check_tolerances(&raw.tolerances, ctx.rubrics, &mut problems, &file);
    if raw.cases.is_empty() {
        problems.push(format!("{file}: no [[cases]]"));
    }
    let tables = std::mem::take(&mut raw.cases);
    let target = prompt.as_ref();
    let cases = parse_cases(
        tables,
        &raw,
        target,
        languages.as_deref(),
        ctx,
        &mut problems,
        &file,
    );
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

/// The prompt version the set names, checked against the registry; a set without a prompt
/// must not set what only a prompt reads.
fn prompt_target(
    raw: &RawSet,
    prompts: &PromptRegistry,
    problems: &mut Vec<String>,
    file: &str,
) -> Option<PromptTarget> {
    let at_file = |msg: String| format!("{file}: {msg}");
    let Some(id) = &raw.prompt else {
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
        return None;
    };
    let Some(p) = prompts.get(id) else {
        let known: Vec<&str> = prompts.prompts().map(|p| p.id()).collect();
        problems.push(at_file(format!(
            "unknown prompt `{id}` (prompts: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
        return None;
    };
    match p.resolve_version(raw.version, raw.label.as_deref()) {
        Ok(_) => Some(PromptTarget {
            id: id.clone(),
            version: raw.version,
            label: raw.label.clone(),
        }),
        Err(e) => {
            problems.push(at_file(e.to_string()));
            None
        }
    }
}

/// `[tolerances]` keys must name a scored metric, and values be non-negative.
fn check_tolerances(
    tolerances: &BTreeMap<String, f64>,
    rubrics: &Rubrics,
    problems: &mut Vec<String>,
    file: &str,
) {
    for name in tolerances.keys() {
        if !super::assertions::is_metric_key(name, rubrics) {
            problems.push(format!(
                "{file}: [tolerances] `{name}` is not a metric (use an assertion type that scores, `judge:<rubric>` or `pass_rate`)"
            ));
        }
    }
    if let Some((name, v)) = tolerances.iter().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        problems.push(format!(
            "{file}: [tolerances] `{name}` must be a number ≥ 0, not {v}"
        ));
    }
}

/// Every case that reads, each checked against the prompt (or the set's languages); problems
/// carry `file: case <id>:`.
fn parse_cases(
    tables: Vec<toml::Table>,
    raw: &RawSet,
    prompt: Option<&PromptTarget>,
    languages: Option<&[Language]>,
    ctx: &LoadContext<'_>,
    problems: &mut Vec<String>,
    file: &str,
) -> Vec<Case> {
    let check_ctx = CheckContext {
        rubrics: ctx.rubrics,
    };
    let mut seen = HashSet::new();
    let mut cases = Vec::new();
    for (i, table) in tables.into_iter().enumerate() {
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
        if let (Some(case), Some(target)) = (&case, prompt) {
            check_against_prompt(
                ctx.prompts,
                target,
                case,
                languages,
                raw.personas.as_deref(),
                &mut case_problems,
            );
        } else if let (Some(case), None, Some(langs)) = (&case, &raw.prompt, languages)
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
    cases
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

#[cfg(test)]
mod tests;
