//! Parsing one `{ type = …, value | threshold | rubric }` table of a set into a [`Check`]: the
//! kind, the keys it allows, then its argument. Errors say what is wrong, without file or case
//! (the set loader adds those).

use super::{Check, CheckContext, Kind, Tongue};
use crate::core::UsdCost;

impl Check {
    /// Parses one `{ type = …, … }`; the error says what is wrong, without file or case.
    pub fn parse(table: &toml::Table, ctx: &CheckContext<'_>) -> Result<Check, String> {
        let kind = kind_of(table)?;
        let allowed = kind.takes().keys();
        if let Some(extra) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
            let wanted = kind.takes().wanted();
            return Err(format!("`{kind}` takes {wanted}, not `{extra}`"));
        }
        let args = Args { kind, table };
        Ok(match kind {
            Kind::Contains => Check::Contains(args.value()?),
            Kind::IContains => Check::IContains(args.value()?),
            Kind::NotContains => Check::NotContains(args.value()?),
            Kind::Regex => Check::Regex(regex(&args.value()?)?),
            Kind::Language => Check::Language(tongue(&args.value()?)?),
            Kind::Escalated => Check::Escalated,
            Kind::Blocked => Check::Blocked,
            Kind::NotEscalated => Check::NotEscalated,
            Kind::NotBlocked => Check::NotBlocked,
            Kind::MaxTokens => Check::MaxTokens(args.non_negative()?),
            Kind::MaxLatencyMs => Check::MaxLatencyMs(args.non_negative()?),
            Kind::MaxCostUsd => Check::MaxCostUsd(args.cost()?),
            Kind::Bleu => Check::Bleu(args.in_range(0.0, 100.0)?),
            Kind::Chrf => Check::Chrf(args.in_range(0.0, 100.0)?),
            Kind::RougeL => Check::RougeL(args.in_range(0.0, 1.0)?),
            Kind::Similarity => Check::Similarity(args.in_range(-1.0, 1.0)?),
            Kind::Perplexity => Check::Perplexity(args.non_negative()?),
            Kind::Judge => Check::Judge {
                rubric: args.rubric(ctx)?,
                threshold: args.in_range(1.0, 5.0)?,
            },
        })
    }
}

/// The table's `type`, as a known kind.
fn kind_of(table: &toml::Table) -> Result<Kind, String> {
    let name = match table.get("type") {
        Some(toml::Value::String(s)) => s.as_str(),
        Some(_) => return Err("`type` must be a string".into()),
        None => return Err("missing `type`".into()),
    };
    Kind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        format!(
            "unknown assertion type `{name}` (types: {})",
            names.join(", ")
        )
    })
}

/// A check's table once its keys are known to fit its kind: reads and validates the argument.
struct Args<'a> {
    kind: Kind,
    table: &'a toml::Table,
}

impl Args<'_> {
    fn value(&self) -> Result<String, String> {
        let kind = self.kind;
        match self.table.get("value") {
            Some(toml::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(format!("`{kind}` needs `value` as a non-empty string")),
            None => Err(format!("`{kind}` needs a `value`")),
        }
    }

    fn threshold(&self) -> Result<f64, String> {
        let kind = self.kind;
        match self.table.get("threshold") {
            Some(toml::Value::Integer(i)) => Ok(*i as f64),
            Some(toml::Value::Float(f)) if f.is_finite() => Ok(*f),
            Some(_) => Err(format!("`{kind}` needs `threshold` as a number")),
            None => Err(format!("`{kind}` needs a `threshold`")),
        }
    }

    fn non_negative(&self) -> Result<f64, String> {
        let t = self.threshold()?;
        if t < 0.0 {
            Err(format!("`{}` threshold must be ≥ 0, not {t}", self.kind))
        } else {
            Ok(t)
        }
    }

    fn in_range(&self, lo: f64, hi: f64) -> Result<f64, String> {
        let t = self.threshold()?;
        if (lo..=hi).contains(&t) {
            Ok(t)
        } else {
            Err(format!(
                "`{}` threshold must be between {lo} and {hi}, not {t}",
                self.kind
            ))
        }
    }

    /// A decimal threshold: a string keeps every digit, a float is read as it prints.
    fn cost(&self) -> Result<UsdCost, String> {
        let text = match self.table.get("threshold") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(toml::Value::Float(f)) => f.to_string(),
            Some(toml::Value::Integer(i)) => i.to_string(),
            Some(_) => return Err("`max-cost-usd` needs `threshold` as a decimal".into()),
            None => return Err("`max-cost-usd` needs a `threshold`".into()),
        };
        text.parse()
            .map_err(|e| format!("`max-cost-usd` threshold: {e}"))
    }

    /// The `rubric`, which must name a file in the rubrics folder.
    fn rubric(&self, ctx: &CheckContext<'_>) -> Result<String, String> {
        let rubric = match self.table.get("rubric") {
            Some(toml::Value::String(s)) => s.clone(),
            _ => return Err("`judge` needs `rubric` (a file name in the rubrics folder)".into()),
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
        Ok(rubric)
    }
}

fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        // The syntax error's last line says what is wrong; the others draw it.
        let text = e.to_string();
        let why = text.lines().last().unwrap_or_default().trim();
        format!(
            "bad regex {pattern:?}: {}",
            why.trim_start_matches("error: ")
        )
    })
}

fn tongue(value: &str) -> Result<Tongue, String> {
    match value {
        "pt" => Ok(Tongue::Pt),
        "en" => Ok(Tongue::En),
        other => Err(format!(
            "`language` value must be \"pt\" or \"en\", not {other:?}"
        )),
    }
}
