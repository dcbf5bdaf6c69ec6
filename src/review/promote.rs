//! Promotion: a reviewed conversation becomes a case of an eval set file, so what a nurse
//! corrected is checked on every prompt change from then on (`powerbirth review promote ITEM_ID
//! --evalset PATH`, and the admin's button on the item page).
//!
//! The case follows the eval set format (`docs/evals.md`): `id = "review-<item id>"`, not
//! required, language and persona from the conversation's `prompt_ref` (variables come from the
//! file's `[defaults]`: none are stored with conversations), `messages` = the conversation up to
//! its last user message (redacted as stored), `reference` = the nurse's corrected answer — or,
//! when no reviewer wrote one and every reviewer rated the answer ≥ 4 for clinical accuracy, the
//! answer as it was — `source = "review:<item id>"`, and assertions `language`, `similarity` ≥
//! 0.6 and `chrf` ≥ 20 against the reference, plus `escalated` when a nurse said it should have
//! been escalated.
//!
//! The file is appended to safely: its existing bytes are kept exactly, the new text is written
//! to a temporary file in the same directory and renamed over it (readers never see half a
//! file), and a `PATH.lock` file keeps two promotions from interleaving.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::batches::{self, PromptUse, Review};
use crate::prompts::PromptRegistry;
use crate::store::Store;
use crate::store::messages::MessageRecord;

/// Minimum clinical accuracy for the answer as it was to serve as the reference.
pub const MIN_ACCURACY_FOR_REFERENCE: i64 = 4;
/// Threshold of the `similarity` assertion (cosine, all-MiniLM-L6-v2).
pub const SIMILARITY_THRESHOLD: f64 = 0.6;
/// Threshold of the `chrf` assertion (sacreBLEU scale).
pub const CHRF_THRESHOLD: f64 = 20.0;
/// `{prompt}` in an eval set path is replaced by the conversation's prompt id (`raw` without one),
/// so one setting (`[review] evalset = "evalsets/{prompt}/reviewed.toml"`) serves every prompt.
pub const PROMPT_PLACEHOLDER: &str = "{prompt}";

/// Where the reference answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceSource {
    /// A nurse's corrected answer.
    Corrected,
    /// The assistant's answer as it was, rated ≥ 4 by every reviewer.
    Original,
}

/// The case written.
#[derive(Debug, Clone, Serialize)]
pub struct PromotedCase {
    pub id: String,
    pub path: PathBuf,
    /// The file did not exist and was created with a header.
    pub created_file: bool,
    pub prompt: Option<String>,
    pub reference_from: ReferenceSource,
    pub escalated: bool,
    /// The TOML appended.
    pub text: String,
}

