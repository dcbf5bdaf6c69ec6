//! Lexicons alone, the classifier alone, and both (the guard with the classifier as its second
//! opinion) on one folder of the guard's labelled messages: red-flag and self-harm recall and
//! precision, and the false-escalation rate on benign messages. `powerbirth eval guard` prints
//! it for `dev/` and each `heldout*/` part when a triage model is configured.

use std::fmt;
use std::path::Path;

use super::{RED_FLAG, SELF_HARM, TriageModel};
use crate::guard::eval::{EvalError, load_cases, run_guard_eval};
use crate::guard::{Category, Guard};

/// One reader's figures on one part.
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderScores {
    pub reader: &'static str,
    pub red_flag_recall: f64,
    pub red_flag_precision: f64,
    pub self_harm_recall: f64,
    pub self_harm_precision: f64,
    /// Benign messages (no label) escalated, over benign messages.
    pub false_escalation: f64,
}

/// The three readers on one part.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub part: String,
    pub rows: [ReaderScores; 3],
}

/// Scores `plain` (lexicons), `model` alone and `both` (a guard with `model` installed) on `dir`.
pub fn compare(
    part: &str,
    plain: &Guard,
    both: &Guard,
    model: &TriageModel,
    dir: &Path,
) -> Result<Comparison, EvalError> {
    let from_guard = |reader, g: &Guard| -> Result<ReaderScores, EvalError> {
        let r = run_guard_eval(g, dir)?;
        let (rf, sh) = (r.score(Category::RedFlag), r.score(Category::SelfHarm));
        Ok(ReaderScores {
            reader,
            red_flag_recall: rf.recall(),
            red_flag_precision: rf.precision(),
            self_harm_recall: sh.recall(),
            self_harm_precision: sh.precision(),
            false_escalation: r.false_escalation_rate(),
        })
    };
    let cases = load_cases(dir)?;
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let proba = model
        .proba(&texts)
        .map_err(|e| EvalError(format!("{}: {e}", dir.display())))?;
    let fired: Vec<Vec<usize>> = proba.iter().map(|p| model.escalating(p)).collect();
    let score = |class: usize, cat: Category| {
        let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
        for (c, f) in cases.iter().zip(&fired) {
            match (f.contains(&class), c.labels.contains(&cat)) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fneg += 1,
                _ => {}
            }
        }
        (ratio(tp, tp + fneg), ratio(tp, tp + fp))
    };
    let (rf_r, rf_p) = score(RED_FLAG, Category::RedFlag);
    let (sh_r, sh_p) = score(SELF_HARM, Category::SelfHarm);
    let benign: Vec<usize> = (0..cases.len())
        .filter(|&i| cases[i].labels.is_empty())
        .collect();
    let escalated = benign.iter().filter(|&&i| !fired[i].is_empty()).count();
    let classifier = ReaderScores {
        reader: "classifier",
        red_flag_recall: rf_r,
        red_flag_precision: rf_p,
        self_harm_recall: sh_r,
        self_harm_precision: sh_p,
        false_escalation: if benign.is_empty() {
            0.0
        } else {
            escalated as f64 / benign.len() as f64
        },
    };
    Ok(Comparison {
        part: part.to_string(),
        rows: [
            from_guard("lexicons", plain)?,
            classifier,
            from_guard("both", both)?,
        ],
    })
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: lexicons vs classifier vs both\n  {:<11} {:>9} {:>9} {:>9} {:>9} {:>11}",
            self.part, "reader", "rf recall", "rf prec", "sh recall", "sh prec", "false esc"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "  {:<11} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>11.3}",
                r.reader,
                r.red_flag_recall,
                r.red_flag_precision,
                r.self_harm_recall,
                r.self_harm_precision,
                r.false_escalation
            )?;
        }
        Ok(())
    }
}
