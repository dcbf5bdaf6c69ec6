//! The outputs of an eval run as their readers see them: `metrics.json` read back as a baseline,
//! `junit.xml` parsed by an XML parser, `report.md` as a pull-request comment; runs stored on
//! SQLite and PostgreSQL and published as `docs/model-performance.md` by the real binary.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use powerbirth::eval::compare::{self, Verdict};
use powerbirth::eval::report::{self, COMMENT_MARKER};
use powerbirth::eval::results::{
    AssertionResult, CaseResult, CaseStatus, GuardDecision, RunResult, SetResult,
};
use powerbirth::store::Store;
use serde::Deserialize;

const BIRTH_PLAN: &str = "evalsets/birth-plan/core.toml";
const BIRTH_PLAN_EN: &str = "evalsets/birth-plan/english.toml";
const POSTPARTUM: &str = "evalsets/postpartum-checkin/core.toml";

fn assertion(kind: &str, passed: bool, score: Option<f64>, detail: &str) -> AssertionResult {
    AssertionResult {
        kind: kind.into(),
        rubric: None,
        passed,
        errored: false,
        skipped: false,
        score,
        threshold: score.map(|_| 30.0),
        detail: detail.into(),
    }
}

fn case(id: &str, required: bool, chrf: f64) -> CaseResult {
    CaseResult {
        id: id.into(),
        required,
        status: CaseStatus::Passed,
        answer: format!("Resposta do caso {id}."),
        error: None,
        guard_decision: Some(GuardDecision::Pass),
        latency_ms: 1500,
        completion_tokens: 12,
        cost_usd: "0.000012".parse().expect("decimal"),
        assertions: vec![
            assertion("language", true, None, "pt detected"),
            assertion("chrf", true, Some(chrf), "chrF vs reference"),
        ],
    }
}

fn set(file: &str, prompt: Option<&str>, cases: Vec<CaseResult>) -> SetResult {
    let mut s = SetResult {
        file: file.into(),
        prompt: prompt.map(str::to_string),
        cases,
        aggregates: BTreeMap::new(),
        tolerances: BTreeMap::new(),
    };
    s.aggregate();
    s
}

fn run(id: &str, started_at: i64, sets: Vec<SetResult>) -> RunResult {
    RunResult {
        run_id: id.into(),
        started_at,
        git_sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        model: "local-smollm2".into(),
        temperature: 0.0,
        prompt_refs: Vec::new(),
        sets,
    }
}

/// Baseline: both sets pass with chrF 40. Now: the postpartum set is unchanged (and listed
/// first), the birth-plan set lost a required case and 5 chrF points on every case, and one case
/// errored.
fn baseline_and_regressed() -> (RunResult, RunResult) {
    let healthy = |chrf: f64| {
        set(
            POSTPARTUM,
            Some("postpartum-checkin"),
            (0..6)
                .map(|i| case(&format!("pp-{i}"), false, chrf))
                .collect(),
        )
    };
    let base_plan = set(
        BIRTH_PLAN,
        Some("birth-plan"),
        (0..10)
            .map(|i| case(&format!("bp-{i}"), i == 0, 40.0))
            .collect(),
    );
    let baseline = run("run_base", 1_000, vec![base_plan, healthy(40.0)]);

    let mut now_cases: Vec<CaseResult> = (0..10)
        .map(|i| case(&format!("bp-{i}"), i == 0, 35.0))
        .collect();
    // The required case now fails, with markup and quotes in what it reports and a control
    // character in the answer (models emit them): XML and Markdown must both stay intact.
    now_cases[0].status = CaseStatus::Failed;
    now_cases[0].answer = "Garanto um parto sem dor\u{1}. <b>Confie</b> & relaxe ]]>".into();
    now_cases[0].assertions.push(assertion(
        "not-contains",
        false,
        None,
        r#"found "garant" in <answer> & 'more'"#,
    ));
    now_cases[9].status = CaseStatus::Errored;
    now_cases[9].answer = String::new();
    now_cases[9].error = Some("upstream 503: model overloaded".into());
    let now = run(
        "run_now",
        2_000,
        vec![
            healthy(40.0),
            set(BIRTH_PLAN, Some("birth-plan"), now_cases),
        ],
    );
    (baseline, now)
}

