//! Loading eval sets against the shipped prompts and rubrics.

use std::path::{Path, PathBuf};

use super::*;
use crate::eval::judge::Rubrics;
use crate::wire::Role;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn registry() -> PromptRegistry {
    PromptRegistry::load(&root().join("prompts")).expect("the shipped prompts load")
}

fn rubrics() -> Rubrics {
    Rubrics::load(&root().join("evalsets/rubrics")).expect("the shipped rubrics load")
}

fn parse(text: &str) -> Result<EvalSet, Vec<String>> {
    let (prompts, rubrics) = (registry(), rubrics());
    let ctx = LoadContext {
        prompts: &prompts,
        rubrics: &rubrics,
    };
    parse_set(Path::new("evalsets/x/set.toml"), text, &ctx)
}

const GOOD: &str = r#"
prompt = "preeclampsia-alert"
languages = ["pt-BR", "en"]

[defaults]
language = "pt-BR"
vars = { gestational_week = 34 }
max_tokens = 16

[tolerances]
chrf = 2.0

[[cases]]
id = "headache-spots-34w"
required = true
vars = { reported_signs = "dor de cabeça forte" }
input = "Tô com dor de cabeça forte e vendo pontinhos brilhando. É normal?"
reference = "Esses sinais precisam de avaliação hoje."
assert = [
  { type = "escalated" },
  { type = "icontains", value = "192" },
  { type = "regex", value = "(?i)maternidade|pronto[- ]socorro" },
  { type = "chrf", threshold = 25 },
  { type = "judge", rubric = "clinical_coherence", threshold = 4 },
]

[[cases]]
id = "english-swelling"
language = "en"
messages = [
  { role = "user", content = "My feet are a bit swollen." },
  { role = "assistant", content = "Since when?" },
  { role = "user", content = "Since this morning, and my face too." },
]
assert = [{ type = "language", value = "en" }, { type = "max-cost-usd", threshold = "0.01" }]
"#;

#[test]
fn a_good_set_loads_with_defaults_merged_under_each_case() {
    let set = parse(GOOD).unwrap();
    assert_eq!(set.prompt.as_ref().unwrap().id, "preeclampsia-alert");
    assert_eq!(set.tolerances["chrf"], 2.0);
    let first = &set.cases[0];
    assert!(first.required);
    assert_eq!(first.language.as_deref(), Some("pt-BR"));
    assert_eq!(first.vars["gestational_week"], 34);
    assert_eq!(first.vars["reported_signs"], "dor de cabeça forte");
    assert_eq!(first.max_tokens, Some(16));
    assert_eq!(first.checks.len(), 5);
    let second = &set.cases[1];
    assert_eq!(second.language.as_deref(), Some("en"));
    assert_eq!(second.messages.len(), 3);
    assert_eq!(second.messages[2].role, Role::User);
    let selector = set.selector(second).unwrap();
    assert_eq!(selector.language.as_deref(), Some("en"));
    assert_eq!(selector.variables["gestational_week"], 34);
}

#[test]
fn every_problem_is_reported_with_file_case_and_reason() {
    let text = r#"
prompt = "preeclampsia-alert"
languages = ["pt-BR"]

[[cases]]
id = "a"
language = "en"
input = "oi"
vars = { gestational_week = 99, shoe_size = 38 }
assert = [{ type = "contains-ish", value = "x" }]

[[cases]]
id = "a"
input = "oi"
assert = [{ type = "regex", value = "(unclosed" }, { type = "chrf", threshold = 20 }]

[[cases]]
id = "c"
persona = "astronaut"
assert = [{ type = "judge", rubric = "bedside_manner", threshold = 4 }]
"#;
    let problems = parse(text).unwrap_err();
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    let all = problems.join("\n");
    assert!(
        problems
            .iter()
            .all(|p| p.starts_with("evalsets/x/set.toml: case ")),
        "{all}"
    );
    assert!(
        has("case a: assert #1: unknown assertion type `contains-ish`"),
        "{all}"
    );
    assert!(
        has("case a: language `en` is not one the set covers"),
        "{all}"
    );
    assert!(
        has("case a: vars: ") && has("gestational_week") && has("shoe_size"),
        "{all}"
    );
    assert!(has("case a: duplicate case id"), "{all}");
    assert!(has("case a: assert #1: bad regex"), "{all}");
    assert!(has("`chrf` compares with a `reference`"), "{all}");
    assert!(has("case c: missing `input`"), "{all}");
    assert!(has("case c: ") && has("astronaut"), "{all}");
    assert!(
        has("case c: assert #1: unknown rubric `bedside_manner`"),
        "{all}"
    );
}

