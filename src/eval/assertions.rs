//! Assertions: what an eval case's answer must satisfy. Each `{ type = …, value | threshold }`
//! of a set is parsed once at load ([`Check::parse`]; a bad regex or an unknown rubric is a load
//! error), then evaluated on the case's outcome ([`Check::evaluate`]). Text checks read the
//! answer as the user sees it (guard notice and output filtering included); reference metrics
//! call `eval::metrics`; similarity and perplexity run the models on blocking threads.

use super::judge::Rubrics;
use super::results::GuardDecision;
use crate::core::UsdCost;
use crate::providers::local::ChatTurn;
use crate::wire::ChatMessage;

/// A language the `language` assertion can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tongue {
    Pt,
    En,
}

impl Tongue {
    fn code(self) -> &'static str {
        match self {
            Tongue::Pt => "pt",
            Tongue::En => "en",
        }
    }
}

/// One parsed assertion; its kind's facts (name, argument, score, reference) are in [`Kind`].
#[derive(Debug, Clone)]
pub enum Check {
    /// Exact substring.
    Contains(String),
    /// Case-insensitive substring.
    IContains(String),
    /// Case-insensitive: must not appear at all.
    NotContains(String),
    Regex(regex::Regex),
    Language(Tongue),
    Escalated,
    Blocked,
    NotEscalated,
    NotBlocked,
    MaxTokens(f64),
    MaxCostUsd(UsdCost),
    MaxLatencyMs(f64),
    Bleu(f64),
    Chrf(f64),
    RougeL(f64),
    Similarity(f64),
    Perplexity(f64),
    Judge {
        rubric: String,
        threshold: f64,
    },
}

/// What assertions are checked against at load.
pub struct CheckContext<'a> {
    pub rubrics: &'a Rubrics,
}

/// Whether `key` names an aggregate a `[tolerances]` entry can refer to.
pub fn is_metric_key(key: &str, rubrics: &Rubrics) -> bool {
    key == "pass_rate"
        || Kind::from_name(key).is_some_and(Kind::is_scored)
        || key
            .strip_prefix("judge:")
            .is_some_and(|r| rubrics.get(r).is_some())
}

impl Check {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Check::Contains(_) => Kind::Contains,
            Check::IContains(_) => Kind::IContains,
            Check::NotContains(_) => Kind::NotContains,
            Check::Regex(_) => Kind::Regex,
            Check::Language(_) => Kind::Language,
            Check::Escalated => Kind::Escalated,
            Check::Blocked => Kind::Blocked,
            Check::NotEscalated => Kind::NotEscalated,
            Check::NotBlocked => Kind::NotBlocked,
            Check::MaxTokens(_) => Kind::MaxTokens,
            Check::MaxCostUsd(_) => Kind::MaxCostUsd,
            Check::MaxLatencyMs(_) => Kind::MaxLatencyMs,
            Check::Bleu(_) => Kind::Bleu,
            Check::Chrf(_) => Kind::Chrf,
            Check::RougeL(_) => Kind::RougeL,
            Check::Similarity(_) => Kind::Similarity,
            Check::Perplexity(_) => Kind::Perplexity,
            Check::Judge { .. } => Kind::Judge,
        }
    }

    /// The type as written in sets.
    pub fn type_name(&self) -> &'static str {
        self.kind().name()
    }

    /// Whether it compares the answer with the case's `reference`.
    pub fn needs_reference(&self) -> bool {
        self.kind().needs_reference()
    }
}

/// A case's outcome, as the assertions read it.
pub struct Observed<'a> {
    /// The answer as shown to the user.
    pub answer: &'a str,
    pub decision: GuardDecision,
    pub completion_tokens: u64,
    pub cost: UsdCost,
    pub latency_ms: u64,
    pub reference: Option<&'a str>,
    /// The client's messages (what the judge reads).
    pub conversation: &'a [ChatMessage],
    /// The messages as the model saw them (rendered prompt included), for perplexity.
    pub context: &'a [ChatTurn],
}

mod evaluate;
mod kind;
mod parse;
mod scorers;
#[cfg(test)]
mod tests;

pub use kind::Kind;
pub use scorers::Scorers;