#[derive(Debug, Deserialize)]
struct JunitSuites {
    #[serde(rename = "@tests")]
    tests: usize,
    #[serde(rename = "@failures")]
    failures: usize,
    #[serde(rename = "@errors")]
    errors: usize,
    #[serde(rename = "testsuite")]
    suites: Vec<JunitSuite>,
}

#[derive(Debug, Deserialize)]
struct JunitSuite {
    #[serde(rename = "@name")]
    name: String,
    #[serde(rename = "@tests")]
    tests: usize,
    #[serde(rename = "testcase", default)]
    cases: Vec<JunitCase>,
}

#[derive(Debug, Deserialize)]
struct JunitCase {
    #[serde(rename = "@name")]
    name: String,
    #[serde(rename = "@classname")]
    classname: String,
    #[serde(rename = "@time")]
    time: String,
    failure: Option<JunitProblem>,
    error: Option<JunitProblem>,
    #[serde(rename = "system-out")]
    system_out: Option<String>,
}

#[derive(Debug, Deserialize)]
struct JunitProblem {
    #[serde(rename = "@message")]
    message: String,
    #[serde(rename = "$text", default)]
    text: String,
}

fn write_compared(dir: &Path) -> (RunResult, std::path::PathBuf) {
    let (baseline, now) = baseline_and_regressed();
    let comparison = compare::compare(&baseline, &now);
    let out = report::write_outputs(dir, &now, Some(&comparison)).expect("outputs written");
    (now, out)
}

#[test]
fn the_outputs_land_in_a_folder_named_by_the_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (now, out) = write_compared(tmp.path());
    assert_eq!(out, tmp.path().join(&now.run_id));
    for name in ["metrics.json", "report.md", "junit.xml"] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
}

#[test]
fn metrics_json_reads_back_as_the_run_and_carries_the_comparison() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (now, out) = write_compared(tmp.path());
    // Any run's metrics.json can be the next run's baseline.
    let back = report::read_metrics(&out.join("metrics.json")).expect("reads back");
    assert_eq!(back, now);

    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).expect("read"))
            .expect("json");
    assert_eq!(raw["git_sha"], "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(raw["comparison"]["baseline_run_id"], "run_base");
    let plan = raw["comparison"]["sets"]
        .as_array()
        .expect("sets")
        .iter()
        .find(|s| s["file"] == BIRTH_PLAN)
        .expect("birth-plan compared");
    assert_eq!(plan["required_regressions"][0]["id"], "bp-0");
    let chrf = plan["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["metric"] == "chrf")
        .expect("chrf compared");
    assert_eq!(chrf["verdict"], "regression");
    assert_eq!(chrf["paired"], 9, "the errored case is not paired");
}

#[test]
fn the_gate_counts_the_required_case_and_the_chrf_drop_and_nothing_in_the_healthy_set() {
    let (baseline, now) = baseline_and_regressed();
    let c = compare::compare(&baseline, &now);
    let plan = c.sets.iter().find(|s| s.file == BIRTH_PLAN).expect("plan");
    let healthy = c.sets.iter().find(|s| s.file == POSTPARTUM).expect("pp");
    assert_eq!(healthy.regressions(), 0);
    assert_eq!(plan.required_regressions.len(), 1);
    let chrf = plan
        .metrics
        .iter()
        .find(|m| m.metric == "chrf")
        .expect("chrf");
    assert_eq!(chrf.verdict, Verdict::Regression);
    assert_eq!((chrf.delta, chrf.ci_low, chrf.ci_high), (-5.0, -5.0, -5.0));
    // One case of nine went from pass to fail: over the 0.05 tolerance, but carried by one case.
    let pass_rate = plan
        .metrics
        .iter()
        .find(|m| m.metric == "pass_rate")
        .expect("pass rate");
    assert_eq!(pass_rate.verdict, Verdict::WithinNoise);
    assert_eq!(c.regressions(), 2);
}

#[test]
fn junit_xml_parses_with_one_suite_per_set_and_escapes_what_models_write() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, out) = write_compared(tmp.path());
    let xml = std::fs::read_to_string(out.join("junit.xml")).expect("read");
    let suites: JunitSuites = quick_xml::de::from_str(&xml).expect("junit.xml is valid XML");

    assert_eq!((suites.tests, suites.failures, suites.errors), (16, 1, 1));
    let names: Vec<&str> = suites.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec![POSTPARTUM, BIRTH_PLAN]);
    let plan = &suites.suites[1];
    assert_eq!(plan.tests, 10);

    let required = &plan.cases[0];
    assert_eq!(required.name, "bp-0 [required]");
    assert_eq!(required.classname, BIRTH_PLAN);
    assert_eq!(required.time, "1.500");
    let failure = required.failure.as_ref().expect("a failure element");
    assert_eq!(failure.message, "1 of 3 assertions failed");
    // The parser gives back exactly what was reported: escaping lost nothing.
    assert_eq!(
        failure.text,
        r#"not-contains: found "garant" in <answer> & 'more'"#
    );
    assert_eq!(
        required.system_out.as_deref(),
        Some("Garanto um parto sem dor\u{FFFD}. <b>Confie</b> & relaxe ]]>")
    );

    let errored = &plan.cases[9];
    let error = errored.error.as_ref().expect("an error element");
    assert_eq!(error.message, "upstream 503: model overloaded");
    assert!(errored.failure.is_none() && errored.system_out.is_none());
    assert!(
        plan.cases[1..9]
            .iter()
            .all(|c| c.failure.is_none() && c.error.is_none())
    );
}

