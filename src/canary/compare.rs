//! One canary comparison: two selectors of logged answers (`release=…`, `prompt=id@N`,
//! `model=…`, joined with `,`), one metric, one window, and the verdict — `worse` when the
//! candidate is significantly worse at `alpha` (higher latency, cost or tokens, more guard
//! escalations, lower nurse ratings), else `better` or `no_difference`, or `insufficient_data`
//! when a side has fewer than `min_samples` values.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::effect::{self, RateShift, Shift};
use crate::prompts::PromptRef;
use crate::store::canary::{Metric, SampleFilter};
use crate::store::{DbError, Store};

/// Which logged answers form one side, parsed from `key=value[,key=value…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    text: String,
    filter: SampleFilter,
}

impl Selector {
    /// Parses `release=2026.12.1`, `prompt=assistant-general@3`, `model=gpt-4o-mini`, or several
    /// joined with `,` (all must hold).
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut filter = SampleFilter::default();
        for part in text.split(',').map(str::trim) {
            let (key, value) = part
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .filter(|(_, v)| !v.is_empty())
                .ok_or_else(|| {
                    format!("`{part}` is not a selector (release=…, prompt=id@N or model=…)")
                })?;
            let (slot, value) = match key {
                "release" => (&mut filter.release, value.to_owned()),
                "model" => (&mut filter.model, value.to_owned()),
                "prompt" => (&mut filter.prompt, value.parse::<PromptRef>()?.to_string()),
                other => {
                    return Err(format!(
                        "unknown selector key `{other}` (release, prompt or model)"
                    ));
                }
            };
            if slot.is_some() {
                return Err(format!("`{key}` is given twice in `{text}`"));
            }
            *slot = Some(value);
        }
        Ok(Selector {
            text: text.to_owned(),
            filter,
        })
    }

    /// Whether it names a prompt version (which the prediction log does not have).
    pub fn names_prompt(&self) -> bool {
        self.filter.prompt.is_some()
    }

    /// The answers of one prompt version.
    pub fn prompt(r: &PromptRef) -> Selector {
        Selector {
            text: format!("prompt={r}"),
            filter: SampleFilter {
                prompt: Some(r.to_string()),
                ..SampleFilter::default()
            },
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a window: a whole number and a unit, `m`, `h` or `d` (`30m`, `24h`, `7d`).
pub fn parse_window(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a window (e.g. 30m, 24h, 7d)");
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if n == 0 || n > 366 * 86_400 / secs {
        return Err(bad());
    }
    Ok(Duration::from_secs(n * secs))
}

/// Whether a higher value is worse (latency, cost, tokens, escalations, high-risk share) or
/// better (ratings).
pub fn higher_is_worse(metric: Metric) -> bool {
    metric != Metric::Rating
}

/// The outcome of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Worse,
    Better,
    NoDifference,
    InsufficientData,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub selector: String,
    pub n: usize,
}

/// What the test found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "test", rename_all = "snake_case")]
pub enum Effect {
    MannWhitney(Shift),
    TwoProportionZ(RateShift),
}

/// A comparison of one metric between two sides: the body of `monitor canary --format json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub metric: &'static str,
    pub worse_when: &'static str,
    pub window_start: i64,
    pub window_end: i64,
    pub alpha: f64,
    pub candidate: Side,
    pub baseline: Side,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    pub verdict: Verdict,
    /// Why the verdict is what it is, in a sentence.
    pub reason: String,
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub metric: Metric,
    pub candidate: &'a Selector,
    pub baseline: &'a Selector,
    /// `[start, end)` in epoch ms.
    pub window: (i64, i64),
    pub alpha: f64,
    pub min_samples: usize,
}

/// Reads both sides from the log and compares them.
pub async fn compare(store: &Store, req: &Request<'_>) -> Result<Comparison, DbError> {
    let (start, end) = req.window;
    let cand = store
        .canary_samples(req.metric, &req.candidate.filter, start, end)
        .await?;
    let base = store
        .canary_samples(req.metric, &req.baseline.filter, start, end)
        .await?;
    Ok(judge(req, &cand, &base))
}

