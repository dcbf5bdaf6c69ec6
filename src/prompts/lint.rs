//! `powerbirth prompts lint [--base REF]`: everything `PromptRegistry::load` checks, plus checks
//! that keep the repository healthy without making a set unservable — a `production` label on
//! every prompt, personas and languages that do not vanish when a label moves, described
//! variables, no placeholder text — and, with a base ref, that released versions did not change.

use std::fs;
use std::path::Path;

use super::canary::CANARY_LABEL;
use super::model::{Prompt, PromptVersion};
use super::render::DEFAULT_LABEL;
use super::{PromptProblem, PromptRegistry, released};

/// Words that mark unfinished text; a prompt that reaches users must not contain them.
const PLACEHOLDERS: &[&str] = &["TODO", "FIXME", "XXX", "TBD", "lorem ipsum"];

/// Every problem in the prompts under `dir`, sorted by path and line; empty means clean.
/// With `base` (a git ref), also every released version whose files differ from that ref.
pub fn lint(dir: &Path, base: Option<&str>) -> Vec<PromptProblem> {
    let (registry, mut problems) = PromptRegistry::load_partial(dir);
    for prompt in registry.prompts() {
        lint_prompt(prompt, &mut problems);
    }
    if let Some(base) = base {
        problems.extend(released::changed_since(dir, base));
    }
    problems.sort();
    problems.dedup();
    problems
}

fn lint_prompt(prompt: &Prompt, problems: &mut Vec<PromptProblem>) {
    let prompt_toml = prompt.dir().join("prompt.toml");
    let production = prompt
        .labels()
        .get(DEFAULT_LABEL)
        .and_then(|v| prompt.version(*v));
    if production.is_none() {
        let line = line_containing(&prompt_toml, "[labels]");
        let msg = format!(
            "no `{DEFAULT_LABEL}` label: requests that name no version or label cannot use this prompt"
        );
        problems.push(PromptProblem::new(&prompt_toml, line, msg));
    }
    if let Some(production) = production {
        lint_labels(prompt, production, &prompt_toml, problems);
        lint_canary(prompt, production, &prompt_toml, problems);
    }
    for version in prompt.versions() {
        let vdir = prompt.dir().join(format!("v{}", version.number()));
        lint_personas(version, &vdir, problems);
        lint_descriptions(version, &vdir.join("version.toml"), problems);
        lint_placeholders(version, problems);
    }
}

/// Every label covers the languages `production` covers.
fn lint_labels(
    prompt: &Prompt,
    production: &PromptVersion,
    prompt_toml: &Path,
    problems: &mut Vec<PromptProblem>,
) {
    for (label, number) in prompt.labels() {
        let Some(version) = prompt.version(*number) else {
            continue;
        };
        for language in production
            .languages()
            .iter()
            .filter(|l| !version.languages().contains(l))
        {
            let msg = format!(
                "label `{label}` (v{number}) has no `{language}` variant that `{DEFAULT_LABEL}` (v{}) has: moving a label must not drop a language",
                production.number()
            );
            problems.push(PromptProblem::new(
                prompt_toml,
                key_line(prompt_toml, label),
                msg,
            ));
        }
    }
}

/// A canary with a traffic share compares its version with `production`'s: the two must differ.
fn lint_canary(
    prompt: &Prompt,
    production: &PromptVersion,
    prompt_toml: &Path,
    problems: &mut Vec<PromptProblem>,
) {
    let Some(canary) = prompt.canary() else {
        return;
    };
    if canary.version == production.number() {
        let msg = format!(
            "label `{CANARY_LABEL}` serves {}% of the traffic from v{}, which is `{DEFAULT_LABEL}` itself: point it at the candidate version",
            canary.traffic_percent, canary.version
        );
        problems.push(PromptProblem::new(
            prompt_toml,
            key_line(prompt_toml, CANARY_LABEL),
            msg,
        ));
    }
}

/// An explicit persona must work in every language, or a user's language decides whether her
/// request fails.
fn lint_personas(version: &PromptVersion, vdir: &Path, problems: &mut Vec<PromptProblem>) {
    for persona in version.personas() {
        for language in version.languages() {
            if version.variant(language, persona).is_none() {
                let msg = format!(
                    "persona `{persona}` has no `{language}` variant (add `{language}.{persona}.toml`)"
                );
                problems.push(PromptProblem::new(vdir, None, msg));
            }
        }
    }
}

fn lint_descriptions(
    version: &PromptVersion,
    version_toml: &Path,
    problems: &mut Vec<PromptProblem>,
) {
    for var in version
        .variables()
        .iter()
        .filter(|v| v.description().is_none_or(|d| d.trim().is_empty()))
    {
        let line = line_containing(version_toml, &format!("variables.{}", var.name()));
        let msg = format!(
            "variable `{}` has no description (the API and authors rely on it)",
            var.name()
        );
        problems.push(PromptProblem::new(version_toml, line, msg));
    }
}

fn lint_placeholders(version: &PromptVersion, problems: &mut Vec<PromptProblem>) {
    for variant in version.variants() {
        for m in variant.messages() {
            for (i, text) in m.template().lines().enumerate() {
                let lower = text.to_lowercase();
                if let Some(word) = PLACEHOLDERS.iter().find(|w| {
                    if w.contains(' ') {
                        lower.contains(&w.to_lowercase())
                    } else {
                        has_word(text, w)
                    }
                }) {
                    let msg = format!("placeholder text `{word}` in a template");
                    problems.push(PromptProblem::new(
                        variant.path(),
                        Some(m.first_line + i),
                        msg,
                    ));
                }
            }
        }
    }
}

/// `word` as a whole word (ASCII boundaries), case-sensitive: `TODO` but not `TODOS` or `todo`.
fn has_word(text: &str, word: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(word).any(|(i, _)| {
        boundary(text[..i].chars().next_back()) && boundary(text[i + word.len()..].chars().next())
    })
}

/// The line of `path` that assigns `key` (`key = …`).
fn key_line(path: &Path, key: &str) -> Option<usize> {
    let text = fs::read_to_string(path).ok()?;
    let assigns = |l: &str| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    text.lines().position(assigns).map(|i| i + 1)
}

/// The first line of `path` containing `needle`, for pointing at a key (lint is not the hot
/// path, so reading the file again is fine).
fn line_containing(path: &Path, needle: &str) -> Option<usize> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}