/// Why an item was not promoted. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("review item {0} does not exist")]
    NotFound(String),
    #[error("review item {0} has not been reviewed yet; promote it once a nurse has reviewed it")]
    NotReviewed(String),
    #[error(
        "review item {item}: no reviewer wrote a corrected answer and the answer was rated {score}/5 for clinical accuracy, so there is no trustworthy reference (it needs a corrected answer, or every rating ≥ {MIN_ACCURACY_FOR_REFERENCE})"
    )]
    NoReference { item: String, score: i64 },
    #[error("review item {item}: {reason}")]
    Conversation { item: String, reason: String },
    #[error(
        "{path}: this eval set is for {file}, but the conversation used {conversation}; promote it into an eval set for {conversation}"
    )]
    WrongPrompt {
        path: PathBuf,
        file: String,
        conversation: String,
    },
    #[error("{path}: case {id} is already there; an item is promoted once")]
    Duplicate { path: PathBuf, id: String },
    #[error("{path}: {reason}")]
    Incompatible { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Appends review item `item_id` as a case of the eval set at `evalset` (`{prompt}` in the path
/// is replaced by the prompt id), checking it against `prompts` so the file still loads.
pub async fn promote(
    store: &Store,
    item_id: &str,
    evalset: &Path,
    prompts: &PromptRegistry,
) -> Result<PromotedCase, PromoteError> {
    let detail = batches::item_detail(store, item_id)
        .await?
        .ok_or_else(|| PromoteError::NotFound(item_id.to_string()))?;
    let reviews = batches::item_reviews(store, item_id).await?;
    let conversation_error = |reason: &str| PromoteError::Conversation {
        item: item_id.to_string(),
        reason: reason.to_string(),
    };
    let prompt_use = match detail.prompt_ref.as_deref() {
        None => None,
        Some(r) => Some(r.parse::<PromptUse>().map_err(|e| {
            conversation_error(&format!("its prompt reference does not parse: {e}"))
        })?),
    };
    let case = build_case(item_id, &detail.messages, &reviews, prompt_use)?;
    let path = resolve_path(
        evalset,
        case.prompt_use.as_ref().map(|u| u.prompt.id.as_str()),
    );
    let check = Compatibility::of(&case, prompts);
    let promoted = PromotedCase {
        id: case_id(item_id),
        path: path.clone(),
        created_file: false,
        prompt: case.prompt_use.as_ref().map(|u| u.prompt.id.clone()),
        reference_from: case.reference_from,
        escalated: case.escalated,
        text: String::new(),
    };
    let (created_file, text) = tokio::task::spawn_blocking(move || append(&path, &case, &check))
        .await
        .map_err(|e| PromoteError::File {
            path: promoted.path.clone(),
            reason: format!("the writer stopped: {e}"),
        })??;
    Ok(PromotedCase {
        created_file,
        text,
        ..promoted
    })
}

/// `evalset` with `{prompt}` replaced.
pub fn resolve_path(evalset: &Path, prompt_id: Option<&str>) -> PathBuf {
    let text = evalset.to_string_lossy();
    if text.contains(PROMPT_PLACEHOLDER) {
        PathBuf::from(text.replace(PROMPT_PLACEHOLDER, prompt_id.unwrap_or("raw")))
    } else {
        evalset.to_path_buf()
    }
}

fn case_id(item_id: &str) -> String {
    format!("review-{item_id}")
}

/// The case, before it is checked against a file.
#[derive(Debug, Clone)]
struct Case {
    item_id: String,
    prompt_use: Option<PromptUse>,
    messages: Vec<(String, String)>,
    reference: String,
    reference_from: ReferenceSource,
    escalated: bool,
}

/// The case of a reviewed conversation, or why there is none.
fn build_case(
    item_id: &str,
    messages: &[MessageRecord],
    reviews: &[Review],
    prompt_use: Option<PromptUse>,
) -> Result<Case, PromoteError> {
    let conversation_error = |reason: &str| PromoteError::Conversation {
        item: item_id.to_string(),
        reason: reason.to_string(),
    };
    if !is_case_id(&case_id(item_id)) {
        return Err(conversation_error(
            "its id cannot name an eval case ([a-z0-9-_]+)",
        ));
    }
    if reviews.is_empty() {
        return Err(PromoteError::NotReviewed(item_id.to_string()));
    }
    // What the user saw: their messages and the answers that reached them (failed calls left
    // nothing on screen; system messages are the prompt's business, rendered by the eval).
    let shown: Vec<&MessageRecord> = messages
        .iter()
        .filter(|m| m.role == "user" || (m.role == "assistant" && m.status != "error"))
        .collect();
    let last_user = shown
        .iter()
        .rposition(|m| m.role == "user")
        .ok_or_else(|| conversation_error("the conversation has no user message to replay"))?;
    let corrected = reviews
        .iter()
        .rev()
        .filter_map(|r| r.corrected_answer.as_deref())
        .find(|a| !a.trim().is_empty());
    let (reference, reference_from) = match corrected {
        Some(a) => (a.trim().to_string(), ReferenceSource::Corrected),
        None => {
            let lowest = reviews
                .iter()
                .map(|r| r.clinical_accuracy)
                .min()
                .unwrap_or(0);
            if lowest < MIN_ACCURACY_FOR_REFERENCE {
                return Err(PromoteError::NoReference {
                    item: item_id.to_string(),
                    score: lowest,
                });
            }
            let answer = shown[last_user + 1..]
                .iter()
                .find(|m| m.role == "assistant" && !m.content.trim().is_empty())
                .ok_or_else(|| {
                    conversation_error(
                        "the last message got no answer and no reviewer wrote a corrected one",
                    )
                })?;
            (answer.content.clone(), ReferenceSource::Original)
        }
    };
    Ok(Case {
        item_id: item_id.to_string(),
        prompt_use,
        messages: shown[..=last_user]
            .iter()
            .map(|m| (m.role.clone(), m.content.clone()))
            .collect(),
        reference,
        reference_from,
        escalated: reviews.iter().any(|r| r.should_escalate),
    })
}

/// `[a-z0-9-_]+`, the eval format's case ids.
fn is_case_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// What the prompt registry says about the case, taken before the file is read (the registry is
/// not `Send` across the blocking writer).
#[derive(Debug, Clone)]
struct Compatibility {
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
    fn of(case: &Case, prompts: &PromptRegistry) -> Compatibility {
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
fn append(path: &Path, case: &Case, check: &Compatibility) -> Result<(bool, String), PromoteError> {
    let file_error = |reason: String| PromoteError::File {
        path: path.to_path_buf(),
        reason,
    };
    let incompatible = |reason: String| PromoteError::Incompatible {
        path: path.to_path_buf(),
        reason,
    };
    let prompt_id = case.prompt_use.as_ref().map(|u| u.prompt.id.clone());
    if prompt_id.is_some() && check.versions.is_none() {
        return Err(incompatible(format!(
            "prompt `{}` is not in the prompts directory, so `eval run` could not run this case",
            prompt_id.as_deref().unwrap_or_default()
        )));
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
    let id = case_id(&case.item_id);
    let set_facts = match &existing {
        Some(bytes) => {
            let text =
                std::str::from_utf8(bytes).map_err(|_| file_error("is not UTF-8 text".into()))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| file_error(format!("is not valid TOML, fix it first: {e}")))?;
            SetFacts::read(&table).map_err(incompatible)?
        }
        None => SetFacts::default_for(prompt_id.clone()),
    };
    if set_facts.prompt != prompt_id {
        let name = |p: &Option<String>| match p {
            Some(p) => format!("prompt `{p}`"),
            None => "raw chat (no prompt)".to_string(),
        };
        return Err(PromoteError::WrongPrompt {
            path: path.to_path_buf(),
            file: name(&set_facts.prompt),
            conversation: name(&prompt_id),
        });
    }
    if set_facts.case_ids.contains(&id) {
        return Err(PromoteError::Duplicate {
            path: path.to_path_buf(),
            id,
        });
    }
    set_facts.accepts(case, check).map_err(incompatible)?;
    let block = case_toml(case);
    let mut text = Vec::new();
    let created = existing.is_none();
    match existing {
        Some(bytes) => {
            let ends_with_newline = bytes.last().is_none_or(|b| *b == b'\n');
            text.extend_from_slice(&bytes);
            if !ends_with_newline {
                text.push(b'\n');
            }
            text.push(b'\n');
        }
        None => text.extend_from_slice(header(prompt_id.as_deref()).as_bytes()),
    }
    text.extend_from_slice(block.as_bytes());
    // Never write a file that does not parse (a bug here must not break the eval set).
    std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .ok_or_else(|| file_error("the appended case would not parse; nothing written".into()))?;
    replace_file(path, &text).map_err(|e| file_error(format!("cannot write it: {e}")))?;
    Ok((created, block))
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
fn quote(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: &str, content: &str, status: &str) -> MessageRecord {
        let mut m = MessageRecord::new("c", "r", role, content.into(), 0);
        m.status = status.into();
        m
    }

    fn review(accuracy: i64, corrected: Option<&str>, escalate: bool) -> Review {
        Review {
            id: "rv".into(),
            item_id: "it".into(),
            reviewer_id: "u".into(),
            clinical_accuracy: accuracy,
            tone: 4,
            safety_problem: "none".into(),
            should_escalate: escalate,
            comment: None,
            corrected_answer: corrected.map(str::to_string),
            created_at: 0,
        }
    }

    fn conversation() -> Vec<MessageRecord> {
        vec![
            message("user", "oi", "ok"),
            message("assistant", "olá!", "ok"),
            message("user", "dor de cabeça", "ok"),
            message("assistant", "", "error"),
            message("user", "dor de cabeça forte", "ok"),
            message("assistant", "procure a maternidade hoje", "ok"),
        ]
    }

    #[test]
    fn the_case_replays_the_conversation_up_to_the_last_user_message_without_failed_calls() {
        let case = build_case("it-1", &conversation(), &[review(5, None, false)], None).unwrap();
        let roles: Vec<&str> = case.messages.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "user", "user"]);
        assert_eq!(case.messages[3].1, "dor de cabeça forte");
        assert_eq!(case.reference, "procure a maternidade hoje");
        assert_eq!(case.reference_from, ReferenceSource::Original);
    }

    #[test]
    fn a_corrected_answer_wins_over_the_original_even_when_rated_low() {
        let case = build_case(
            "it-1",
            &conversation(),
            &[review(2, Some("  Vá agora à maternidade.  "), true)],
            None,
        )
        .unwrap();
        assert_eq!(case.reference, "Vá agora à maternidade.");
        assert_eq!(case.reference_from, ReferenceSource::Corrected);
        assert!(case.escalated);
    }

    #[test]
    fn no_correction_and_any_rating_under_four_refuses() {
        let err = build_case(
            "it-1",
            &conversation(),
            &[review(5, None, false), review(3, Some("   "), false)],
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, PromoteError::NoReference { score: 3, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("3/5"));
        let err = build_case("it-1", &conversation(), &[], None).unwrap_err();
        assert!(matches!(err, PromoteError::NotReviewed(_)));
    }

    #[test]
    fn quoted_strings_round_trip_through_toml() {
        for s in [
            "plain",
            "a \"quote\" and \\ back",
            "line\nbreak\ttab\r",
            "nul\u{0}del\u{7f}",
            "ção 🤰",
        ] {
            let doc = format!("v = {}", quote(s));
            let t: toml::Table = doc.parse().unwrap_or_else(|e| panic!("{doc}: {e}"));
            assert_eq!(t["v"].as_str(), Some(s));
        }
    }

    #[test]
    fn the_placeholder_names_the_prompts_file() {
        assert_eq!(
            resolve_path(
                Path::new("evalsets/{prompt}/reviewed.toml"),
                Some("birth-plan")
            ),
            PathBuf::from("evalsets/birth-plan/reviewed.toml")
        );
        assert_eq!(
            resolve_path(Path::new("evalsets/{prompt}/reviewed.toml"), None),
            PathBuf::from("evalsets/raw/reviewed.toml")
        );
        assert_eq!(
            resolve_path(Path::new("x.toml"), Some("a")),
            PathBuf::from("x.toml")
        );
    }
}
