//! Evaluating a parsed [`Check`] on a case's outcome: text and guard checks, limits, reference
//! metrics, and the model-backed scorers (similarity, perplexity, the judge).

use super::{Check, Observed, Scorers, Tongue};
use crate::core::UsdCost;
use crate::eval::metrics;
use crate::eval::results::{AssertionResult, GuardDecision};

impl Check {
    /// Checks the case's outcome. Each arm names its verdict; the helpers below word it and
    /// record the score and threshold the reports show.
    pub async fn evaluate(&self, obs: &Observed<'_>, scorers: &Scorers) -> AssertionResult {
        let mut result = blank(self.type_name());
        let answer = obs.answer;
        let reference = obs.reference.unwrap_or_default();
        let (passed, detail) = match self {
            Check::Contains(v) => text_check(
                answer.contains(v.as_str()),
                format!("the answer contains {v:?}"),
                format!("the answer does not contain {v:?}"),
            ),
            Check::IContains(v) => text_check(
                answer.to_lowercase().contains(&v.to_lowercase()),
                format!("the answer contains {v:?} (any case)"),
                format!("the answer does not contain {v:?} in any case"),
            ),
            Check::NotContains(v) => not_contains(answer, v),
            Check::Regex(re) => text_check(
                re.is_match(answer),
                format!("the answer matches /{re}/"),
                format!("the answer does not match /{re}/"),
            ),
            Check::Language(want) => language_check(answer, *want),
            Check::Escalated => decision_check(obs.decision, GuardDecision::Escalate, true),
            Check::Blocked => decision_check(obs.decision, GuardDecision::Block, true),
            Check::NotEscalated => decision_check(obs.decision, GuardDecision::Escalate, false),
            Check::NotBlocked => decision_check(obs.decision, GuardDecision::Block, false),
            Check::MaxTokens(t) => {
                let tokens = obs.completion_tokens as f64;
                at_most(&mut result, tokens, *t, "completion tokens")
            }
            Check::MaxLatencyMs(t) => {
                at_most(&mut result, obs.latency_ms as f64, *t, "latency (ms)")
            }
            Check::MaxCostUsd(t) => cost_check(&mut result, obs.cost, *t),
            Check::Bleu(t) => {
                let bleu = metrics::sentence_bleu(answer, &[reference]);
                at_least(&mut result, bleu, *t, "BLEU")
            }
            Check::Chrf(t) => {
                let chrf = metrics::sentence_chrf(answer, &[reference]);
                at_least(&mut result, chrf, *t, "chrF")
            }
            Check::RougeL(t) => {
                let rouge = metrics::rouge_l(answer, reference);
                at_least(&mut result, rouge, *t, "ROUGE-L")
            }
            Check::Similarity(t) => match scorers.similarity(answer, reference).await {
                Ok(s) => at_least(&mut result, s, *t, "similarity"),
                Err(e) => return errored(result, e),
            },
            Check::Perplexity(t) => match scorers.perplexity(obs.context, answer).await {
                Ok(p) => at_most(&mut result, p, *t, "perplexity"),
                Err(e) => return errored(result, e),
            },
            Check::Judge { rubric, threshold } => {
                return judged(result, rubric, *threshold, obs, scorers).await;
            }
        };
        result.passed = passed;
        result.detail = detail;
        result
    }
}

/// A result of `kind` that has not passed yet, with nothing recorded.
fn blank(kind: &str) -> AssertionResult {
    AssertionResult {
        kind: kind.to_string(),
        rubric: None,
        passed: false,
        errored: false,
        skipped: false,
        score: None,
        threshold: None,
        detail: String::new(),
    }
}

fn not_contains(answer: &str, v: &str) -> (bool, String) {
    let found = answer.to_lowercase().contains(&v.to_lowercase());
    (
        !found,
        if found {
            format!("the answer contains {v:?} (in some case), and must not")
        } else {
            format!("the answer does not contain {v:?}")
        },
    )
}

fn language_check(answer: &str, want: Tongue) -> (bool, String) {
    let found = detect_language(answer);
    (
        found == Some(want),
        match found {
            Some(t) => format!(
                "the answer is in `{}` (expected `{}`)",
                t.code(),
                want.code()
            ),
            None => format!(
                "the answer's language is neither pt nor en, or too short to tell (expected `{}`)",
                want.code()
            ),
        },
    )
}

fn cost_check(r: &mut AssertionResult, cost: UsdCost, limit: UsdCost) -> (bool, String) {
    // The report's score columns are floats; the verdict itself compares decimals.
    r.score = cost.to_string().parse().ok();
    r.threshold = limit.to_string().parse().ok();
    (cost <= limit, format!("cost {cost} USD (at most {limit})"))
}

/// The judge's verdict, or a skip when the run has no judge model (neither pass nor error).
async fn judged(
    mut result: AssertionResult,
    rubric: &str,
    threshold: f64,
    obs: &Observed<'_>,
    scorers: &Scorers,
) -> AssertionResult {
    result.rubric = Some(rubric.to_string());
    if scorers.judge.is_none() {
        result.threshold = Some(threshold);
        result.skipped = true;
        result.detail = "skipped: no judge model in this run (set `[eval] judge_model`)".into();
        return result;
    }
    match scorers.judge(rubric, obs.conversation, obs.answer).await {
        Ok((grade, version)) => {
            let (passed, _) = at_least(&mut result, grade.score, threshold, "judge score");
            result.passed = passed;
            result.detail = format!(
                "{rubric} v{version}: {} (at least {threshold}): {}",
                grade.score, grade.reason
            );
            result
        }
        Err(e) => {
            result.threshold = Some(threshold);
            errored(result, e)
        }
    }
}

/// `(ok, "the answer contains …" | "the answer does not contain …")`.
fn text_check(ok: bool, found: String, missing: String) -> (bool, String) {
    (ok, if ok { found } else { missing })
}

fn decision_check(found: GuardDecision, target: GuardDecision, want: bool) -> (bool, String) {
    let is = found == target;
    (
        is == want,
        format!(
            "the guard decided `{}` (expected {}`{}`)",
            found.as_str(),
            if want { "" } else { "anything but " },
            target.as_str()
        ),
    )
}

fn at_most(r: &mut AssertionResult, value: f64, limit: f64, what: &str) -> (bool, String) {
    r.score = Some(value);
    r.threshold = Some(limit);
    (
        value <= limit,
        format!("{what} {} (at most {limit})", round(value)),
    )
}

fn at_least(r: &mut AssertionResult, value: f64, min: f64, what: &str) -> (bool, String) {
    r.score = Some(value);
    r.threshold = Some(min);
    (
        value.is_finite() && value >= min,
        format!("{what} {} (at least {min})", round(value)),
    )
}

fn round(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

fn errored(mut r: AssertionResult, why: String) -> AssertionResult {
    r.passed = false;
    r.errored = true;
    r.detail = why;
    r
}

/// The answer's language by `whatlang`, when it is confidently Portuguese or English.
fn detect_language(text: &str) -> Option<Tongue> {
    match whatlang::detect_lang(text)? {
        whatlang::Lang::Por => Some(Tongue::Pt),
        whatlang::Lang::Eng => Some(Tongue::En),
        _ => None,
    }
}
