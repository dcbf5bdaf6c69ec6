//! The regression gate: a run compared with a baseline run, case by case and metric by metric.
//!
//! Cases are paired by (set file, case id). Two things are regressions (and make `eval run
//! --baseline` exit 1):
//! - a **required** case that passed in the baseline and fails now;
//! - a metric whose mean over the paired cases got worse by **more than its tolerance**, when
//!   the paired bootstrap 95% interval of that change lies entirely on the worse side of zero.
//!   A change over the tolerance whose interval still includes zero is reported as "within
//!   noise": a few cases moved, not the set.
//!
//! The interval is a percentile bootstrap over the paired per-case deltas (10 000 resamples of the
//! cases with replacement, seeded, so the same two runs always give the same interval). At
//! temperature 0 the model is deterministic: the interval measures how much the change depends
//! on which cases happen to be in the set, not sampling noise. See `docs/evals.md`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::results::{CaseResult, CaseStatus, RunResult, SetResult};

/// Resamples drawn for each interval.
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;

/// The aggregate key of the share of cases that passed (see [`SetResult::aggregate`]).
pub const PASS_RATE: &str = "pass_rate";

/// Which way a metric gets better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// The direction of a metric key (`chrf`, `judge:friendly_tone`, `pass_rate`, …): costs, sizes
/// and perplexity are better lower, everything else higher.
pub fn direction(metric: &str) -> Direction {
    match base_kind(metric) {
        "perplexity" | "max-tokens" | "max-latency-ms" | "max-cost-usd" => Direction::LowerIsBetter,
        _ => Direction::HigherIsBetter,
    }
}

/// The allowed worsening of a metric's mean before it is a regression, when the set does not
/// say otherwise; `None` means reported but never gated (latency, tokens and cost depend on the
/// machine and the upstream, and their own assertions already fail the cases that overrun).
pub fn default_tolerance(metric: &str) -> Option<f64> {
    match base_kind(metric) {
        PASS_RATE => Some(0.05),
        "bleu" | "chrf" => Some(2.0),
        "rouge-l" | "similarity" => Some(0.02),
        "judge" => Some(0.25),
        "perplexity" => Some(2.0),
        _ => None,
    }
}

/// `judge:clinical_coherence` → `judge`.
fn base_kind(metric: &str) -> &str {
    metric.split(':').next().unwrap_or(metric)
}

/// The tolerance of `metric` in a set: its `[tolerances]` entry for the exact metric key
/// (`judge:friendly_tone`, `pass_rate`), else for its assertion type (`judge`, `chrf`), else the
/// default.
pub fn tolerance(set: &SetResult, metric: &str) -> Option<f64> {
    set.tolerances
        .get(metric)
        .or_else(|| set.tolerances.get(base_kind(metric)))
        .copied()
        .or_else(|| default_tolerance(metric))
}

/// What the comparison concluded about one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse by more than the tolerance, and the interval excludes zero.
    Regression,
    /// Worse by more than the tolerance, but the interval includes zero.
    WithinNoise,
    /// Worse, by no more than the tolerance.
    WithinTolerance,
    /// No change, or a change the interval cannot tell from zero.
    Unchanged,
    /// Better, and the interval excludes zero.
    Improved,
    /// No tolerance: reported, never a regression.
    NotGated,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::WithinNoise => "within noise",
            Verdict::WithinTolerance => "within tolerance",
            Verdict::Unchanged => "unchanged",
            Verdict::Improved => "improved",
            Verdict::NotGated => "not gated",
        }
    }
}

/// One metric of one set, over the cases scored in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDelta {
    pub metric: String,
    pub direction: Direction,
    /// Cases scored on this metric in both runs.
    pub paired: usize,
    pub baseline_mean: f64,
    pub now_mean: f64,
    /// `now_mean - baseline_mean`.
    pub delta: f64,
    /// Paired bootstrap 95% interval of `delta`.
    pub ci_low: f64,
    pub ci_high: f64,
    pub tolerance: Option<f64>,
    pub verdict: Verdict,
}

/// A case whose status changed between the runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseChange {
    pub id: String,
    pub required: bool,
    pub from: CaseStatus,
    pub to: CaseStatus,
}

/// One set compared with its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetComparison {
    pub file: String,
    pub prompt: Option<String>,
    /// `false` when the baseline did not run this set (a new set): nothing to compare.
    pub in_baseline: bool,
    pub metrics: Vec<MetricDelta>,
    /// Required cases that passed in the baseline and fail now: regressions.
    pub required_regressions: Vec<CaseChange>,
    /// Other cases that passed and fail now (not required: reported, not gated).
    pub newly_failing: Vec<CaseChange>,
    /// Cases that did not pass in the baseline and pass now.
    pub fixed: Vec<CaseChange>,
    /// Required cases that errored now: neither passed nor failed, so the gate cannot tell.
    pub required_errored: Vec<String>,
    /// Case ids only in the current run.
    pub new_cases: Vec<String>,
    /// Case ids only in the baseline.
    pub removed_cases: Vec<String>,
}

