//! Finding eval set files, and reading a set's prompt without checking the rest (for
//! `--changed-since`, which decides what to check).

use std::path::{Path, PathBuf};

use super::toml_error;

/// Sub-folders of the sets folder that hold other data, never prompt eval sets.
const NOT_SETS: [&str; 2] = ["guard", "rubrics"];

/// Every eval set file under `dir` (`*.toml` at any depth, except under `guard/` and `rubrics/`),
/// sorted. A missing folder is an error: the author named it.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, top: bool, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if top && NOT_SETS.iter().any(|n| name == *n) {
                    continue;
                }
                walk(&path, false, out)?;
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, true, &mut out)?;
    out.sort();
    Ok(out)
}

/// Reads only a set's `prompt` key (for change selection, before the full check).
pub fn peek_prompt(path: &Path) -> Result<Option<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
    match table.get("prompt") {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{}: `prompt` must be a string", path.display())),
    }
}
