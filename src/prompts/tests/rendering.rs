use serde_json::json;

use super::Tree;
use crate::prompts::{PromptRegistry, RenderError, Rendered};
use crate::wire::PromptSelector;

fn registry() -> PromptRegistry {
    Tree::with_greet().load().unwrap()
}

/// A `greet` selector with the one required variable.
fn greet() -> PromptSelector {
    let mut sel = PromptSelector::new("greet");
    sel.variables.insert("channel".into(), json!("app"));
    sel
}

fn system(r: &Rendered) -> &str {
    &r.messages[0].content
}

#[test]
fn the_production_label_is_used_unless_a_version_or_label_is_named() {
    let registry = registry();
    let r = registry.render(&greet(), None).unwrap();
    assert_eq!(r.prompt_ref.to_string(), "greet@1");
    assert!(system(&r).starts_with("v1 pt-BR doula: "), "{}", system(&r));

    let staging = PromptSelector {
        label: Some("staging".into()),
        ..greet()
    };
    assert_eq!(
        registry
            .render(&staging, None)
            .unwrap()
            .prompt_ref
            .to_string(),
        "greet@2"
    );

    let pinned = PromptSelector {
        version: Some(2),
        ..greet()
    };
    assert_eq!(
        registry
            .render(&pinned, None)
            .unwrap()
            .prompt_ref
            .to_string(),
        "greet@2"
    );

    let agreeing = PromptSelector {
        version: Some(2),
        label: Some("staging".into()),
        ..greet()
    };
    assert!(registry.render(&agreeing, None).is_ok());
}

#[test]
fn unknown_prompts_versions_labels_languages_and_personas_are_not_found_and_say_which() {
    let registry = registry();
    let not_found = |sel: PromptSelector| match registry.render(&sel, None) {
        Err(RenderError::NotFound(m)) => m,
        other => panic!("expected NotFound, got {other:?}"),
    };
    assert_eq!(
        not_found(PromptSelector {
            id: "nope".into(),
            ..greet()
        }),
        "unknown prompt `nope`"
    );
    assert_eq!(
        not_found(PromptSelector {
            version: Some(9),
            ..greet()
        }),
        "prompt `greet` has no version 9 (versions: 1, 2)"
    );
    assert_eq!(
        not_found(PromptSelector {
            label: Some("canary".into()),
            ..greet()
        }),
        "prompt `greet` has no label `canary` (labels: production, staging)"
    );
    assert_eq!(
        not_found(PromptSelector {
            version: Some(1),
            label: Some("staging".into()),
            ..greet()
        }),
        "prompt `greet` label `staging` points at version 2, not 1"
    );
    assert_eq!(
        not_found(PromptSelector {
            language: Some("fr".into()),
            ..greet()
        }),
        "prompt greet@1 has no variant for language `fr` (languages: en, pt-BR)"
    );
    assert_eq!(
        not_found(PromptSelector {
            persona: Some("midwife".into()),
            ..greet()
        }),
        "prompt greet@1 has no persona `midwife` in `pt-BR` (personas: doula, nurse)"
    );
}

#[test]
fn the_language_comes_from_the_request_then_accept_language_then_the_default() {
    let registry = registry();
    let lang =
        |sel: PromptSelector, header: Option<&str>| registry.render(&sel, header).unwrap().language;
    assert_eq!(lang(greet(), Some("pt;q=0.9,en;q=0.8")), "pt-BR");
    assert_eq!(lang(greet(), Some("en-US")), "en");
    assert_eq!(lang(greet(), Some("en;q=0.3, pt-BR;q=0.7")), "pt-BR");
    assert_eq!(lang(greet(), Some("fr-FR, de")), "pt-BR");
    assert_eq!(lang(greet(), Some("")), "pt-BR");
    assert_eq!(lang(greet(), None), "pt-BR");
    assert_eq!(
        lang(
            PromptSelector {
                language: Some("en-GB".into()),
                ..greet()
            },
            Some("pt-BR")
        ),
        "en"
    );
    assert_eq!(
        lang(
            PromptSelector {
                language: Some("pt".into()),
                ..greet()
            },
            Some("en")
        ),
        "pt-BR"
    );
}

#[test]
fn the_persona_is_the_requested_one_else_the_default() {
    let registry = registry();
    let r = registry.render(&greet(), Some("en")).unwrap();
    assert_eq!((r.language.as_str(), r.persona.as_str()), ("en", "doula"));
    assert!(system(&r).starts_with("v1 en doula: "));
    let nurse = PromptSelector {
        persona: Some("nurse".into()),
        ..greet()
    };
    let r = registry.render(&nurse, Some("en")).unwrap();
    assert!(system(&r).starts_with("v1 en nurse: "));
    assert_eq!(r.header_value(), "greet@1;lang=en;persona=nurse");
}