impl SetComparison {
    /// Required-case regressions plus metric regressions.
    pub fn regressions(&self) -> usize {
        self.required_regressions.len()
            + self
                .metrics
                .iter()
                .filter(|m| m.verdict == Verdict::Regression)
                .count()
    }
}

/// A rendered prompt of the current run whose messages differ from the baseline's, or that the
/// baseline did not render: the proof that the run saw the prompt change being evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptChange {
    /// `id@version;lang=…;persona=…`.
    pub prompt_ref: String,
    /// `None`: the baseline did not render it.
    pub baseline_sha256: Option<String>,
    pub sha256: String,
}

/// A run compared with a baseline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub baseline_run_id: String,
    pub baseline_git_sha: Option<String>,
    pub baseline_model: String,
    /// Rendered prompts that changed or are new since the baseline.
    #[serde(default)]
    pub changed_prompts: Vec<PromptChange>,
    pub sets: Vec<SetComparison>,
}

impl Comparison {
    /// How many regressions the gate found; `eval run` exits 1 when this is not zero.
    pub fn regressions(&self) -> usize {
        self.sets.iter().map(SetComparison::regressions).sum()
    }
}

/// Compares `now` with `baseline`, set by set (in `now`'s order).
pub fn compare(baseline: &RunResult, now: &RunResult) -> Comparison {
    let base_sets: BTreeMap<&str, &SetResult> =
        baseline.sets.iter().map(|s| (s.file.as_str(), s)).collect();
    let sets = now
        .sets
        .iter()
        .map(|set| match base_sets.get(set.file.as_str()) {
            Some(base) => compare_set(base, set),
            None => SetComparison {
                file: set.file.clone(),
                prompt: set.prompt.clone(),
                in_baseline: false,
                metrics: Vec::new(),
                required_regressions: Vec::new(),
                newly_failing: Vec::new(),
                fixed: Vec::new(),
                required_errored: Vec::new(),
                new_cases: set.cases.iter().map(|c| c.id.clone()).collect(),
                removed_cases: Vec::new(),
            },
        })
        .collect();
    let before: BTreeMap<&str, &str> = baseline
        .prompt_refs
        .iter()
        .map(|p| (p.prompt_ref.as_str(), p.sha256.as_str()))
        .collect();
    let changed_prompts = now
        .prompt_refs
        .iter()
        .filter(|p| before.get(p.prompt_ref.as_str()) != Some(&p.sha256.as_str()))
        .map(|p| PromptChange {
            prompt_ref: p.prompt_ref.clone(),
            baseline_sha256: before.get(p.prompt_ref.as_str()).map(|s| s.to_string()),
            sha256: p.sha256.clone(),
        })
        .collect();
    Comparison {
        baseline_run_id: baseline.run_id.clone(),
        baseline_git_sha: baseline.git_sha.clone(),
        baseline_model: baseline.model.clone(),
        changed_prompts,
        sets,
    }
}

fn compare_set(base: &SetResult, now: &SetResult) -> SetComparison {
    let base_cases: BTreeMap<&str, &CaseResult> =
        base.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let now_ids: BTreeSet<&str> = now.cases.iter().map(|c| c.id.as_str()).collect();

    let mut out = SetComparison {
        file: now.file.clone(),
        prompt: now.prompt.clone(),
        in_baseline: true,
        metrics: Vec::new(),
        required_regressions: Vec::new(),
        newly_failing: Vec::new(),
        fixed: Vec::new(),
        required_errored: Vec::new(),
        new_cases: Vec::new(),
        removed_cases: base
            .cases
            .iter()
            .filter(|c| !now_ids.contains(c.id.as_str()))
            .map(|c| c.id.clone())
            .collect(),
    };

    // Per metric, the (baseline, now) score of every case scored in both runs.
    let mut pairs: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for case in &now.cases {
        if case.required && case.status == CaseStatus::Errored {
            out.required_errored.push(case.id.clone());
        }
        let Some(before) = base_cases.get(case.id.as_str()) else {
            out.new_cases.push(case.id.clone());
            continue;
        };
        let change = CaseChange {
            id: case.id.clone(),
            required: case.required,
            from: before.status,
            to: case.status,
        };
        match (before.status, case.status) {
            (CaseStatus::Passed, CaseStatus::Failed) if case.required => {
                out.required_regressions.push(change)
            }
            (CaseStatus::Passed, CaseStatus::Failed) => out.newly_failing.push(change),
            (CaseStatus::Failed | CaseStatus::Errored, CaseStatus::Passed) => {
                out.fixed.push(change)
            }
            _ => {}
        }
        let (before_scores, now_scores) = (case_scores(before), case_scores(case));
        for (metric, b) in &before_scores {
            if let Some(n) = now_scores.get(metric) {
                pairs.entry(metric.clone()).or_default().push((*b, *n));
            }
        }
    }

    out.metrics = pairs
        .into_iter()
        .map(|(metric, pairs)| {
            let tolerance = tolerance(now, &metric);
            metric_delta(metric, &pairs, tolerance, seed_for(&now.file))
        })
        .collect();
    out
}

