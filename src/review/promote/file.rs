//! The eval set file side of promotion: whether the file can take the case (its prompt, languages,
//! personas and `[defaults]` variables), the case and header as TOML text, and the safe append
//! (existing bytes kept, temporary file renamed over it, a `PATH.lock` against interleaving).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CHRF_THRESHOLD, Case, PromoteError, SIMILARITY_THRESHOLD, case_id};
use crate::prompts::PromptRegistry;

/// What the prompt registry says about the case, taken before the file is read (the registry is
/// not `Send` across the blocking writer).
#[derive(Debug, Clone)]
pub(super) struct Compatibility {
    /// `None`: the conversation's prompt is unknown to the registry.
    versions: Option<Vec<VersionFacts>>,
    labels: Vec<(String, u32)>,
}

/// Per prompt version: whether it has the case's variant, and its required variables.
#[derive(Debug, Clone)]
struct VersionFacts {
    number: u32,
    has_variant: bool,
    required: Vec<String>,
}

impl Compatibility {
    pub(super) fn of(case: &Case, prompts: &PromptRegistry) -> Compatibility {
        let Some(u) = &case.prompt_use else {
            return Compatibility {
                versions: Some(Vec::new()),
                labels: Vec::new(),
            };
        };
        let Some(prompt) = prompts.get(&u.prompt.id) else {
            return Compatibility {
                versions: None,
                labels: Vec::new(),
            };
        };
        Compatibility {
            versions: Some(
                prompt
                    .versions()
                    .map(|v| VersionFacts {
                        number: v.number(),
                        has_variant: v.variant(&u.language, &u.persona).is_some(),
                        required: v
                            .variables()
                            .iter()
                            .filter(|s| s.is_required())
                            .map(|s| s.name().to_string())
                            .collect(),
                    })
                    .collect(),
            ),
            labels: prompt
                .labels()
                .iter()
                .map(|(l, v)| (l.clone(), *v))
                .collect(),
        }
    }
}

/// Checks the case against the file (or its absence) and appends it. Blocking IO.
pub(super) fn append(
    path: &Path,
    case: &Case,
    check: &Compatibility,
) -> Result<(bool, String), PromoteError> {
    let file_error = |reason: String| file_error(path, reason);
    let prompt_id = case.prompt_use.as_ref().map(|u| u.prompt.id.clone());
    if prompt_id.is_some() && check.versions.is_none() {
        return Err(incompatible(
            path,
            format!(
                "prompt `{}` is not in the prompts directory, so `eval run` could not run this case",
                prompt_id.as_deref().unwrap_or_default()
            ),
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| file_error(format!("cannot create its directory: {e}")))?;
    }
    let _lock = FileLock::acquire(path).map_err(file_error)?;
    let existing = match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(file_error(format!("cannot read it: {e}"))),
    };
    let set_facts = match &existing {
        Some(bytes) => read_facts(path, bytes)?,
        None => SetFacts::default_for(prompt_id.clone()),
    };
    check_fits(path, &set_facts, prompt_id.as_ref(), case, check)?;
    let block = case_toml(case);
    let created = existing.is_none();
    let text = appended(existing, prompt_id.as_deref(), &block);
    // Never write a file that does not parse (a bug here must not break the eval set).
    std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .ok_or_else(|| file_error("the appended case would not parse; nothing written".into()))?;
    replace_file(path, &text).map_err(|e| file_error(format!("cannot write it: {e}")))?;
    Ok((created, block))
}

fn file_error(path: &Path, reason: String) -> PromoteError {
    PromoteError::File {
        path: path.to_path_buf(),
        reason,
    }
}

fn incompatible(path: &Path, reason: String) -> PromoteError {
    PromoteError::Incompatible {
        path: path.to_path_buf(),
        reason,
    }
}

/// What an existing eval set file says about itself (its prompt, cases, defaults).
fn read_facts(path: &Path, bytes: &[u8]) -> Result<SetFacts, PromoteError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| file_error(path, "is not UTF-8 text".into()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| file_error(path, format!("is not valid TOML, fix it first: {e}")))?;
    SetFacts::read(&table).map_err(|reason| incompatible(path, reason))
}

