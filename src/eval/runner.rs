//! Running eval sets: every case becomes a chat request with the set's prompt selector and goes
//! through the gateway's own [`Pipeline`] (prompt rendering, input guard, budget, providers with
//! fallback, output guard, metering, the log) as an eval turn ([`crate::chat::Origin::Eval`]:
//! an internal key, never flagged urgent), at temperature 0.
//! Cases run concurrently up to a limit (each case's assertions checked as it finishes), with
//! progress on stderr ([`Progress`]: a bar on a terminal, plain lines otherwise) and a line for
//! each case that fails or errors, printed as it finishes. The results are put back in the sets'
//! order, so the run does not depend on the concurrency. A case whose model call fails is
//! `errored`, never `passed`.

use std::collections::BTreeSet;

use futures_util::StreamExt;

use super::assertions::{Check, Observed, Scorers};
use super::results::{
    AssertionResult, CaseResult, CaseStatus, GuardDecision, PromptRefHash, RunResult, SetResult,
};
use super::set::{Case, EvalSet};
use crate::chat::{Answer, Answered, Pipeline, RequestContext};
use crate::core::UsdCost;
use crate::core::now_ms;
use crate::core::progress::{Outcome, Progress};
use crate::error::ApiError;
use crate::guard::Decision;
use crate::providers::local::ChatTurn;
use crate::wire::{ChatRequest, PromptSelector};

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The configured model every case is sent to.
    pub model: String,
    /// Cases in flight at once.
    pub concurrency: usize,
    /// Generation cap of cases whose set gives none.
    pub max_tokens: u32,
    /// Where progress and failing cases are reported ([`Progress::hidden`] for none).
    pub progress: Progress,
}

/// Runs cases through a pipeline and scores them.
pub struct Runner {
    pipeline: Pipeline,
    scorers: Scorers,
}

impl Runner {
    pub fn new(pipeline: Pipeline, scorers: Scorers) -> Runner {
        Runner { pipeline, scorers }
    }

    /// Runs every case of `sets` and returns the run (without `git_sha`, which the caller knows).
    pub async fn run(&self, sets: &[EvalSet], opts: &RunOptions) -> RunResult {
        let started_at = now_ms();
        let run_id = format!("run_{}", uuid::Uuid::now_v7().simple());
        let jobs: Vec<(usize, usize)> = sets
            .iter()
            .enumerate()
            .flat_map(|(s, set)| (0..set.cases.len()).map(move |c| (s, c)))
            .collect();
        let progress = &opts.progress;
        progress.set_total(jobs.len() as u64);
        let mut done: Vec<(usize, usize, CaseResult, Option<PromptRefHash>)> =
            futures_util::stream::iter(jobs)
                .map(|(s, c)| async move {
                    let (result, prompt) = self.run_case(&sets[s], &sets[s].cases[c], opts).await;
                    report_case(progress, &sets[s].file(), &result);
                    (s, c, result, prompt)
                })
                .buffer_unordered(opts.concurrency.max(1))
                .collect()
                .await;
        progress.finish();
        // Finishing order depends on the concurrency; the results do not.
        done.sort_by_key(|(s, c, _, _)| (*s, *c));
        let mut prompt_refs = BTreeSet::new();
        let mut results: Vec<SetResult> = sets
            .iter()
            .map(|set| SetResult {
                file: set.file(),
                prompt: set.prompt.as_ref().map(|p| p.id.clone()),
                cases: Vec::with_capacity(set.cases.len()),
                aggregates: Default::default(),
                tolerances: set.tolerances.clone(),
            })
            .collect();
        for (s, _, case, prompt) in done {
            results[s].cases.push(case);
            prompt_refs.extend(prompt);
        }
        for set in &mut results {
            set.aggregate();
        }
        RunResult {
            run_id,
            started_at,
            git_sha: None,
            model: opts.model.clone(),
            temperature: 0.0,
            prompt_refs: prompt_refs.into_iter().collect(),
            sets: results,
        }
    }

