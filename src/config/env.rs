//! `POWERBIRTH_SECTION__KEY=value` environment overrides, applied to the parsed TOML table before
//! it is validated. `[[models]]` entries are addressed by index or by name:
//! `POWERBIRTH_MODELS__0__TIMEOUT_MS` or `POWERBIRTH_MODELS__GPT_4O_MINI__TIMEOUT_MS`.

use std::collections::HashMap;

use super::ConfigError;

const PREFIX: &str = "POWERBIRTH_";

/// Applies every override in `vars` to `table`; returns the variable names applied (sorted).
/// Variables without a `__` (such as `POWERBIRTH_TEST_PG_URL`) are not overrides.
pub(super) fn apply_overrides(
    table: &mut toml::Table,
    vars: &HashMap<String, String>,
) -> Result<Vec<String>, ConfigError> {
    let mut names: Vec<&String> = vars
        .keys()
        .filter(|k| k.starts_with(PREFIX) && k.contains("__"))
        .collect();
    names.sort();
    for name in &names {
        let path: Vec<String> = name[PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.iter().any(|s| s.is_empty()) {
            return Err(ConfigError(format!("{name}: empty key segment")));
        }
        set_path(table, &path, &vars[*name]).map_err(|e| ConfigError(format!("{name}: {e}")))?;
    }
    Ok(names.into_iter().cloned().collect())
}

fn set_path(table: &mut toml::Table, path: &[String], raw: &str) -> Result<(), String> {
    let (key, rest) = path.split_first().ok_or("no key")?;
    if rest.is_empty() {
        let keep_string = matches!(table.get(key), Some(toml::Value::String(_)));
        table.insert(key.clone(), literal(raw, keep_string));
        return Ok(());
    }
    let entry = table
        .entry(key.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(t) => set_path(t, rest, raw),
        toml::Value::Array(items) => {
            let (selector, rest) = rest.split_first().ok_or("no key")?;
            if rest.is_empty() {
                return Err(format!("`{key}` is a list: name an entry, then a key"));
            }
            let item = select(items, selector).ok_or_else(|| {
                format!("no entry {selector:?} in `{key}` (use an index or a name)")
            })?;
            match item {
                toml::Value::Table(t) => set_path(t, rest, raw),
                _ => Err(format!("`{key}` entries are not tables")),
            }
        }
        _ => Err(format!("`{key}` is a value, not a section")),
    }
}

/// An entry of an array of tables, by index or by its `name` (compared with `-` and `.` read as `_`).
fn select<'a>(items: &'a mut [toml::Value], selector: &str) -> Option<&'a mut toml::Value> {
    if let Ok(i) = selector.parse::<usize>() {
        return items.get_mut(i);
    }
    let norm = |s: &str| s.to_ascii_lowercase().replace(['-', '.'], "_");
    items.iter_mut().find(|v| {
        v.get("name")
            .and_then(|n| n.as_str())
            .is_some_and(|n| norm(n) == norm(selector))
    })
}

/// The value as a TOML literal (`8080`, `true`, `["a"]`), else as a plain string. A key that is a
/// string in the file stays a string, so `"123"` cannot turn into a number by accident.
fn literal(raw: &str, keep_string: bool) -> toml::Value {
    if !keep_string
        && let Ok(mut t) = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        && let Some(v) = t.remove("v")
    {
        return v;
    }
    toml::Value::String(raw.to_string())
}
