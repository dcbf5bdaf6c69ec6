//! Change selection for `eval run --changed-since REF`: which eval sets a change touches, and why.
//!
//! A set is selected when its own file changed, or when any file of the prompt it evaluates
//! (`prompts/<id>/**`) changed. "Changed" means: in a commit since the merge base of `REF` and
//! `HEAD` (`git diff REF...HEAD`, what a pull request shows), staged or unstaged in the working
//! tree, or untracked (a new file not yet added). Renames count as a deletion and an addition, so
//! moving a prompt file selects its sets too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::prompts::git;

/// The folder, relative to the repository root, whose `<id>/` subfolders hold the prompts.
pub const PROMPTS_DIR: &str = "prompts";

/// An eval set as the selection needs it: where its file is and which prompt it evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSource {
    /// The set's file, absolute or relative to the working directory.
    pub path: PathBuf,
    /// The prompt id it evaluates (`prompt = "…"`); `None` for raw chat cases.
    pub prompt: Option<String>,
}

/// A selected set and every reason it was selected, e.g.
/// `prompts/birth-plan/v1/pt-BR.doula.toml changed since main`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The set's path exactly as given in [`SetSource::path`].
    pub path: PathBuf,
    pub reasons: Vec<String>,
}

/// Why a selection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChangedError {
    #[error("{root}: not inside a git repository ({detail})")]
    NotARepository { root: PathBuf, detail: String },
    #[error(
        "unknown git ref {git_ref:?}: it names no commit here (fetch it first, e.g. `git fetch origin {git_ref}`, or check its spelling)"
    )]
    UnknownRef { git_ref: String },
    #[error("{0}")]
    Git(String),
}

/// How a path differs from the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    Committed,
    Uncommitted,
    Untracked,
}

impl Change {
    fn describe(self, path: &str, git_ref: &str) -> String {
        match self {
            Change::Committed => format!("{path} changed since {git_ref}"),
            Change::Uncommitted => format!("{path} changed (not committed)"),
            Change::Untracked => format!("{path} added (untracked)"),
        }
    }
}

/// Selects, among `all_sets`, those that changes since `git_ref` touch, in the order given, each
/// with its reasons. Sets nothing touches are left out.
pub fn select(
    repo_root: &Path,
    git_ref: &str,
    all_sets: &[SetSource],
) -> Result<Vec<Selected>, ChangedError> {
    let toplevel = git(repo_root, &["rev-parse", "--show-toplevel"]).map_err(|detail| {
        ChangedError::NotARepository {
            root: repo_root.to_path_buf(),
            detail,
        }
    })?;
    let toplevel = PathBuf::from(toplevel.trim_end_matches(['\n', '\r']));
    let toplevel = toplevel.canonicalize().unwrap_or(toplevel);

    let commit = format!("{git_ref}^{{commit}}");
    if git(
        &toplevel,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &commit,
        ],
    )
    .is_err()
    {
        return Err(ChangedError::UnknownRef {
            git_ref: git_ref.to_string(),
        });
    }

    let changes = changed_paths(&toplevel, git_ref).map_err(ChangedError::Git)?;

    let mut selected = Vec::new();
    for set in all_sets {
        let own = relative_to(&toplevel, repo_root, &set.path);
        let prompt_prefix = set
            .prompt
            .as_deref()
            .map(|id| format!("{PROMPTS_DIR}/{id}/"));
        let reasons: Vec<String> = changes
            .iter()
            .filter(|(path, _)| {
                own.as_deref() == Some(path.as_str())
                    || prompt_prefix
                        .as_deref()
                        .is_some_and(|prefix| path.starts_with(prefix))
            })
            .map(|(path, change)| change.describe(path, git_ref))
            .collect();
        if !reasons.is_empty() {
            selected.push(Selected {
                path: set.path.clone(),
                reasons,
            });
        }
    }
    Ok(selected)
}

/// Every changed path (relative to the top level, `/`-separated) with how it changed; a path
/// both committed and edited again reads as committed (the older, larger change).
fn changed_paths(toplevel: &Path, git_ref: &str) -> Result<BTreeMap<String, Change>, String> {
    let range = format!("{git_ref}...HEAD");
    let listings = [
        (
            Change::Committed,
            git(
                toplevel,
                &["diff", "--name-only", "--no-renames", "-z", &range, "--"],
            )?,
        ),
        (
            Change::Uncommitted,
            git(
                toplevel,
                &["diff", "--name-only", "--no-renames", "-z", "HEAD", "--"],
            )?,
        ),
        (
            Change::Untracked,
            git(
                toplevel,
                &["ls-files", "--others", "--exclude-standard", "-z"],
            )?,
        ),
    ];
    let mut changes = BTreeMap::new();
    for (change, listing) in listings {
        for path in listing.split('\0').filter(|p| !p.is_empty()) {
            changes.entry(path.to_string()).or_insert(change);
        }
    }
    Ok(changes)
}

