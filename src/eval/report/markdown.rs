//! `report.md`: ready to post on a pull request. The verdict and the commits first, a table of
//! the sets, then per set (those with regressions first) the regressions, baseline vs now per
//! metric with Δ and its 95% interval, the cases whose status changed, and the failing cases with
//! their failed assertions and the start of the answer. Model text is made inert: it cannot open
//! HTML, break a table or fake the comment marker.

use std::fmt::Write as _;

use super::{COMMENT_MARKER, run_counts, set_counts};
use crate::eval::compare::{Comparison, MetricDelta, SetComparison, Verdict};
use crate::eval::results::{CaseResult, CaseStatus, RunResult, SetResult};

/// Failing cases listed per set; the rest are counted (GitHub caps a comment at 65 536
/// characters; `junit.xml` and `metrics.json` have them all).
const MAX_LISTED_CASES: usize = 15;

/// Characters of an answer shown under a failing case.
const EXCERPT_CHARS: usize = 160;

/// The Markdown report: a summary, then per set (sets with regressions first) the baseline
/// comparison and the failing cases.
pub fn markdown(run: &RunResult, comparison: Option<&Comparison>) -> String {
    let mut md = String::new();
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
        prompt_changes(&mut md, c);
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

    if run.sets.is_empty() {
        md.push_str("No eval set was run: no set is touched by this change.\n");
        return md;
    }

    // Summary table, one row per set; the regressions column only when there was a baseline.
    let compared = comparison.is_some();
    md.push_str("| set | prompt | cases | passed | failed | errored |");
    md.push_str(if compared { " regressions |\n" } else { "\n" });
    md.push_str("|---|---|---:|---:|---:|---:|");
    md.push_str(if compared { "---:|\n" } else { "\n" });
    let ordered = ordered_sets(run, comparison);
    for (set, cmp) in &ordered {
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

    for (set, cmp) in &ordered {
        set_section(&mut md, set, *cmp);
    }
    md
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

fn short_hash(sha: &str) -> String {
    code_safe(&sha.chars().take(8).collect::<String>())
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

fn comparison_section(md: &mut String, c: &SetComparison) {
    let regressed_metrics: Vec<&MetricDelta> = c
        .metrics
        .iter()
        .filter(|m| m.verdict == Verdict::Regression)
        .collect();
    if !c.required_regressions.is_empty() || !regressed_metrics.is_empty() {
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

    if !c.metrics.is_empty() {
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

fn sha(sha: Option<&str>) -> String {
    match sha {
        Some(s) => format!("`{}`", code_safe(&s.chars().take(12).collect::<String>())),
        None => "(not in git)".to_string(),
    }
}

/// A number at a precision that suits its size (metrics range from 0–1 to thousands of ms):
/// three decimals below 10 (rates, similarity, judge scores), two below 100, then one.
fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", num(x))
    } else if x == 0.0 {
        // Avoids "-0.000" for a negative zero.
        num(0.0)
    } else {
        num(x)
    }
}

fn interval(m: &MetricDelta) -> String {
    format!("[{}, {}]", signed(m.ci_low), signed(m.ci_high))
}

/// The start of an answer on one line.
fn excerpt(answer: &str) -> String {
    let flat = answer.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= EXCERPT_CHARS {
        flat
    } else {
        let cut: String = flat.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    }
}

/// Free text (model answers, error details) made inert in Markdown: one line, no HTML, no
/// table breaks, no emphasis or links that would change how the comment renders.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.split_whitespace().collect::<Vec<_>>().join(" ").chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A metric name in a table cell, as code (metric keys have underscores and colons).
fn cell(s: &str) -> String {
    format!("`{}`", code_safe(s))
}

/// Text inside a `code span`: backticks would close it and newlines or pipes would break a
/// table row, so they are replaced.
fn code_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '`' => '\'',
            '|' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
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

    #[test]
    fn markdown_text_cannot_open_html_tables_or_code() {
        assert_eq!(
            text("<!-- x --> | `rm` *b*\n[l](u)"),
            "&lt;!-- x --&gt; \\| \\`rm\\` \\*b\\* \\[l\\](u)"
        );
        assert_eq!(code_safe("a`b|c\n"), "a'b/c ");
    }

    #[test]
    fn an_excerpt_is_one_line_and_cut_on_a_character() {
        assert_eq!(excerpt("a\n\n b"), "a b");
        let long = "ç".repeat(300);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn numbers_read_at_a_precision_that_suits_them() {
        assert_eq!(num(0.61234), "0.612");
        assert_eq!(num(41.236), "41.24");
        assert_eq!(num(1234.56), "1234.6");
        assert_eq!(signed(2.0), "+2.000");
        assert_eq!(num(4.25), "4.250");
        assert_eq!(signed(-0.0), "0.000");
    }
}
