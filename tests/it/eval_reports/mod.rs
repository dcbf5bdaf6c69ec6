//! The outputs of an eval run as their readers see them: `metrics.json` read back as a baseline,
//! `junit.xml` parsed by an XML parser, `report.md` as a pull-request comment; runs stored on
//! SQLite and PostgreSQL and published as `docs/model-performance.md` by the real binary.

mod changed;
mod files;
mod stored;

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
