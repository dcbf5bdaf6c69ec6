//! The on-disk format and loading it: `prompts/<id>/prompt.toml` (mutable: description, owner,
//! defaults, labels), `prompts/<id>/v<N>/version.toml` (immutable: summary, variables) and
//! `prompts/<id>/v<N>/<language>.<persona>.toml` (immutable: messages). This file walks the
//! tree and reads `prompt.toml`; `versions` reads the version folders. Every problem carries
//! the file and, where there is one, the line (from the TOML spans).
//!
//! A released version is a folder whose files never change, so "was it edited?" is a question
//! git answers per folder (see `released`). Labels live outside the version folders because
//! moving `production` from v1 to v2 is a deploy decision, not a content change.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;

use super::canary::{CANARY_LABEL, CanaryPolicy, RawCanary};
use super::language::Language;
use super::model::{Prompt, PromptVersion, is_valid_id};
use super::{PromptProblem, versions};

/// What `load_dir` found: the prompts without problems, their templates (name, source) ready
/// for tera, and every problem.
#[derive(Default)]
pub(crate) struct Loaded {
    pub prompts: Vec<Prompt>,
    pub templates: Vec<(String, String)>,
    pub problems: Vec<PromptProblem>,
}

/// A file's text, for turning byte spans into lines.
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    pub fn problem(&self, span: Range<usize>, message: impl Into<String>) -> PromptProblem {
        PromptProblem::new(self.path, Some(self.line(span.start)), message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrompt {
    description: Spanned<String>,
    owner: Spanned<String>,
    default_language: Spanned<String>,
    default_persona: Spanned<String>,
    /// Label → version; the `canary` label may instead be a table (see `canary`).
    #[serde(default)]
    labels: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// Loads every prompt folder under `dir`. Files directly in `dir` other than `*.md` (notes for
/// authors) and dotfiles are problems: a stray file is usually a misplaced prompt.
pub(crate) fn load_dir(dir: &Path) -> Loaded {
    let mut out = Loaded::default();
    let Some(entries) = list_dir(dir, &mut out.problems) else {
        return out;
    };
    for (name, path, is_dir) in entries {
        if is_dir {
            load_prompt(&name, &path, &mut out);
        } else if !name.ends_with(".md") {
            out.problems.push(PromptProblem::new(
                &path,
                None,
                "unexpected file: each prompt is a folder `<id>/` with a `prompt.toml`",
            ));
        }
    }
    out
}

/// Sorted (name, path, is_dir) of a folder's entries, dotfiles skipped.
pub(crate) fn list_dir(
    dir: &Path,
    problems: &mut Vec<PromptProblem>,
) -> Option<Vec<(String, PathBuf, bool)>> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) => {
            problems.push(PromptProblem::new(
                dir,
                None,
                format!("cannot read folder: {e}"),
            ));
            return None;
        }
    };
    let mut entries = Vec::new();
    for entry in read {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                problems.push(PromptProblem::new(
                    dir,
                    None,
                    format!("cannot read folder: {e}"),
                ));
                return None;
            }
        };
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            problems.push(PromptProblem::new(&path, None, "file name is not UTF-8"));
            continue;
        };
        if !name.starts_with('.') {
            entries.push((name, path.clone(), path.is_dir()));
        }
    }
    entries.sort();
    Some(entries)
}

pub(crate) fn read_toml<T: DeserializeOwned>(
    path: &Path,
    problems: &mut Vec<PromptProblem>,
) -> Option<(T, String)> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(PromptProblem::new(path, None, format!("cannot read: {e}")));
            return None;
        }
    };
    match toml::from_str(&text) {
        Ok(value) => Some((value, text)),
        Err(e) => {
            let line = e.span().map(|s| Source { path, text: &text }.line(s.start));
            problems.push(PromptProblem::new(path, line, e.message().trim()));
            None
        }
    }
}

/// Loads one prompt folder: `prompt.toml`, then its version folders, then what ties them
/// together (labels, default variants). Nothing of the prompt is kept if anything is wrong.
fn load_prompt(id: &str, dir: &Path, out: &mut Loaded) {
    let before = out.problems.len();
    let problems = &mut out.problems;
    if !is_valid_id(id) {
        let msg =
            format!("`{id}` is not a valid prompt id (lowercase letters, digits and inner `-`)");
        problems.push(PromptProblem::new(dir, None, msg));
        return;
    }
    let path = dir.join("prompt.toml");
    let Some((raw, text)) = read_toml::<RawPrompt>(&path, problems) else {
        return;
    };
    let src = Source {
        path: &path,
        text: &text,
    };
    let default_language = check_header(&raw, &src, problems);
    let mut templates = Vec::new();
    let versions = load_versions(id, dir, problems, &mut templates);
    if out.problems.len() > before {
        return;
    }
    let problems = &mut out.problems;
    let Ok(default_language) = default_language else {
        return;
    };
    if versions.is_empty() {
        problems.push(PromptProblem::new(
            dir,
            None,
            "a prompt needs at least one version folder (`v1/`)",
        ));
    }
    let (labels, canary) = check_labels(&raw.labels, &versions, &src, problems);
    let default_persona = raw.default_persona.get_ref();
    check_defaults_covered(dir, &versions, &default_language, default_persona, problems);
    if out.problems.len() > before {
        return;
    }
    out.templates.extend(templates);
    out.prompts.push(Prompt {
        id: id.to_owned(),
        description: raw.description.into_inner().trim().to_owned(),
        owner: raw.owner.into_inner().trim().to_owned(),
        default_language,
        default_persona: raw.default_persona.into_inner(),
        labels,
        canary,
        versions,
        dir: dir.to_path_buf(),
    });
}

