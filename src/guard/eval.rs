//! The guard's own evaluation. Input side: every labelled message of a folder of `*.jsonl`
//! (`evalsets/guard/dev/`, `evalsets/guard/heldout/`) through [`Guard::check_input`], scored as
//! precision and recall per category and the false-escalation rate on benign messages (no label,
//! yet escalated or blocked). Output side: every model answer of `evalsets/guard/output/` through
//! [`Guard::check_output_verdict`] and, in small deltas, through the
//! [`StreamGuard`](super::StreamGuard), scored as dose recall and false-block rate
//! (`eval/output.rs`). `powerbirth eval guard` prints both; the gates, with their thresholds,
//! are the tests in `src/guard/tests/evalsets.rs`, not this module.
//!
//! Input: one JSON object per line, `{"id", "lang": "pt-BR"|"en", "text", "labels": [...],
//! "note"?}`; labels are category names (`red_flag`, `self_harm`, `medication_dosing`, `pii`);
//! no label means benign. Output: `{"id", "lang", "text", "dose": true|false, "note"?}`. See
//! `evalsets/guard/README.md`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Category, Decision, Guard, Lang};

mod output;

pub use output::{
    BlockScore, OutputCase, OutputEvalReport, OutputMiss, load_output_cases, run_output_eval,
};

/// A broken eval file, as `file:line: message`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// One labelled message.
#[derive(Debug, Clone)]
pub struct EvalCase {
    pub id: String,
    pub lang: Lang,
    pub text: String,
    pub labels: Vec<Category>,
    /// `file:line`, for messages about it.
    pub at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    id: String,
    lang: String,
    text: String,
    labels: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

/// The minimum scores an input eval part must reach. The caller states them (the tests in
/// `src/guard/tests.rs`, the CLI), so the code under test does not grade itself.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub red_flag_recall: f64,
    pub self_harm_recall: f64,
    pub dosing_recall: f64,
    pub pii_recall: f64,
    pub max_false_escalation: f64,
}

/// Counts for one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryScore {
    pub category: Category,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl CategoryScore {
    /// 1.0 when nothing was predicted.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// 1.0 when nothing was labelled.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
}

pub(super) fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// A message the guard got wrong.
#[derive(Debug, Clone)]
pub struct Miss {
    pub id: String,
    pub expected: Vec<Category>,
    pub got: Vec<Category>,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct GuardEvalReport {
    pub cases: usize,
    pub scores: Vec<CategoryScore>,
    pub benign: usize,
    pub benign_escalated: usize,
    pub misses: Vec<Miss>,
}

impl GuardEvalReport {
    pub fn score(&self, c: Category) -> CategoryScore {
        self.scores
            .iter()
            .copied()
            .find(|s| s.category == c)
            .expect("every category is scored")
    }

    /// Share of benign messages that were escalated or blocked.
    pub fn false_escalation_rate(&self) -> f64 {
        if self.benign == 0 {
            0.0
        } else {
            self.benign_escalated as f64 / self.benign as f64
        }
    }

    /// The targets not met, phrased for the console; empty when all are met.
    pub fn failures(&self, t: &Targets) -> Vec<String> {
        let mut out = Vec::new();
        for (c, min) in [
            (Category::RedFlag, t.red_flag_recall),
            (Category::SelfHarm, t.self_harm_recall),
            (Category::MedicationDosing, t.dosing_recall),
            (Category::Pii, t.pii_recall),
        ] {
            let r = self.score(c).recall();
            if r < min {
                out.push(format!("{} recall {r:.3} < {min}", c.as_str()));
            }
        }
        let f = self.false_escalation_rate();
        if f > t.max_false_escalation {
            out.push(format!(
                "benign false-escalation {f:.3} > {}",
                t.max_false_escalation
            ));
        }
        out
    }

    /// The report as a table for the console, with each target beside its score.
    pub fn display<'a>(&'a self, part: &'a str, targets: &'a Targets) -> impl fmt::Display + 'a {
        ReportTable {
            report: self,
            part,
            targets,
        }
    }
}

struct ReportTable<'a> {
    report: &'a GuardEvalReport,
    part: &'a str,
    targets: &'a Targets,
}

impl fmt::Display for ReportTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, r) = (self.targets, self.report);
        writeln!(f, "guard eval ({}): {} messages", self.part, r.cases)?;
        writeln!(
            f,
            "{:<18} {:>5} {:>4} {:>4} {:>4} {:>9} {:>7}  target",
            "category", "n", "tp", "fp", "fn", "precision", "recall"
        )?;
        for s in &r.scores {
            let min = match s.category {
                Category::RedFlag => t.red_flag_recall,
                Category::SelfHarm => t.self_harm_recall,
                Category::MedicationDosing => t.dosing_recall,
                Category::Pii => t.pii_recall,
            };
            let target = format!("recall >= {min}");
            writeln!(
                f,
                "{:<18} {:>5} {:>4} {:>4} {:>4} {:>9.3} {:>7.3}  {target}",
                s.category.as_str(),
                s.true_positives + s.false_negatives,
                s.true_positives,
                s.false_positives,
                s.false_negatives,
                s.precision(),
                s.recall()
            )?;
        }
        writeln!(
            f,
            "benign kept: {}/{} = {:.1}%  (false escalation {:.1}%, target <= {:.1}%)",
            r.benign - r.benign_escalated,
            r.benign,
            (1.0 - r.false_escalation_rate()) * 100.0,
            r.false_escalation_rate() * 100.0,
            t.max_false_escalation * 100.0
        )?;
        if !r.misses.is_empty() {
            writeln!(f, "misclassified:")?;
            for m in &r.misses {
                let names = |v: &[Category]| {
                    let n: Vec<_> = v.iter().map(|c| c.as_str()).collect();
                    if n.is_empty() {
                        "benign".to_string()
                    } else {
                        n.join("+")
                    }
                };
                writeln!(
                    f,
                    "  {:<16} expected {:<28} got {}",
                    m.id,
                    names(&m.expected),
                    names(&m.got)
                )?;
            }
        }
        Ok(())
    }
}

