//! Assertions: what an eval case's answer must satisfy. Each `{ type = …, value | threshold }`
//! of a set is parsed once at load ([`Check::parse`]; a bad regex or an unknown rubric is a load
//! error), then evaluated on the case's outcome ([`Check::evaluate`]). Text checks read the
//! answer as the user sees it (guard notice and output filtering included); reference metrics
//! call `eval::metrics`; similarity and perplexity run the models on blocking threads.

use super::judge::Rubrics;
use super::metrics;
use super::results::{AssertionResult, GuardDecision};
use crate::chat::types::ChatMessage;
use crate::metering::UsdCost;
use crate::providers::local::ChatTurn;

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

    /// Checks the case's outcome.
    pub async fn evaluate(&self, obs: &Observed<'_>, scorers: &Scorers) -> AssertionResult {
        let mut result = AssertionResult {
            kind: self.type_name().to_string(),
            rubric: None,
            passed: false,
            errored: false,
            skipped: false,
            score: None,
            threshold: None,
            detail: String::new(),
        };
        let answer = obs.answer;
        let reference = obs.reference.unwrap_or_default();
        let (passed, detail) = match self {
            Check::Contains(v) => text_check(
                answer.contains(v.as_str()),
                format!("the answer contains {v:?}"),
                format!("the answer does not contain {v:?}"),
            ),
            Check::IContains(v) => text_check(
                answer.to_lowercase().contains(&v.to_lowercase()),
                format!("the answer contains {v:?} (any case)"),
                format!("the answer does not contain {v:?} in any case"),
            ),
            Check::NotContains(v) => {
                let found = answer.to_lowercase().contains(&v.to_lowercase());
                (
                    !found,
                    if found {
                        format!("the answer contains {v:?} (in some case), and must not")
                    } else {
                        format!("the answer does not contain {v:?}")
                    },
                )
            }
            Check::Regex(re) => text_check(
                re.is_match(answer),
                format!("the answer matches /{re}/"),
                format!("the answer does not match /{re}/"),
            ),
            Check::Language(want) => {
                let found = detect_language(answer);
                (
                    found == Some(*want),
                    match found {
                        Some(t) => format!(
                            "the answer is in `{}` (expected `{}`)",
                            t.code(),
                            want.code()
                        ),
                        None => format!(
                            "the answer's language is neither pt nor en, or too short to tell (expected `{}`)",
                            want.code()
                        ),
                    },
                )
            }
            Check::Escalated => decision_check(obs.decision, GuardDecision::Escalate, true),
            Check::Blocked => decision_check(obs.decision, GuardDecision::Block, true),
            Check::NotEscalated => decision_check(obs.decision, GuardDecision::Escalate, false),
            Check::NotBlocked => decision_check(obs.decision, GuardDecision::Block, false),
            Check::MaxTokens(t) => at_most(
                &mut result,
                obs.completion_tokens as f64,
                *t,
                "completion tokens",
            ),
            Check::MaxLatencyMs(t) => {
                at_most(&mut result, obs.latency_ms as f64, *t, "latency (ms)")
            }
            Check::MaxCostUsd(t) => {
                result.score = obs.cost.to_string().parse().ok();
                result.threshold = t.to_string().parse().ok();
                (
                    obs.cost <= *t,
                    format!("cost {} USD (at most {t})", obs.cost),
                )
            }
            Check::Bleu(t) => at_least(
                &mut result,
                metrics::sentence_bleu(answer, &[reference]),
                *t,
                "BLEU",
            ),
            Check::Chrf(t) => at_least(
                &mut result,
                metrics::sentence_chrf(answer, &[reference]),
                *t,
                "chrF",
            ),
            Check::RougeL(t) => at_least(
                &mut result,
                metrics::rouge_l(answer, reference),
                *t,
                "ROUGE-L",
            ),
            Check::Similarity(t) => match scorers.similarity(answer, reference).await {
                Ok(s) => at_least(&mut result, s, *t, "similarity"),
                Err(e) => return errored(result, e),
            },
            Check::Perplexity(t) => match scorers.perplexity(obs.context, answer).await {
                Ok(p) => at_most(&mut result, p, *t, "perplexity"),
                Err(e) => return errored(result, e),
            },
            Check::Judge { rubric, threshold } => {
                result.rubric = Some(rubric.clone());
                if scorers.judge.is_none() {
                    result.rubric = Some(rubric.clone());
                    result.threshold = Some(*threshold);
                    result.skipped = true;
                    result.detail =
                        "skipped: no judge model in this run (set `[eval] judge_model`)".into();
                    return result;
                }
                match scorers.judge(rubric, obs.conversation, answer).await {
                    Ok((grade, version)) => {
                        let (passed, _) =
                            at_least(&mut result, grade.score, *threshold, "judge score");
                        (
                            passed,
                            format!(
                                "{rubric} v{version}: {} (at least {threshold}): {}",
                                grade.score, grade.reason
                            ),
                        )
                    }
                    Err(e) => {
                        result.threshold = Some(*threshold);
                        return errored(result, e);
                    }
                }
            }
        };
        result.passed = passed;
        result.detail = detail;
        result
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

/// `(ok, "the answer contains …" | "the answer does not contain …")`.
fn text_check(ok: bool, found: String, missing: String) -> (bool, String) {
    (ok, if ok { found } else { missing })
}

fn decision_check(found: GuardDecision, target: GuardDecision, want: bool) -> (bool, String) {
    let is = found == target;
    (
        is == want,
        format!(
            "the guard decided `{}` (expected {}`{}`)",
            found.as_str(),
            if want { "" } else { "anything but " },
            target.as_str()
        ),
    )
}

fn at_most(r: &mut AssertionResult, value: f64, limit: f64, what: &str) -> (bool, String) {
    r.score = Some(value);
    r.threshold = Some(limit);
    (
        value <= limit,
        format!("{what} {} (at most {limit})", round(value)),
    )
}

fn at_least(r: &mut AssertionResult, value: f64, min: f64, what: &str) -> (bool, String) {
    r.score = Some(value);
    r.threshold = Some(min);
    (
        value.is_finite() && value >= min,
        format!("{what} {} (at least {min})", round(value)),
    )
}

fn round(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

fn errored(mut r: AssertionResult, why: String) -> AssertionResult {
    r.passed = false;
    r.errored = true;
    r.detail = why;
    r
}

/// The answer's language by `whatlang`, when it is confidently Portuguese or English.
fn detect_language(text: &str) -> Option<Tongue> {
    match whatlang::detect_lang(text)? {
        whatlang::Lang::Por => Some(Tongue::Pt),
        whatlang::Lang::Eng => Some(Tongue::En),
        _ => None,
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

mod scorers;
#[cfg(test)]
mod tests;

pub use scorers::Scorers;
