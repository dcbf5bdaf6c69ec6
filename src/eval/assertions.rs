//! Assertions: what an eval case's answer must satisfy. Each `{ type = …, value | threshold }`
//! of a set is parsed once at load ([`Check::parse`]; a bad regex or an unknown rubric is a load
//! error), then evaluated on the case's outcome ([`Check::evaluate`]). Text checks read the
//! answer as the user sees it (guard notice and output filtering included); reference metrics
//! call `eval::metrics`; similarity and perplexity run the models on blocking threads.

use super::judge::Rubrics;
use super::results::GuardDecision;
use crate::metering::UsdCost;
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

/// One parsed assertion.
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

/// Every assertion type, as written in sets.
pub const TYPES: [&str; 18] = [
    "contains",
    "icontains",
    "not-contains",
    "regex",
    "language",
    "escalated",
    "blocked",
    "not-escalated",
    "not-blocked",
    "max-tokens",
    "max-cost-usd",
    "max-latency-ms",
    "bleu",
    "chrf",
    "rouge-l",
    "similarity",
    "perplexity",
    "judge",
];

/// The types whose results carry a score (and so an aggregate mean and a tolerance).
const SCORED: [&str; 9] = [
    "max-tokens",
    "max-cost-usd",
    "max-latency-ms",
    "bleu",
    "chrf",
    "rouge-l",
    "similarity",
    "perplexity",
    "judge",
];

/// Whether `key` names an aggregate a `[tolerances]` entry can refer to.
pub fn is_metric_key(key: &str, rubrics: &Rubrics) -> bool {
    key == "pass_rate"
        || SCORED.contains(&key)
        || key
            .strip_prefix("judge:")
            .is_some_and(|r| rubrics.get(r).is_some())
}

/// What the argument of a type is.
enum Takes {
    Value,
    Threshold,
    Nothing,
    Rubric,
}

fn takes(kind: &str) -> Takes {
    match kind {
        "contains" | "icontains" | "not-contains" | "regex" | "language" => Takes::Value,
        "escalated" | "blocked" | "not-escalated" | "not-blocked" => Takes::Nothing,
        "judge" => Takes::Rubric,
        _ => Takes::Threshold,
    }
}

