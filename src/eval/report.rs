//! The outputs of an eval run, in `DIR/<run_id>/`: `metrics.json` (the [`RunResult`] and, with a
//! baseline, the [`Comparison`]), `report.md` (ready to post on a pull request: per set, baseline
//! vs now with deltas and intervals, regressions first, then the failing cases) and `junit.xml`
//! (one testsuite per set, one testcase per case, for CI test viewers).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::compare::{Comparison, MetricDelta, SetComparison, Verdict};
use super::results::{CaseResult, CaseStatus, RunResult, SetResult};

/// The hidden line that marks our pull-request comment, so CI updates it instead of adding one.
pub const COMMENT_MARKER: &str = "<!-- powerbirth-eval-report -->";

/// Failing cases listed per set in `report.md`; the rest are counted (GitHub caps a comment at
/// 65 536 characters; `junit.xml` and `metrics.json` have them all).
const MAX_LISTED_CASES: usize = 15;

/// Characters of an answer shown under a failing case.
const EXCERPT_CHARS: usize = 160;

/// Why an output could not be written or a `metrics.json` read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write metrics.json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{path}: line {line}, column {column}: not a metrics.json of an eval run: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// `metrics.json`: the run's own fields, plus `comparison` when it was compared with a baseline.
/// Reading one back as a [`RunResult`] ignores `comparison`, so any run can be a baseline.
#[derive(Serialize)]
struct MetricsFile<'a> {
    #[serde(flatten)]
    run: &'a RunResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<&'a Comparison>,
}

/// Writes `metrics.json`, `report.md` and `junit.xml` into `out_dir/<run_id>/` (created if
/// missing) and returns that folder.
pub fn write_outputs(
    out_dir: &Path,
    run: &RunResult,
    comparison: Option<&Comparison>,
) -> Result<PathBuf, ReportError> {
    let dir = out_dir.join(&run.run_id);
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Io {
        path: dir.clone(),
        source,
    })?;
    let files = [
        ("metrics.json", metrics_json(run, comparison)?),
        ("report.md", markdown(run, comparison)),
        ("junit.xml", junit(run)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| ReportError::Io { path, source })?;
    }
    Ok(dir)
}

/// The `metrics.json` text (pretty-printed: it is read in reviews and diffs).
pub fn metrics_json(
    run: &RunResult,
    comparison: Option<&Comparison>,
) -> Result<String, serde_json::Error> {
    let file = MetricsFile { run, comparison };
    Ok(serde_json::to_string_pretty(&file)? + "\n")
}

/// Reads a `metrics.json` (e.g. `--baseline`), with the line and column of what is wrong.
pub fn read_metrics(path: &Path) -> Result<RunResult, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// report.md

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
    }
    md.push('\n');

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

    if cmp.is_none() && !set.aggregates.is_empty() {
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

#[derive(Default)]
struct Counts {
    passed: usize,
    failed: usize,
    errored: usize,
}

fn set_counts(set: &SetResult) -> Counts {
    let mut n = Counts::default();
    for c in &set.cases {
        match c.status {
            CaseStatus::Passed => n.passed += 1,
            CaseStatus::Failed => n.failed += 1,
            CaseStatus::Errored => n.errored += 1,
        }
    }
    n
}

fn run_counts(run: &RunResult) -> Counts {
    run.sets
        .iter()
        .map(set_counts)
        .fold(Counts::default(), |a, b| Counts {
            passed: a.passed + b.passed,
            failed: a.failed + b.failed,
            errored: a.errored + b.errored,
        })
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

// ---------------------------------------------------------------------------------------------
// junit.xml

/// JUnit XML as CI test viewers read it: a `<testsuite>` per set (named by its file), a
/// `<testcase>` per case; failed cases carry `<failure>` listing the failed assertions, errored
/// ones `<error>` with the reason; each case's answer is in `<system-out>`.
pub fn junit(run: &RunResult) -> String {
    let total = run_counts(run);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        attr(&format!("powerbirth eval {} ({})", run.run_id, run.model)),
        total.passed + total.failed + total.errored,
        total.failed,
        total.errored
    );
    for set in &run.sets {
        let n = set_counts(set);
        let seconds: u64 = set.cases.iter().map(|c| c.latency_ms).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\">",
            attr(&set.file),
            set.cases.len(),
            n.failed,
            n.errored,
            ms_to_s(seconds)
        );
        for case in &set.cases {
            let name = if case.required {
                format!("{} [required]", case.id)
            } else {
                case.id.clone()
            };
            let _ = writeln!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">",
                attr(&set.file),
                attr(&name),
                ms_to_s(case.latency_ms)
            );
            match case.status {
                CaseStatus::Passed => {}
                CaseStatus::Failed => {
                    let failed: Vec<String> = case
                        .assertions
                        .iter()
                        .filter(|a| !a.passed)
                        .map(assertion_line)
                        .collect();
                    let _ = writeln!(
                        xml,
                        "      <failure type=\"assertion\" message=\"{}\">{}</failure>",
                        attr(&format!(
                            "{} of {} assertions failed",
                            failed.len(),
                            case.assertions.len()
                        )),
                        escape(&failed.join("\n"))
                    );
                }
                CaseStatus::Errored => {
                    let reason = case.error.clone().unwrap_or_else(|| {
                        case.assertions
                            .iter()
                            .filter(|a| a.errored)
                            .map(assertion_line)
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                    let _ = writeln!(
                        xml,
                        "      <error type=\"errored\" message=\"{}\">{}</error>",
                        attr(&first_line(&reason)),
                        escape(&reason)
                    );
                }
            }
            if !case.answer.is_empty() {
                let _ = writeln!(
                    xml,
                    "      <system-out>{}</system-out>",
                    escape(&case.answer)
                );
            }
            xml.push_str("    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn assertion_line(a: &super::results::AssertionResult) -> String {
    let what = match &a.rubric {
        Some(r) => format!("{} {r}", a.kind),
        None => a.kind.clone(),
    };
    format!("{what}: {}", a.detail)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(200).collect()
}

fn ms_to_s(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// XML character data: the five special characters escaped, and the characters XML 1.0 cannot
/// carry at all (most control characters, which a model can emit) replaced with U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value: as [`escape`], with line breaks kept as character references (a literal
/// newline in an attribute is normalised to a space by XML parsers).
fn attr(s: &str) -> String {
    escape(s)
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping_covers_markup_quotes_and_characters_xml_cannot_carry() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{0}y\u{1b}z\n"), "x\u{FFFD}y\u{FFFD}z\n");
        assert_eq!(attr("a\nb"), "a&#10;b");
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
        assert_eq!(ms_to_s(1234), "1.234");
    }
}
