//! The gate on known data: verdicts, tolerances, and the bootstrap interval against a hand
//! computation and the normal approximation.

use super::*;
use crate::eval::results::AssertionResult;

fn scored(kind: &str, score: f64) -> AssertionResult {
    AssertionResult {
        kind: kind.into(),
        rubric: None,
        passed: true,
        errored: false,
        skipped: false,
        score: Some(score),
        threshold: None,
        detail: String::new(),
    }
}

fn case(id: &str, required: bool, status: CaseStatus, scores: &[(&str, f64)]) -> CaseResult {
    CaseResult {
        id: id.into(),
        required,
        status,
        answer: String::new(),
        error: None,
        guard_decision: None,
        latency_ms: 0,
        completion_tokens: 0,
        cost_usd: Default::default(),
        assertions: scores.iter().map(|(k, s)| scored(k, *s)).collect(),
    }
}

fn run(cases: Vec<CaseResult>) -> RunResult {
    RunResult {
        run_id: "run_x".into(),
        started_at: 0,
        git_sha: Some("abc".into()),
        model: "m".into(),
        temperature: 0.0,
        prompt_refs: Vec::new(),
        sets: vec![SetResult {
            file: "evalsets/p/s.toml".into(),
            prompt: Some("p".into()),
            cases,
            aggregates: BTreeMap::new(),
            tolerances: BTreeMap::new(),
        }],
    }
}

/// Twenty passing cases with the given chrF scores.
fn chrf_run(scores: &[f64]) -> RunResult {
    run(scores
        .iter()
        .enumerate()
        .map(|(i, s)| case(&format!("c{i}"), false, CaseStatus::Passed, &[("chrf", *s)]))
        .collect())
}

fn metric<'a>(c: &'a Comparison, name: &str) -> &'a MetricDelta {
    c.sets[0]
        .metrics
        .iter()
        .find(|m| m.metric == name)
        .expect("metric compared")
}

#[test]
fn identical_deltas_give_a_degenerate_interval_at_that_delta() {
    assert_eq!(bootstrap_ci(&[-1.5; 7], 10_000, 1), (-1.5, -1.5));
}

#[test]
fn the_interval_of_two_cases_is_the_hand_computed_one() {
    // Resampling {0, -1}: means -1, -0.5, 0 with probabilities 1/4, 1/2, 1/4, so the 2.5th
    // percentile is -1 and the 97.5th is 0.
    assert_eq!(bootstrap_ci(&[0.0, -1.0], 10_000, 7), (-1.0, 0.0));
}

#[test]
fn on_many_cases_the_interval_matches_the_normal_approximation() {
    // 400 deltas of 0.3 ± 1 (population sd 1): the mean's standard error is 1/20, so the 95%
    // interval is about 0.3 ± 1.96 · 0.05 = [0.202, 0.398].
    let deltas: Vec<f64> = (0..400)
        .map(|i| if i % 2 == 0 { 1.3 } else { -0.7 })
        .collect();
    let (low, high) = bootstrap_ci(&deltas, 10_000, 42);
    assert!((low - 0.202).abs() < 0.012, "low {low}");
    assert!((high - 0.398).abs() < 0.012, "high {high}");
}

#[test]
fn the_interval_is_the_same_on_every_run() {
    let deltas = [0.5, -2.0, 1.0, 3.0, -0.25];
    assert_eq!(
        bootstrap_ci(&deltas, 10_000, 9),
        bootstrap_ci(&deltas, 10_000, 9)
    );
}

#[test]
fn a_required_case_that_passed_and_now_fails_is_a_regression() {
    let base = run(vec![
        case("danger", true, CaseStatus::Passed, &[]),
        case("tone", false, CaseStatus::Passed, &[]),
    ]);
    let now = run(vec![
        case("danger", true, CaseStatus::Failed, &[]),
        case("tone", false, CaseStatus::Failed, &[]),
    ]);
    let c = compare(&base, &now);
    assert_eq!(c.sets[0].required_regressions.len(), 1);
    assert_eq!(c.sets[0].required_regressions[0].id, "danger");
    assert_eq!(c.sets[0].newly_failing[0].id, "tone");
    // The pass rate fell from 1 to 0 on every case: a regression too.
    assert_eq!(metric(&c, PASS_RATE).verdict, Verdict::Regression);
    assert_eq!(c.regressions(), 2);
}

#[test]
fn a_required_case_that_errors_is_reported_but_not_called_a_regression() {
    let base = run(vec![case("danger", true, CaseStatus::Passed, &[])]);
    let now = run(vec![case("danger", true, CaseStatus::Errored, &[])]);
    let c = compare(&base, &now);
    assert_eq!(c.sets[0].required_errored, vec!["danger".to_string()]);
    assert_eq!(c.regressions(), 0);
}

#[test]
fn a_consistent_drop_beyond_the_tolerance_is_a_regression() {
    let base = chrf_run(&[40.0; 20]);
    let now = chrf_run(&(0..20).map(|i| 36.0 + (i % 3) as f64).collect::<Vec<_>>());
    let c = compare(&base, &now);
    let m = metric(&c, "chrf");
    assert_eq!(m.paired, 20);
    assert!(m.delta < -2.0 && m.ci_high < 0.0, "{m:?}");
    assert_eq!(m.verdict, Verdict::Regression);
    assert_eq!(c.regressions(), 1);
}