/// Refuses a case for another prompt than the file's, one already there, or one the file's
/// settings would not run.
fn check_fits(
    path: &Path,
    set_facts: &SetFacts,
    prompt_id: Option<&String>,
    case: &Case,
    check: &Compatibility,
) -> Result<(), PromoteError> {
    if set_facts.prompt.as_ref() != prompt_id {
        let name = |p: Option<&String>| match p {
            Some(p) => format!("prompt `{p}`"),
            None => "raw chat (no prompt)".to_string(),
        };
        return Err(PromoteError::WrongPrompt {
            path: path.to_path_buf(),
            file: name(set_facts.prompt.as_ref()),
            conversation: name(prompt_id),
        });
    }
    let id = case_id(&case.item_id);
    if set_facts.case_ids.contains(&id) {
        return Err(PromoteError::Duplicate {
            path: path.to_path_buf(),
            id,
        });
    }
    set_facts
        .accepts(case, check)
        .map_err(|reason| incompatible(path, reason))
}

/// The file's bytes kept exactly, a blank line, then `block`; or a new file's header and `block`.
fn appended(existing: Option<Vec<u8>>, prompt_id: Option<&str>, block: &str) -> Vec<u8> {
    let mut text = Vec::new();
    match existing {
        Some(bytes) => {
            let ends_with_newline = bytes.last().is_none_or(|b| *b == b'\n');
            text.extend_from_slice(&bytes);
            if !ends_with_newline {
                text.push(b'\n');
            }
            text.push(b'\n');
        }
        None => text.extend_from_slice(header(prompt_id).as_bytes()),
    }
    text.extend_from_slice(block.as_bytes());
    text
}

/// The parts of an existing eval set that decide whether the case fits.
#[derive(Debug, Default)]
struct SetFacts {
    prompt: Option<String>,
    version: Option<u32>,
    label: Option<String>,
    languages: Option<Vec<String>>,
    personas: Option<Vec<String>>,
    default_vars: BTreeSet<String>,
    case_ids: BTreeSet<String>,
}

impl SetFacts {
    fn default_for(prompt: Option<String>) -> SetFacts {
        SetFacts {
            prompt,
            ..SetFacts::default()
        }
    }