/// `path` relative to the repository's top level, `/`-separated, when it lies inside it.
/// A relative path is read from `repo_root`, else from the working directory.
fn relative_to(toplevel: &Path, repo_root: &Path, path: &Path) -> Option<String> {
    let candidates = [repo_root.join(path), path.to_path_buf()];
    let absolute = candidates.iter().find_map(|p| p.canonicalize().ok())?;
    let relative = absolute.strip_prefix(toplevel).ok()?;
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn run_git(dir: &Path, args: &[&str]) {
        let output = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.org",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// A repository on branch `main` with two prompts, a set for each and a raw-chat set.
    fn repo() -> (tempfile::TempDir, Vec<SetSource>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        run_git(root, &["init", "-q", "-b", "main"]);
        write(
            root,
            "prompts/birth-plan/v1/pt-BR.doula.toml",
            "template = 'a'\n",
        );
        write(
            root,
            "prompts/birth-plan/prompt.toml",
            "id = 'birth-plan'\n",
        );
        write(root, "prompts/birth-plan-extra/prompt.toml", "id = 'x'\n");
        write(
            root,
            "prompts/postpartum/v1/en.nurse.toml",
            "template = 'b'\n",
        );
        write(
            root,
            "evalsets/birth-plan/core.toml",
            "prompt = 'birth-plan'\n",
        );
        write(
            root,
            "evalsets/postpartum/core.toml",
            "prompt = 'postpartum'\n",
        );
        write(root, "evalsets/raw.toml", "# raw chat\n");
        run_git(root, &["add", "-A"]);
        run_git(root, &["commit", "-q", "-m", "start"]);
        run_git(root, &["checkout", "-q", "-b", "feature"]);
        let sets = vec![
            SetSource {
                path: root.join("evalsets/birth-plan/core.toml"),
                prompt: Some("birth-plan".into()),
            },
            SetSource {
                path: root.join("evalsets/postpartum/core.toml"),
                prompt: Some("postpartum".into()),
            },
            SetSource {
                path: root.join("evalsets/raw.toml"),
                prompt: None,
            },
        ];
        (dir, sets)
    }

    #[test]
    fn a_committed_template_change_selects_only_that_prompts_sets() {
        let (dir, sets) = repo();
        write(
            dir.path(),
            "prompts/birth-plan/v1/pt-BR.doula.toml",
            "template = 'changed'\n",
        );
        run_git(dir.path(), &["commit", "-q", "-am", "edit"]);

        let selected = select(dir.path(), "main", &sets).expect("selects");
        assert_eq!(
            selected,
            vec![Selected {
                path: sets[0].path.clone(),
                reasons: vec!["prompts/birth-plan/v1/pt-BR.doula.toml changed since main".into()],
            }]
        );
    }

    #[test]
    fn nothing_changed_selects_nothing() {
        let (dir, sets) = repo();
        assert_eq!(select(dir.path(), "main", &sets).expect("selects"), vec![]);
    }

    #[test]
    fn a_prompt_whose_id_extends_another_does_not_select_the_shorter_ones_sets() {
        let (dir, sets) = repo();
        write(
            dir.path(),
            "prompts/birth-plan-extra/prompt.toml",
            "id = 'y'\n",
        );
        assert_eq!(select(dir.path(), "main", &sets).expect("selects"), vec![]);
    }

    #[test]
    fn uncommitted_and_untracked_changes_count_and_say_so() {
        let (dir, sets) = repo();
        write(dir.path(), "evalsets/raw.toml", "# raw chat, edited\n");
        write(
            dir.path(),
            "prompts/postpartum/v2/en.nurse.toml",
            "template = 'c'\n",
        );
        write(
            dir.path(),
            "evalsets/postpartum/core.toml",
            "prompt = 'postpartum' # x\n",
        );
        run_git(dir.path(), &["add", "evalsets/postpartum/core.toml"]);

        let selected = select(dir.path(), "main", &sets).expect("selects");
        assert_eq!(
            selected,
            vec![
                Selected {
                    path: sets[1].path.clone(),
                    reasons: vec![
                        "evalsets/postpartum/core.toml changed (not committed)".into(),
                        "prompts/postpartum/v2/en.nurse.toml added (untracked)".into(),
                    ],
                },
                Selected {
                    path: sets[2].path.clone(),
                    reasons: vec!["evalsets/raw.toml changed (not committed)".into()],
                },
            ]
        );
    }

    #[test]
    fn a_deleted_prompt_file_selects_its_sets() {
        let (dir, sets) = repo();
        run_git(
            dir.path(),
            &["rm", "-q", "prompts/postpartum/v1/en.nurse.toml"],
        );
        run_git(dir.path(), &["commit", "-q", "-m", "drop"]);
        let selected = select(dir.path(), "main", &sets).expect("selects");
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].path, sets[1].path);
    }

    #[test]
    fn relative_set_paths_are_read_from_the_repository_root() {
        let (dir, _) = repo();
        write(dir.path(), "evalsets/raw.toml", "# edited\n");
        let sets = [SetSource {
            path: PathBuf::from("evalsets/raw.toml"),
            prompt: None,
        }];
        let selected = select(dir.path(), "main", &sets).expect("selects");
        assert_eq!(selected[0].path, PathBuf::from("evalsets/raw.toml"));
    }

    #[test]
    fn an_unknown_ref_is_a_clear_error() {
        let (dir, sets) = repo();
        let err = select(dir.path(), "no-such-branch", &sets).expect_err("fails");
        assert!(matches!(err, ChangedError::UnknownRef { .. }));
        assert!(err.to_string().contains("\"no-such-branch\""), "{err}");
    }

    #[test]
    fn a_ref_that_looks_like_an_option_is_an_unknown_ref_not_a_git_flag() {
        let (dir, sets) = repo();
        let target = dir.path().join("written");
        let git_ref = format!("--output={}", target.display());
        let err = select(dir.path(), &git_ref, &sets).expect_err("fails");
        assert!(matches!(err, ChangedError::UnknownRef { .. }), "{err}");
        assert!(!target.exists());
    }

    #[test]
    fn a_folder_outside_git_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = select(dir.path(), "main", &[]).expect_err("fails");
        assert!(
            err.to_string().contains("not inside a git repository"),
            "{err}"
        );
    }
}