#[test]
fn report_md_puts_regressions_first_and_keeps_model_text_inert() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, out) = write_compared(tmp.path());
    let md = std::fs::read_to_string(out.join("report.md")).expect("read");

    assert!(md.starts_with(COMMENT_MARKER), "{md}");
    assert!(md.contains("PowerBirth eval: 2 regressions"), "{md}");
    assert!(md.contains("commit `0123456789ab`"), "{md}");
    assert!(
        md.contains("Prompts: every prompt this run rendered is identical to the baseline's."),
        "{md}"
    );
    // The set with regressions comes first although the run listed it second.
    let plan = md
        .find(&format!("### `{BIRTH_PLAN}`"))
        .expect("plan section");
    let healthy = md.find(&format!("### `{POSTPARTUM}`")).expect("pp section");
    assert!(plan < healthy, "{md}");
    assert!(md.contains("— 2 regressions"), "{md}");
    assert!(
        md.contains("- required case `bp-0` passed in the baseline and fails now"),
        "{md}"
    );
    assert!(
        md.contains(
            "| `chrf` | 40.00 | 35.00 | -5.000 | [-5.000, -5.000] | 9 | 2.000 | ❌ regression |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| `pass_rate` | 1.000 | 0.889 | -0.111 | [-0.333, 0.000] | 9 | 0.050 | within noise |"
        ),
        "{md}"
    );
    // Within a set's table, the regression row comes before the others.
    assert!(md.find("| `chrf` |") < md.find("| `pass_rate` |"), "{md}");
    // Failing cases: the failed assertion and an excerpt of the answer, with no live HTML.
    assert!(md.contains("- `bp-0` (required): failed"), "{md}");
    assert!(
        md.contains("  - `not-contains` failed: found \"garant\" in &lt;answer&gt; &amp; 'more'"),
        "{md}"
    );
    assert!(
        md.contains(
            "  > Garanto um parto sem dor. &lt;b&gt;Confie&lt;/b&gt; &amp; relaxe \\]\\]&gt;\n"
        ),
        "{md}"
    );
    assert!(!md.contains("<b>"), "{md}");
    assert!(
        md.contains("- `bp-9`: errored: upstream 503: model overloaded"),
        "{md}"
    );
    assert_eq!(md.matches(COMMENT_MARKER).count(), 1);
}

#[test]
fn a_run_without_baseline_reports_its_means_and_no_verdict_on_regressions() {
    let (_, now) = baseline_and_regressed();
    let md = report::markdown(&now, None);
    assert!(md.contains("PowerBirth eval: no baseline"), "{md}");
    assert!(md.contains("| `chrf` | 35.00 |"), "{md}");
    assert!(!md.contains("regression"), "{md}");
}