    /// One case: render, guard, call, meter, log; then its assertions.
    async fn run_case(
        &self,
        set: &EvalSet,
        case: &Case,
        opts: &RunOptions,
    ) -> (CaseResult, Option<PromptRefHash>) {
        let selector = set.selector(case);
        let mut result = CaseResult {
            id: case.id.clone(),
            required: case.required,
            status: CaseStatus::Errored,
            answer: String::new(),
            error: None,
            guard_decision: None,
            latency_ms: 0,
            completion_tokens: 0,
            cost_usd: UsdCost::ZERO,
            assertions: Vec::new(),
        };
        // The hash of exactly what the model saw; the pipeline renders the same selector again
        // (a few microseconds, no IO).
        let prompt_ref = match &selector {
            None => None,
            Some(sel) => match self.pipeline.prompts.load().render(sel, None) {
                Ok(r) => Some(PromptRefHash {
                    prompt_ref: r.header_value(),
                    sha256: r.sha256,
                }),
                Err(e) => {
                    result.error = Some(e.to_string());
                    return (result, None);
                }
            },
        };
        let answer = match self.answer(set, case, opts, selector, &mut result).await {
            Ok(a) => a,
            Err(e) => {
                result.error = Some(e.to_string());
                return (result, prompt_ref);
            }
        };
        self.score(case, answer, &mut result).await;
        (result, prompt_ref)
    }