impl Check {
    /// Parses one `{ type = …, … }`; the error says what is wrong, without file or case.
    pub fn parse(table: &toml::Table, ctx: &CheckContext<'_>) -> Result<Check, String> {
        let kind = match table.get("type") {
            Some(toml::Value::String(s)) => s.as_str(),
            Some(_) => return Err("`type` must be a string".into()),
            None => return Err("missing `type`".into()),
        };
        if !TYPES.contains(&kind) {
            return Err(format!(
                "unknown assertion type `{kind}` (types: {})",
                TYPES.join(", ")
            ));
        }
        let allowed: &[&str] = match takes(kind) {
            Takes::Value => &["type", "value"],
            Takes::Threshold => &["type", "threshold"],
            Takes::Nothing => &["type"],
            Takes::Rubric => &["type", "rubric", "threshold"],
        };
        if let Some(extra) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
            let wanted = match takes(kind) {
                Takes::Value => "`value`",
                Takes::Threshold => "`threshold`",
                Takes::Nothing => "no argument",
                Takes::Rubric => "`rubric` and `threshold`",
            };
            return Err(format!("`{kind}` takes {wanted}, not `{extra}`"));
        }
        let value = || match table.get("value") {
            Some(toml::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(format!("`{kind}` needs `value` as a non-empty string")),
            None => Err(format!("`{kind}` needs a `value`")),
        };
        let threshold = || match table.get("threshold") {
            Some(toml::Value::Integer(i)) => Ok(*i as f64),
            Some(toml::Value::Float(f)) if f.is_finite() => Ok(*f),
            Some(_) => Err(format!("`{kind}` needs `threshold` as a number")),
            None => Err(format!("`{kind}` needs a `threshold`")),
        };
        let non_negative = |t: f64| {
            if t < 0.0 {
                Err(format!("`{kind}` threshold must be ≥ 0, not {t}"))
            } else {
                Ok(t)
            }
        };
        Ok(match kind {
            "contains" => Check::Contains(value()?),
            "icontains" => Check::IContains(value()?),
            "not-contains" => Check::NotContains(value()?),
            "regex" => {
                let pattern = value()?;
                Check::Regex(regex::Regex::new(&pattern).map_err(|e| {
                    // The syntax error's last line says what is wrong; the others draw it.
                    let text = e.to_string();
                    let why = text.lines().last().unwrap_or_default().trim();
                    format!(
                        "bad regex {pattern:?}: {}",
                        why.trim_start_matches("error: ")
                    )
                })?)
            }
            "language" => match value()?.as_str() {
                "pt" => Check::Language(Tongue::Pt),
                "en" => Check::Language(Tongue::En),
                other => {
                    return Err(format!(
                        "`language` value must be \"pt\" or \"en\", not {other:?}"
                    ));
                }
            },
            "escalated" => Check::Escalated,
            "blocked" => Check::Blocked,
            "not-escalated" => Check::NotEscalated,
            "not-blocked" => Check::NotBlocked,
            "max-tokens" => Check::MaxTokens(non_negative(threshold()?)?),
            "max-latency-ms" => Check::MaxLatencyMs(non_negative(threshold()?)?),
            "max-cost-usd" => {
                let text = match table.get("threshold") {
                    Some(toml::Value::String(s)) => s.clone(),
                    Some(toml::Value::Float(f)) => f.to_string(),
                    Some(toml::Value::Integer(i)) => i.to_string(),
                    Some(_) => return Err("`max-cost-usd` needs `threshold` as a decimal".into()),
                    None => return Err("`max-cost-usd` needs a `threshold`".into()),
                };
                Check::MaxCostUsd(
                    text.parse()
                        .map_err(|e| format!("`max-cost-usd` threshold: {e}"))?,
                )
            }
            "bleu" => Check::Bleu(in_range(kind, threshold()?, 0.0, 100.0)?),
            "chrf" => Check::Chrf(in_range(kind, threshold()?, 0.0, 100.0)?),
            "rouge-l" => Check::RougeL(in_range(kind, threshold()?, 0.0, 1.0)?),
            "similarity" => Check::Similarity(in_range(kind, threshold()?, -1.0, 1.0)?),
            "perplexity" => Check::Perplexity(non_negative(threshold()?)?),
            _ => {
                let rubric = match table.get("rubric") {
                    Some(toml::Value::String(s)) => s.clone(),
                    _ => {
                        return Err(
                            "`judge` needs `rubric` (a file name in the rubrics folder)".into()
                        );
                    }
                };
                if ctx.rubrics.get(&rubric).is_none() {
                    let known: Vec<&str> = ctx.rubrics.names().collect();
                    return Err(format!(
                        "unknown rubric `{rubric}`: no {}/{rubric}.md (rubrics: {})",
                        ctx.rubrics.dir().display(),
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ));
                }
                Check::Judge {
                    rubric,
                    threshold: in_range(kind, threshold()?, 1.0, 5.0)?,
                }
            }
        })
    }

    /// The type as written in sets.
    pub fn type_name(&self) -> &'static str {
        match self {
            Check::Contains(_) => "contains",
            Check::IContains(_) => "icontains",
            Check::NotContains(_) => "not-contains",
            Check::Regex(_) => "regex",
            Check::Language(_) => "language",
            Check::Escalated => "escalated",
            Check::Blocked => "blocked",
            Check::NotEscalated => "not-escalated",
            Check::NotBlocked => "not-blocked",
            Check::MaxTokens(_) => "max-tokens",
            Check::MaxCostUsd(_) => "max-cost-usd",
            Check::MaxLatencyMs(_) => "max-latency-ms",
            Check::Bleu(_) => "bleu",
            Check::Chrf(_) => "chrf",
            Check::RougeL(_) => "rouge-l",
            Check::Similarity(_) => "similarity",
            Check::Perplexity(_) => "perplexity",
            Check::Judge { .. } => "judge",
        }
    }

    /// Whether it compares the answer with the case's `reference`.
    pub fn needs_reference(&self) -> bool {
        matches!(
            self,
            Check::Bleu(_) | Check::Chrf(_) | Check::RougeL(_) | Check::Similarity(_)
        )
    }
}

fn in_range(kind: &str, t: f64, lo: f64, hi: f64) -> Result<f64, String> {
    if (lo..=hi).contains(&t) {
        Ok(t)
    } else {
        Err(format!(
            "`{kind}` threshold must be between {lo} and {hi}, not {t}"
        ))
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
mod scorers;
#[cfg(test)]
mod tests;

pub use scorers::Scorers;
