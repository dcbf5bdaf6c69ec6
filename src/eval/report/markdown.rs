//! `report.md`: ready to post on a pull request. The verdict and the commits first, a table of
//! the sets, then per set (those with regressions first) the regressions, baseline vs now per
//! metric with Δ and its 95% interval, the cases whose status changed, and the failing cases with
//! their failed assertions and the start of the answer. Model text is made inert: it cannot open
//! HTML, break a table or fake the comment marker.

use std::fmt::Write as _;

use super::{COMMENT_MARKER, run_counts, set_counts};
use crate::eval::compare::{Comparison, MetricDelta, SetComparison, Verdict};
use crate::eval::results::{CaseResult, CaseStatus, RunResult, SetResult};
use inline::{cell, code_safe, excerpt, interval, num, sha, short_hash, signed, text};

mod inline;

/// Failing cases listed per set; the rest are counted (GitHub caps a comment at 65 536
/// characters; `junit.xml` and `metrics.json` have them all).
const MAX_LISTED_CASES: usize = 15;

/// The Markdown report: a summary, then per set (sets with regressions first) the baseline
/// comparison and the failing cases.
pub fn markdown(run: &RunResult, comparison: Option<&Comparison>) -> String {
    let mut md = String::new();
    header(&mut md, run, comparison);
    if run.sets.is_empty() {
        md.push_str("No eval set was run: no set is touched by this change.\n");
        return md;
    }
    let ordered = ordered_sets(run, comparison);
    summary_table(&mut md, &ordered, comparison.is_some());
    for (set, cmp) in &ordered {
        set_section(&mut md, set, *cmp);
    }
    md
}

/// The comment marker, the verdict, what ran against what, and a note on skipped judges.
fn header(md: &mut String, run: &RunResult, comparison: Option<&Comparison>) {
    let regressions = comparison.map(Comparison::regressions);
    let verdict = match regressions {
        None => "no baseline".to_string(),
        Some(0) => "no regressions".to_string(),
        Some(1) => "1 regression".to_string(),
        Some(n) => format!("{n} regressions"),
    };
    let icon = match regressions {
        Some(n) if n > 0 => "❌",
        _ if run_counts(run).failed + run_counts(run).errored > 0 => "⚠️",
        _ => "✅",
    };
    let _ = writeln!(md, "{COMMENT_MARKER}");
    let _ = writeln!(md, "## {icon} PowerBirth eval: {verdict}\n");
    let _ = writeln!(
        md,
        "Model `{}` (temperature {}) · commit {} · run `{}`",
        code_safe(&run.model),
        run.temperature,
        sha(run.git_sha.as_deref()),
        code_safe(&run.run_id)
    );
    if let Some(c) = comparison {
        let _ = writeln!(
            md,
            "Baseline: model `{}` · commit {} · run `{}`",
            code_safe(&c.baseline_model),
            sha(c.baseline_git_sha.as_deref()),
            code_safe(&c.baseline_run_id)
        );
        prompt_changes(md, c);
    }
    let skipped = run
        .sets
        .iter()
        .flat_map(|s| &s.cases)
        .flat_map(|c| &c.assertions)
        .filter(|a| a.skipped)
        .count();
    if skipped > 0 {
        let _ = writeln!(
            md,
            "\n{skipped} judge assertion(s) skipped: this run had no judge model (`[eval] judge_model`); they count as neither passed nor failed."
        );
    }
    md.push('\n');
}

/// One row per set; the regressions column only when there was a baseline.
fn summary_table(
    md: &mut String,
    ordered: &[(&SetResult, Option<&SetComparison>)],
    compared: bool,
) {
    md.push_str("| set | prompt | cases | passed | failed | errored |");
    md.push_str(if compared { " regressions |\n" } else { "\n" });
    md.push_str("|---|---|---:|---:|---:|---:|");
    md.push_str(if compared { "---:|\n" } else { "\n" });
    for (set, cmp) in ordered {
        let n = set_counts(set);
        let _ = write!(
            md,
            "| `{}` | {} | {} | {} | {} | {} |",
            code_safe(&set.file),
            set.prompt
                .as_deref()
                .map_or("—".to_string(), |p| format!("`{}`", code_safe(p))),
            set.cases.len(),
            n.passed,
            n.failed,
            n.errored,
        );
        if compared {
            let regressions = cmp.map_or("—".to_string(), |c| c.regressions().to_string());
            let _ = write!(md, " {regressions} |");
        }
        md.push('\n');
    }
}