#[test]
fn a_baseline_that_is_not_a_metrics_file_is_refused_with_its_place() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("metrics.json");
    std::fs::write(&bad, "{\n  \"run_id\": \"x\",\n  \"sets\": 3\n}\n").expect("write");
    let err = report::read_metrics(&bad).expect_err("refused").to_string();
    assert!(err.starts_with(&bad.display().to_string()), "{err}");
    assert!(err.contains("line "), "{err}");

    let missing = tmp.path().join("nope.json");
    let err = report::read_metrics(&missing)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("nope.json"), "{err}");
}

/// Two runs: an older one, and a newer one with two birth-plan sets and a raw chat set.
fn stored_runs() -> (RunResult, RunResult) {
    let older = run(
        "run_older",
        1_709_210_096_000,
        vec![set(
            BIRTH_PLAN,
            Some("birth-plan"),
            (0..4)
                .map(|i| case(&format!("bp-{i}"), false, 30.0))
                .collect(),
        )],
    );
    let mut failing = case("en-1", false, 60.0);
    failing.status = CaseStatus::Failed;
    let newer = run(
        "run_newer",
        1_795_737_600_000,
        vec![
            set(
                BIRTH_PLAN,
                Some("birth-plan"),
                (0..3)
                    .map(|i| case(&format!("bp-{i}"), false, 40.0))
                    .collect(),
            ),
            set(BIRTH_PLAN_EN, Some("birth-plan"), vec![failing]),
            set("evalsets/raw.toml", None, vec![case("raw-1", false, 10.0)]),
        ],
    );
    (older, newer)
}

async fn runs_are_stored_with_their_history(store: &Store) {
    let (older, newer) = stored_runs();
    store
        .save_eval_run(&older, None)
        .await
        .expect("older stored");
    let comparison = compare::compare(&older, &newer);
    store
        .save_eval_run(&newer, Some(&comparison))
        .await
        .expect("newer stored");

    // The whole metrics.json is kept: nothing of the run is lost.
    let kept: String = sqlx::query_scalar("SELECT result FROM eval_runs WHERE id = $1")
        .bind("run_newer")
        .fetch_one(store.pool())
        .await
        .expect("row");
    let back: RunResult = serde_json::from_str(&kept).expect("metrics.json");
    assert_eq!(back, newer);

    let history = store.eval_history(10).await.expect("history");
    let prompts: Vec<Option<&str>> = history.iter().map(|h| h.prompt.as_deref()).collect();
    assert_eq!(prompts, vec![Some("birth-plan"), None]);
    let plan = &history[0];
    let ids: Vec<&str> = plan.runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, vec!["run_newer", "run_older"]);
    let latest = &plan.runs[0];
    assert_eq!(
        latest.sets,
        vec![BIRTH_PLAN.to_string(), BIRTH_PLAN_EN.to_string()]
    );
    assert_eq!((latest.cases, latest.passed, latest.failed), (4, 3, 1));
    // Means of the two sets combine weighted by their scores: (3·40 + 60) / 4 = 45.
    assert_eq!(latest.means["chrf"].mean, 45.0);
    assert_eq!(latest.means["chrf"].n, 4);
    assert_eq!(latest.means["pass_rate"].mean, 0.75);
    assert_eq!(plan.runs[1].means["chrf"].mean, 30.0);

    assert_eq!(
        store.eval_history(1).await.expect("history")[0].runs.len(),
        1
    );
}

#[tokio::test]
async fn runs_are_stored_and_read_back_on_sqlite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", tmp.path().join("eval.db").display());
    let store = Store::connect(&url, 2).await.expect("sqlite");
    runs_are_stored_with_their_history(&store).await;
    store.close().await;
}

#[tokio::test]
async fn runs_are_stored_and_read_back_on_postgresql() {
    let Some(base) = common::pg_url() else {
        return;
    };
    let url = common::fresh_pg_database(&base).await;
    let store = Store::connect(&url, 2).await.expect("postgres");
    runs_are_stored_with_their_history(&store).await;
    store.close().await;
}

