use std::path::Path;
use std::process::Command;

use super::{GREET_PROMPT, Tree, greet_variant};
use crate::prompts::{diff, lint};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
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
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// A git repository whose `prompts/` folder holds `greet`, committed.
fn repo() -> Tree {
    let tree = Tree::new();
    git(tree.dir(), &["init", "-q"]);
    tree.write_greet_in("prompts/");
    git(tree.dir(), &["add", "-A"]);
    git(tree.dir(), &["commit", "-q", "-m", "prompts"]);
    tree
}

fn lint_strings(tree: &Tree, base: Option<&str>) -> Vec<String> {
    tree.strip(&lint(&tree.dir().join("prompts"), base))
}

#[test]
fn lint_with_a_base_catches_an_edited_released_version_and_accepts_a_new_one() {
    let tree = repo();
    assert_eq!(lint_strings(&tree, Some("HEAD")), Vec::<String>::new());

    // A new version and a moved label are normal changes.
    tree.write(
        "prompts/greet/v3/version.toml",
        &format!("summary = \"Three.\"\n{}", super::GREET_VARIABLES),
    );
    for lang in ["pt-BR", "en"] {
        for persona in ["doula", "nurse"] {
            tree.write(
                &format!("prompts/greet/v3/{lang}.{persona}.toml"),
                &greet_variant(3, lang, persona),
            );
        }
    }
    tree.write(
        "prompts/greet/prompt.toml",
        &GREET_PROMPT.replace("staging = 2", "staging = 3"),
    );
    assert_eq!(lint_strings(&tree, Some("HEAD")), Vec::<String>::new());

    // Editing, adding to or removing from a released version is not.
    tree.write(
        "prompts/greet/v1/en.nurse.toml",
        &greet_variant(1, "en", "nurse").replace("hello", "hi"),
    );
    tree.write("prompts/greet/v2/notes.md", "why v2");
    std::fs::remove_file(tree.dir().join("prompts/greet/v2/en.nurse.toml")).unwrap();
    let problems = lint_strings(&tree, Some("HEAD"));
    assert_eq!(problems.len(), 3 + 1, "{problems:#?}"); // + v2 lost its en nurse persona
    let all = problems.join("\n");
    assert!(
        all.contains(
            "prompts/greet/v1/en.nurse.toml: released version greet@1 was changed since `HEAD`"
        ),
        "{all}"
    );
    assert!(
        all.contains("prompts/greet/v2/notes.md: added to released version greet@2"),
        "{all}"
    );
    assert!(
        all.contains("prompts/greet/v2/en.nurse.toml: removed from released version greet@2"),
        "{all}"
    );

    // Without a base, only the content checks run.
    assert_eq!(lint_strings(&tree, None).len(), 1);
}

#[test]
fn lint_with_an_unknown_base_says_so() {
    let tree = repo();
    let problems = lint_strings(&tree, Some("no-such-ref"));
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("--base `no-such-ref` is not a commit"),
        "{problems:#?}"
    );
}

#[test]
fn lint_requires_a_production_label_descriptions_and_no_placeholders() {
    let tree = Tree::with_greet();
    tree.write(
        "greet/prompt.toml",
        &GREET_PROMPT.replace("production = 1\n", ""),
    );
    let variant =
        greet_variant(2, "en", "nurse").replace("example answer", "TODO write the answer");
    tree.write("greet/v2/en.nurse.toml", &variant);
    let problems = tree.strip(&lint(tree.dir(), None));
    assert_eq!(
        problems,
        [
            "greet/prompt.toml:6: no `production` label: requests that name no version or label cannot use this prompt",
            "greet/v2/en.nurse.toml:14: placeholder text `TODO` in a template",
        ]
    );
}

#[test]
fn lint_reports_what_load_reports() {
    let tree = Tree::with_greet();
    tree.write(
        "greet/v1/en.doula.toml",
        "[[messages]]\nrole = \"system\"\ntemplate = \"{{ oops \"\n",
    );
    let problems = tree.strip(&lint(tree.dir(), None));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("greet/v1/en.doula.toml:3: template syntax error"),
        "{problems:#?}"
    );
}

#[test]
fn diff_shows_removed_and_added_lines_per_variant() {
    let tree = Tree::with_greet();
    let registry = tree.load().unwrap();
    let out = diff(&registry, "greet", 1, 2).unwrap();
    assert!(
        out.contains("--- greet@1/en.doula\n+++ greet@2/en.doula\n"),
        "{out}"
    );
    assert!(out.contains("\n-v1 en doula: hello"), "{out}");
    assert!(out.contains("\n+v2 en doula: hello"), "{out}");
    assert!(
        !out.contains("greet@1/variables"),
        "variables are the same: {out}"
    );
    assert_eq!(diff(&registry, "greet", 1, 1).unwrap(), "");
    assert!(diff(&registry, "greet", 1, 5).is_err());
}