#[test]
fn every_variable_problem_is_reported_at_once() {
    let registry = registry();
    let mut sel = PromptSelector::new("greet");
    sel.variables = json!({
        "name": 42,
        "week": 43,
        "tone": "loud",
        "first": "yes",
        "mood": "happy"
    })
    .as_object()
    .unwrap()
    .clone();
    let Err(RenderError::InvalidVariables(problems)) = registry.render(&sel, None) else {
        panic!("expected InvalidVariables");
    };
    assert_eq!(
        problems,
        [
            "`channel` is required and missing",
            "`first` must be true or false, got a string",
            "`name` must be a string, got a number",
            "`tone` is \"loud\", not one of: warm, brief",
            "`week` is 43, above the maximum 42",
            "`mood` is not a variable of this prompt (declared: channel, first, name, tone, week)",
        ]
    );
}

#[test]
fn integers_below_the_minimum_fractions_and_overlong_strings_are_refused() {
    let registry = registry();
    let mut sel = greet();
    sel.variables.insert("week".into(), json!(0));
    sel.variables.insert("name".into(), json!("x".repeat(21)));
    let Err(RenderError::InvalidVariables(problems)) = registry.render(&sel, None) else {
        panic!()
    };
    assert_eq!(
        problems,
        [
            "`name` is longer than 20 characters",
            "`week` is 0, below the minimum 1"
        ]
    );
    sel.variables.insert("week".into(), json!(12.5));
    sel.variables.remove("name");
    let Err(RenderError::InvalidVariables(problems)) = registry.render(&sel, None) else {
        panic!()
    };
    assert_eq!(problems, ["`week` must be a whole number, got 12.5"]);
}

#[test]
fn defaults_fill_in_optional_variables_stay_out_and_null_means_not_given() {
    let registry = registry();
    let mut sel = greet();
    sel.variables.insert("name".into(), json!(null));
    let r = registry.render(&sel, None).unwrap();
    assert_eq!(system(&r), "v1 pt-BR doula: hello via app (warm).");
    sel.variables.insert("name".into(), json!("Ana"));
    sel.variables.insert("week".into(), json!(38));
    sel.variables.insert("first".into(), json!(true));
    sel.variables.insert("tone".into(), json!("brief"));
    let r = registry.render(&sel, None).unwrap();
    assert_eq!(
        system(&r),
        "v1 pt-BR doula: hello, Ana via app (brief).\nweek 38 (term). first"
    );
    assert_eq!(r.messages[1].role, "user");
    assert_eq!(r.messages[2].role, "assistant");
}

#[test]
fn the_hash_is_stable_for_the_same_inputs_and_differs_across_versions() {
    let registry = registry();
    let a = registry.render(&greet(), None).unwrap();
    let b = registry.render(&greet(), None).unwrap();
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(a.sha256.len(), 64);
    let v2 = registry
        .render(
            &PromptSelector {
                version: Some(2),
                ..greet()
            },
            None,
        )
        .unwrap();
    assert_ne!(a.sha256, v2.sha256);
    // The hash covers exactly the serialized messages, so anyone can recompute it.
    use sha2::Digest;
    let expected = hex::encode(sha2::Sha256::digest(
        serde_json::to_vec(&a.messages).unwrap(),
    ));
    assert_eq!(a.sha256, expected);
}

#[test]
fn a_rendered_prompt_serializes_as_the_render_endpoint_answers() {
    let r = registry().render(&greet(), None).unwrap();
    let body = serde_json::to_value(&r).unwrap();
    assert_eq!(body["prompt_ref"], "greet@1");
    assert_eq!(body["language"], "pt-BR");
    assert_eq!(body["persona"], "doula");
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(body["sha256"].is_string());
}

#[test]
fn a_selector_is_read_from_json_and_refuses_unknown_fields() {
    let sel: PromptSelector = serde_json::from_value(
        json!({"id": "greet", "label": "staging", "variables": {"channel": "app"}}),
    )
    .unwrap();
    assert_eq!(sel.label.as_deref(), Some("staging"));
    assert!(
        serde_json::from_value::<PromptSelector>(json!({"id": "greet", "lang": "en"})).is_err()
    );
}

#[test]
fn summaries_list_versions_labels_languages_personas_and_variables() {
    let registry = registry();
    let summaries = serde_json::to_value(registry.summaries()).unwrap();
    let greet = &summaries[0];
    assert_eq!(greet["id"], "greet");
    assert_eq!(greet["labels"], json!({"production": 1, "staging": 2}));
    let v1 = &greet["versions"][0];
    assert_eq!(v1["prompt_ref"], "greet@1");
    assert_eq!(v1["labels"], json!(["production"]));
    assert_eq!(v1["languages"], json!(["en", "pt-BR"]));
    assert_eq!(v1["personas"], json!(["doula", "nurse"]));
    let week = v1["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "week")
        .unwrap();
    assert_eq!(
        week,
        &json!({"name": "week", "type": "integer", "min": 1, "max": 42, "required": false, "description": "Gestational week."})
    );

    let detail =
        serde_json::to_value(registry.get("greet").unwrap().version_detail(2).unwrap()).unwrap();
    assert_eq!(detail["version"], 2);
    assert_eq!(detail["variants"].as_array().unwrap().len(), 4);
    assert_eq!(detail["variants"][0]["messages"][0]["role"], "system");
    assert!(
        detail["variants"][0]["messages"][0]["template"]
            .as_str()
            .unwrap()
            .contains("{{ channel }}")
    );
    assert!(registry.get("greet").unwrap().version_detail(3).is_none());
}