/// A case's score per metric key (the mean when several assertions share a key), plus
/// `pass_rate` as 1 or 0; empty for an errored case, which has no scores to compare.
fn case_scores(case: &CaseResult) -> BTreeMap<String, f64> {
    if case.status == CaseStatus::Errored {
        return BTreeMap::new();
    }
    let mut sums: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for a in case.assertions.iter().filter(|a| !a.errored) {
        if let Some(score) = a.score.filter(|s| s.is_finite()) {
            let e = sums.entry(a.metric_key()).or_default();
            e.0 += score;
            e.1 += 1;
        }
    }
    let mut scores: BTreeMap<String, f64> = sums
        .into_iter()
        .map(|(k, (sum, n))| (k, sum / f64::from(n)))
        .collect();
    let passed = if case.status == CaseStatus::Passed {
        1.0
    } else {
        0.0
    };
    scores.insert(PASS_RATE.to_string(), passed);
    scores
}

/// Tolerance comparisons allow for the rounding of sums of decimals (a drop of exactly the
/// tolerance is not over it).
const EPSILON: f64 = 1e-9;

fn metric_delta(
    metric: String,
    pairs: &[(f64, f64)],
    tolerance: Option<f64>,
    seed: u64,
) -> MetricDelta {
    let n = pairs.len() as f64;
    let baseline_mean = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let now_mean = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let deltas: Vec<f64> = pairs.iter().map(|(b, a)| a - b).collect();
    let delta = deltas.iter().sum::<f64>() / n;
    let (ci_low, ci_high) = bootstrap_ci(&deltas, BOOTSTRAP_RESAMPLES, seed ^ fnv1a(&metric));
    let direction = direction(&metric);
    // Positive when worse, in the metric's own units; the interval's bounds oriented the same way.
    let (worse, worse_low, worse_high) = match direction {
        Direction::HigherIsBetter => (-delta, -ci_high, -ci_low),
        Direction::LowerIsBetter => (delta, ci_low, ci_high),
    };
    let verdict = match tolerance {
        None => Verdict::NotGated,
        Some(tol) if worse - tol > EPSILON => {
            if worse_low > 0.0 {
                Verdict::Regression
            } else {
                Verdict::WithinNoise
            }
        }
        Some(_) if worse > EPSILON => Verdict::WithinTolerance,
        Some(_) if worse < -EPSILON && worse_high < 0.0 => Verdict::Improved,
        Some(_) => Verdict::Unchanged,
    };
    MetricDelta {
        metric,
        direction,
        paired: pairs.len(),
        baseline_mean,
        now_mean,
        delta,
        ci_low,
        ci_high,
        tolerance,
        verdict,
    }
}

/// The percentile bootstrap 95% interval of the mean of `deltas`: `resamples` means of samples
/// drawn with replacement (same size as `deltas`), sorted; the bounds are the 2.5th and 97.5th
/// percentiles (order statistics ⌊0.025·B⌋ and ⌈0.975·B⌉−1, 0-based). Deterministic for a seed.
pub fn bootstrap_ci(deltas: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    if deltas.is_empty() || resamples == 0 {
        return (0.0, 0.0);
    }
    let mut rng = SplitMix64(seed);
    let n = deltas.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| deltas[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let low = (0.025 * resamples as f64).floor() as usize;
    let high = ((0.975 * resamples as f64).ceil() as usize).saturating_sub(1);
    (
        means[low.min(resamples - 1)],
        means[high.min(resamples - 1)],
    )
}

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and fixed forever, so a seed gives the same
/// interval on every platform and every version of our dependencies.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2⁻⁵⁰ for any set size).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// The seed of a set's intervals: fixed per file, so adding a set does not move another's.
fn seed_for(file: &str) -> u64 {
    fnv1a(file)
}

/// FNV-1a, 64-bit: a stable hash (std's `DefaultHasher` may change between Rust releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests;
