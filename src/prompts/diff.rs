//! `prompts diff ID A B`: a unified diff of two versions — their variables, then each
//! language × persona variant's messages — from the loaded registry (no git needed).

use std::fmt::Write as _;

use similar::TextDiff;

use super::PromptRegistry;
use super::model::{PromptVersion, Variant};
use super::render::RenderError;
use super::variables::{VariableKind, VariableSpec};

/// Unified diff (3 lines of context) between versions `a` and `b` of prompt `id`, one section
/// per part that differs, each headed `--- id@a/<part>` / `+++ id@b/<part>`; parts are
/// `variables` and `<language>.<persona>`. Empty when the versions are identical.
pub fn diff(registry: &PromptRegistry, id: &str, a: u32, b: u32) -> Result<String, RenderError> {
    let prompt = registry
        .get(id)
        .ok_or_else(|| RenderError::NotFound(format!("unknown prompt `{id}`")))?;
    let version = |n: u32| {
        prompt
            .version(n)
            .ok_or_else(|| RenderError::NotFound(format!("prompt `{id}` has no version {n}")))
    };
    let (va, vb) = (version(a)?, version(b)?);

    let mut parts: Vec<(String, String, String)> =
        vec![("variables".into(), variables_text(va), variables_text(vb))];
    let mut keys: Vec<(String, String)> = va
        .variants()
        .iter()
        .chain(vb.variants())
        .map(|v| (v.language().to_string(), v.persona().to_owned()))
        .collect();
    keys.sort();
    keys.dedup();
    for (language, persona) in keys {
        let text = |v: &PromptVersion| {
            variant_of(v, &language, &persona)
                .map(variant_text)
                .unwrap_or_default()
        };
        parts.push((format!("{language}.{persona}"), text(va), text(vb)));
    }

    let mut out = String::new();
    for (part, old, new) in parts {
        if old != new {
            let diff = TextDiff::from_lines(&old, &new);
            let header_a = format!("{id}@{a}/{part}");
            let header_b = format!("{id}@{b}/{part}");
            let _ = write!(
                out,
                "{}",
                diff.unified_diff()
                    .context_radius(3)
                    .header(&header_a, &header_b)
            );
        }
    }
    Ok(out)
}

fn variant_of<'a>(v: &'a PromptVersion, language: &str, persona: &str) -> Option<&'a Variant> {
    v.variants()
        .iter()
        .find(|x| x.language().as_str() == language && x.persona() == persona)
}

/// A variant as text: each message as `[role]` then its template.
fn variant_text(v: &Variant) -> String {
    let mut out = String::new();
    for m in v.messages() {
        let _ = writeln!(out, "[{}]", m.role().as_str());
        out.push_str(m.template().trim_end());
        out.push_str("\n\n");
    }
    out
}

/// The declared variables, one line each, sorted by name.
fn variables_text(v: &PromptVersion) -> String {
    v.variables()
        .iter()
        .map(describe)
        .map(|line| line + "\n")
        .collect()
}

fn describe(spec: &VariableSpec) -> String {
    let mut s = format!("{}: ", spec.name());
    match spec.kind() {
        VariableKind::String { max_length } => {
            s.push_str("string");
            if let Some(m) = max_length {
                let _ = write!(s, ", max_length {m}");
            }
        }
        VariableKind::Integer { min, max } => {
            s.push_str("integer");
            if let Some(m) = min {
                let _ = write!(s, ", min {m}");
            }
            if let Some(m) = max {
                let _ = write!(s, ", max {m}");
            }
        }
        VariableKind::Enum { values } => {
            let _ = write!(s, "enum [{}]", values.join(", "));
        }
        VariableKind::Bool => s.push_str("bool"),
    }
    match (spec.is_required(), spec.default_value()) {
        (true, _) => s.push_str(", required"),
        (false, Some(d)) => {
            let _ = write!(s, ", default {d}");
        }
        (false, None) => s.push_str(", optional"),
    }
    if let Some(d) = spec.description() {
        let _ = write!(s, " — {d}");
    }
    s
}