#[test]
fn an_unknown_prompt_or_label_is_a_file_level_error() {
    let problems = parse(
        "prompt = \"no-such-prompt\"\n[[cases]]\nid = \"a\"\ninput = \"oi\"\nassert = [{ type = \"escalated\" }]\n",
    )
    .unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("evalsets/x/set.toml: unknown prompt `no-such-prompt` (prompts: "),
        "{problems:?}"
    );
    let problems = parse(
        "prompt = \"preeclampsia-alert\"\nlabel = \"canary\"\n[[cases]]\nid = \"a\"\ninput = \"oi\"\nassert = [{ type = \"escalated\" }]\n",
    )
    .unwrap_err();
    assert!(problems[0].contains("no label `canary`"), "{problems:?}");
}

#[test]
fn a_judge_assertion_loads_without_a_judge_model_and_is_skipped_at_run_time() {
    // The keyless default has no judge: the set still loads; the runner marks the judge
    // assertions skipped (see assertions::tests), it does not refuse the whole run.
    let set = parse(GOOD).unwrap();
    assert!(set.cases[0].checks.iter().any(|c| c.type_name() == "judge"));
}

#[test]
fn toml_syntax_errors_name_the_line() {
    let problems = parse("prompt = \"x\"\n\n[[cases]\nid = 1\n").unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("evalsets/x/set.toml:3: "),
        "{problems:?}"
    );
}

#[test]
fn raw_chat_sets_need_no_prompt_but_refuse_prompt_only_keys() {
    let ok = parse(
        "[[cases]]\nid = \"raw\"\nlanguage = \"pt-BR\"\ninput = \"oi\"\nassert = [{ type = \"not-blocked\" }]\n",
    )
    .unwrap();
    assert!(ok.prompt.is_none());
    assert!(ok.selector(&ok.cases[0]).is_none());
    let problems = parse(
        "label = \"production\"\n[defaults]\nvars = { a = 1 }\n[[cases]]\nid = \"raw\"\ninput = \"oi\"\nassert = [{ type = \"blocked\" }]\n",
    )
    .unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`label` needs a `prompt`")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`[defaults] vars` needs a `prompt`")),
        "{problems:?}"
    );
}

#[test]
fn a_conversation_must_end_with_the_user() {
    let problems = parse(
        "[[cases]]\nid = \"x\"\nmessages = [{ role = \"user\", content = \"oi\" }, { role = \"assistant\", content = \"olá\" }]\nassert = [{ type = \"blocked\" }]\n",
    )
    .unwrap_err();
    assert!(
        problems[0].contains("must be from the user"),
        "{problems:?}"
    );
}

#[test]
fn discovery_skips_the_guard_set_and_the_rubrics() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "a/one.toml",
        "b/c/two.toml",
        "guard/x.toml",
        "rubrics/y.toml",
        "a/notes.md",
    ] {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }
    let found = discover(dir.path()).unwrap();
    let names: Vec<String> = found
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["a/one.toml", "b/c/two.toml"]);
    assert!(discover(&dir.path().join("missing")).is_err());
}

#[test]
fn the_shipped_eval_sets_load() {
    let (prompts, rubrics) = (registry(), rubrics());
    let ctx = LoadContext {
        prompts: &prompts,
        rubrics: &rubrics,
    };
    let paths = discover(&root().join("evalsets")).unwrap();
    if let Err(problems) = load_sets(&paths, &ctx) {
        panic!("{}", problems.join("\n"));
    }
}