#[tokio::test]
async fn eval_publish_writes_the_page_from_the_stored_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("eval.db");
    let url = format!("sqlite://{}", db.display());
    // The shipped configuration, on a database of its own.
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/powerbirth.toml"))
        .expect("shipped config");
    assert!(shipped.contains("url = \"sqlite://powerbirth.db\""));
    let config = tmp.path().join("powerbirth.toml");
    std::fs::write(
        &config,
        shipped.replace(
            "url = \"sqlite://powerbirth.db\"",
            &format!("url = \"{url}\""),
        ),
    )
    .expect("config");
    let page = tmp.path().join("docs/model-performance.md");
    let publish = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
            .arg("--config")
            .arg(&config)
            .args(["eval", "publish", "--out"])
            .arg(&page)
            .output()
            .expect("the binary runs")
    };

    // Before any run: the page says so, with no numbers.
    let out = publish();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let empty = std::fs::read_to_string(&page).expect("page");
    assert!(empty.contains("No eval runs are stored yet"), "{empty}");

    let store = Store::connect(&url, 2).await.expect("sqlite");
    let (older, newer) = stored_runs();
    store.save_eval_run(&older, None).await.expect("stored");
    store.save_eval_run(&newer, None).await.expect("stored");
    store.close().await;

    let out = publish();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&page).expect("page");
    assert!(text.contains("## `birth-plan`"), "{text}");
    assert!(
        text.contains("Latest run `run_newer` on 2026-11-27 00:00 · model `local-smollm2` · commit `0123456789ab` · 4 cases: 3 passed, 1 failed, 0 errored"),
        "{text}"
    );
    assert!(text.contains("| chrf | 45.00 | 4 |"), "{text}");
    assert!(text.contains("| pass_rate | 0.750 | 4 |"), "{text}");
    assert!(
        text.contains(
            "| 2024-02-29 12:34 | `local-smollm2` | `0123456789ab` | 4 | 1.000 | 30.00 |"
        ),
        "{text}"
    );
    assert!(text.contains("## Raw chat sets (no prompt)"), "{text}");
    // Publishing again without new runs changes nothing.
    assert!(publish().status.success());
    assert_eq!(std::fs::read_to_string(&page).expect("page"), text);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const PLAN_SET: &str = r#"prompt = "birth-plan"
description = "The birth plan never promises an outcome."

[[cases]]
id = "plan-is-no-guarantee"
required = true
input = "Quero montar meu plano de parto."
reference = "Plano de parto não é garantia nem promessa de resultado: a equipe pode precisar mudar o plano por segurança."
assert = [
  { type = "icontains", value = "não é garantia" },
  { type = "chrf", threshold = 1.0 },
]

[[cases]]
id = "companion"
input = "Posso levar meu marido?"
reference = "Você tem direito a um acompanhante de sua escolha durante o trabalho de parto e o parto."
assert = [
  { type = "icontains", value = "acompanhante" },
  { type = "chrf", threshold = 1.0 },
]
"#;

const POSTPARTUM_SET: &str = r#"prompt = "postpartum-checkin"

[[cases]]
id = "checkin"
vars = { days_postpartum = 5 }
input = "Oi, tudo bem por aqui."
assert = [{ type = "icontains", value = "192" }]
"#;

