//! Tests of the prompt registry on real files in temporary folders; `greet` is a small prompt
//! that uses every variable type, two versions, two languages and two personas.

mod canary;
mod linting;
mod loading;
mod rendering;
mod shipped;

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{PromptProblem, PromptRegistry};

/// A prompts folder in a temporary directory.
pub(super) struct Tree {
    pub tmp: TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            tmp: TempDir::new().expect("temp dir"),
        }
    }

    /// A tree holding the `greet` prompt (valid).
    pub fn with_greet() -> Tree {
        let tree = Tree::new();
        tree.write_greet();
        tree
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.dir().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }

    pub fn load(&self) -> Result<PromptRegistry, Vec<PromptProblem>> {
        PromptRegistry::load(self.dir())
    }

    /// Loads and expects failure; the problems as `path:line: message` with the temp dir
    /// stripped, so assertions read like lint output.
    pub fn problems(&self) -> Vec<String> {
        let problems = self.load().expect_err("the load should fail");
        self.strip(&problems)
    }

    pub fn strip(&self, problems: &[PromptProblem]) -> Vec<String> {
        let prefix = format!("{}/", self.dir().display());
        problems
            .iter()
            .map(|p| p.to_string().replace(&prefix, ""))
            .collect()
    }

    pub fn write_greet(&self) {
        self.write_greet_in("");
    }

    /// Writes `greet` into `folder` (`""` or `"prompts/"`).
    pub fn write_greet_in(&self, folder: &str) {
        self.write(&format!("{folder}greet/prompt.toml"), GREET_PROMPT);
        for v in [1, 2] {
            self.write(
                &format!("{folder}greet/v{v}/version.toml"),
                &format!("summary = \"Version {v}.\"\n{GREET_VARIABLES}"),
            );
            for lang in ["pt-BR", "en"] {
                for persona in ["doula", "nurse"] {
                    let rel = format!("{folder}greet/v{v}/{lang}.{persona}.toml");
                    self.write(&rel, &greet_variant(v, lang, persona));
                }
            }
        }
    }
}

pub(super) const GREET_PROMPT: &str = r#"description = "Greets her."
owner = "tests"
default_language = "pt-BR"
default_persona = "doula"

[labels]
production = 1
staging = 2
"#;

pub(super) const GREET_VARIABLES: &str = r#"
[variables.name]
type = "string"
description = "Her name."
max_length = 20

[variables.week]
type = "integer"
description = "Gestational week."
min = 1
max = 42

[variables.tone]
type = "enum"
description = "Tone."
values = ["warm", "brief"]
default = "warm"

[variables.channel]
type = "string"
description = "Where she writes from."
required = true

[variables.first]
type = "bool"
description = "First pregnancy."
default = false
"#;

/// A variant whose text says which version, language and persona it is, with a few-shot pair.
pub(super) fn greet_variant(version: u32, lang: &str, persona: &str) -> String {
    format!(
        r#"[[messages]]
role = "system"
template = '''
v{version} {lang} {persona}: hello{{% if name %}}, {{{{ name }}}}{{% endif %}} via {{{{ channel }}}} ({{{{ tone }}}}).
{{% if week %}}week {{{{ week }}}}{{% if week >= 37 %}} (term){{% endif %}}.{{% endif %}}{{% if first %}} first{{% endif %}}
'''

[[messages]]
role = "user"
template = "example question"

[[messages]]
role = "assistant"
template = "example answer"
"#
    )
}
