//! `powerbirth stats <test> A B`: the monitors' statistics on files, printed as JSON, so analysts
//! and CI can check them. A sample is a file of one value per line (blank lines skipped) or
//! `FILE.csv:COLUMN` / `FILE.parquet:COLUMN` (empty cells skipped).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;

use crate::ml::data::{self, Values};
use crate::stats::{self, evidently as ev, evidently::Sample};

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Mann–Whitney U (scipy's defaults) with the Hodges–Lehmann shift of A over B and its 95% CI.
    MannWhitney { a: String, b: String },
    /// Two-sample Kolmogorov–Smirnov (scipy's `ks_2samp` defaults).
    Ks { a: String, b: String },
    /// Wasserstein-1 distance (scipy's `wasserstein_distance`).
    Wasserstein { a: String, b: String },
    /// Population stability index of B against reference A (Evidently's `psi`).
    Psi { a: String, b: String },
    /// Chi-square test of B's categories against reference A's (Evidently's `chisquare`).
    ChiSquare { a: String, b: String },
    /// Two-proportion z-test on two binary samples (Evidently's `z`).
    Z { a: String, b: String },
    /// Jensen–Shannon distance of B against reference A (Evidently's `jensenshannon`).
    JensenShannon { a: String, b: String },
    /// ROC AUC of SCORES against 0/1 LABELS (scikit-learn's `roc_auc_score`).
    Auc { scores: String, labels: String },
}

/// Runs one test and prints its JSON.
pub fn run(command: StatsCommand) -> anyhow::Result<()> {
    let out = match command {
        StatsCommand::MannWhitney { a, b } => {
            let (x, y) = (numbers(&a)?, numbers(&b)?);
            let r = stats::mann_whitney(&x, &y).context("both samples need at least one value")?;
            let hl = stats::hodges_lehmann(&x, &y, 0.95);
            json!({"test": "mann-whitney", "n1": x.len(), "n2": y.len(), "statistic": r.statistic,
                   "p_value": r.p_value, "method": r.method, "hodges_lehmann": hl})
        }
        StatsCommand::Ks { a, b } => {
            let (x, y) = (numbers(&a)?, numbers(&b)?);
            let r = stats::ks_2samp(&x, &y).context("both samples need at least one value")?;
            json!({"test": "ks", "n1": x.len(), "n2": y.len(), "statistic": r.statistic,
                   "p_value": r.p_value, "method": r.method})
        }
        StatsCommand::Wasserstein { a, b } => {
            let (x, y) = (numbers(&a)?, numbers(&b)?);
            let d = stats::wasserstein(&x, &y).context("both samples need at least one value")?;
            json!({"test": "wasserstein", "n1": x.len(), "n2": y.len(), "distance": d})
        }
        StatsCommand::Psi { a, b } => {
            let (x, y) = (numbers(&a)?, numbers(&b)?);
            let r = drift_test(&x, &y, ev::psi)?;
            json!({"test": "psi", "score": r.score, "threshold": 0.1, "drift": r.drift})
        }
        StatsCommand::JensenShannon { a, b } => {
            let (x, y) = (numbers(&a)?, numbers(&b)?);
            let r = drift_test(&x, &y, ev::jensenshannon)?;
            json!({"test": "jensen-shannon", "score": r.score, "threshold": 0.1, "drift": r.drift})
        }
        StatsCommand::ChiSquare { a, b } => {
            let (x, y) = (labels(&a)?, labels(&b)?);
            let r = ev::chisquare_test(Sample::Categorical(&x), Sample::Categorical(&y));
            json!({"test": "chi-square", "p_value": r.score, "threshold": 0.05, "drift": r.drift})
        }
        StatsCommand::Z { a, b } => {
            let (x, y) = (labels(&a)?, labels(&b)?);
            let distinct: std::collections::BTreeSet<&String> = x.iter().chain(&y).collect();
            if distinct.len() > 2 {
                bail!(
                    "the z-test compares two proportions: the samples hold {} distinct values",
                    distinct.len()
                );
            }
            let r = ev::z_test(Sample::Categorical(&x), Sample::Categorical(&y));
            json!({"test": "z", "p_value": r.score, "threshold": 0.05, "drift": r.drift})
        }
        StatsCommand::Auc { scores, labels: l } => {
            let s = numbers(&scores)?;
            let y: Vec<bool> = labels(&l)?
                .iter()
                .map(|v| match v.as_str() {
                    "1" | "1.0" | "true" | "True" => Ok(true),
                    "0" | "0.0" | "false" | "False" => Ok(false),
                    other => bail!("{l}: label `{other}` is not 0/1"),
                })
                .collect::<anyhow::Result<_>>()?;
            if s.len() != y.len() {
                bail!("{} scores but {} labels", s.len(), y.len());
            }
            let auc = stats::roc_auc(&y, &s).context("the labels need both classes")?;
            json!({"test": "auc", "n": s.len(), "auc": auc})
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn drift_test(
    x: &[f64],
    y: &[f64],
    test: impl Fn(Sample, Sample) -> ev::DriftScore,
) -> anyhow::Result<ev::DriftScore> {
    if x.is_empty() || y.is_empty() {
        bail!("both samples need at least one value");
    }
    Ok(test(
        Sample::Numeric {
            values: x,
            integer: false,
        },
        Sample::Numeric {
            values: y,
            integer: false,
        },
    ))
}

/// `FILE.csv:COLUMN` → (file, column) when FILE has a table extension.
fn split_column(spec: &str) -> Option<(PathBuf, &str)> {
    let (file, column) = spec.rsplit_once(':')?;
    let ext = Path::new(file).extension()?.to_str()?.to_ascii_lowercase();
    (ext == "csv" || ext == "parquet").then(|| (PathBuf::from(file), column))
}

/// The sample's values as text (nulls and blank lines skipped).
fn labels(spec: &str) -> anyhow::Result<Vec<String>> {
    if let Some((file, column)) = split_column(spec) {
        let table = data::read_table(&file)?;
        let col = table
            .column(column)
            .with_context(|| format!("{}: no column `{column}`", file.display()))?;
        return Ok((0..col.values.len())
            .filter_map(|i| col.values.key(i))
            .collect());
    }
    let text = std::fs::read_to_string(spec).with_context(|| format!("reading {spec}"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// The sample's values as numbers; a cell that is not one is an error naming file and line.
fn numbers(spec: &str) -> anyhow::Result<Vec<f64>> {
    if let Some((file, column)) = split_column(spec) {
        let table = data::read_table(&file)?;
        let col = table
            .column(column)
            .with_context(|| format!("{}: no column `{column}`", file.display()))?;
        return match &col.values {
            Values::Number(v) => Ok(v.iter().flatten().copied().collect()),
            Values::Text(_) => bail!("{}: column `{column}` is not numeric", file.display()),
        };
    }
    let text = std::fs::read_to_string(spec).with_context(|| format!("reading {spec}"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.parse::<f64>() {
            Ok(v) if !v.is_nan() => out.push(v),
            _ => bail!("{spec}: line {}: `{line}` is not a number", i + 1),
        }
    }
    Ok(out)
}