/// Checks `prompt.toml`'s own fields; returns the default language as parsed (an `Ok` written
/// in another spelling is reported but still returned, so later checks can run).
fn check_header(
    raw: &RawPrompt,
    src: &Source<'_>,
    problems: &mut Vec<PromptProblem>,
) -> Result<Language, String> {
    for field in [&raw.description, &raw.owner] {
        if field.get_ref().trim().is_empty() {
            problems.push(src.problem(field.span(), "must not be empty"));
        }
    }
    let default_language = Language::parse(raw.default_language.get_ref());
    match &default_language {
        Err(e) => problems.push(src.problem(raw.default_language.span(), e.clone())),
        Ok(l) if l.as_str() != raw.default_language.get_ref() => {
            problems.push(src.problem(
                raw.default_language.span(),
                format!("write the tag as `{l}`"),
            ));
        }
        Ok(_) => {}
    }
    if !is_valid_id(raw.default_persona.get_ref()) {
        let msg = format!(
            "`{}` is not a valid persona (lowercase letters, digits and `-`)",
            raw.default_persona.get_ref()
        );
        problems.push(src.problem(raw.default_persona.span(), msg));
    }
    default_language
}

/// Every `v<N>/` folder of the prompt that loads; other entries (but `prompt.toml` and notes)
/// are problems.
fn load_versions(
    id: &str,
    dir: &Path,
    problems: &mut Vec<PromptProblem>,
    templates: &mut Vec<(String, String)>,
) -> BTreeMap<u32, PromptVersion> {
    let mut versions = BTreeMap::new();
    for (name, entry, is_dir) in list_dir(dir, problems).unwrap_or_default() {
        let number = name
            .strip_prefix('v')
            .filter(|n| !n.starts_with('0'))
            .and_then(|n| n.parse::<u32>().ok());
        match (number, is_dir) {
            (Some(n), true) => {
                if let Some(v) = versions::load_version(id, n, &entry, problems, templates) {
                    versions.insert(n, v);
                }
            }
            _ if name == "prompt.toml" || name.ends_with(".md") => {}
            _ => problems.push(PromptProblem::new(
                &entry,
                None,
                "unexpected entry: a prompt folder holds `prompt.toml` and version folders `v1/`, `v2/`, …",
            )),
        }
    }
    versions
}

/// The labels, each a valid name pointing at an existing version, and the canary's policy when
/// the `canary` label is written as a table.
fn check_labels(
    raw: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    versions: &BTreeMap<u32, PromptVersion>,
    src: &Source<'_>,
    problems: &mut Vec<PromptProblem>,
) -> (BTreeMap<String, u32>, Option<CanaryPolicy>) {
    let mut labels = BTreeMap::new();
    let mut canary = None;
    for (label, value) in raw {
        let Some(version) = label_version(label, value, src, problems, &mut canary) else {
            continue;
        };
        if !is_valid_id(label.get_ref()) {
            problems.push(src.problem(
                label.span(),
                format!("`{}` is not a valid label name", label.get_ref()),
            ));
        } else if !versions.contains_key(&version) {
            let msg = format!(
                "label `{}` points at version {}, which does not exist",
                label.get_ref(),
                version
            );
            problems.push(src.problem(label.span(), msg));
        }
        labels.insert(label.get_ref().clone(), version);
    }
    (labels, canary)
}

/// The version a label points at: a whole number, or for `canary` a table whose `version` it
/// is (its policy put in `canary`). `None` (reported) for anything else.
fn label_version(
    label: &Spanned<String>,
    value: &Spanned<toml::Value>,
    src: &Source<'_>,
    problems: &mut Vec<PromptProblem>,
    canary: &mut Option<CanaryPolicy>,
) -> Option<u32> {
    let name = label.get_ref();
    match value.get_ref() {
        toml::Value::Integer(n) => match u32::try_from(*n) {
            Ok(v) if v >= 1 => Some(v),
            _ => {
                let msg = format!("label `{name}` must point at a version number (1, 2, …)");
                problems.push(src.problem(value.span(), msg));
                None
            }
        },
        toml::Value::Table(_) if name == CANARY_LABEL => {
            let parsed = RawCanary::deserialize(value.get_ref().clone())
                .map_err(|e| e.message().trim().to_owned())
                .and_then(RawCanary::validate);
            match parsed {
                Ok(policy) => {
                    let version = policy.version;
                    *canary = Some(policy);
                    Some(version)
                }
                Err(e) => {
                    problems.push(src.problem(value.span(), format!("label `canary`: {e}")));
                    None
                }
            }
        }
        _ => {
            let msg = format!(
                "label `{name}` must be a version number (only `{CANARY_LABEL}` may be a table with `version` and `traffic_percent`)"
            );
            problems.push(src.problem(value.span(), msg));
            None
        }
    }
}

/// Every version has a variant for the default language, and each of its languages one for
/// the default persona: a request that names neither always renders.
fn check_defaults_covered(
    dir: &Path,
    versions: &BTreeMap<u32, PromptVersion>,
    default_language: &Language,
    default_persona: &str,
    problems: &mut Vec<PromptProblem>,
) {
    for (n, v) in versions {
        let vdir = dir.join(format!("v{n}"));
        if !v.languages.contains(default_language) {
            let msg = format!(
                "version {n} has no `{default_language}` variant (the prompt's default language)"
            );
            problems.push(PromptProblem::new(&vdir, None, msg));
        }
        for language in &v.languages {
            if v.variant(language, default_persona).is_none() {
                let msg = format!(
                    "version {n} has `{language}` variants but none for the default persona `{default_persona}` (add `{language}.{default_persona}.toml`)"
                );
                problems.push(PromptProblem::new(&vdir, None, msg));
            }
        }
    }
}
