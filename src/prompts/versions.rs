//! Loading one version folder: `version.toml` (summary, variables) and its
//! `<language>.<persona>.toml` variants — the message shape (a system message, then
//! user/assistant pairs), each template's checks, and "declared ⇔ used" per variant.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::format::{Source, list_dir, read_toml};
use super::language::Language;
use super::model::{MessageTemplate, PromptVersion, Role, Variant, is_valid_id};
use super::variables::{self, RawVariable};
use super::{PromptProblem, templates};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    summary: Spanned<String>,
    #[serde(default)]
    variables: BTreeMap<Spanned<String>, RawVariable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    role: Spanned<String>,
    template: Spanned<String>,
}

/// Loads version folder `dir` (`v<number>/`) of prompt `id`, pushing the compiled-template
/// sources onto `templates`; `None` when it has any problem (all of them pushed).
pub(crate) fn load_version(
    id: &str,
    number: u32,
    dir: &Path,
    problems: &mut Vec<PromptProblem>,
    templates: &mut Vec<(String, String)>,
) -> Option<PromptVersion> {
    let before = problems.len();
    let path = dir.join("version.toml");
    let (raw, text) = read_toml::<RawVersion>(&path, problems)?;
    let src = Source {
        path: &path,
        text: &text,
    };
    if raw.summary.get_ref().trim().is_empty() {
        problems.push(src.problem(
            raw.summary.span(),
            "`summary` must say what this version changed",
        ));
    }
    let declared: BTreeSet<String> = raw.variables.keys().map(|k| k.get_ref().clone()).collect();
    let variables = variables::from_raw(raw.variables, &src, problems);

    let mut variants = Vec::new();
    for (name, entry, is_dir) in list_dir(dir, problems).unwrap_or_default() {
        if name == "version.toml" || name.ends_with(".md") {
            continue;
        }
        let Some((language, persona)) = variant_tag(&name, is_dir, &entry, problems) else {
            continue;
        };
        let Some((raw, text)) = read_toml::<RawVariant>(&entry, problems) else {
            continue;
        };
        let src = Source {
            path: &entry,
            text: &text,
        };
        let prefix = format!("{id}@{number}/{language}.{persona}");
        let messages = load_messages(&prefix, raw.messages, &declared, &src, problems, templates);
        variants.push(Variant {
            language,
            persona: persona.to_owned(),
            messages,
            path: entry.clone(),
        });
    }
    if problems.len() > before {
        return None;
    }
    variants.sort_by(|a, b| (&a.language, &a.persona).cmp(&(&b.language, &b.persona)));
    let mut languages: Vec<Language> = variants.iter().map(|v| v.language.clone()).collect();
    languages.dedup();
    Some(PromptVersion {
        number,
        summary: raw.summary.into_inner().trim().to_owned(),
        variables,
        variants,
        languages,
    })
}

/// The language and persona a variant file's name (`<language>.<persona>.toml`) declares;
/// `None` (reported) for anything else in the folder.
fn variant_tag<'n>(
    name: &'n str,
    is_dir: bool,
    entry: &Path,
    problems: &mut Vec<PromptProblem>,
) -> Option<(Language, &'n str)> {
    let tag = name
        .strip_suffix(".toml")
        .filter(|_| !is_dir)
        .and_then(|stem| stem.split_once('.'));
    let Some((lang, persona)) = tag else {
        let msg = "unexpected entry: a version folder holds `version.toml` and `<language>.<persona>.toml` files";
        problems.push(PromptProblem::new(entry, None, msg));
        return None;
    };
    let language = match Language::parse(lang) {
        Ok(l) if l.as_str() == lang => l,
        Ok(l) => {
            problems.push(PromptProblem::new(
                entry,
                None,
                format!("write the language tag as `{l}`"),
            ));
            return None;
        }
        Err(e) => {
            problems.push(PromptProblem::new(entry, None, e));
            return None;
        }
    };
    if !is_valid_id(persona) {
        let msg = format!("`{persona}` is not a valid persona (lowercase letters, digits and `-`)");
        problems.push(PromptProblem::new(entry, None, msg));
        return None;
    }
    Some((language, persona))
}

