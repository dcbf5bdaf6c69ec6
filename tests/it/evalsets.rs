//! The shipped eval sets (`evalsets/<prompt-id>/*.toml`) checked against the shipped prompts,
//! rubrics and guard, with no model call: they load as `eval run` would load them, every prompt
//! is covered in each of its languages and personas, and what a case says the guard decides is
//! what the real guard decides on that case's turn.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use powerbirth::core::UsdCost;
use powerbirth::eval::assertions::{Check, Observed, Scorers, Tongue};
use powerbirth::eval::judge::Rubrics;
use powerbirth::eval::results::GuardDecision;
use powerbirth::eval::set::{self, Case, EvalSet, LoadContext};
use powerbirth::guard::{Decision, Guard};
use powerbirth::prompts::PromptRegistry;
use powerbirth::wire::Role;

/// The issue asks for at least ten cases per prompt, in pt-BR and in English.
const MIN_CASES_PER_LANGUAGE: usize = 10;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Shipped {
    prompts: PromptRegistry,
    sets: Vec<EvalSet>,
}

/// Loads every shipped set exactly as `eval run` does (with a judge model configured, so `judge`
/// assertions are checked against the rubrics too); panics with every problem found.
fn shipped() -> Shipped {
    let root = root();
    let prompts = PromptRegistry::load(&root.join("prompts"))
        .unwrap_or_else(|p| panic!("the shipped prompts do not load: {p:?}"));
    let rubrics = Rubrics::load(&root.join("evalsets/rubrics"))
        .unwrap_or_else(|p| panic!("the shipped rubrics do not load:\n{}", p.join("\n")));
    let paths = set::discover(&root.join("evalsets")).unwrap_or_else(|e| panic!("{e}"));
    let ctx = LoadContext {
        prompts: &prompts,
        rubrics: &rubrics,
    };
    let sets = set::load_sets(&paths, &ctx).unwrap_or_else(|problems| {
        panic!(
            "the shipped eval sets do not load:\n{}",
            problems.join("\n")
        )
    });
    Shipped { prompts, sets }
}

fn guard() -> Guard {
    Guard::load(&root().join("guard")).unwrap_or_else(|e| panic!("the shipped guard: {e}"))
}

/// The guard's decision on a case's turn, read as `Pipeline::prepare` reads it: the user
/// messages after the last assistant message, joined by line breaks, with the case's language as
/// the hint (the prompt selector's language is the hint in the gateway).
fn guard_decision(guard: &Guard, case: &Case) -> (GuardDecision, Vec<String>, Option<String>) {
    let start = case
        .messages
        .iter()
        .rposition(|m| m.role == Role::Assistant)
        .map_or(0, |i| i + 1);
    let turn: Vec<String> = case.messages[start..]
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.text())
        .collect();
    let text = turn.join("\n");
    if text.is_empty() {
        return (GuardDecision::Pass, Vec::new(), None);
    }
    let verdict = guard.check_input(&text, case.language.as_deref());
    if verdict.categories.is_empty() {
        return (GuardDecision::Pass, verdict.matched, None);
    }
    match verdict.decision {
        Decision::Pass => (GuardDecision::Pass, verdict.matched, None),
        Decision::Escalate { .. } => (GuardDecision::Escalate, verdict.matched, None),
        Decision::Block { reply } => (GuardDecision::Block, verdict.matched, Some(reply)),
    }
}

/// Whether a decision satisfies a guard assertion.
type Holds = fn(GuardDecision) -> bool;

/// The decision a guard assertion requires, or rules out.
fn guard_expectation(check: &Check) -> Option<(&'static str, Holds)> {
    match check {
        Check::Escalated => Some(("escalated", |d| d == GuardDecision::Escalate)),
        Check::Blocked => Some(("blocked", |d| d == GuardDecision::Block)),
        Check::NotEscalated => Some(("not-escalated", |d| d != GuardDecision::Escalate)),
        Check::NotBlocked => Some(("not-blocked", |d| d != GuardDecision::Block)),
        _ => None,
    }
}

/// The prompt a shipped set belongs to by its folder: `evalsets/<prompt-id>/<name>.toml`.
fn folder_prompt(path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root().join("evalsets")).ok()?;
    let mut parts = relative.components();
    let folder = parts.next()?.as_os_str().to_str()?.to_string();
    parts.next().map(|_| folder)
}

#[test]
fn every_shipped_set_loads_and_sits_in_the_folder_of_its_prompt() {
    let shipped = shipped();
    assert!(!shipped.sets.is_empty(), "no eval sets under evalsets/");
    for s in &shipped.sets {
        let target = s
            .prompt
            .as_ref()
            .unwrap_or_else(|| panic!("{}: a shipped set names its prompt", s.file()));
        assert_eq!(
            folder_prompt(&s.path).as_deref(),
            Some(target.id.as_str()),
            "{}: shipped sets live at evalsets/<prompt-id>/, and this one evaluates `{}`",
            s.file(),
            target.id
        );
    }
}