    fn read(t: &toml::Table) -> Result<SetFacts, String> {
        let string = |v: &toml::Value, key: &str| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{key}` must be a string"))
        };
        let strings = |key: &str| -> Result<Option<Vec<String>>, String> {
            match t.get(key) {
                None => Ok(None),
                Some(toml::Value::Array(a)) => a
                    .iter()
                    .map(|v| string(v, key))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(format!("`{key}` must be an array of strings")),
            }
        };
        let defaults = t.get("defaults").and_then(toml::Value::as_table);
        let default_vars = defaults
            .and_then(|d| d.get("vars"))
            .and_then(toml::Value::as_table)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default();
        let case_ids = match t.get("cases") {
            None => BTreeSet::new(),
            Some(toml::Value::Array(cases)) => cases
                .iter()
                .filter_map(|c| c.get("id").and_then(toml::Value::as_str))
                .map(str::to_string)
                .collect(),
            Some(_) => return Err("`cases` must be an array of tables ([[cases]])".into()),
        };
        Ok(SetFacts {
            prompt: t.get("prompt").map(|v| string(v, "prompt")).transpose()?,
            version: match t.get("version") {
                None => None,
                Some(v) => Some(
                    v.as_integer()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or("`version` must be a whole number")?,
                ),
            },
            label: t.get("label").map(|v| string(v, "label")).transpose()?,
            languages: strings("languages")?,
            personas: strings("personas")?,
            default_vars,
            case_ids,
        })
    }

    /// The case's language and persona are covered, its prompt version has the variant, and the
    /// file's defaults give every required variable.
    fn accepts(&self, case: &Case, check: &Compatibility) -> Result<(), String> {
        let Some(u) = &case.prompt_use else {
            return Ok(());
        };
        if let Some(langs) = &self.languages
            && !langs.iter().any(|l| l == u.language.as_str())
        {
            return Err(format!(
                "the set covers languages {langs:?}; add \"{}\" to `languages` to take this conversation",
                u.language
            ));
        }
        if let Some(personas) = &self.personas
            && !personas.contains(&u.persona)
        {
            return Err(format!(
                "the set covers personas {personas:?}; add \"{}\" to `personas` to take this conversation",
                u.persona
            ));
        }
        let label = self
            .label
            .as_deref()
            .unwrap_or(crate::prompts::DEFAULT_LABEL);
        let number = match self.version {
            Some(v) => v,
            None => check
                .labels
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, v)| *v)
                .ok_or_else(|| format!("prompt `{}` has no label `{label}`", u.prompt.id))?,
        };
        let facts = check
            .versions
            .iter()
            .flatten()
            .find(|f| f.number == number)
            .ok_or_else(|| format!("prompt `{}` has no version {number}", u.prompt.id))?;
        if !facts.has_variant {
            return Err(format!(
                "prompt `{}` version {number} (the one this set runs) has no variant for {} / {}",
                u.prompt.id, u.language, u.persona
            ));
        }
        let missing: Vec<&String> = facts
            .required
            .iter()
            .filter(|v| !self.default_vars.contains(*v))
            .collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "prompt `{}` version {number} requires {}, and conversations do not store variables: give {} under `[defaults]` (`vars = {{ {} = … }}`) and promote again",
                u.prompt.id,
                names.join(", "),
                if names.len() == 1 { "it" } else { "them" },
                names[0]
            ));
        }
        Ok(())
    }
}

/// The header of a new eval set.
fn header(prompt: Option<&str>) -> String {
    let mut h = String::from(
        "# Conversations reviewed by nurses, promoted with `powerbirth review promote`.\n\
         # Each case replays the conversation and compares the answer with the nurse's reference.\n",
    );
    if let Some(p) = prompt {
        let _ = writeln!(h, "prompt = {}", quote(p));
    }
    let _ = writeln!(
        h,
        "description = {}",
        quote(
            "Reviewed conversations: the answer must stay close to what a nurse confirmed or corrected."
        )
    );
    h.push('\n');
    h
}

/// The `[[cases]]` block of a case.
fn case_toml(case: &Case) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "[[cases]]");
    let _ = writeln!(t, "id = {}", quote(&case_id(&case.item_id)));
    let _ = writeln!(t, "required = false");
    if let Some(u) = &case.prompt_use {
        let _ = writeln!(t, "language = {}", quote(u.language.as_str()));
        let _ = writeln!(t, "persona = {}", quote(&u.persona));
    }
    let _ = writeln!(t, "messages = [");
    for (role, content) in &case.messages {
        let _ = writeln!(
            t,
            "  {{ role = {}, content = {} }},",
            quote(role),
            quote(content)
        );
    }
    let _ = writeln!(t, "]");
    let _ = writeln!(t, "reference = {}", quote(&case.reference));
    let _ = writeln!(t, "source = {}", quote(&format!("review:{}", case.item_id)));
    let _ = writeln!(t, "assert = [");
    if let Some(lang) = case
        .prompt_use
        .as_ref()
        .map(|u| u.language.primary())
        .filter(|l| *l == "pt" || *l == "en")
    {
        let _ = writeln!(t, "  {{ type = \"language\", value = {} }},", quote(lang));
    }
    let _ = writeln!(
        t,
        "  {{ type = \"similarity\", threshold = {SIMILARITY_THRESHOLD:?} }},"
    );
    let _ = writeln!(
        t,
        "  {{ type = \"chrf\", threshold = {CHRF_THRESHOLD:?} }},"
    );
    if case.escalated {
        let _ = writeln!(t, "  {{ type = \"escalated\" }},");
    }
    let _ = writeln!(t, "]");
    t
}

/// A TOML basic string: quotes, backslashes and every control character escaped (TOML 1.0 §
/// String), so any stored text round-trips.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk and renames it over
/// `path`: the file is replaced whole or not at all.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = sibling(path, &format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `dir/.name<suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{suffix}"))
}

/// `dir/.name.lock`, created exclusively and removed on drop: one promotion at a time per file,
/// across processes (the server's button and the CLI).
struct FileLock(PathBuf);

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock, String> {
        let lock = sibling(path, ".lock");
        for _ in 0..100 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => return Ok(FileLock(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(format!("cannot create the lock {}: {e}", lock.display())),
            }
        }
        Err(format!(
            "another promotion is writing this file (lock {}); if none is running, delete the lock and try again",
            lock.display()
        ))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