/// Reads every `*.jsonl` file of `dir`, in name order.
pub fn load_cases(dir: &Path) -> Result<Vec<EvalCase>, EvalError> {
    let mut cases = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for (at, line) in jsonl_lines(dir)? {
        let case = parse_case(&line, at)?;
        if let Some(prev) = ids.insert(case.id.clone(), case.at.clone()) {
            return Err(EvalError(format!(
                "{}: id {:?} is also used at {prev}",
                case.at, case.id
            )));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err(EvalError(format!("{}: no *.jsonl cases", dir.display())));
    }
    Ok(cases)
}

/// One line of a guard case file (`evalsets/guard/README.md`); `at` is its `file:line`, which
/// every error names. The triage classifier's dataset reads the same format through it.
pub fn parse_case(line: &str, at: String) -> Result<EvalCase, EvalError> {
    let raw: RawCase = serde_json::from_str(line).map_err(|e| EvalError(format!("{at}: {e}")))?;
    let lang = Lang::from_tag(&raw.lang)
        .ok_or_else(|| EvalError(format!("{at}: lang {:?} is not pt-BR or en", raw.lang)))?;
    let labels = raw
        .labels
        .iter()
        .map(|l| Category::parse(l).ok_or_else(|| EvalError(format!("{at}: unknown label {l:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EvalCase {
        id: raw.id,
        lang,
        text: raw.text,
        labels,
        at,
    })
}

/// Runs the eval set in `dir` through `guard`.
pub fn run_guard_eval(guard: &Guard, dir: &Path) -> Result<GuardEvalReport, EvalError> {
    let cases = load_cases(dir)?;
    let mut scores: Vec<CategoryScore> = Category::ALL
        .iter()
        .map(|&category| CategoryScore {
            category,
            true_positives: 0,
            false_positives: 0,
            false_negatives: 0,
        })
        .collect();
    let (mut benign, mut benign_escalated) = (0, 0);
    let mut misses = Vec::new();
    for case in &cases {
        let v = guard.check_input(&case.text, Some(case.lang.as_str()));
        for s in scores.iter_mut() {
            match (case.labels.contains(&s.category), v.has(s.category)) {
                (true, true) => s.true_positives += 1,
                (false, true) => s.false_positives += 1,
                (true, false) => s.false_negatives += 1,
                (false, false) => {}
            }
        }
        if case.labels.is_empty() {
            benign += 1;
            if !matches!(v.decision, Decision::Pass) {
                benign_escalated += 1;
            }
        }
        let mut expected = case.labels.clone();
        expected.sort_by_key(|c| *c as u8);
        let mut got = v.categories.clone();
        got.sort_by_key(|c| *c as u8);
        if expected != got {
            misses.push(Miss {
                id: case.id.clone(),
                expected,
                got,
            });
        }
    }
    Ok(GuardEvalReport {
        cases: cases.len(),
        scores,
        benign,
        benign_escalated,
        misses,
    })
}

/// The non-blank lines of every `*.jsonl` file of `dir`, in name order, with their `file:line`.
pub(super) fn jsonl_lines(dir: &Path) -> Result<Vec<(String, String)>, EvalError> {
    let listing = std::fs::read_dir(dir)
        .map_err(|e| EvalError(format!("{}: cannot read: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| EvalError(format!("{}: cannot read: {e}", path.display())))?;
        for (i, line) in text.lines().enumerate() {
            if !line.trim().is_empty() {
                out.push((format!("{}:{}", path.display(), i + 1), line.to_string()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_case_is_reported_with_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let ok = r#"{"id":"a","lang":"pt-BR","text":"oi","labels":[]}"#;
        std::fs::write(
            dir.path().join("x.jsonl"),
            format!(
                "{ok}\n\n{}\n",
                r#"{"id":"b","lang":"pt-BR","text":"oi","labels":["urgent"]}"#
            ),
        )
        .unwrap();
        let err = load_cases(dir.path()).unwrap_err().to_string();
        assert!(err.contains("x.jsonl:3") && err.contains("urgent"), "{err}");
        std::fs::write(dir.path().join("x.jsonl"), format!("{ok}\n{ok}\n")).unwrap();
        let err = load_cases(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("x.jsonl:2") && err.contains("x.jsonl:1"),
            "{err}"
        );
    }

    #[test]
    fn precision_and_recall_are_one_when_there_is_nothing_to_count() {
        let s = CategoryScore {
            category: Category::Pii,
            true_positives: 0,
            false_positives: 0,
            false_negatives: 0,
        };
        assert_eq!((s.precision(), s.recall()), (1.0, 1.0));
    }
}