/// Checks one variant's messages: shape (system, then user/assistant pairs), templates, and
/// that the declared variables and the ones the templates read are the same set.
fn load_messages(
    prefix: &str,
    raw: Vec<RawMessage>,
    declared: &BTreeSet<String>,
    src: &Source<'_>,
    problems: &mut Vec<PromptProblem>,
    templates: &mut Vec<(String, String)>,
) -> Vec<MessageTemplate> {
    check_shape(&raw, src, problems);
    let mut used_anywhere = BTreeSet::new();
    let mut all_parsed = true;
    let mut messages = Vec::new();
    for (i, m) in raw.into_iter().enumerate() {
        let expected = check_role(i, &m.role, src, problems);
        let (line, first_line) = template_lines(src, m.template.span());
        let source = m.template.into_inner();
        if source.trim().is_empty() {
            problems.push(PromptProblem::new(src.path, Some(line), "empty template"));
        }
        let tera_name = format!("{prefix}/{i}");
        // Template lines are 1-based within the template; make them lines of the file.
        let in_file = |l: usize| first_line + l - 1;
        match templates::check(&tera_name, &source) {
            Ok(used) => {
                for name in used.difference(declared) {
                    let at = templates::find_line(&source, name).map_or(line, in_file);
                    let msg =
                        format!("the template uses `{name}`, which version.toml does not declare");
                    problems.push(PromptProblem::new(src.path, Some(at), msg));
                }
                used_anywhere.extend(used);
            }
            Err(found) => {
                all_parsed = false;
                for p in found {
                    let at = p.line.map_or(line, in_file);
                    problems.push(PromptProblem::new(src.path, Some(at), p.message));
                }
            }
        }
        templates.push((tera_name.clone(), source.clone()));
        messages.push(MessageTemplate {
            role: Role::parse(m.role.get_ref()).unwrap_or(expected),
            template: source,
            tera_name,
            line,
            first_line,
        });
    }
    // Unparsed templates may use anything: only report unused variables when all parsed.
    for name in declared.difference(&used_anywhere).filter(|_| all_parsed) {
        let msg =
            format!("variable `{name}` is declared in version.toml but this variant never uses it");
        problems.push(PromptProblem::new(src.path, None, msg));
    }
    messages
}

/// A system message first, then complete user/assistant pairs.
fn check_shape(raw: &[RawMessage], src: &Source<'_>, problems: &mut Vec<PromptProblem>) {
    if raw.is_empty() {
        problems.push(PromptProblem::new(
            src.path,
            None,
            "a variant needs at least a system message",
        ));
    }
    if raw.len() > 1 && raw.len().is_multiple_of(2) {
        let last = &raw[raw.len() - 1];
        problems.push(src.problem(
            last.role.span(),
            "few-shot messages come in user/assistant pairs",
        ));
    }
}

/// The role message `i` must have; a different or unknown one is reported.
fn check_role(
    i: usize,
    role: &Spanned<String>,
    src: &Source<'_>,
    problems: &mut Vec<PromptProblem>,
) -> Role {
    let expected = match i {
        0 => Role::System,
        i if i % 2 == 1 => Role::User,
        _ => Role::Assistant,
    };
    match Role::parse(role.get_ref()) {
        None => problems.push(src.problem(
            role.span(),
            format!(
                "unknown role `{}` (system, user or assistant)",
                role.get_ref()
            ),
        )),
        Some(found) if found != expected => {
            let msg = format!(
                "message {} is `{}` but must be `{}`: a system message first, then user/assistant pairs",
                i + 1,
                found.as_str(),
                expected.as_str()
            );
            problems.push(src.problem(role.span(), msg));
        }
        Some(_) => {}
    }
    expected
}

/// The line of the `template` value, and the file line of the template's own first line.
fn template_lines(src: &Source<'_>, span: std::ops::Range<usize>) -> (usize, usize) {
    let line = src.line(span.start);
    // A `'''` string that starts with a newline begins on the next line.
    let after_quotes = src.text.get(span.start + 3..).unwrap_or("");
    let multiline =
        src.text[span.start..].starts_with("'''") || src.text[span.start..].starts_with("\"\"\"");
    let first_line =
        if multiline && (after_quotes.starts_with('\n') || after_quotes.starts_with("\r\n")) {
            line + 1
        } else {
            line
        };
    (line, first_line)
}