#[test]
fn every_shipped_prompt_has_ten_cases_in_each_language_and_a_case_per_persona() {
    let shipped = shipped();
    // prompt id → rendered language → cases; prompt id → rendered persona → cases.
    let mut by_language: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut by_persona: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for s in &shipped.sets {
        for case in &s.cases {
            let Some(selector) = s.selector(case) else {
                continue;
            };
            let rendered = shipped
                .prompts
                .render(&selector, None)
                .unwrap_or_else(|e| panic!("{}: case {}: {e}", s.file(), case.id));
            *by_language
                .entry(selector.id.clone())
                .or_default()
                .entry(rendered.language)
                .or_default() += 1;
            *by_persona
                .entry(selector.id.clone())
                .or_default()
                .entry(rendered.persona)
                .or_default() += 1;
        }
    }
    let mut gaps = Vec::new();
    for prompt in shipped.prompts.prompts() {
        let production = prompt
            .resolve_version(None, None)
            .unwrap_or_else(|e| panic!("prompt `{}`: {e}", prompt.id()));
        for language in production.languages() {
            let n = by_language
                .get(prompt.id())
                .and_then(|m| m.get(language.as_str()))
                .copied()
                .unwrap_or(0);
            if n < MIN_CASES_PER_LANGUAGE {
                gaps.push(format!(
                    "`{}` has {n} {} cases, fewer than {MIN_CASES_PER_LANGUAGE}",
                    prompt.id(),
                    language.as_str()
                ));
            }
        }
        for persona in production.personas() {
            let n = by_persona
                .get(prompt.id())
                .and_then(|m| m.get(persona))
                .copied()
                .unwrap_or(0);
            if n == 0 {
                gaps.push(format!(
                    "`{}` has no case for persona `{persona}`",
                    prompt.id()
                ));
            }
        }
    }
    assert!(gaps.is_empty(), "eval coverage gaps:\n{}", gaps.join("\n"));
}

