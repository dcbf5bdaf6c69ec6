//! What an eval run produced: the schema of `metrics.json`. The runner fills these types, the
//! reports, the baseline comparison and the database store read them; a baseline is a
//! `metrics.json` of an earlier run read back with serde, so every field here is part of a file
//! format and changes to it must stay readable by older runs (add fields with `#[serde(default)]`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::UsdCost;

/// One run of one or more eval sets against one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Unique and sortable by time (`run_` + UUIDv7); also the output folder's name.
    pub run_id: String,
    /// When the run started, epoch milliseconds.
    pub started_at: i64,
    /// The commit the eval sets and prompts were read from, when run inside a git checkout.
    #[serde(default)]
    pub git_sha: Option<String>,
    /// The configured model name every case was sent to (not the upstream's model id).
    pub model: String,
    pub temperature: f64,
    /// Every prompt version the run rendered, with the hash of what the model saw: two runs with
    /// equal hashes sent the model exactly the same prompt.
    #[serde(default)]
    pub prompt_refs: Vec<PromptRefHash>,
    pub sets: Vec<SetResult>,
}

/// A rendered prompt reference (`id@version;lang=…;persona=…`) and the SHA-256 of its messages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PromptRefHash {
    pub prompt_ref: String,
    pub sha256: String,
}

/// The results of one eval set file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetResult {
    /// The file, relative to the working directory as given on the command line.
    pub file: String,
    /// The prompt id the set tests; `None` for raw chat cases (no template).
    #[serde(default)]
    pub prompt: Option<String>,
    pub cases: Vec<CaseResult>,
    /// Per assertion type that produces a score (`chrf`, `similarity`, `judge:friendly_tone`, …,
    /// and `pass_rate` for the share of cases that passed): the mean over the cases that were
    /// scored. Errored cases and errored assertions are left out of the means.
    pub aggregates: BTreeMap<String, f64>,
    /// The set's `[tolerances]`: per metric key, the drop of its mean allowed before it is a
    /// regression. Metrics not listed use the documented defaults.
    #[serde(default)]
    pub tolerances: BTreeMap<String, f64>,
}

/// Whether a case passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// Every assertion passed.
    Passed,
    /// The model answered and at least one assertion failed.
    Failed,
    /// The model call failed, or an assertion could not be scored (a judge that answered
    /// garbage, a metric that failed) and none failed: neither passed nor failed.
    Errored,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Passed => "passed",
            CaseStatus::Failed => "failed",
            CaseStatus::Errored => "errored",
        }
    }
}

/// What the input guard decided on the case's turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardDecision {
    /// Nothing found, or only personal data (redacted).
    Pass,
    /// A danger sign or crisis: the urgent notice goes before the model's answer.
    Escalate,
    /// Answered with the safe reply; the model was not called.
    Block,
}

impl GuardDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardDecision::Pass => "pass",
            GuardDecision::Escalate => "escalate",
            GuardDecision::Block => "block",
        }
    }
}

/// One case's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    /// A required case that passed in the baseline and fails now is a regression.
    #[serde(default)]
    pub required: bool,
    pub status: CaseStatus,
    /// The answer as the user would see it (guard notice and output filtering included); empty
    /// when the model call failed.
    #[serde(default)]
    pub answer: String,
    /// Why the case errored (the model call's error).
    #[serde(default)]
    pub error: Option<String>,
    /// The guard's decision; `None` when the case errored before the guard ran.
    #[serde(default)]
    pub guard_decision: Option<GuardDecision>,
    /// Wall time of the turn through the pipeline, milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    /// Exact decimal USD, serialized as a string (`"0.000123"`).
    #[serde(default)]
    pub cost_usd: UsdCost,
    pub assertions: Vec<AssertionResult>,
}

/// One assertion's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionResult {
    /// The assertion type as written in the set (`icontains`, `chrf`, `judge`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// For `judge`, the rubric (`clinical_coherence`); the aggregate key is `judge:<rubric>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<String>,
    pub passed: bool,
    /// `true` when it could not be scored (neither passed nor failed); the case is errored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub errored: bool,
    /// `true` when it was not run because the run has no judge model (`[eval] judge_model`
    /// unset, as in the keyless default): neither passed nor failed, and it does not change the
    /// case's status. Reports count skipped assertions so nobody mistakes them for passes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// The measured value for scored assertions (chrF, similarity, judge score, latency, …).
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub threshold: Option<f64>,
    /// What was checked and what was found, for the report (never empty on failure).
    #[serde(default)]
    pub detail: String,
}

