//! `powerbirth monitor canary`: compares a candidate with a baseline over the message log and
//! exits 1 when the candidate is significantly worse (0 otherwise, insufficient data included;
//! 2 when it cannot run), so CI and the rollout analysis can gate on it.

use std::fmt::Write as _;

use clap::Args;

use crate::canary::compare::{self, Comparison, Effect, Request, Selector, Verdict};
use crate::config::Config;
use crate::core::now_ms;
use crate::store::Store;
use crate::store::canary::Metric;

/// `monitor canary`'s arguments.
#[derive(Debug, Args)]
pub struct CanaryArgs {
    /// The candidate: `release=…`, `prompt=id@N`, `model=…`, or several joined with `,`.
    #[arg(long, value_parser = Selector::parse)]
    candidate: Selector,
    /// The baseline, written like the candidate.
    #[arg(long, value_parser = Selector::parse)]
    baseline: Selector,
    /// latency_ms, cost_usd, completion_tokens, guard_escalated, rating or risk_high_share
    /// (the share of logged risk predictions answered `high`; selectors `release=` and
    /// `model=`, the risk model's name or version).
    #[arg(long, value_parser = parse_metric)]
    metric: Metric,
    /// The last WINDOW of the log: `30m`, `24h`, `7d`.
    #[arg(long, default_value = "24h", value_parser = compare::parse_window)]
    window: std::time::Duration,
    /// Significance level of the two-sided test.
    #[arg(long, default_value_t = 0.01)]
    alpha: f64,
    /// Values each side needs; fewer is `insufficient_data` (exit 0).
    #[arg(long, default_value_t = 30)]
    min_samples: usize,
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    s.parse()
}

/// Runs the command; returns the exit code (errors printed here are 2).
pub async fn run(config: &Config, action: CanaryArgs) -> u8 {
    match run_inner(config, action).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

async fn run_inner(config: &Config, action: CanaryArgs) -> anyhow::Result<u8> {
    let CanaryArgs {
        candidate,
        baseline,
        metric,
        window,
        alpha,
        min_samples,
        format,
    } = action;
    if !(alpha > 0.0 && alpha < 1.0) {
        anyhow::bail!("--alpha must be between 0 and 1 (found {alpha})");
    }
    if metric == Metric::RiskHighShare && (candidate.names_prompt() || baseline.names_prompt()) {
        anyhow::bail!(
            "risk_high_share reads the prediction log, which has no prompt: select with release= and model="
        );
    }
    let store = Store::connect(&config.database.url, 2).await?;
    let end = now_ms();
    let req = Request {
        metric,
        candidate: &candidate,
        baseline: &baseline,
        window: (end - window.as_millis() as i64, end),
        alpha,
        min_samples,
    };
    let result = compare::compare(&store, &req).await;
    store.close().await;
    let result = result?;
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", text(&result));
    }
    Ok(u8::from(result.verdict == Verdict::Worse))
}

/// The comparison for a person.
fn text(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: candidate {} (n = {}) vs baseline {} (n = {}); worse when {}",
        c.metric,
        c.candidate.selector,
        c.candidate.n,
        c.baseline.selector,
        c.baseline.n,
        c.worse_when
    );
    match &c.effect {
        Some(Effect::MannWhitney(s)) => {
            let _ = writeln!(
                out,
                "  median {:.4} vs {:.4} (difference {:+.4}); Hodges-Lehmann {:+.4}, 95% CI [{:.4}, {:.4}]; Mann-Whitney U = {}, p = {:.3e}",
                s.median_candidate,
                s.median_baseline,
                s.median_difference,
                s.hodges_lehmann,
                s.ci95[0],
                s.ci95[1],
                s.u,
                s.p_value
            );
        }
        Some(Effect::TwoProportionZ(r)) => {
            let _ = writeln!(
                out,
                "  rate {:.4} vs {:.4} (difference {:+.4}, 95% CI [{:.4}, {:.4}]); z = {:.3}, p = {:.3e}",
                r.rate_candidate,
                r.rate_baseline,
                r.difference,
                r.ci95[0],
                r.ci95[1],
                r.z,
                r.p_value
            );
        }
        None => {}
    }
    let verdict = serde_json::to_value(c.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(out, "verdict: {verdict} ({})", c.reason);
    out
}