/// Which rendered prompts differ from the baseline's: an author sees at once whether the run
/// exercised the change (an edit to a persona no case uses changes nothing here).
fn prompt_changes(md: &mut String, c: &Comparison) {
    if c.changed_prompts.is_empty() {
        md.push_str("\nPrompts: every prompt this run rendered is identical to the baseline's.\n");
        return;
    }
    let changes: Vec<String> = c
        .changed_prompts
        .iter()
        .map(|p| match &p.baseline_sha256 {
            Some(before) => format!(
                "`{}` (`{}` → `{}`)",
                code_safe(&p.prompt_ref),
                short_hash(before),
                short_hash(&p.sha256)
            ),
            None => format!("`{}` (not in the baseline)", code_safe(&p.prompt_ref)),
        })
        .collect();
    let _ = writeln!(
        md,
        "\nPrompts changed since the baseline: {}",
        changes.join(", ")
    );
}

/// Sets paired with their comparison, those with regressions first (most first), else in run
/// order.
fn ordered_sets<'a>(
    run: &'a RunResult,
    comparison: Option<&'a Comparison>,
) -> Vec<(&'a SetResult, Option<&'a SetComparison>)> {
    let mut sets: Vec<_> = run
        .sets
        .iter()
        .map(|s| {
            let cmp = comparison.and_then(|c| c.sets.iter().find(|x| x.file == s.file));
            (s, cmp)
        })
        .collect();
    sets.sort_by_key(|(_, c)| std::cmp::Reverse(c.map_or(0, |c| c.regressions())));
    sets
}

fn set_section(md: &mut String, set: &SetResult, cmp: Option<&SetComparison>) {
    let regressions = cmp.map_or(0, SetComparison::regressions);
    let _ = write!(md, "\n### `{}`", code_safe(&set.file));
    if let Some(p) = &set.prompt {
        let _ = write!(md, " (prompt `{}`)", code_safe(p));
    }
    match regressions {
        0 => md.push('\n'),
        1 => md.push_str(" — 1 regression\n"),
        n => {
            let _ = writeln!(md, " — {n} regressions");
        }
    }
    md.push('\n');

    match cmp {
        Some(c) if c.in_baseline => comparison_section(md, c),
        Some(_) => md.push_str("New set: the baseline did not run it.\n\n"),
        None => {}
    }

    if cmp.is_none_or(|c| !c.in_baseline) && !set.aggregates.is_empty() {
        md.push_str("| metric | mean |\n|---|---:|\n");
        for (metric, mean) in &set.aggregates {
            let _ = writeln!(md, "| {} | {} |", cell(metric), num(*mean));
        }
        md.push('\n');
    }

    failing_cases(md, set);
}

/// A set's comparison with the baseline: its regressions, the metric table, and the cases whose
/// status changed.
fn comparison_section(md: &mut String, c: &SetComparison) {
    regressions_list(md, c);
    metrics_table(md, c);
    changed_cases(md, c);
}

fn regressions_list(md: &mut String, c: &SetComparison) {
    let regressed_metrics: Vec<&MetricDelta> = c
        .metrics
        .iter()
        .filter(|m| m.verdict == Verdict::Regression)
        .collect();
    if c.required_regressions.is_empty() && regressed_metrics.is_empty() {
        return;
    }
    md.push_str("**Regressions**\n\n");
    for r in &c.required_regressions {
        let _ = writeln!(
            md,
            "- required case `{}` passed in the baseline and fails now",
            code_safe(&r.id)
        );
    }
    for m in regressed_metrics {
        let _ = writeln!(
            md,
            "- `{}` mean {} by {} ({} → {}; 95% CI {}; tolerance {})",
            code_safe(&m.metric),
            if m.delta < 0.0 { "fell" } else { "rose" },
            num(m.delta.abs()),
            num(m.baseline_mean),
            num(m.now_mean),
            interval(m),
            m.tolerance.map_or("none".to_string(), num)
        );
    }
    md.push('\n');
}

