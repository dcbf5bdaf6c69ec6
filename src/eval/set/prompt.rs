//! A case checked against its prompt: the version, the variant for its language and persona, and
//! its variables, exactly as the run will render them.

use super::{Case, PromptTarget, check_language_listed};
use crate::prompts::{Language, PromptRegistry, RenderError};
use crate::wire::PromptSelector;

/// Renders the case's prompt exactly as the run will (version, language, persona, variables): any
/// problem the gateway would answer with a 4xx is a load error here.
pub(super) fn check_against_prompt(
    prompts: &PromptRegistry,
    target: &PromptTarget,
    case: &Case,
    languages: Option<&[Language]>,
    personas: Option<&[String]>,
    problems: &mut Vec<String>,
) {
    let Some(prompt) = prompts.get(&target.id) else {
        return;
    };
    // Language and persona first, independently of the variables, so every problem shows.
    let variant = prompt
        .resolve_version(target.version, target.label.as_deref())
        .and_then(|version| {
            prompt.resolve_variant(
                version,
                case.language.as_deref(),
                None,
                case.persona.as_deref(),
            )
        });
    let variant = match variant {
        Ok(v) => v,
        Err(e) => {
            problems.push(e.to_string());
            return;
        }
    };
    if let Some(langs) = languages {
        check_language_listed(variant.language().as_str(), langs, problems);
    }
    if let Some(ps) = personas
        && !ps.iter().any(|p| p == variant.persona())
    {
        problems.push(format!(
            "persona `{}` is not one the set covers ({})",
            variant.persona(),
            ps.join(", ")
        ));
    }
    let selector = PromptSelector {
        id: target.id.clone(),
        version: target.version,
        label: target.label.clone(),
        language: case.language.clone(),
        persona: case.persona.clone(),
        variables: case.vars.clone(),
    };
    match prompts.render(&selector, None) {
        Ok(_) => {}
        Err(RenderError::InvalidVariables(list)) => {
            problems.extend(list.into_iter().map(|p| format!("vars: {p}")));
        }
        Err(e) => problems.push(e.to_string()),
    }
}
