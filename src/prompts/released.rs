//! "Released versions never change", checked against git: every version folder that exists at
//! a base ref (`origin/main` in CI) must hold exactly the same files now, byte for byte
//! (compared as git blob ids, so line-ending filters apply as they would on commit).
//!
//! Removing a whole version folder is allowed (retiring a version; a label still pointing at it
//! fails the load), but removing, adding or editing a file inside one is not: a change in
//! behaviour needs a new version. Dotfiles are ignored, as the loader ignores them. Uses the `git`
//! CLI, run in the repository that contains the prompts folder.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::PromptProblem;

/// Problems for every released version (at `base`) whose files differ in the working tree.
pub(crate) fn changed_since(dir: &Path, base: &str) -> Vec<PromptProblem> {
    match check(dir, base) {
        Ok(problems) => problems,
        Err(message) => vec![PromptProblem::new(dir, None, message)],
    }
}

/// (prompt id, version folder) → file path inside the version folder → blob id at base.
type Released = BTreeMap<(String, String), BTreeMap<String, String>>;

fn check(dir: &Path, base: &str) -> Result<Vec<PromptProblem>, String> {
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("cannot read folder: {e}"))?;
    let root = git(&dir, &["rev-parse", "--show-toplevel"])?;
    let root = PathBuf::from(root.trim())
        .canonicalize()
        .map_err(|e| format!("cannot read git root: {e}"))?;
    let prefix = dir
        .strip_prefix(&root)
        .map_err(|_| "the prompts folder is outside its git repository".to_owned())?;
    let prefix = prefix
        .to_str()
        .ok_or("the prompts folder path is not UTF-8")?
        .replace('\\', "/");
    let commit = format!("{base}^{{commit}}");
    git(&root, &["rev-parse", "--verify", "--quiet", &commit]).map_err(|_| {
        format!("--base `{base}` is not a commit in this repository (fetch it first?)")
    })?;

    let mut problems = Vec::new();
    for ((id, vdir), at_base) in released_at(&root, base, &prefix)? {
        let folder = dir.join(&id).join(&vdir);
        if !folder.is_dir() {
            continue; // retired as a whole
        }
        let version = format!("{id}@{}", &vdir[1..]);
        let now = hashes_now(&root, &folder)?;
        compare(&folder, &version, base, &at_base, &now, &mut problems);
    }
    Ok(problems)
}

/// The files of every version folder under the prompts folder (`prefix` in the repository)
/// at `base`, with their blob ids.
fn released_at(root: &Path, base: &str, prefix: &str) -> Result<Released, String> {
    let pathspec = if prefix.is_empty() { "." } else { prefix };
    let listing = git(
        root,
        &["ls-tree", "-r", "-z", "--full-tree", base, "--", pathspec],
    )?;
    let mut released = Released::new();
    for entry in listing.split('\0').filter(|e| !e.is_empty()) {
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let Some(blob) = meta.split(' ').nth(2) else {
            continue;
        };
        let rel = if prefix.is_empty() {
            path
        } else {
            path.strip_prefix(&format!("{prefix}/")).unwrap_or(path)
        };
        let mut parts = rel.splitn(3, '/');
        let (Some(id), Some(vdir), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let is_version = vdir
            .strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_version {
            released
                .entry((id.into(), vdir.into()))
                .or_default()
                .insert(file.into(), blob.into());
        }
    }
    Ok(released)
}

/// The files of `folder` in the working tree with the blob ids git would give them.
fn hashes_now(root: &Path, folder: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut now = Vec::new();
    list_files(folder, "", &mut now);
    let paths: Vec<String> = now
        .iter()
        .map(|f| folder.join(f).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["hash-object", "--"];
    args.extend(paths.iter().map(String::as_str));
    let hashes = if now.is_empty() {
        String::new()
    } else {
        git(root, &args)?
    };
    Ok(now
        .into_iter()
        .zip(hashes.lines().map(str::to_owned))
        .collect())
}

/// A problem for every file removed, changed or added in a released version folder.
fn compare(
    folder: &Path,
    version: &str,
    base: &str,
    at_base: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
    problems: &mut Vec<PromptProblem>,
) {
    let advice =
        "released versions never change: put the change in a new version folder and move the label";
    for (file, blob) in at_base {
        let path = folder.join(file);
        match now.get(file) {
            None => problems.push(PromptProblem::new(
                &path,
                None,
                format!("removed from released version {version} (present at `{base}`); {advice}"),
            )),
            Some(h) if h != blob => problems.push(PromptProblem::new(
                &path,
                None,
                format!("released version {version} was changed since `{base}`; {advice}"),
            )),
            Some(_) => {}
        }
    }
    for file in now.keys().filter(|f| !at_base.contains_key(*f)) {
        let msg = format!("added to released version {version} (not at `{base}`); {advice}");
        problems.push(PromptProblem::new(&folder.join(file), None, msg));
    }
}

/// Files under `dir` as `/`-separated paths relative to it, dotfiles skipped, sorted.
fn list_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(read) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = read.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if entry.path().is_dir() {
            list_files(&entry.path(), &path, out);
        } else {
            out.push(path);
        }
    }
}

/// Runs `git -C dir ARGS…` and returns its stdout, or a message with its stderr.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        String::from_utf8(output.stdout).map_err(|_| "git printed non-UTF-8 output".to_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "`git {}` failed: {}",
            args.join(" "),
            stderr.trim()
        ))
    }
}