/// Baseline vs now per metric, regressions first.
fn metrics_table(md: &mut String, c: &SetComparison) {
    if c.metrics.is_empty() {
        return;
    }
    md.push_str("| metric | baseline | now | Δ | 95% CI | cases | tolerance | verdict |\n");
    md.push_str("|---|---:|---:|---:|---|---:|---:|---|\n");
    let mut metrics: Vec<&MetricDelta> = c.metrics.iter().collect();
    metrics.sort_by_key(|m| verdict_rank(m.verdict));
    for m in metrics {
        let verdict = match m.verdict {
            Verdict::Regression => "❌ regression".to_string(),
            Verdict::Improved => "✅ improved".to_string(),
            v => v.as_str().to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&m.metric),
            num(m.baseline_mean),
            num(m.now_mean),
            signed(m.delta),
            interval(m),
            m.paired,
            m.tolerance.map_or("—".to_string(), num),
            verdict
        );
    }
    md.push('\n');
}

/// The cases whose status changed, or that came or went, each list capped.
fn changed_cases(md: &mut String, c: &SetComparison) {
    let lists: [(&str, Vec<String>); 5] = [
        (
            "Required cases that errored (the gate cannot judge them)",
            c.required_errored.clone(),
        ),
        (
            "Passed in the baseline, fail now (not required)",
            c.newly_failing.iter().map(|x| x.id.clone()).collect(),
        ),
        (
            "Fixed (did not pass in the baseline, pass now)",
            c.fixed.iter().map(|x| x.id.clone()).collect(),
        ),
        ("New cases", c.new_cases.clone()),
        ("Removed cases", c.removed_cases.clone()),
    ];
    for (title, ids) in lists.iter().filter(|(_, ids)| !ids.is_empty()) {
        let shown: Vec<String> = ids
            .iter()
            .take(MAX_LISTED_CASES)
            .map(|id| format!("`{}`", code_safe(id)))
            .collect();
        let more = ids.len().saturating_sub(MAX_LISTED_CASES);
        let _ = write!(md, "{title}: {}", shown.join(", "));
        if more > 0 {
            let _ = write!(md, " and {more} more");
        }
        md.push_str("\n\n");
    }
}

/// Failing and errored cases with what failed and the start of the answer.
fn failing_cases(md: &mut String, set: &SetResult) {
    let mut bad: Vec<&CaseResult> = set
        .cases
        .iter()
        .filter(|c| c.status != CaseStatus::Passed)
        .collect();
    if bad.is_empty() {
        return;
    }
    // Required ones first: they are what blocks a merge.
    bad.sort_by_key(|c| (!c.required, c.status == CaseStatus::Errored));
    md.push_str("**Failing cases**\n\n");
    for case in bad.iter().take(MAX_LISTED_CASES) {
        let required = if case.required { " (required)" } else { "" };
        match case.status {
            CaseStatus::Errored => {
                let _ = writeln!(
                    md,
                    "- `{}`{required}: errored: {}",
                    code_safe(&case.id),
                    text(
                        case.error
                            .as_deref()
                            .unwrap_or("an assertion could not be scored")
                    )
                );
            }
            _ => {
                let _ = writeln!(md, "- `{}`{required}: failed", code_safe(&case.id));
            }
        }
        for a in case.assertions.iter().filter(|a| !a.passed || a.errored) {
            let what = match &a.rubric {
                Some(r) => format!("{} {}", a.kind, r),
                None => a.kind.clone(),
            };
            let state = if a.errored { "errored" } else { "failed" };
            let _ = writeln!(
                md,
                "  - `{}` {state}: {}",
                code_safe(&what),
                text(&a.detail)
            );
        }
        if !case.answer.is_empty() {
            let _ = writeln!(md, "  > {}", text(&excerpt(&case.answer)));
        }
    }
    if bad.len() > MAX_LISTED_CASES {
        let _ = writeln!(
            md,
            "- … and {} more (see `junit.xml` and `metrics.json`)",
            bad.len() - MAX_LISTED_CASES
        );
    }
    md.push('\n');
}

fn verdict_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Regression => 0,
        Verdict::WithinNoise => 1,
        Verdict::WithinTolerance => 2,
        Verdict::Improved => 3,
        Verdict::Unchanged => 4,
        Verdict::NotGated => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_no_sets_says_so() {
        let run = RunResult {
            run_id: "run_1".into(),
            started_at: 0,
            git_sha: None,
            model: "m".into(),
            temperature: 0.0,
            prompt_refs: Vec::new(),
            sets: Vec::new(),
        };
        let md = markdown(&run, None);
        assert!(md.starts_with(COMMENT_MARKER), "{md}");
        assert!(md.contains("commit (not in git)"), "{md}");
        assert!(
            md.ends_with("No eval set was run: no set is touched by this change.\n"),
            "{md}"
        );
    }
}