#[test]
fn every_guard_assertion_is_what_the_real_guard_decides() {
    let (shipped, guard) = (shipped(), guard());
    let mut checked = 0;
    let mut wrong = Vec::new();
    for s in &shipped.sets {
        for case in &s.cases {
            for check in &case.checks {
                let Some((name, holds)) = guard_expectation(check) else {
                    continue;
                };
                checked += 1;
                let (decision, matched, _) = guard_decision(&guard, case);
                if !holds(decision) {
                    wrong.push(format!(
                        "{}: case {}: asserts `{name}`, the guard decides {decision:?} (matched: {matched:?})",
                        s.file(),
                        case.id
                    ));
                }
            }
        }
    }
    assert!(checked > 0, "no shipped case asserts a guard decision");
    assert!(
        wrong.is_empty(),
        "guard assertions the real guard does not bear out:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_escalated_or_blocked_case_is_required() {
    // A danger sign, a crisis or a dose that stops being handled is a regression whatever the
    // metrics say: those cases must gate a prompt change.
    let shipped = shipped();
    let loose: Vec<String> = shipped
        .sets
        .iter()
        .flat_map(|s| s.cases.iter().map(move |c| (s, c)))
        .filter(|(_, c)| {
            !c.required
                && c.checks
                    .iter()
                    .any(|k| matches!(k, Check::Escalated | Check::Blocked))
        })
        .map(|(s, c)| format!("{}: case {}", s.file(), c.id))
        .collect();
    assert!(
        loose.is_empty(),
        "safety cases without `required = true`:\n{}",
        loose.join("\n")
    );
}

#[test]
fn every_case_checks_that_the_answer_is_in_the_case_language() {
    let shipped = shipped();
    let mut wrong = Vec::new();
    for s in &shipped.sets {
        for case in &s.cases {
            let Some(selector) = s.selector(case) else {
                continue;
            };
            let language = shipped
                .prompts
                .render(&selector, None)
                .unwrap_or_else(|e| panic!("{}: case {}: {e}", s.file(), case.id))
                .language;
            let expected = match language.as_str() {
                "en" => Tongue::En,
                "pt-BR" => Tongue::Pt,
                other => {
                    wrong.push(format!(
                        "{}: case {}: language `{other}` has no `language` check value",
                        s.file(),
                        case.id
                    ));
                    continue;
                }
            };
            let checked: Vec<Tongue> = case
                .checks
                .iter()
                .filter_map(|c| match c {
                    Check::Language(t) => Some(*t),
                    _ => None,
                })
                .collect();
            if checked != [expected] {
                wrong.push(format!(
                    "{}: case {}: checks language {checked:?}, the case is in {language}",
                    s.file(),
                    case.id
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_max_tokens_bound_is_below_the_generation_cap() {
    // At or over the cap the model can never overrun it: an assertion that cannot fail.
    let shipped = shipped();
    let mut wrong = Vec::new();
    for s in &shipped.sets {
        for case in &s.cases {
            for check in &case.checks {
                if let (Check::MaxTokens(bound), Some(cap)) = (check, case.max_tokens)
                    && *bound >= f64::from(cap)
                {
                    wrong.push(format!(
                        "{}: case {}: max-tokens {bound} with max_tokens = {cap}",
                        s.file(),
                        case.id
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A reference is the answer a good obstetric nurse would give, and a blocked case's answer is
/// the guard's fixed reply: both must pass the case's own text checks, or the case contradicts
/// itself (e.g. a `not-contains` that a good answer naturally says).
#[tokio::test]
async fn references_and_blocked_replies_pass_their_own_text_checks() {
    let (shipped, guard) = (shipped(), guard());
    let scorers = Scorers::default();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for s in &shipped.sets {
        for case in &s.cases {
            let (decision, _, reply) = guard_decision(&guard, case);
            let (answer, what) = match (&reply, &case.reference) {
                (Some(reply), _) => (reply.as_str(), "the guard's reply"),
                (None, Some(reference)) => (reference.as_str(), "the reference"),
                (None, None) => continue,
            };
            let observed = Observed {
                answer,
                decision,
                completion_tokens: 0,
                cost: UsdCost::ZERO,
                latency_ms: 0,
                reference: case.reference.as_deref(),
                conversation: &case.messages,
                context: &[],
            };
            for check in case.checks.iter().filter(|c| {
                matches!(
                    c,
                    Check::Contains(_)
                        | Check::IContains(_)
                        | Check::NotContains(_)
                        | Check::Regex(_)
                        | Check::Language(_)
                )
            }) {
                checked += 1;
                let result = check.evaluate(&observed, &scorers).await;
                if !result.passed {
                    wrong.push(format!(
                        "{}: case {}: {what} fails `{}`: {}",
                        s.file(),
                        case.id,
                        check.type_name(),
                        result.detail
                    ));
                }
            }
        }
    }
    assert!(checked > 0, "no text checks were evaluated");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Lower case, accents removed, every run of other characters one space, padded with a space on
/// each side: a held-out text and a guard file compared in the same spelling, whole words only.
fn fold(text: &str) -> String {
    let mut out = String::from(" ");
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        };
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The held-out copy check for every frozen `heldout*/` part of `evalsets/guard/` (`heldout3/`
/// included): no held-out message, nor any clause of six words or more, appears in a file under
/// `guard/`, both folded the same way. A lexicon tuned on a held-out part fails here; a failure
/// names the held-out id, the clause and the guard file, never the guard's words.
#[test]
fn no_held_out_message_or_clause_is_copied_into_the_guard_data() {
    let mut guard_files = Vec::new();
    files_under(&root().join("guard"), &mut guard_files);
    let guard: Vec<(PathBuf, String)> = guard_files
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, fold(&t))))
        .collect();
    let mut parts: Vec<PathBuf> = std::fs::read_dir(root().join("evalsets/guard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("heldout")
        })
        .collect();
    parts.sort();
    assert!(parts.iter().any(|p| p.ends_with("heldout3")), "{parts:?}");
    let (mut texts, mut copied) = (0, Vec::new());
    for part in &parts {
        let mut files = Vec::new();
        files_under(part, &mut files);
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|x| x == "jsonl"))
        {
            for line in std::fs::read_to_string(file).unwrap().lines() {
                if line.trim().is_empty() {
                    continue;
                }
                let case: serde_json::Value = serde_json::from_str(line).unwrap();
                let (id, text) = (case["id"].as_str().unwrap(), case["text"].as_str().unwrap());
                texts += 1;
                let clauses = text
                    .split([',', '.', ';', ':', '!', '?', '\n'])
                    .map(fold)
                    .filter(|c| c.split_whitespace().count() >= 6);
                let needles: std::collections::BTreeSet<String> =
                    std::iter::once(fold(text)).chain(clauses).collect();
                for needle in needles {
                    for (path, hay) in &guard {
                        if !needle.trim().is_empty() && hay.contains(&needle) {
                            copied.push(format!(
                                "{id}: \"{}\" in {}",
                                needle.trim(),
                                path.display()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        texts > 300,
        "only {texts} held-out messages read from {parts:?}"
    );
    assert!(
        copied.is_empty(),
        "held-out text copied into guard/:\n{}",
        copied.join("\n")
    );
}