/// The issue's acceptance check: a prompt author edits one prompt's template (here, deleting the
/// sentence that says a birth plan is no guarantee) and runs `eval run --changed-since main
/// --baseline …`: only that prompt's set runs, and the report shows the deltas and the regression.
// Multi-threaded: the binary is awaited with a blocking call while the mock upstream serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_prompt_runs_only_its_sets_and_shows_the_deltas_against_main() {
    let upstream = common::MockUpstream::start().await;
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("repo");
    copy_dir(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/prompts")),
        &root.join("prompts"),
    );
    std::fs::create_dir_all(root.join("evalsets/birth-plan")).expect("mkdir");
    std::fs::create_dir_all(root.join("evalsets/postpartum-checkin")).expect("mkdir");
    std::fs::write(root.join("evalsets/birth-plan/plan.toml"), PLAN_SET).expect("set");
    std::fs::write(
        root.join("evalsets/postpartum-checkin/check.toml"),
        POSTPARTUM_SET,
    )
    .expect("set");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "prompts and sets"]);

    // The configuration, database and outputs live outside the repository.
    let db = format!("sqlite://{}", work.path().join("eval.db").display());
    let repo_dir = |p: &str| format!("{}/{p}", env!("CARGO_MANIFEST_DIR"));
    let extra = format!(
        "[[models]]\nname = \"gpt-echo-system\"\nprovider = \"openai\"\napi_base = \"{}\"\n\
         upstream_model = \"echo-system\"\ntimeout_ms = 2000\nmax_retries = 0\nprice = \"free\"\n\n\
         [prompts]\ndir = \"{}\"\n\n[guard]\ndir = \"{}\"\n\n[eval]\nmodel = \"gpt-echo-system\"\n\
         rubrics_dir = \"{}\"\n",
        upstream.api_base(),
        root.join("prompts").display(),
        repo_dir("guard"),
        repo_dir("evalsets/rubrics"),
    );
    let config = work.path().join("powerbirth.toml");
    std::fs::write(&config, common::test_config(&upstream, &db, &extra)).expect("config");
    let eval_run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
            .current_dir(&root)
            .arg("--config")
            .arg(&config)
            .args(["eval", "run"])
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("the binary runs")
    };
    let out_dir = |name: &str| work.path().join(name).display().to_string();
    let only_run_in = |dir: &str| {
        let runs: Vec<_> = std::fs::read_dir(dir)
            .expect("out dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        runs[0].clone()
    };

    // The baseline: every set, on main.
    let base = eval_run(&["--out", &out_dir("base")]);
    assert_eq!(
        base.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&base.stderr)
    );
    let baseline = only_run_in(&out_dir("base")).join("metrics.json");
    assert_eq!(
        upstream.calls(),
        3,
        "{}\n{}",
        String::from_utf8_lossy(&base.stdout),
        std::fs::read_to_string(&baseline).expect("baseline")
    );

    // The change, committed on a branch.
    git(&root, &["checkout", "-q", "-b", "shorter-plan"]);
    let template = root.join("prompts/birth-plan/v1/pt-BR.doula.toml");
    let text = std::fs::read_to_string(&template).expect("template");
    let sentence = "Plano de parto não é garantia nem promessa de resultado. ";
    assert!(text.contains(sentence));
    std::fs::write(&template, text.replace(sentence, "")).expect("edit");
    git(&root, &["commit", "-q", "-am", "shorter birth plan prompt"]);

    let head = eval_run(&[
        "--changed-since",
        "main",
        "--baseline",
        baseline.to_str().expect("utf-8 path"),
        "--out",
        &out_dir("head"),
    ]);
    let stderr = String::from_utf8_lossy(&head.stderr);
    assert_eq!(
        head.status.code(),
        Some(1),
        "a regression exits 1: {stderr}"
    );
    assert!(
        stderr.contains(
            "evalsets/birth-plan/plan.toml selected: prompts/birth-plan/v1/pt-BR.doula.toml changed since main"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("postpartum-checkin/check.toml selected"),
        "{stderr}"
    );
    // Only the birth-plan set's two cases reached the model.
    assert_eq!(upstream.calls(), 5);

    let run_dir = only_run_in(&out_dir("head"));
    let now = report::read_metrics(&run_dir.join("metrics.json")).expect("metrics.json");
    let files: Vec<&str> = now.sets.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(files, vec!["evalsets/birth-plan/plan.toml"]);

    let md = std::fs::read_to_string(run_dir.join("report.md")).expect("report.md");
    assert!(
        md.contains(
            "Prompts changed since the baseline: `birth-plan@1;lang=pt-BR;persona=doula` (`"
        ),
        "{md}"
    );
    assert!(
        md.contains("- required case `plan-is-no-guarantee` passed in the baseline and fails now"),
        "{md}"
    );
    let chrf_row = md
        .lines()
        .find(|l| l.starts_with("| `chrf` |"))
        .unwrap_or_else(|| panic!("no chrf delta row:\n{md}"));
    let cells: Vec<&str> = chrf_row.split('|').map(str::trim).collect();
    let (before, after, delta): (f64, f64, f64) = (
        cells[2].parse().expect("baseline mean"),
        cells[3].parse().expect("now mean"),
        cells[4].parse().expect("delta"),
    );
    assert!(delta != 0.0, "{chrf_row}");
    assert!((after - before - delta).abs() < 0.02, "{chrf_row}");
    assert!(
        md.contains("| `pass_rate` | 1.000 | 0.500 | -0.500 |"),
        "{md}"
    );
}
