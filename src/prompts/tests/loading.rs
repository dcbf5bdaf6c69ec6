use super::{GREET_PROMPT, GREET_VARIABLES, Tree, greet_variant};
use crate::prompts::PromptProblem;

/// 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in text")
        + 1
}

#[test]
fn a_valid_tree_loads_with_its_versions_labels_languages_and_personas() {
    let registry = Tree::with_greet().load().unwrap();
    let greet = registry.get("greet").unwrap();
    assert_eq!(
        greet.versions().map(|v| v.number()).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(greet.labels().get("staging"), Some(&2));
    let v1 = greet.version(1).unwrap();
    assert_eq!(
        v1.languages()
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>(),
        ["en", "pt-BR"]
    );
    assert_eq!(v1.personas(), ["doula", "nurse"]);
    assert_eq!(
        v1.variables().iter().map(|v| v.name()).collect::<Vec<_>>(),
        ["channel", "first", "name", "tone", "week"]
    );
    assert_eq!(v1.variants()[0].messages().len(), 3);
}

#[test]
fn a_registry_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<crate::prompts::PromptRegistry>();
}

#[test]
fn a_problem_displays_as_path_line_message() {
    let p = PromptProblem::new("prompts/x/prompt.toml".as_ref(), Some(4), "bad");
    assert_eq!(p.to_string(), "prompts/x/prompt.toml:4: bad");
    let p = PromptProblem::new("prompts/x".as_ref(), None, "bad");
    assert_eq!(p.to_string(), "prompts/x: bad");
}

#[test]
fn a_toml_syntax_error_names_the_file_and_line() {
    let tree = Tree::with_greet();
    tree.write(
        "greet/v1/en.doula.toml",
        "[[messages]]\nrole = \"system\"\ntemplate = \"unterminated\n",
    );
    let problems = tree.problems();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("greet/v1/en.doula.toml:3: "),
        "{problems:#?}"
    );
}

#[test]
fn a_template_reading_an_undeclared_variable_fails_the_load_at_its_line() {
    let tree = Tree::with_greet();
    let text = "[[messages]]\nrole = \"system\"\ntemplate = '''\nHi {{ channel }} {{ tone }}{% if name %}{{ name }}{% endif %}\n\
                {% if week %}{{ week }}{% endif %}{% if first %}!{% endif %}\nand {{ mood }}\n'''\n";
    tree.write("greet/v1/en.nurse.toml", text);
    assert_eq!(
        tree.problems(),
        [format!(
            "greet/v1/en.nurse.toml:{}: the template uses `mood`, which version.toml does not declare",
            line_of(text, "mood")
        )]
    );
}

#[test]
fn a_declared_variable_that_a_variant_never_uses_fails_the_load() {
    let tree = Tree::with_greet();
    tree.write(
        "greet/v1/en.nurse.toml",
        "[[messages]]\nrole = \"system\"\ntemplate = \"Hi {{ channel }}\"\n",
    );
    let problems = tree.problems().join("\n");
    for unused in ["first", "name", "tone", "week"] {
        assert!(
            problems.contains(&format!("variable `{unused}` is declared")),
            "{problems}"
        );
    }
}

#[test]
fn a_label_pointing_at_a_missing_version_names_the_label_line() {
    let tree = Tree::with_greet();
    let text = format!("{GREET_PROMPT}canary = 7\n");
    tree.write("greet/prompt.toml", &text);
    assert_eq!(
        tree.problems(),
        [format!(
            "greet/prompt.toml:{}: label `canary` points at version 7, which does not exist",
            line_of(&text, "canary")
        )]
    );
}

#[test]
fn an_unknown_variable_type_is_refused_at_its_line() {
    let tree = Tree::with_greet();
    let text = format!("summary = \"x\"\n{GREET_VARIABLES}\n[variables.mood]\ntype = \"float\"\n");
    tree.write("greet/v2/version.toml", &text);
    let problems = tree.problems();
    let expected = format!(
        "greet/v2/version.toml:{}: unknown variable type `float` (expected string, integer, enum or bool)",
        line_of(&text, "float")
    );
    assert!(problems.contains(&expected), "{problems:#?}");
}

#[test]
fn inconsistent_variable_declarations_are_refused() {
    let tree = Tree::with_greet();
    let text = "summary = \"x\"\n[variables.a]\ntype = \"integer\"\nmin = 5\nmax = 1\n\
                [variables.b]\ntype = \"string\"\nrequired = true\ndefault = \"x\"\n\
                [variables.c]\ntype = \"enum\"\n\
                [variables.d]\ntype = \"bool\"\nmin = 1\n\
                [variables.e]\ntype = \"integer\"\nmax = 3\ndefault = 9\n\
                [variables.loop]\ntype = \"bool\"\n";
    tree.write("greet/v2/version.toml", text);
    let problems = tree.problems().join("\n");
    for expected in [
        "`min` (5) is above `max` (1)",
        "either `required = true` or has a `default`",
        "needs `values = [...]`",
        "`min` only applies to `integer` variables",
        "the default is not valid: `e` is 9, above the maximum 3",
        "`loop` is not a valid variable name",
    ] {
        assert!(
            problems.contains(expected),
            "missing {expected:?} in:\n{problems}"
        );
    }
}

