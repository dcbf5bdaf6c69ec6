//! Prompt registry: owns the versioned prompt files under `prompts/` and everything done with
//! them — reading the format (`format`, `versions`), checking variables and templates
//! (`variables`, `templates`), choosing a version, language and persona and rendering it (`render`,
//! `language`), lint and the "released versions never change" check against git (`lint`,
//! `released`), version diffs (`diff`) and the serializable shapes the API serves (`summary`).
//!
//! A [`PromptRegistry`] is immutable and fully validated: [`PromptRegistry::load`] either returns
//! a set in which every template compiled, every variable is declared and used, every label points
//! at a version and every variant renders, or it returns every problem found (`path:line:
//! message`). Rendering does no file IO and compiles nothing. The format is documented in
//! `docs/prompts.md`.

pub mod canary;
pub mod config;
mod diff;
mod format;
mod language;
mod lint;
mod model;
mod released;
mod render;
mod summary;
mod templates;
mod variables;
mod versions;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use diff::diff;
pub use language::Language;
pub(crate) use language::negotiate;
pub use lint::lint;
pub use model::{MessageTemplate, Prompt, PromptRef, PromptVersion, Role, Variant};
pub(crate) use released::git;
pub use render::{DEFAULT_LABEL, RenderError, Rendered, RenderedMessage};
pub use summary::{
    MessageTemplateSummary, PromptSummary, VariableSummary, VariantDetail, VersionDetail,
    VersionSummary,
};
pub use variables::{VariableKind, VariableSpec};

/// An immutable, fully validated set of prompts, built once at start-up (and on reload) and
/// shared behind an `Arc`; a reload builds a new one and swaps it in whole.
#[derive(Debug)]
pub struct PromptRegistry {
    prompts: BTreeMap<String, Prompt>,
    /// Every message template of every variant, compiled once; named by `MessageTemplate`.
    tera: tera::Tera,
}

impl PromptRegistry {
    /// Loads and validates every prompt under `dir`; any problem rejects the whole set, and every
    /// problem found is returned (sorted by path and line), not just the first.
    pub fn load(dir: &Path) -> Result<PromptRegistry, Vec<PromptProblem>> {
        let (registry, mut problems) = Self::load_partial(dir);
        if problems.is_empty() {
            Ok(registry)
        } else {
            problems.sort();
            problems.dedup();
            Err(problems)
        }
    }

    /// Loads what can be loaded: the prompts without problems, plus every problem. `lint` runs
    /// its own checks on the partial set so one broken prompt does not hide the others' problems.
    pub(crate) fn load_partial(dir: &Path) -> (PromptRegistry, Vec<PromptProblem>) {
        let loaded = format::load_dir(dir);
        let mut problems = loaded.problems;
        let mut tera = tera::Tera::default();
        if let Err(e) = tera.add_raw_templates(loaded.templates) {
            // Each template was already parsed alone, so this is not expected; never hide it.
            problems.push(PromptProblem::new(dir, None, templates::error_chain(&e)));
        }
        let prompts = loaded
            .prompts
            .into_iter()
            .map(|p| (p.id().to_owned(), p))
            .collect();
        let registry = PromptRegistry { prompts, tera };
        problems.extend(registry.smoke_render());
        (registry, problems)
    }

    /// A set with no prompts (a gateway configured without a prompts directory).
    pub fn empty() -> PromptRegistry {
        PromptRegistry {
            prompts: BTreeMap::new(),
            tera: tera::Tera::default(),
        }
    }

    /// Every prompt, sorted by id.
    pub fn prompts(&self) -> impl Iterator<Item = &Prompt> {
        self.prompts.values()
    }

    /// The prompt with this id.
    pub fn get(&self, id: &str) -> Option<&Prompt> {
        self.prompts.get(id)
    }

    /// One summary per prompt, sorted by id: the body of `GET /v1/prompts`.
    pub fn summaries(&self) -> Vec<PromptSummary> {
        self.prompts().map(Prompt::summary).collect()
    }
}

/// One problem in the prompt files, phrased for the author who has to fix it.
///
/// Displays as `path:line: message` (or `path: message` when no line applies), the form editors
/// and CI annotations understand.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct PromptProblem {
    pub path: PathBuf,
    /// 1-based line in `path`, when the problem is at one place in the file.
    pub line: Option<usize>,
    pub message: String,
}

impl PromptProblem {
    pub(crate) fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        PromptProblem {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for PromptProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}
