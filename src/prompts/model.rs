//! The validated prompt model: a prompt, its immutable versions, their language × persona
//! variants and message templates, and `PromptRef` (`id@version`), the reference every logged
//! message carries. Values of these types only come out of the loader, already checked.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::language::Language;
use super::variables::VariableSpec;

/// A prompt: one folder under `prompts/`, with its labels and versions.
#[derive(Debug)]
pub struct Prompt {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) owner: String,
    pub(crate) default_language: Language,
    pub(crate) default_persona: String,
    pub(crate) labels: BTreeMap<String, u32>,
    /// The `canary` label's traffic share and policy, when it is written as a table.
    pub(crate) canary: Option<super::canary::CanaryPolicy>,
    pub(crate) versions: BTreeMap<u32, PromptVersion>,
    /// The prompt's folder (for messages and lint).
    pub(crate) dir: PathBuf,
}

impl Prompt {
    /// The prompt id: its folder name (`assistant-general`).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Who answers for this prompt's content (a team or person).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Used when neither the request nor `Accept-Language` picks a language; every version has it.
    pub fn default_language(&self) -> &Language {
        &self.default_language
    }

    /// Used when the request names no persona; every language of every version has it.
    pub fn default_persona(&self) -> &str {
        &self.default_persona
    }

    /// Label → version (`production` → 1), sorted by label.
    pub fn labels(&self) -> &BTreeMap<String, u32> {
        &self.labels
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = &PromptVersion> {
        self.versions.values()
    }

    pub fn version(&self, number: u32) -> Option<&PromptVersion> {
        self.versions.get(&number)
    }

    /// The labels that point at `number`.
    pub fn labels_of(&self, number: u32) -> impl Iterator<Item = &str> {
        self.labels
            .iter()
            .filter(move |(_, v)| **v == number)
            .map(|(l, _)| l.as_str())
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One immutable version of a prompt: its variables and its variants.
#[derive(Debug)]
pub struct PromptVersion {
    pub(crate) number: u32,
    pub(crate) summary: String,
    /// Sorted by name.
    pub(crate) variables: Vec<VariableSpec>,
    /// Sorted by (language, persona).
    pub(crate) variants: Vec<Variant>,
    /// The distinct languages of `variants`, sorted (precomputed for negotiation).
    pub(crate) languages: Vec<Language>,
}

impl PromptVersion {
    pub fn number(&self) -> u32 {
        self.number
    }

    /// What this version changed and why (from `version.toml`).
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// Declared variables, sorted by name.
    pub fn variables(&self) -> &[VariableSpec] {
        &self.variables
    }

    pub fn variable(&self, name: &str) -> Option<&VariableSpec> {
        self.variables.iter().find(|v| v.name() == name)
    }

    /// Variants sorted by (language, persona).
    pub fn variants(&self) -> &[Variant] {
        &self.variants
    }

    pub fn variant(&self, language: &Language, persona: &str) -> Option<&Variant> {
        self.variants
            .iter()
            .find(|v| &v.language == language && v.persona == persona)
    }

    /// The languages this version has, sorted.
    pub fn languages(&self) -> &[Language] {
        &self.languages
    }

    /// The personas this version has in any language, sorted and deduplicated.
    pub fn personas(&self) -> Vec<&str> {
        let mut personas: Vec<&str> = self.variants.iter().map(|v| v.persona.as_str()).collect();
        personas.sort_unstable();
        personas.dedup();
        personas
    }
}

/// The messages of one version in one language and persona (one file, `<lang>.<persona>.toml`).
#[derive(Debug)]
pub struct Variant {
    pub(crate) language: Language,
    pub(crate) persona: String,
    pub(crate) messages: Vec<MessageTemplate>,
    pub(crate) path: PathBuf,
}

impl Variant {
    pub fn language(&self) -> &Language {
        &self.language
    }

    pub fn persona(&self) -> &str {
        &self.persona
    }

    /// A system message, then zero or more few-shot user/assistant pairs.
    pub fn messages(&self) -> &[MessageTemplate] {
        &self.messages
    }

    /// The file this variant was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// One message of a variant: a role and its tera template source.
#[derive(Debug)]
pub struct MessageTemplate {
    pub(crate) role: Role,
    pub(crate) template: String,
    /// Name of the compiled template in the registry's `Tera`.
    pub(crate) tera_name: String,
    /// Line of the `template` key in the variant file.
    pub(crate) line: usize,
    /// Line of the template's first line of text in the variant file.
    pub(crate) first_line: usize,
}

impl MessageTemplate {
    pub fn role(&self) -> Role {
        self.role
    }

    /// The template source, as written in the file.
    pub fn template(&self) -> &str {
        &self.template
    }
}

/// Who says a message, as in OpenAI's chat API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Role> {
        match s {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

/// Which prompt version produced a message: `id@version`, parsed once and passed as a type.
/// Serializes as the string `"id@version"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PromptRef {
    pub id: String,
    pub version: u32,
}

impl fmt::Display for PromptRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.version)
    }
}

impl FromStr for PromptRef {
    type Err = String;

    /// Parses `id@version` (`assistant-general@2`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, version) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("`{s}` is not a prompt reference (id@version)"))?;
        if !is_valid_id(id) {
            return Err(format!(
                "`{id}` is not a prompt id (lowercase letters, digits and `-`)"
            ));
        }
        match version.parse::<u32>() {
            Ok(v) if v >= 1 && !version.starts_with('0') => Ok(PromptRef {
                id: id.to_owned(),
                version: v,
            }),
            _ => Err(format!(
                "`{version}` is not a prompt version (a whole number from 1)"
            )),
        }
    }
}

impl serde::Serialize for PromptRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PromptRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Prompt ids, personas and labels: lowercase ASCII letters and digits with inner `-`.
pub(crate) fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_ref_round_trips_through_its_string_form() {
        let r: PromptRef = "assistant-general@12".parse().unwrap();
        assert_eq!(
            r,
            PromptRef {
                id: "assistant-general".into(),
                version: 12
            }
        );
        assert_eq!(r.to_string(), "assistant-general@12");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"assistant-general@12\""
        );
        let back: PromptRef = serde_json::from_str("\"assistant-general@12\"").unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_prompt_ref_without_a_valid_version_or_id_is_refused() {
        for bad in [
            "assistant-general",
            "assistant-general@0",
            "a@01",
            "A@1",
            "@1",
            "a@x",
            "a@-1",
        ] {
            assert!(bad.parse::<PromptRef>().is_err(), "{bad} should not parse");
        }
    }
}