#[test]
fn an_optional_variable_read_without_a_guard_fails_the_load() {
    let tree = Tree::with_greet();
    let text = "[[messages]]\nrole = \"system\"\ntemplate = '''\nHi {{ name }} {{ channel }} {{ tone }}\
                {% if week %}{{ week }}{% endif %}{% if first %}!{% endif %}\n'''\n";
    tree.write("greet/v1/pt-BR.nurse.toml", text);
    let problems = tree.problems();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with(
            "greet/v1/pt-BR.nurse.toml:3: template fails to render with only the required variables"
        ),
        "{problems:#?}"
    );
    assert!(problems[0].contains("name"), "{problems:#?}");
}

#[test]
fn every_version_must_cover_the_default_language_and_default_persona() {
    let tree = Tree::with_greet();
    std::fs::remove_file(tree.dir().join("greet/v2/pt-BR.doula.toml")).unwrap();
    std::fs::remove_file(tree.dir().join("greet/v2/pt-BR.nurse.toml")).unwrap();
    std::fs::remove_file(tree.dir().join("greet/v1/en.doula.toml")).unwrap();
    let problems = tree.problems().join("\n");
    assert!(
        problems.contains("greet/v2: version 2 has no `pt-BR` variant"),
        "{problems}"
    );
    assert!(
        problems.contains(
            "greet/v1: version 1 has `en` variants but none for the default persona `doula`"
        ),
        "{problems}"
    );
}

#[test]
fn messages_must_be_a_system_message_then_user_assistant_pairs() {
    let tree = Tree::with_greet();
    let good = greet_variant(1, "en", "doula");
    tree.write(
        "greet/v1/en.doula.toml",
        &good.replace("role = \"user\"", "role = \"assistant\""),
    );
    tree.write(
        "greet/v1/en.nurse.toml",
        &good.replace("role = \"system\"", "role = \"narrator\""),
    );
    let problems = tree.problems().join("\n");
    assert!(
        problems.contains("en.doula.toml:9: message 2 is `assistant` but must be `user`"),
        "{problems}"
    );
    assert!(
        problems.contains("en.nurse.toml:2: unknown role `narrator`"),
        "{problems}"
    );
}

#[test]
fn stray_files_and_badly_named_variants_are_reported() {
    let tree = Tree::with_greet();
    tree.write("notes.txt", "x");
    tree.write("README.md", "authors' notes are fine");
    tree.write(
        "greet/v1/pt-br.doula.toml",
        &greet_variant(1, "pt-BR", "doula"),
    );
    tree.write("greet/v1/en.Doula.toml", &greet_variant(1, "en", "doula"));
    tree.write("greet/v01/version.toml", "summary = \"x\"");
    let problems = tree.problems().join("\n");
    assert!(
        problems.contains("notes.txt: unexpected file"),
        "{problems}"
    );
    assert!(
        problems.contains("pt-br.doula.toml: write the language tag as `pt-BR`"),
        "{problems}"
    );
    assert!(
        problems.contains("en.Doula.toml: `Doula` is not a valid persona"),
        "{problems}"
    );
    assert!(
        problems.contains("greet/v01: unexpected entry"),
        "{problems}"
    );
    assert!(!problems.contains("README"), "{problems}");
}

#[test]
fn every_broken_prompt_is_reported_and_none_is_served() {
    let tree = Tree::with_greet();
    tree.write("other/prompt.toml", "description = \"x\"\nowner = \"y\"\ndefault_language = \"en\"\ndefault_persona = \"neutral\"\nunknown_key = 1\n");
    tree.write("greet/v2/version.toml", "summary = 3\n");
    let problems = tree.problems();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("greet/v2/version.toml:1: "),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("other/prompt.toml:5: unknown field `unknown_key`"),
        "{problems:#?}"
    );
}

#[test]
fn templates_may_not_call_functions_or_hide_missing_values() {
    let tree = Tree::with_greet();
    let text = "[[messages]]\nrole = \"system\"\ntemplate = '''\n{{ channel }} {{ tone }}{% if name %}{{ name }}{% endif %}\
                {% if week %}{{ week }}{% endif %}{% if first %}!{% endif %}\n{{ get_env(name=\"HOME\") }}\n'''\n";
    tree.write("greet/v1/en.nurse.toml", text);
    let problems = tree.problems();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with(
            "greet/v1/en.nurse.toml:5: calling the function `get_env()` is not allowed"
        ),
        "{problems:#?}"
    );
}