    /// The case's answer from the pipeline, as a client's would be, at temperature 0. The guard's
    /// decision and the latency are recorded even when the model call fails.
    async fn answer(
        &self,
        set: &EvalSet,
        case: &Case,
        opts: &RunOptions,
        selector: Option<PromptSelector>,
        result: &mut CaseResult,
    ) -> Result<Answer, ApiError> {
        let mut request = ChatRequest::new(opts.model.clone(), case.messages.clone());
        request.temperature = Some(0.0);
        request.max_tokens = Some(case.max_tokens.unwrap_or(opts.max_tokens));
        request.prompt = selector;
        // Without a prompt, the case's language reaches the guard as a client's header would.
        let accept_language = match &set.prompt {
            None => case.language.as_deref(),
            Some(_) => None,
        };
        let ctx = RequestContext::eval(accept_language);
        let reply = self.pipeline.handle(request, &ctx).await?;
        result.guard_decision = Some(decision_of(&reply.decision));
        result.latency_ms = u64::try_from(reply.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match reply.outcome? {
            Answered::Complete(answer) => Ok(*answer),
            // The request does not ask for one.
            Answered::Stream(_) => Err(ApiError::Internal(anyhow::anyhow!(
                "an eval request was answered as a stream"
            ))),
        }
    }

    /// Checks the case's assertions against its answer.
    async fn score(&self, case: &Case, answer: Answer, result: &mut CaseResult) {
        result.answer = answer.completion.text;
        result.completion_tokens = answer.output_tokens;
        result.cost_usd = answer.cost;
        let context: Vec<ChatTurn> = answer
            .request
            .messages
            .iter()
            .map(|m| ChatTurn {
                role: m.role.as_str().to_string(),
                content: m.text(),
            })
            .collect();
        let observed = Observed {
            answer: &result.answer,
            decision: result.guard_decision.unwrap_or(GuardDecision::Pass),
            completion_tokens: result.completion_tokens,
            cost: result.cost_usd,
            latency_ms: result.latency_ms,
            reference: case.reference.as_deref(),
            conversation: &case.messages,
            context: &context,
        };
        let mut assertions = Vec::with_capacity(case.checks.len());
        for check in &case.checks {
            assertions.push(check.evaluate(&observed, &self.scorers).await);
        }
        result.status = status_of(&assertions);
        result.assertions = assertions;
    }
}

/// Failed when any assertion failed; else errored when any could not be scored; else passed.
fn status_of(assertions: &[AssertionResult]) -> CaseStatus {
    if assertions
        .iter()
        .any(|a| !a.passed && !a.errored && !a.skipped)
    {
        CaseStatus::Failed
    } else if assertions.iter().any(|a| a.errored) {
        CaseStatus::Errored
    } else {
        CaseStatus::Passed
    }
}

fn decision_of(decision: &Decision) -> GuardDecision {
    match decision {
        Decision::Escalate { .. } => GuardDecision::Escalate,
        Decision::Block { .. } => GuardDecision::Block,
        Decision::Pass => GuardDecision::Pass,
    }
}

/// Counts a finished case, and prints it when it failed or errored:
/// `eval: FAILED evalsets/x.toml case-id: contains: the answer does not contain "…" (+1 more)`.
fn report_case(progress: &Progress, file: &str, case: &CaseResult) {
    let outcome = match case.status {
        CaseStatus::Passed => Outcome::Passed,
        CaseStatus::Failed => Outcome::Failed,
        CaseStatus::Errored => Outcome::Errored,
    };
    if outcome != Outcome::Passed {
        progress.println(&failure_line(file, case));
    }
    progress.record(outcome);
}

/// One line for a failed or errored case: its first failing (else errored) assertion and why,
/// or the model call's error.
pub fn failure_line(file: &str, case: &CaseResult) -> String {
    let failing: Vec<&AssertionResult> = match case.status {
        CaseStatus::Failed => case
            .assertions
            .iter()
            .filter(|a| !a.passed && !a.errored && !a.skipped)
            .collect(),
        _ => case.assertions.iter().filter(|a| a.errored).collect(),
    };
    let why = match (failing.first(), &case.error) {
        (Some(a), _) => {
            let what = match &a.rubric {
                Some(r) => format!("{} {r}", a.kind),
                None => a.kind.clone(),
            };
            let more = match failing.len() {
                1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            format!("{what}: {}{more}", short(&a.detail))
        }
        (None, Some(e)) => short(e),
        (None, None) => "no reason recorded".into(),
    };
    format!(
        "eval: {} {file} {}: {why}",
        case.status.as_str().to_uppercase(),
        case.id
    )
}

/// The first line of `text`, at most 160 characters.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// Which optional models a run needs, so each is loaded only when a set uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// all-MiniLM-L6-v2, for `similarity`.
    pub embedder: bool,
    /// A local model's weights, for `perplexity`.
    pub local_model: bool,
    pub judge: bool,
}

impl Needs {
    pub fn of(sets: &[EvalSet]) -> Needs {
        let any = |f: fn(&Check) -> bool| sets.iter().any(|s| s.uses(f));
        Needs {
            embedder: any(|c| matches!(c, Check::Similarity(_))),
            local_model: any(|c| matches!(c, Check::Perplexity(_))),
            judge: any(|c| matches!(c, Check::Judge { .. })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(passed: bool, errored: bool) -> AssertionResult {
        AssertionResult {
            kind: "x".into(),
            rubric: None,
            passed,
            errored,
            skipped: false,
            score: None,
            threshold: None,
            detail: String::new(),
        }
    }

    #[test]
    fn a_failure_outranks_an_unscorable_assertion_and_garbage_never_passes() {
        assert_eq!(status_of(&[a(true, false)]), CaseStatus::Passed);
        assert_eq!(
            status_of(&[a(true, false), a(false, true)]),
            CaseStatus::Errored
        );
        assert_eq!(
            status_of(&[a(false, false), a(false, true)]),
            CaseStatus::Failed
        );
    }

    #[test]
    fn a_failing_case_reads_as_one_line_naming_the_first_failed_assertion() {
        let mut failed = a(false, false);
        failed.kind = "contains".into();
        failed.detail = "the answer does not contain \"maternidade\"".into();
        let mut judge = a(false, false);
        judge.kind = "judge".into();
        judge.rubric = Some("friendly_tone".into());
        let case = CaseResult {
            id: "c1".into(),
            required: false,
            status: CaseStatus::Failed,
            answer: String::new(),
            error: None,
            guard_decision: None,
            latency_ms: 0,
            completion_tokens: 0,
            cost_usd: UsdCost::ZERO,
            assertions: vec![a(true, false), failed, judge],
        };
        assert_eq!(
            failure_line("sets/x.toml", &case),
            "eval: FAILED sets/x.toml c1: contains: the answer does not contain \"maternidade\" (+1 more)"
        );
        let errored = CaseResult {
            status: CaseStatus::Errored,
            assertions: vec![],
            error: Some(format!("upstream said no\n{}", "x".repeat(300))),
            ..case
        };
        assert_eq!(
            failure_line("sets/x.toml", &errored),
            "eval: ERRORED sets/x.toml c1: upstream said no"
        );
        assert_eq!(short(&"é".repeat(200)).chars().count(), 161);
    }
}
