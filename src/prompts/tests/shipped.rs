//! The prompts the gateway ships (`prompts/` at the crate root) load, lint clean and keep the
//! safety content a nurse reviewer asked for in every language and persona.

use std::path::PathBuf;

use serde_json::json;

use crate::prompts::{PromptRegistry, lint};
use crate::wire::PromptSelector;

fn shipped_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prompts")
}

fn shipped() -> PromptRegistry {
    PromptRegistry::load(&shipped_dir()).unwrap_or_else(|problems| {
        panic!(
            "shipped prompts do not load:\n{}",
            problems
                .iter()
                .map(|p| format!("{p}\n"))
                .collect::<String>()
        )
    })
}

#[test]
fn the_shipped_prompts_load_and_lint_clean() {
    let registry = shipped();
    let ids: Vec<&str> = registry.prompts().map(|p| p.id()).collect();
    assert_eq!(
        ids,
        [
            "assistant-general",
            "birth-plan",
            "postpartum-checkin",
            "preeclampsia-alert"
        ]
    );
    let problems = lint(&shipped_dir(), None);
    assert!(
        problems.is_empty(),
        "{}",
        problems
            .iter()
            .map(|p| format!("{p}\n"))
            .collect::<String>()
    );
}

#[test]
fn every_shipped_prompt_has_production_in_pt_br_and_english_and_one_has_staging() {
    let registry = shipped();
    for prompt in registry.prompts() {
        let production = prompt.version(prompt.labels()["production"]).unwrap();
        let languages: Vec<&str> = production.languages().iter().map(|l| l.as_str()).collect();
        assert_eq!(languages, ["en", "pt-BR"], "{}", prompt.id());
        assert_eq!(prompt.default_language().as_str(), "pt-BR");
    }
    let general = registry.get("assistant-general").unwrap();
    assert_eq!(general.labels()["production"], 1);
    assert_eq!(general.labels()["staging"], 2);
    assert_eq!(general.version(1).unwrap().personas(), ["doula", "nurse"]);
}

/// Variables for each shipped prompt that exercise its conditional text.
fn variables(id: &str) -> serde_json::Map<String, serde_json::Value> {
    let v = match id {
        "assistant-general" => json!({"user_name": "Ana", "gestational_week": 38}),
        "preeclampsia-alert" => {
            json!({"gestational_week": 34, "reported_signs": "dor de cabeça forte, visão embaçada"})
        }
        "birth-plan" => {
            json!({"user_name": "Ana", "gestational_week": 30, "birth_setting": "sus_hospital"})
        }
        "postpartum-checkin" => {
            json!({"days_postpartum": 10, "birth_type": "cesarean", "feeding": "breastfeeding"})
        }
        _ => json!({}),
    };
    v.as_object().unwrap().clone()
}

#[test]
fn every_labelled_variant_renders_and_keeps_the_emergency_numbers() {
    let registry = shipped();
    for prompt in registry.prompts() {
        for (label, number) in prompt.labels() {
            let version = prompt.version(*number).unwrap();
            for variant in version.variants() {
                let sel = PromptSelector {
                    label: Some(label.clone()),
                    language: Some(variant.language().to_string()),
                    persona: Some(variant.persona().to_owned()),
                    variables: variables(prompt.id()),
                    ..PromptSelector::new(prompt.id())
                };
                let r = registry
                    .render(&sel, None)
                    .unwrap_or_else(|e| panic!("{}: {e}", variant.path().display()));
                let system = &r.messages[0].content;
                let at = variant.path().display();
                assert!(
                    system.contains("192"),
                    "{at}: no SAMU 192 in the system message"
                );
                if prompt.id() == "postpartum-checkin" || prompt.id() == "assistant-general" {
                    assert!(
                        system.contains("188"),
                        "{at}: no CVV 188 in the system message"
                    );
                }
                assert!(
                    !system.contains("{{") && !system.contains("{%"),
                    "{at}: unrendered tera"
                );
                if prompt.id() == "assistant-general" {
                    assert!(
                        system.contains("Ana") && system.contains("38"),
                        "{at}: variables not used"
                    );
                }
            }
        }
    }
}

#[test]
fn the_general_prompt_renders_without_any_variables() {
    let registry = shipped();
    let r = registry
        .render(
            &PromptSelector::new("assistant-general"),
            Some("pt-BR,pt;q=0.9"),
        )
        .unwrap();
    assert_eq!(
        (
            r.prompt_ref.to_string().as_str(),
            r.language.as_str(),
            r.persona.as_str()
        ),
        ("assistant-general@1", "pt-BR", "doula")
    );
    assert!(
        !r.messages[0].content.contains("Ela informou que está com"),
        "no week was given:\n{}",
        r.messages[0].content
    );
    assert!(
        !r.messages[0].content.contains("\n\n\n"),
        "optional blocks leave no holes:\n{}",
        r.messages[0].content
    );
}

/// The first ```toml block after `marker` in docs/prompts.md.
fn doc_block<'a>(doc: &'a str, marker: &str) -> &'a str {
    let after = &doc[doc.find(marker).expect("marker in docs/prompts.md")..];
    let start = after.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let len = after[start..].find("```").expect("closing fence");
    &after[start..start + len]
}

#[test]
fn the_documented_example_loads_and_renders_as_shown() {
    let doc =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/prompts.md"))
            .unwrap();
    let tree = super::Tree::new();
    for (file, marker) in [
        (
            "postpartum-checkin/prompt.toml",
            "`prompts/postpartum-checkin/prompt.toml`:",
        ),
        (
            "postpartum-checkin/v1/version.toml",
            "`prompts/postpartum-checkin/v1/version.toml`:",
        ),
        (
            "postpartum-checkin/v1/pt-BR.nurse.toml",
            "`prompts/postpartum-checkin/v1/pt-BR.nurse.toml`:",
        ),
    ] {
        tree.write(file, doc_block(&doc, marker));
    }
    let registry = tree
        .load()
        .unwrap_or_else(|p| panic!("{:#?}", tree.strip(&p)));
    let mut sel = PromptSelector::new("postpartum-checkin");
    sel.variables.insert("days_postpartum".into(), json!(3));
    let r = registry.render(&sel, Some("pt-BR")).unwrap();
    assert!(
        r.messages[0].content.starts_with(
            "Você vai fazer um acompanhamento do puerpério com a mãe.\nO bebê nasceu há 3 dias."
        ),
        "{}",
        r.messages[0].content
    );
    assert_eq!(
        (
            r.prompt_ref.to_string().as_str(),
            r.persona.as_str(),
            r.messages.len()
        ),
        ("postpartum-checkin@1", "nurse", 3)
    );
}
