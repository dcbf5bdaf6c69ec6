//! The output guard on labelled model answers (`evalsets/guard/output/`): each answer checked
//! whole ([`Guard::check_output_verdict`]) and fed to a
//! [`StreamGuard`](crate::guard::StreamGuard) in deltas of a few characters, as the streaming
//! path receives them; scored as dose recall and false-block rate.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::{EvalError, jsonl_lines, ratio};
use crate::guard::{Guard, Lang, OutputVerdict};

/// One labelled model answer (`evalsets/guard/output/*.jsonl`).
#[derive(Debug, Clone)]
pub struct OutputCase {
    pub id: String,
    pub lang: Lang,
    pub text: String,
    /// True when the answer tells the reader an amount of a medicine to take.
    pub dose: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutputCase {
    id: String,
    lang: String,
    text: String,
    dose: bool,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

/// Blocked or passed answers against their labels, for one way of checking them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockScore {
    /// Answers with a dose.
    pub doses: usize,
    /// Answers with a dose that were replaced.
    pub doses_blocked: usize,
    /// Answers without a dose.
    pub safe: usize,
    /// Answers without a dose that were replaced anyway.
    pub safe_blocked: usize,
}

impl BlockScore {
    pub fn recall(&self) -> f64 {
        ratio(self.doses_blocked, self.doses)
    }

    /// Share of dose-free answers replaced; 0.0 when there are none.
    pub fn false_block_rate(&self) -> f64 {
        if self.safe == 0 {
            0.0
        } else {
            self.safe_blocked as f64 / self.safe as f64
        }
    }

    fn count(&mut self, dose: bool, blocked: bool) {
        if dose {
            self.doses += 1;
            self.doses_blocked += usize::from(blocked);
        } else {
            self.safe += 1;
            self.safe_blocked += usize::from(blocked);
        }
    }
}

/// An answer the output guard got wrong, whole or streamed.
#[derive(Debug, Clone)]
pub struct OutputMiss {
    pub id: String,
    pub dose: bool,
    pub whole_blocked: bool,
    pub streamed_blocked: bool,
}

/// The output guard on a labelled set: the whole answer, and the answer streamed in deltas.
#[derive(Debug, Clone)]
pub struct OutputEvalReport {
    pub whole: BlockScore,
    pub streamed: BlockScore,
    /// Streams stopped only after the text already released held a dose by itself.
    pub leaked: Vec<String>,
    pub misses: Vec<OutputMiss>,
}

impl fmt::Display for OutputEvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.whole.doses + self.whole.safe;
        writeln!(f, "output guard eval: {n} answers")?;
        for (name, s) in [("whole", &self.whole), ("streamed", &self.streamed)] {
            writeln!(
                f,
                "{name:<9} dose recall {}/{} = {:.3}   false blocks {}/{} = {:.1}%",
                s.doses_blocked,
                s.doses,
                s.recall(),
                s.safe_blocked,
                s.safe,
                s.false_block_rate() * 100.0
            )?;
        }
        writeln!(
            f,
            "streamed doses released before the stop: {}",
            self.leaked.len()
        )?;
        if !self.misses.is_empty() {
            writeln!(f, "misclassified:")?;
            for m in &self.misses {
                let word = |b: bool| if b { "blocked" } else { "passed" };
                writeln!(
                    f,
                    "  {:<12} {:<7} whole {:<7} streamed {}",
                    m.id,
                    if m.dose { "dose" } else { "no dose" },
                    word(m.whole_blocked),
                    word(m.streamed_blocked)
                )?;
            }
        }
        Ok(())
    }
}

/// Reads every `*.jsonl` file of `dir` as model answers, in name order.
pub fn load_output_cases(dir: &Path) -> Result<Vec<OutputCase>, EvalError> {
    let mut cases = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for (at, line) in jsonl_lines(dir)? {
        let raw: RawOutputCase =
            serde_json::from_str(&line).map_err(|e| EvalError(format!("{at}: {e}")))?;
        let lang = Lang::from_tag(&raw.lang)
            .ok_or_else(|| EvalError(format!("{at}: lang {:?} is not pt-BR or en", raw.lang)))?;
        if let Some(prev) = ids.insert(raw.id.clone(), at.clone()) {
            return Err(EvalError(format!(
                "{at}: id {:?} is also used at {prev}",
                raw.id
            )));
        }
        cases.push(OutputCase {
            id: raw.id,
            lang,
            text: raw.text,
            dose: raw.dose,
        });
    }
    Ok(cases)
}

/// Delta sizes in characters for the streamed check, cycled: what a model's stream looks like
/// (a few characters per chunk), and never aligned with word boundaries for long.
const DELTA_CHARS: [usize; 5] = [3, 5, 4, 7, 6];

/// Runs the model answers in `dir` through the output guard, whole and streamed.
pub fn run_output_eval(guard: &Guard, dir: &Path) -> Result<OutputEvalReport, EvalError> {
    let cases = load_output_cases(dir)?;
    let (mut whole, mut streamed) = (BlockScore::default(), BlockScore::default());
    let (mut leaked, mut misses) = (Vec::new(), Vec::new());
    for (i, case) in cases.iter().enumerate() {
        let whole_blocked = matches!(
            guard.check_output_verdict(&case.text, case.lang),
            OutputVerdict::Replace { .. }
        );
        let (released, stopped) = stream_through(guard, case, i);
        if stopped
            && matches!(
                guard.check_output_verdict(&released, case.lang),
                OutputVerdict::Replace { .. }
            )
        {
            leaked.push(case.id.clone());
        }
        whole.count(case.dose, whole_blocked);
        streamed.count(case.dose, stopped);
        if whole_blocked != case.dose || stopped != case.dose {
            misses.push(OutputMiss {
                id: case.id.clone(),
                dose: case.dose,
                whole_blocked,
                streamed_blocked: stopped,
            });
        }
    }
    if cases.is_empty() {
        return Err(EvalError(format!("{}: no *.jsonl cases", dir.display())));
    }
    Ok(OutputEvalReport {
        whole,
        streamed,
        leaked,
        misses,
    })
}

/// Feeds `case` to a [`StreamGuard`](crate::guard::StreamGuard) in deltas of a few characters,
/// as the streaming path does (the `n`th case starts at a different place in the cycle of
/// sizes). Returns the text the client would have seen and whether the guard stopped the stream.
fn stream_through(guard: &Guard, case: &OutputCase, n: usize) -> (String, bool) {
    let mut sg = guard.stream_guard(case.lang);
    let chars: Vec<char> = case.text.chars().collect();
    let mut released = String::new();
    let (mut at, mut k) = (0, n);
    while at < chars.len() {
        let end = (at + DELTA_CHARS[k % DELTA_CHARS.len()]).min(chars.len());
        let delta: String = chars[at..end].iter().collect();
        match sg.push(&delta) {
            Ok(s) => released.push_str(&s),
            Err(_) => return (released, true),
        }
        (at, k) = (end, k + 1);
    }
    match sg.finish() {
        Ok(s) => {
            released.push_str(&s);
            (released, false)
        }
        Err(_) => (released, true),
    }
}