/// The comparison of two samples already read.
pub fn judge(req: &Request<'_>, cand: &[f64], base: &[f64]) -> Comparison {
    let worse_high = higher_is_worse(req.metric);
    let mut out = Comparison {
        metric: req.metric.as_str(),
        worse_when: if worse_high { "higher" } else { "lower" },
        window_start: req.window.0,
        window_end: req.window.1,
        alpha: req.alpha,
        candidate: Side {
            selector: req.candidate.to_string(),
            n: cand.len(),
        },
        baseline: Side {
            selector: req.baseline.to_string(),
            n: base.len(),
        },
        effect: None,
        verdict: Verdict::InsufficientData,
        reason: String::new(),
    };
    let least = cand.len().min(base.len());
    if least < req.min_samples.max(1) {
        out.reason = format!(
            "too few samples: {} candidate and {} baseline values, at least {} each needed",
            cand.len(),
            base.len(),
            req.min_samples.max(1)
        );
        return out;
    }
    let tested = if req.metric.is_rate() {
        let count = |x: &[f64]| x.iter().filter(|v| **v > 0.0).count() as u64;
        let (n_c, n_b) = (cand.len() as u64, base.len() as u64);
        effect::rate_shift(count(cand), n_c, count(base), n_b)
            .map(|r| (r.difference, r.p_value, Effect::TwoProportionZ(r)))
    } else {
        effect::shift(cand, base).map(|s| {
            let d = s.direction(cand.len(), base.len());
            (d, s.p_value, Effect::MannWhitney(s))
        })
    };
    let Some((direction, p, effect)) = tested else {
        out.reason = "the test is undefined on these samples".into();
        return out;
    };
    out.effect = Some(effect);
    let worse = if worse_high {
        direction > 0.0
    } else {
        direction < 0.0
    };
    (out.verdict, out.reason) = match (p < req.alpha, worse, direction == 0.0) {
        (true, true, false) => (
            Verdict::Worse,
            format!(
                "candidate significantly worse (p = {p:.3e} < alpha {})",
                req.alpha
            ),
        ),
        (true, false, false) => (
            Verdict::Better,
            format!(
                "candidate significantly better (p = {p:.3e} < alpha {})",
                req.alpha
            ),
        ),
        _ => (
            Verdict::NoDifference,
            format!(
                "no significant difference (p = {p:.3e}, alpha {})",
                req.alpha
            ),
        ),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(metric: Metric, c: &'a Selector, b: &'a Selector) -> Request<'a> {
        Request {
            metric,
            candidate: c,
            baseline: b,
            window: (0, 1),
            alpha: 0.01,
            min_samples: 10,
        }
    }

    #[test]
    fn selectors_name_a_release_a_prompt_version_and_a_model() {
        let s = Selector::parse("release=2026.12.1,prompt=assistant-general@3,model=gpt-4o-mini")
            .unwrap();
        assert_eq!(s.filter.release.as_deref(), Some("2026.12.1"));
        assert_eq!(s.filter.prompt.as_deref(), Some("assistant-general@3"));
        assert_eq!(s.filter.model.as_deref(), Some("gpt-4o-mini"));
        for bad in ["release", "color=red", "prompt=assistant-general", "model="] {
            assert!(Selector::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn windows_are_minutes_hours_or_days() {
        assert_eq!(parse_window("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_window("30m").unwrap(), Duration::from_secs(1_800));
        assert_eq!(parse_window("7d").unwrap(), Duration::from_secs(7 * 86_400));
        for bad in ["", "h", "0h", "24", "1w", "-1h"] {
            assert!(parse_window(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_slower_candidate_is_worse_and_a_faster_one_is_not() {
        let (c, b) = (
            Selector::parse("release=b").unwrap(),
            Selector::parse("release=a").unwrap(),
        );
        let slow: Vec<f64> = (0..60).map(|i| 500.0 + f64::from(i)).collect();
        let fast: Vec<f64> = (0..60).map(|i| 300.0 + f64::from(i)).collect();
        let r = req(Metric::LatencyMs, &c, &b);
        assert_eq!(judge(&r, &slow, &fast).verdict, Verdict::Worse);
        assert_eq!(judge(&r, &fast, &slow).verdict, Verdict::Better);
        assert_eq!(judge(&r, &fast, &fast).verdict, Verdict::NoDifference);
        // A lower rating is the worse one.
        let r = req(Metric::Rating, &c, &b);
        assert_eq!(judge(&r, &fast, &slow).verdict, Verdict::Worse);
    }

    #[test]
    fn too_few_samples_is_insufficient_data_not_a_verdict() {
        let (c, b) = (
            Selector::parse("release=b").unwrap(),
            Selector::parse("release=a").unwrap(),
        );
        let r = req(Metric::LatencyMs, &c, &b);
        let out = judge(&r, &[1.0; 9], &[2.0; 100]);
        assert_eq!(out.verdict, Verdict::InsufficientData);
        assert!(out.reason.contains("too few samples"), "{}", out.reason);
    }

    #[test]
    fn more_escalations_are_worse_by_the_two_proportion_test() {
        let (c, b) = (
            Selector::parse("release=b").unwrap(),
            Selector::parse("release=a").unwrap(),
        );
        let mut cand = vec![0.0; 400];
        cand[..80].fill(1.0);
        let mut base = vec![0.0; 400];
        base[..20].fill(1.0);
        let out = judge(&req(Metric::GuardEscalated, &c, &b), &cand, &base);
        assert_eq!(out.verdict, Verdict::Worse);
        assert!(matches!(out.effect, Some(Effect::TwoProportionZ(_))));
    }

    #[test]
    fn a_larger_high_risk_share_is_worse_by_the_two_proportion_test() {
        let (c, b) = (
            Selector::parse("release=b").unwrap(),
            Selector::parse("release=a").unwrap(),
        );
        let mut cand = vec![0.0; 300];
        cand[..90].fill(1.0);
        let mut base = vec![0.0; 300];
        base[..45].fill(1.0);
        let r = req(Metric::RiskHighShare, &c, &b);
        let out = judge(&r, &cand, &base);
        assert_eq!(out.verdict, Verdict::Worse);
        assert!(matches!(out.effect, Some(Effect::TwoProportionZ(_))));
        assert_eq!(judge(&r, &base, &cand).verdict, Verdict::Better);
    }
}