#[test]
fn a_drop_over_the_tolerance_carried_by_one_case_is_within_noise() {
    let base = chrf_run(&[40.0; 20]);
    let mut scores = vec![40.0; 20];
    // One case collapses (-40) and one slips (-2): the mean drops 2.1, over the tolerance of
    // 2, but most resamples without that one case show no drop.
    scores[3] = 0.0;
    scores[4] = 38.0;
    let now = chrf_run(&scores);
    let c = compare(&base, &now);
    let m = metric(&c, "chrf");
    assert!(m.delta < -2.0, "{m:?}");
    assert!(m.ci_high >= 0.0, "{m:?}");
    assert_eq!(m.verdict, Verdict::WithinNoise);
    assert_eq!(c.regressions(), 0);
}

#[test]
fn a_drop_within_the_tolerance_is_not_a_regression() {
    let base = chrf_run(&[40.0; 20]);
    let now = chrf_run(&[39.0; 20]);
    let c = compare(&base, &now);
    assert_eq!(metric(&c, "chrf").verdict, Verdict::WithinTolerance);
}

#[test]
fn a_set_can_tighten_a_tolerance() {
    let base = chrf_run(&[40.0; 20]);
    let now = chrf_run(&[39.0; 20]);
    let mut now = now;
    now.sets[0].tolerances = BTreeMap::from([("chrf".to_string(), 0.5)]);
    let c = compare(&base, &now);
    assert_eq!(metric(&c, "chrf").tolerance, Some(0.5));
    assert_eq!(metric(&c, "chrf").verdict, Verdict::Regression);
}

#[test]
fn a_rise_in_perplexity_is_a_worsening_and_latency_is_never_gated() {
    let mk = |ppl: f64, ms: f64| {
        run((0..10)
            .map(|i| {
                case(
                    &format!("c{i}"),
                    false,
                    CaseStatus::Passed,
                    &[("perplexity", ppl), ("max-latency-ms", ms)],
                )
            })
            .collect())
    };
    let c = compare(&mk(8.0, 100.0), &mk(12.0, 900.0));
    assert_eq!(metric(&c, "perplexity").verdict, Verdict::Regression);
    assert_eq!(metric(&c, "max-latency-ms").verdict, Verdict::NotGated);
    let better = compare(&mk(12.0, 100.0), &mk(8.0, 100.0));
    assert_eq!(metric(&better, "perplexity").verdict, Verdict::Improved);
}

#[test]
fn a_set_tolerance_on_judge_covers_every_rubric_unless_one_is_named() {
    let mut set = chrf_run(&[1.0]).sets.remove(0);
    assert_eq!(tolerance(&set, "judge:friendly_tone"), Some(0.25));
    assert_eq!(tolerance(&set, "max-cost-usd"), None);
    set.tolerances = BTreeMap::from([
        ("judge".to_string(), 1.5),
        ("judge:clinical_coherence".to_string(), 0.1),
    ]);
    assert_eq!(tolerance(&set, "judge:friendly_tone"), Some(1.5));
    assert_eq!(tolerance(&set, "judge:clinical_coherence"), Some(0.1));
}

#[test]
fn new_removed_and_fixed_cases_are_listed_and_errored_cases_are_not_paired() {
    let base = run(vec![
        case("a", false, CaseStatus::Failed, &[("chrf", 10.0)]),
        case("gone", false, CaseStatus::Passed, &[("chrf", 10.0)]),
        case("e", false, CaseStatus::Passed, &[("chrf", 50.0)]),
    ]);
    let now = run(vec![
        case("a", false, CaseStatus::Passed, &[("chrf", 30.0)]),
        case("fresh", false, CaseStatus::Passed, &[("chrf", 90.0)]),
        case("e", false, CaseStatus::Errored, &[("chrf", 0.0)]),
    ]);
    let c = compare(&base, &now);
    let s = &c.sets[0];
    assert_eq!(s.fixed[0].id, "a");
    assert_eq!(s.new_cases, vec!["fresh".to_string()]);
    assert_eq!(s.removed_cases, vec!["gone".to_string()]);
    let m = metric(&c, "chrf");
    assert_eq!((m.paired, m.baseline_mean, m.now_mean), (1, 10.0, 30.0));
}

#[test]
fn a_set_the_baseline_did_not_run_is_new_and_has_no_regressions() {
    let base = RunResult {
        sets: Vec::new(),
        ..chrf_run(&[1.0])
    };
    let c = compare(&base, &chrf_run(&[1.0, 2.0]));
    assert!(!c.sets[0].in_baseline);
    assert_eq!(c.sets[0].new_cases.len(), 2);
    assert_eq!(c.regressions(), 0);
}

#[test]
fn prompts_whose_rendered_messages_changed_or_are_new_are_listed() {
    use crate::eval::results::PromptRefHash;
    let refs = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(r, h)| PromptRefHash {
                prompt_ref: r.to_string(),
                sha256: h.to_string(),
            })
            .collect::<Vec<_>>()
    };
    let mut base = chrf_run(&[1.0]);
    base.prompt_refs = refs(&[("a@1", "x"), ("b@1", "y"), ("gone@1", "z")]);
    let mut now = chrf_run(&[1.0]);
    now.prompt_refs = refs(&[("a@1", "x"), ("b@1", "y2"), ("c@2", "w")]);
    let c = compare(&base, &now);
    assert_eq!(
        c.changed_prompts,
        vec![
            PromptChange {
                prompt_ref: "b@1".into(),
                baseline_sha256: Some("y".into()),
                sha256: "y2".into(),
            },
            PromptChange {
                prompt_ref: "c@2".into(),
                baseline_sha256: None,
                sha256: "w".into(),
            },
        ]
    );
}

#[test]
fn the_same_answers_compare_as_unchanged() {
    let c = compare(&chrf_run(&[40.0, 50.0]), &chrf_run(&[40.0, 50.0]));
    let m = metric(&c, "chrf");
    assert_eq!((m.delta, m.ci_low, m.ci_high), (0.0, 0.0, 0.0));
    assert_eq!(m.verdict, Verdict::Unchanged);
}