impl AssertionResult {
    /// The key its score is aggregated under: the type, or `judge:<rubric>`.
    pub fn metric_key(&self) -> String {
        match &self.rubric {
            Some(r) => format!("{}:{r}", self.kind),
            None => self.kind.clone(),
        }
    }
}

impl SetResult {
    /// Fills `aggregates` from the cases: the mean score per metric over the assertions that were
    /// scored (not errored), and `pass_rate` over the cases that did not error.
    pub fn aggregate(&mut self) {
        let mut sums: BTreeMap<String, (f64, u32)> = BTreeMap::new();
        for case in self
            .cases
            .iter()
            .filter(|c| c.status != CaseStatus::Errored)
        {
            for a in case.assertions.iter().filter(|a| !a.errored && !a.skipped) {
                if let Some(score) = a.score.filter(|s| s.is_finite()) {
                    let e = sums.entry(a.metric_key()).or_default();
                    e.0 += score;
                    e.1 += 1;
                }
            }
        }
        let mut aggregates: BTreeMap<String, f64> = sums
            .into_iter()
            .map(|(k, (sum, n))| (k, sum / f64::from(n)))
            .collect();
        let scored = self
            .cases
            .iter()
            .filter(|c| c.status != CaseStatus::Errored)
            .count();
        if scored > 0 {
            let passed = self
                .cases
                .iter()
                .filter(|c| c.status == CaseStatus::Passed)
                .count();
            aggregates.insert("pass_rate".into(), passed as f64 / scored as f64);
        }
        self.aggregates = aggregates;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assertion(kind: &str, score: Option<f64>, errored: bool) -> AssertionResult {
        AssertionResult {
            kind: kind.into(),
            rubric: None,
            passed: !errored,
            errored,
            skipped: false,
            score,
            threshold: None,
            detail: String::new(),
        }
    }

    fn case(id: &str, status: CaseStatus, assertions: Vec<AssertionResult>) -> CaseResult {
        CaseResult {
            id: id.into(),
            required: false,
            status,
            answer: "ok".into(),
            error: None,
            guard_decision: Some(GuardDecision::Pass),
            latency_ms: 3,
            completion_tokens: 2,
            cost_usd: "0.000012".parse().unwrap(),
            assertions,
        }
    }

    #[test]
    fn aggregates_are_means_over_scored_cases_and_leave_errored_ones_out() {
        let mut set = SetResult {
            file: "evalsets/x/y.toml".into(),
            prompt: Some("x".into()),
            cases: vec![
                case(
                    "a",
                    CaseStatus::Passed,
                    vec![assertion("chrf", Some(40.0), false)],
                ),
                case(
                    "b",
                    CaseStatus::Failed,
                    vec![assertion("chrf", Some(20.0), false)],
                ),
                case(
                    "c",
                    CaseStatus::Errored,
                    vec![assertion("chrf", Some(99.0), false)],
                ),
            ],
            aggregates: BTreeMap::new(),
            tolerances: BTreeMap::new(),
        };
        set.aggregate();
        assert_eq!(set.aggregates["chrf"], 30.0);
        assert_eq!(set.aggregates["pass_rate"], 0.5);
    }

    #[test]
    fn a_run_reads_back_from_its_own_json() {
        let mut judged = assertion("judge", Some(4.0), false);
        judged.rubric = Some("friendly_tone".into());
        let run = RunResult {
            run_id: "run_1".into(),
            started_at: 1,
            git_sha: None,
            model: "local-smollm2".into(),
            temperature: 0.0,
            prompt_refs: vec![PromptRefHash {
                prompt_ref: "p@1;lang=pt-BR;persona=nurse".into(),
                sha256: "ab".into(),
            }],
            sets: vec![SetResult {
                file: "f.toml".into(),
                prompt: None,
                cases: vec![case("a", CaseStatus::Passed, vec![judged])],
                aggregates: BTreeMap::from([("judge:friendly_tone".to_string(), 4.0)]),
                tolerances: BTreeMap::from([("chrf".to_string(), 2.0)]),
            }],
        };
        let text = serde_json::to_string(&run).unwrap();
        assert!(text.contains(r#""status":"passed""#), "{text}");
        assert!(text.contains(r#""cost_usd":"0.000012""#), "{text}");
        assert!(text.contains(r#""type":"judge""#), "{text}");
        let back: RunResult = serde_json::from_str(&text).unwrap();
        assert_eq!(back, run);
    }
}
